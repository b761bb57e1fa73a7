"""The ``shell`` step (innominatus ``policy`` steps are the same): ``config.script`` is written
to a file in the per-execution workdir and run with its ``#!`` interpreter (default bash).

Parameters reach the script only through the environment (``PARAM_<NAME>``,
``INNOMINATUS_PARAMS``) — the script text is never assembled from parameter values here.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping
from typing import Any

from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import last_json_object, read_outputs_file
from reconciler.executors.process import run_process, step_environment


def _interpreter(script: str) -> list[str]:
    first = script.lstrip().splitlines()[0] if script.strip() else ""
    if first.startswith("#!"):
        argv = shlex.split(first[2:].strip())
        if argv:
            return argv
    return ["bash"]


class ShellExecutor:
    def validate(self, config: Mapping[str, Any]) -> None:
        script = config.get("script")
        if not isinstance(script, str) or not script.strip():
            raise ValueError("a shell step needs `config.script`, the script to run")

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        self.validate(request.config)
        script: str = request.config["script"]
        token = uuid.uuid4().hex[:8]
        script_file = request.workdir / f"step-{request.step_name[:40]}-{token}.sh"
        outputs_file = request.workdir / f"outputs-{token}"
        script_file.write_text(script.lstrip(), encoding="utf-8")
        outputs_file.touch()
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        finished = await run_process(
            [*_interpreter(script), str(script_file)],
            env=step_environment(request, outputs_file=outputs_file),
            cwd=request.workdir,
            timeout=request.timeout,
            log=log,
        )
        outputs = {**last_json_object(finished.stdout), **read_outputs_file(outputs_file)}
        if finished.timed_out:
            return StepResult(
                status="timed_out",
                exit_code=None,
                outputs={},
                log=log.text,
                log_truncated=log.truncated,
                error=f"killed after {request.timeout:g}s timeout\n{log.tail()}".rstrip(),
            )
        if finished.exit_code != 0:
            return StepResult(
                status="failed",
                exit_code=finished.exit_code,
                outputs={},
                log=log.text,
                log_truncated=log.truncated,
                error=f"exit code {finished.exit_code}: {log.tail()}".rstrip(),
            )
        return StepResult(
            status="succeeded",
            exit_code=0,
            outputs=outputs,
            log=log.text,
            log_truncated=log.truncated,
            error=None,
        )
