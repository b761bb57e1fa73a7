"""The ``ansible`` step: a playbook from the provider folder run against the local host.

Config: ``playbook`` (path relative to the provider folder) and optional ``variables`` (a
mapping laid over the workflow's parameters). The playbook's folder is copied into the
per-execution workdir and run there with inventory ``localhost ansible_connection=local``.
Outputs come from the step contract's ``INNOMINATUS_OUTPUTS`` file (e.g. a ``copy`` task with
``dest: "{{ lookup('env', 'INNOMINATUS_OUTPUTS') }}"``).

Parameters become extra vars from a file (``-e @extra-vars.yml``), never the command line;
only the workflow's declared ones arrive (:func:`reconciler.providers.apply_parameters`), and
one named ``ansible_*`` is refused (``ansible_python_interpreter`` is a command line Ansible
runs) — the step's own ``variables`` may set those, as the provider author's choice.
The file is YAML, not JSON, because Ansible renders Jinja2 inside extra-var strings: a value
like ``{{ lookup('pipe', 'touch /tmp/x') }}`` in a JSON file runs the command as soon as the
playbook uses the variable (checked with ansible-core 2.19). Every string is written with
Ansible's ``!unsafe`` tag, which makes it inert data.

``ansible-playbook`` comes from the optional extra (``pip install 'innominatus[ansible]'``),
so it is looked for on ``PATH`` and beside the running Python. Called by the engine's runner.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import read_outputs_file
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
from reconciler.executors.workspace import copy_folder, provider_path, scratch_dir
from reconciler.providers.parameters import RESERVED_PREFIX

STEP = "ansible"
INVENTORY = (
    "localhost ansible_connection=local "
    'ansible_python_interpreter="{{ ansible_playbook_python }}"\n'
)


class _UnsafeDumper(yaml.SafeDumper):
    """Safe YAML in which every string, key or value, is tagged ``!unsafe`` for Ansible."""


def _unsafe(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if not value:
        # Ansible reads `!unsafe ""` as null; an empty string holds no template anyway.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("!unsafe", value, style='"')


_UnsafeDumper.add_representer(str, _unsafe)


def extra_vars(values: Mapping[str, Any]) -> str:
    """``values`` as an Ansible extra-vars file whose strings are never templated."""
    return yaml.dump(dict(values), Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=True)


def find_ansible_playbook() -> str | None:
    found = shutil.which("ansible-playbook")
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.is_file() else None


def _environment(request: StepRequest, scratch: Path) -> dict[str, str]:
    env = step_environment(request, outputs_file=scratch / "outputs")
    env.setdefault("LANG", "C.UTF-8")  # ansible refuses to start without a UTF-8 locale
    env.update(
        {
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_LOCAL_TEMP": str(scratch / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(scratch / "ansible-tmp"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class AnsibleExecutor:
    def __init__(self, *, ansible_playbook: str | None = None) -> None:
        self._ansible_playbook = ansible_playbook

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        checks.optional_relative_path(config, "playbook", step=STEP, required=True)
        checks.mapping(config, "variables", step=STEP)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        config = request.config
        try:
            self.validate(config)
            name: str = config["playbook"]
            playbook = provider_path(request.provider_dir, name, key="playbook", step=STEP)
            if not playbook.is_file():
                raise ValueError(f"`config.playbook` {name!r} is not a file")
            reserved = sorted(k for k in request.params if k.lower().startswith(RESERVED_PREFIX))
            if reserved:  # bind_parameters refuses them already; a step never trusts that
                raise ValueError(
                    f"param {reserved[0]!r} is refused: names starting with 'ansible_' are "
                    "Ansible's connection settings and never come from a resource"
                )
            variables = {**request.params, **checks.mapping(config, "variables", step=STEP)}
        except ValueError as exc:
            return invalid(log, exc)
        binary = self._ansible_playbook or find_ansible_playbook()
        if binary is None:
            return failed(
                log,
                "ansible-playbook not found; install the extra: pip install 'innominatus[ansible]'",
            )
        scratch = scratch_dir(request)
        try:
            folder = copy_folder(playbook.parent, scratch / "playbook", within=request.provider_dir)
        except ValueError as exc:
            return invalid(log, exc)
        vars_file, inventory = scratch / "extra-vars.yml", scratch / "inventory.ini"
        vars_file.write_text(extra_vars(variables), encoding="utf-8")
        inventory.write_text(INVENTORY, encoding="utf-8")
        env = _environment(request, scratch)
        deadline = Deadline(request.timeout)
        try:
            finished = await run_process(
                [binary, "-i", str(inventory), "-e", f"@{vars_file}", str(folder / playbook.name)],
                env=env,
                cwd=folder,
                timeout=deadline.remaining(),
                log=log,
                on_process=request.on_process,
                sandbox=confine(request),
            )
        except OSError as exc:
            return cannot_start(log, binary, exc)
        if not ok(finished):
            return unfinished(finished, log, deadline, "ansible-playbook")
        try:
            written = read_outputs_file(Path(env["INNOMINATUS_OUTPUTS"]), within=request.workdir)
        except ValueError as exc:
            return failed(log, str(exc))
        return succeeded(log, written)
