"""The ``terraform`` step: a module from the provider folder, applied on the resource's state.

Config: ``working_dir`` (the module folder, relative to the provider folder), ``operation``
(``init``, ``plan``, ``apply``, ``destroy``, ``output``; default ``destroy`` for the resource's
delete operation, else ``apply``), ``variables`` (a mapping), ``outputs`` (names to keep;
default all) and optional ``backend`` (``{<type>: {<settings>}}``, Terraform's own backend
block; the default is a local state file in ``INNOMINATUS_STATE_DIR``).

Each run copies the module into the per-execution workdir (``.terraform`` is written there,
never in the provider folder) and adds ``innominatus_override.tf.json`` naming the backend, so
create, update and delete of a resource act on one state. Variables go through a
``.tfvars.json`` file — never ``-var`` — so a value is data. Every command runs with
``-input=false -no-color`` and ``TF_IN_AUTOMATION=1``. ``terraform output -json`` becomes the
step's outputs, ``sensitive`` ones secret; its stdout goes to a file, not to the log.
Called by the engine's runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import read_step_file
from reconciler.executors.process import Finished, run_process, step_environment
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
from reconciler.executors.workspace import (
    copy_folder,
    provider_path,
    scratch_dir,
    stdout_to_file,
)

STEP = "terraform"
OPERATIONS = ("init", "plan", "apply", "destroy", "output")
_FLAGS = ("-input=false", "-no-color")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}


def _outputs(config: Mapping[str, Any]) -> list[str] | None:
    value = config.get("outputs")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"`config.outputs` of a {STEP} step must be a list of output names")
    return value


def _backend(config: Mapping[str, Any], state_file: Path) -> dict[str, Any]:
    backend = checks.mapping(config, "backend", step=STEP)
    if not backend:
        return {"local": {"path": str(state_file)}}
    if len(backend) != 1 or not isinstance(next(iter(backend.values())), Mapping):
        raise ValueError(
            f"`config.backend` of a {STEP} step must be one backend block, "
            "e.g. {s3: {bucket: ..., key: ..., region: ...}}"
        )
    return dict(backend)


class TerraformExecutor:
    def __init__(self, *, terraform: str = "terraform") -> None:
        self._terraform = terraform

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        checks.optional_relative_path(config, "working_dir", step=STEP, required=True)
        checks.choice(config, "operation", OPERATIONS, step=STEP)
        checks.mapping(config, "variables", step=STEP)
        _outputs(config)
        _backend(config, Path())

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        config = request.config
        try:
            self.validate(config)
            working_dir: str = config["working_dir"]
            module = provider_path(request.provider_dir, working_dir, key="working_dir", step=STEP)
            if not module.is_dir():
                raise ValueError(f"`config.working_dir` {working_dir!r} is not a folder")
            state_file = (
                request.state_dir / "terraform" / f"{_UNSAFE.sub('-', working_dir)}.tfstate"
            )
            backend = _backend(config, state_file)
        except ValueError as exc:
            return invalid(log, exc)
        operation = config.get("operation") or (
            "destroy" if request.operation == "delete" else "apply"
        )
        scratch = scratch_dir(request)
        try:
            workdir = copy_folder(module, scratch / "module", within=request.provider_dir)
        except ValueError as exc:
            return invalid(log, exc)
        (workdir / "innominatus_override.tf.json").write_text(
            json.dumps({"terraform": {"backend": backend}}, indent=2)
        )
        state_file.parent.mkdir(parents=True, exist_ok=True)
        var_file = scratch / "innominatus.tfvars.json"
        variables = checks.mapping(config, "variables", step=STEP)
        var_file.write_text(json.dumps(variables, default=str, ensure_ascii=False, indent=2))
        deadline = Deadline(request.timeout)
        env = {**step_environment(request, outputs_file=scratch / "outputs"), **_ENV}

        async def terraform(*args: str, stdout: Path | None = None) -> Finished:
            argv = [self._terraform, *args]
            log.write(f"$ terraform {' '.join(args)}\n")
            return await run_process(
                argv if stdout is None else stdout_to_file(argv, stdout),
                env=env,
                cwd=workdir,
                timeout=deadline.remaining(),
                log=log,
                on_process=request.on_process,
                sandbox=confine(request),
            )

        try:
            finished = await terraform("init", *_FLAGS)
        except OSError as exc:
            return cannot_start(log, self._terraform, exc)
        if not ok(finished):
            return unfinished(finished, log, deadline, "terraform init")
        var_flag = f"-var-file={var_file}"
        if operation == "plan":
            destroy = ["-destroy"] if request.operation == "delete" else []
            plan = scratch / "plan.tfplan"
            finished = await terraform(
                "plan", *_FLAGS, *destroy, var_flag, "-detailed-exitcode", f"-out={plan}"
            )
            if finished.timed_out or finished.exit_code not in (0, 2):
                return unfinished(finished, log, deadline, "terraform plan")
            return succeeded(log, {"changes": "true" if finished.exit_code == 2 else "false"})
        if operation in ("apply", "destroy"):
            finished = await terraform(operation, *_FLAGS, "-auto-approve", var_flag)
            if not ok(finished):
                return unfinished(finished, log, deadline, f"terraform {operation}")
        if operation in ("init", "destroy"):
            return succeeded(log, {})
        return await self._read_outputs(terraform, scratch / "outputs.json", config, log, deadline)

    @staticmethod
    async def _read_outputs(
        terraform: Callable[..., Awaitable[Finished]],
        path: Path,
        config: Mapping[str, Any],
        log: LogBuffer,
        deadline: Deadline,
    ) -> StepResult:
        finished = await terraform("output", "-json", stdout=path)
        if not ok(finished):
            return unfinished(finished, log, deadline, "terraform output")
        try:
            # path is workdir/<scratch>/outputs.json: everything below the workdir is the step's.
            text = read_step_file(path, within=path.parent.parent, what="terraform outputs")
        except ValueError as exc:
            return failed(log, str(exc))
        try:
            found = json.loads(text or "{}")
        except ValueError:
            return failed(log, "terraform output -json did not print JSON")
        wanted = _outputs(config)
        missing = sorted(set(wanted or ()) - set(found))
        if missing:
            return failed(log, f"the module has no output {', '.join(missing)}")
        outputs: dict[str, str] = {}
        secret: set[str] = set()
        for name, entry in found.items():
            if wanted is not None and name not in wanted:
                continue
            value = entry.get("value")
            outputs[name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            if entry.get("sensitive"):
                secret.add(name)
        log.write(f"outputs: {', '.join(sorted(outputs)) or 'none'}\n")
        return succeeded(log, outputs, secret_outputs=frozenset(secret))
