"""The ``shell`` step (innominatus ``policy`` steps are the same). Two forms:

- ``config.script``: written to a file in the per-execution workdir and run with its ``#!``
  interpreter (default bash);
- ``config.command``: an argv list run as it is, without a shell (a program inside the
  provider folder is named ``./path``).

Parameters reach the step only through the environment (``PARAM_<NAME>``,
``INNOMINATUS_PARAMS``) and, in the argv form, as whole arguments — a step's text is never
assembled from parameter values here. Outputs follow the step contract (the last JSON object
on stdout, merged with the ``INNOMINATUS_OUTPUTS`` file). Called by the engine's runner.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping
from typing import Any

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import last_json_object, read_outputs_file
from reconciler.executors.process import run_process, step_environment
from reconciler.executors.results import (
    Deadline,
    cannot_start,
    failed,
    invalid,
    ok,
    succeeded,
    unfinished,
)
from reconciler.executors.sandbox import confine
from reconciler.executors.workspace import program


def _interpreter(script: str) -> list[str]:
    first = script.lstrip().splitlines()[0] if script.strip() else ""
    if first.startswith("#!"):
        argv = shlex.split(first[2:].strip())
        if argv:
            return argv
    return ["bash"]


class ShellExecutor:
    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        script, command = config.get("script"), config.get("command")
        if script is not None and command is not None:
            raise ValueError(
                "a shell step takes `config.script` or `config.command`, not both; keep one"
            )
        if command is not None:
            checks.argv(config, "command", step="shell")
            return
        if not isinstance(script, str) or not script.strip():
            raise ValueError(
                "a shell step needs `config.script` (a script) or `config.command` "
                "(an argv list run without a shell)"
            )

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        token = uuid.uuid4().hex[:8]
        try:
            self.validate(request.config)
            if "command" in request.config:
                command = checks.argv(request.config, "command", step="shell")
                argv = [
                    program(command[0], request.provider_dir, key="command", step="shell"),
                    *command[1:],
                ]
            else:
                script: str = request.config["script"]
                script_file = request.workdir / f"step-{request.step_name[:40]}-{token}.sh"
                script_file.write_text(script.lstrip(), encoding="utf-8")
                argv = [*_interpreter(script), str(script_file)]
        except ValueError as exc:
            return invalid(log, exc)
        outputs_file = request.workdir / f"outputs-{token}"
        outputs_file.touch()
        deadline = Deadline(request.timeout)
        try:
            finished = await run_process(
                argv,
                env=step_environment(request, outputs_file=outputs_file),
                cwd=request.workdir,
                timeout=deadline.remaining(),
                log=log,
                on_process=request.on_process,
                sandbox=confine(request),
            )
        except OSError as exc:
            return cannot_start(log, argv[0], exc)
        if not ok(finished):
            return unfinished(finished, log, deadline, "")
        try:
            written = read_outputs_file(outputs_file, within=request.workdir)
        except ValueError as exc:
            return failed(log, str(exc))
        return succeeded(log, {**last_json_object(finished.stdout), **written})
