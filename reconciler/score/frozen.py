"""Parsed Score files kept between processes: a file's workloads as bytes, and back.

A restart reads every Score file of every repository again; parsing them (YAML with positions,
validation) is most of a no-op pass at thousands of files, though almost none changed since the
last process parsed them. :func:`freeze` turns a file's workloads into bytes (``marshal``: the
parsed YAML is plain dicts, lists, strings, numbers, booleans and None, which it keeps exactly,
key types and order included), :func:`thaw` makes the same workloads again, and :func:`key`
names what a file parses to: its path and content, and this parser — the source of every
module that parses and validates, the Python and libyaml it runs on. Kept under that key, a
file is parsed again the moment its content, its path or the parser changes.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Location
from reconciler.score.model import ResourceSpec, Workload
from reconciler.types import AppName

_PACKAGE = Path(__file__).resolve().parents[1]
_PARSER_SOURCES = ("score", "yamlfile.py", "desired.py", "errors.py", "types.py")
"""What a Score file's workloads are made by (relative to the package)."""


def _libyaml() -> str:
    """The libyaml PyYAML runs on: a C library it may be built against (a distribution's
    PyYAML links the system's), upgraded apart from PyYAML, and parsing some files otherwise."""
    try:
        from yaml import _yaml
    except ImportError:
        return "none"
    return str(_yaml.get_version_string())


@cache
def parser() -> bytes | None:
    """A digest of this parser (None: its source cannot be read, so nothing is kept)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}|{marshal.version}|{yaml.__version__}".encode())
    digest.update(str(getattr(yaml, "__with_libyaml__", False)).encode())
    digest.update(f"|libyaml {_libyaml()}".encode())
    try:
        for name in _PARSER_SOURCES:
            place = _PACKAGE / name
            files = sorted(place.rglob("*")) if place.is_dir() else [place]
            for file in files:
                if file.is_file() and not file.name.endswith(".pyc"):
                    digest.update(file.relative_to(_PACKAGE).as_posix().encode() + b"\0")
                    digest.update(file.read_bytes())
    except OSError:
        return None
    return digest.digest()


def key(path: str, content: bytes) -> str | None:
    """What names the file at ``path`` holding ``content`` as this parser parses it (None:
    nothing is kept)."""
    made_by = parser()
    if made_by is None:
        return None
    digest = hashlib.sha256(made_by)
    digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(content)
    return digest.hexdigest()


def _place(location: Location) -> tuple[str, int | None, int | None]:
    return location.file, location.line, location.column


_DIGEST = hashlib.sha256().digest_size


def freeze(workloads: list[Workload]) -> bytes | None:
    """The workloads of one file as bytes (None: a value marshal cannot keep): their digest,
    then the marshal of them. :func:`thaw` unpacks only bytes the digest still names, since
    marshal trusts what it reads: a spoiled length in a row (a flipped bit, a bad restore)
    would have it allocate gigabytes, stalling a start for seconds or failing it with a
    ``MemoryError`` where memory is limited, at every start."""
    try:
        body = marshal.dumps(
            [
                (
                    str(w.name),
                    w.file,
                    w.document,
                    dict(w.spec),
                    [
                        (
                            r.name,
                            r.type,
                            r.class_,
                            r.id,
                            r.params,
                            r.metadata,
                            _place(r.location),
                        )
                        for r in w.resources.values()
                    ],
                    _place(w.location),
                    w.warnings,
                )
                for w in workloads
            ]
        )
    except ValueError:
        return None
    return hashlib.sha256(body).digest() + body


def thaw(data: bytes) -> list[Workload]:
    """The workloads :func:`freeze` made ``data`` of; ``ValueError`` if it did not."""
    body = data[_DIGEST:]
    if hashlib.sha256(body).digest() != data[:_DIGEST]:
        raise ValueError("not a frozen parse: its digest does not match its bytes")
    try:
        # The daemon's own database wrote it (whoever can write there can change any desired
        # state already); marshal makes data only, and a code object would not unpack below.
        frozen: Any = marshal.loads(body)  # noqa: S302
        workloads = []
        for name, file, document, spec, resources, location, warnings in frozen:
            workloads.append(
                Workload(
                    name=AppName(name),
                    file=file,
                    document=document,
                    spec=spec,
                    metadata=spec["metadata"],
                    containers=spec["containers"],
                    resources={
                        r[0]: ResourceSpec(
                            name=r[0],
                            type=r[1],
                            class_=r[2],
                            id=r[3],
                            params=r[4],
                            metadata=r[5],
                            location=Location(*r[6]),
                        )
                        for r in resources
                    },
                    location=Location(*location),
                    warnings=tuple(warnings),
                )
            )
        return workloads
    except (EOFError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"not a frozen parse: {exc}") from exc
