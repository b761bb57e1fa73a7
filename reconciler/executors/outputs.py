"""Step outputs (ARCHITECTURE §5.5): ``key=value`` lines or one JSON object in the file named
by ``INNOMINATUS_OUTPUTS``, merged over the last JSON object the step printed on stdout."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

OUTPUTS_LIMIT = 1024 * 1024
"""Bytes of a file a step leaves for the daemon (its outputs file, an exec plugin's response)
read at most; a larger one fails the step."""
RECORD_LIMIT = 64 * 1024 * 1024
"""Bytes of a record a daemon-side step keeps in the state dir read at most: the state dir
is the resource's steps' too, so a record is read like a file a step wrote."""
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# Where a JSON object can begin: ``{`` then a quoted key and ``:``, or ``{}``. Text such as
# ``{{ .x }}``, ``${VAR}`` or Terraform's ``tags = {`` is skipped without trying to decode it:
# every failed decode costs time proportional to its offset (the error counts lines), so
# trying each ``{`` of a long log is quadratic.
_OBJECT_START = re.compile(r'\{\s*(?:"(?:[^"\\\n]|\\.)*"\s*:|\})')
_DECODER = json.JSONDecoder()
_WINDOW = 4096


def _decode_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value at ``start`` and where it ends, or None.

    Decodes a window first, so a fragment that fails costs the size of the window, not the
    offset (a decode error counts the lines before it). Only when the window's edge may be
    the cause (an object or a string that runs past it) is the whole text decoded.
    """
    window = text[start : start + _WINDOW]
    try:
        value, end = _DECODER.raw_decode(window)
    except json.JSONDecodeError as exc:
        cut = start + len(window) < len(text)
        if not cut or (exc.pos < len(window) - 1 and not exc.msg.startswith("Unterminated")):
            return None
    except (ValueError, RecursionError):
        return None
    else:
        return value, start + end
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value, end


def last_json_object(stdout: str) -> dict[str, str]:
    """The last top-level ``{...}`` in ``stdout`` that parses as a JSON object.

    Scans forward: an object that parses is skipped as a whole, so objects nested in it are
    never candidates; a start that does not parse (a fragment, a truncated object) is passed
    over and the scan goes on from the next possible start.
    """
    found: dict[str, Any] | None = None
    position = 0
    while (match := _OBJECT_START.search(stdout, position)) is not None:
        start = match.start()
        decoded = _decode_at(stdout, start)
        if decoded is None:
            position = start + 1
            continue
        value, end = decoded
        if isinstance(value, dict):
            found = value
        position = end
    if found is None:
        return {}
    return {str(k): _text(v) for k, v in found.items()}


def read_step_file(
    path: Path,
    *,
    within: Path | None = None,
    what: str = "outputs file",
    limit: int = OUTPUTS_LIMIT,
) -> str | None:
    """The text of a file a step wrote for the daemon (bad UTF-8 replaced); None when there
    is none. The step controls everything below ``within`` (default: the file's folder), and
    the daemon reads it outside the sandbox: a symbolic link on the way (to the key file, to
    another resource's state), a FIFO (blocking the event loop), a device or a file over
    ``limit`` bytes is a ``ValueError`` naming ``what``. ``within`` itself is the daemon's."""
    base = path.parent if within is None else within
    parts = path.relative_to(base).parts
    if not parts:
        raise ValueError(f"the step's {what} {path.name} is not a regular file")
    refused = f"the step's {what} {path.relative_to(base)} is not a regular file in its folder"
    try:
        folder = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        descriptor = os.open(parts[-1], _FILE, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP/ENOTDIR: a symbolic link; ENXIO: a socket
        raise ValueError(f"{refused} ({exc.strerror}); it was not read") from exc
    finally:
        with contextlib.suppress(OSError):
            os.close(folder)
    with os.fdopen(descriptor, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise ValueError(f"{refused}; it was not read")
        if found.st_size > limit:
            raise ValueError(
                f"the step's {what} {path.name} is larger than {limit // 1024**2} MiB; "
                "it was not read"
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"the step's {what} {path.name} is larger than {limit // 1024**2} MiB")
    return data.decode("utf-8", "replace")


def write_record(path: Path, text: str) -> None:
    """Replace ``path``, in a folder a step may write too (the state dir), by a regular file
    holding ``text``: written under a fresh name (``O_EXCL | O_NOFOLLOW``) and renamed over
    it, so a symbolic link or a FIFO a step left there is replaced, never followed."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_outputs_file(path: Path, *, within: Path | None = None) -> dict[str, str]:
    """``key=value`` lines (``#`` comments and blank lines skipped) or one JSON object. The
    file is the step's (see :func:`read_step_file`, whose ``ValueError`` it raises)."""
    text = read_step_file(path, within=within)
    if text is None:
        return {}
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return {str(k): _text(v) for k, v in value.items()}
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        outputs[key.strip()] = value
    return outputs
