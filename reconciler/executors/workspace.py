"""The files one step works with: its scratch folder in the per-execution workdir, paths into
the provider folder that cannot escape it, copies of provider modules, and the argv of
commands whose stdout is data rather than log.

Called by the executors of this package. The provider folder is an immutable snapshot: steps
read from it and copy what a tool would write into (``.terraform``), never write to it.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from reconciler.executors.base import StepRequest
from reconciler.executors.checks import a, relative_path

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_COPIED = shutil.ignore_patterns(".git", ".terraform", "*.tfstate", "*.tfstate.backup")
_REDIRECT = 'exec "$@" >"$0"'


def scratch_dir(request: StepRequest) -> Path:
    """A new folder for this run of this step inside the execution's workdir (several steps
    of one execution share the workdir; each keeps its files apart)."""
    name = _UNSAFE_NAME.sub("-", request.step_name)[:40].strip("-") or "step"
    folder = request.workdir / f"{name}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return folder


def provider_path(provider_dir: Path, value: str, *, key: str, step: str) -> Path:
    """``provider_dir/value``, refused if it leaves the provider folder (``..`` or a symlink)."""
    relative_path(value, key=key, step=step)
    base = provider_dir.resolve()
    target = (base / value).resolve()
    if not target.is_relative_to(base):
        raise ValueError(
            f"`config.{key}` of {a(step)} ({value!r}) leads outside the provider folder"
        )
    return target


def copy_folder(source: Path, destination: Path, *, within: Path) -> Path:
    """Copy a provider folder for a tool to work in; local state and caches are left out.
    Symbolic links are copied as what they point to, so each must stay inside ``within``
    (the provider folder) and must not lead to a folder above itself: the daemon copies
    outside the sandbox, and a link to ``data_dir/secret.key`` would arrive as the key.
    ``ValueError`` names the first link that does not."""
    base = within.resolve()
    for folder, subfolders, files in os.walk(source):
        for name in (*subfolders, *files):
            link = Path(folder) / name
            if not link.is_symlink():
                continue
            target = link.resolve()
            shown = link.relative_to(source)
            if not target.is_relative_to(base):
                raise ValueError(f"{shown} in the provider folder links outside it; refused")
            if link.parent.resolve().is_relative_to(target):
                raise ValueError(f"{shown} in the provider folder links to a folder above it")
    shutil.copytree(source, destination, ignore=_NOT_COPIED, symlinks=False)
    return destination


def program(argv0: str, provider_dir: Path, *, key: str, step: str) -> str:
    """A command's program: ``./bin/tool`` or ``bin/tool`` is inside the provider folder, a
    bare name (``python3``) is looked up on ``PATH``, an absolute path is used as it is."""
    if "/" not in argv0 or argv0.startswith("/"):
        return argv0
    return str(provider_path(provider_dir, argv0, key=key, step=step))


def stdout_to_file(argv: Sequence[str], path: Path) -> list[str]:
    """``argv`` with its stdout sent to ``path`` instead of the step log.

    For commands whose stdout may carry secrets (``terraform output -json``, an exec plugin's
    response): the log only ever sees stderr. ``sh`` runs a constant script and ``exec``s the
    command, so the process group and its timeout handling are unchanged and no argument is
    ever interpreted by the shell.
    """
    return ["/bin/sh", "-c", _REDIRECT, str(path), *argv]
