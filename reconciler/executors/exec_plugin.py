"""The ``exec`` step: a plugin in any language, spoken to in JSON (protocol
``innominatus.exec/v1``, documented in ``examples/plugins/README.md``).

``config.command`` is the plugin's argv (``./plugins/x`` is inside the provider folder); it
runs without a shell. The request — operation, the step's name and whole config, parameters,
previous steps' outputs, workdir, state dir — is one JSON object on its stdin. Its response is
one JSON object on stdout: ``{"outputs": {}, "secret_outputs": {}, "message": ""}``. Its stderr
is the step log; stdout never reaches the log, so secret outputs are never written there. The
step contract's environment is set as for a ``shell`` step. Called by the engine's runner.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from typing import Any

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import read_outputs_file, read_step_file
from reconciler.executors.process import run_process, step_environment
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out
from reconciler.executors.sandbox import confine
from reconciler.executors.workspace import program, scratch_dir, stdout_to_file

PROTOCOL = "innominatus.exec/v1"
STEP = "exec"


def plugin_request(request: StepRequest) -> dict[str, Any]:
    """The JSON document a plugin reads on stdin."""
    return {
        "protocol": PROTOCOL,
        "operation": request.operation,
        "step": {"name": request.step_name, "type": request.step_type, "config": request.config},
        "parameters": request.params,
        "previous_outputs": request.previous_outputs,
        "workdir": str(request.workdir),
        "state_dir": str(request.state_dir),
        "provider_dir": str(request.provider_dir),
        "app": request.app,
        "resource": {"name": request.resource, "uid": request.resource_uid},
        "execution_id": request.execution_id,
    }


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _values(response: Mapping[str, Any], key: str) -> dict[str, str]:
    value = response.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"`{key}` in the plugin's response must be a JSON object")
    return {str(name): _text(item) for name, item in value.items() if item is not None}


def parse_response(stdout: str) -> tuple[dict[str, str], dict[str, str], str]:
    """``(outputs, secret_outputs, message)`` from a plugin's stdout; ``ValueError`` if it is
    not one response object of this protocol. Empty stdout is an empty response."""
    if not stdout.strip():
        return {}, {}, ""
    try:
        response = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the plugin's stdout is not one JSON object ({exc.msg}); print logs to stderr"
        ) from exc
    if not isinstance(response, dict):
        raise ValueError("the plugin's stdout is JSON but not an object")
    protocol = response.get("protocol", PROTOCOL)
    if protocol != PROTOCOL:
        raise ValueError(f"the plugin answered in protocol {protocol!r}; expected {PROTOCOL!r}")
    message = response.get("message", "")
    if not isinstance(message, str):
        raise ValueError("`message` in the plugin's response must be a string")
    return _values(response, "outputs"), _values(response, "secret_outputs"), message


class ExecPluginExecutor:
    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        checks.argv(config, "command", step=STEP)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        try:
            command = checks.argv(request.config, "command", step=STEP)
            argv = [
                program(command[0], request.provider_dir, key="command", step=STEP),
                *command[1:],
            ]
            document = json.dumps(plugin_request(request), default=str, ensure_ascii=False)
        except (ValueError, TypeError) as exc:
            return invalid(log, ValueError(str(exc)))
        scratch = scratch_dir(request)
        response_file, outputs_file = scratch / "response.json", scratch / "outputs"
        env = step_environment(request, outputs_file=outputs_file)
        if shutil.which(argv[0], path=env["PATH"]) is None:
            return failed(log, f"cannot start plugin {command[0]}: not found or not executable")
        deadline = Deadline(request.timeout)
        finished = await run_process(
            stdout_to_file(argv, response_file),
            env=env,
            cwd=request.workdir,
            timeout=deadline.remaining(),
            log=log,
            on_process=request.on_process,
            stdin=document.encode("utf-8"),
            sandbox=confine(request),
        )
        if finished.timed_out:
            return timed_out(log, deadline.timeout)
        try:
            stdout = (
                read_step_file(response_file, within=request.workdir, what="response file") or ""
            )
            written = read_outputs_file(outputs_file, within=request.workdir)
        except ValueError as exc:
            return failed(log, str(exc), exit_code=finished.exit_code)
        try:
            outputs, secret_outputs, message = parse_response(stdout)
        except ValueError as exc:
            if finished.exit_code != 0:
                code = finished.exit_code
                limit = f"{finished.limit}; " if finished.limit else ""
                return failed(log, f"{limit}plugin exit code {code}", exit_code=code)
            return failed(log, str(exc))
        if message:
            log.write(f"plugin: {message}\n")
        if finished.exit_code != 0:
            reason = f": {message}" if message else ""
            limit = f"{finished.limit}; " if finished.limit else ""
            return failed(
                log,
                f"{limit}plugin exit code {finished.exit_code}{reason}",
                exit_code=finished.exit_code,
            )
        return succeeded(
            log,
            {**written, **outputs, **secret_outputs},
            secret_outputs=frozenset(secret_outputs),
        )
