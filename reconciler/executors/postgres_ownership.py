"""What the ``postgres`` step owns on a platform server, and how it knows: recorded OIDs.

A tenant owns its database, so it can write any comment on it — including innominatus'
``managed by innominatus: <uid>`` marker. Ownership is therefore the OID PostgreSQL gave an
object when innominatus created it, recorded in ``postgres.json`` in the resource's state dir
(``data_dir/state/...``, kept across executions, which tenants cannot write) right after the
CREATE, so an interrupted create resumes from it; the step also returns the OIDs as outputs,
so the store keeps them with the resource and workflows hand them back to update and delete.

Owns :class:`OwnedObjects` (read, changed, written atomically with mode 0600) and
:func:`judge`, the one rule deciding whether an object found on the server is this resource's,
with the refusals' wording. Pure file I/O, no SQL. Called by
:mod:`reconciler.executors.postgres`.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reconciler.executors.outputs import RECORD_LIMIT, read_step_file

Verdict = Literal["recorded", "owner", "marker"]

FILE = "postgres.json"


class RecordError(Exception):
    """The record exists but cannot be read or written; the message says which file and why."""


class Replaced(Exception):
    """An object has the recorded name but not the recorded OID: it is not the one innominatus
    created (dropped and created again by someone else); nothing was changed."""


@dataclass(frozen=True, slots=True)
class Found:
    """An object on the server: its OID, comment and (databases only) owner."""

    oid: int
    comment: str | None
    owner: str | None = None
    owner_oid: int | None = None


def judge(
    kind: str,
    name: str,
    found: Found,
    *,
    uid: str,
    recorded: frozenset[int],
    owned_by: frozenset[int] = frozenset(),
    marker: str | None = None,
) -> Verdict | None:
    """Why ``found`` (role or database ``name``) belongs to resource ``uid``, or None.

    ``recorded``: the OIDs innominatus recorded for the name (state dir and outputs); when there
    are any, the object's OID must be one of them, else :class:`Replaced` is raised.
    ``owned_by``: recorded role OIDs; a database without a recorded OID owned by one of them
    was made by a create interrupted between CREATE DATABASE and writing the record (only a
    superuser or a member of the role can make a database it owns, and nobody is made a
    member). ``marker``: given only for update and delete of resources created before OIDs
    were recorded — the old rule, used once, after which the OIDs are recorded. Create never
    trusts a comment: whoever owns an object can write one.
    """
    if recorded:
        if found.oid in recorded:
            return "recorded"
        listed = ", ".join(str(oid) for oid in sorted(recorded))
        raise Replaced(
            f"{kind} {name} is not the one innominatus created for this resource ({uid}): its "
            f"OID is {found.oid}, the recorded one {listed}, so it was dropped and created again "
            f"by someone else; innominatus leaves it alone. Find out who made it, then drop or "
            f"rename it yourself"
        )
    if found.owner_oid is not None and found.owner_oid in owned_by:
        return "owner"
    if marker is not None and found.comment == marker:
        return "marker"
    return None


def trusted_marker(kind: str, name: str, oid: int, *, dropping: bool) -> str:
    """The log line saying an object created before OIDs were recorded was accepted on its
    marker (update and delete only, once)."""
    then = "to drop it" if dropping else f"and recorded OID {oid}, which later runs require"
    return (
        f"{kind} {name} has no recorded OID (innominatus created it before it recorded "
        f"OIDs): trusted its `managed by innominatus` marker this once {then}\n"
    )


def not_ours(kind: str, name: str, uid: str, *, legacy: bool) -> str:
    """Why ``name`` is refused when :func:`judge` found no proof that it is ``uid``'s."""
    if legacy:
        why = "no OID was recorded for it and it does not carry this resource's marker"
    else:
        why = (
            "innominatus has no record of creating it (a `managed by innominatus` comment "
            "proves nothing: whoever owns an object can write one)"
        )
    return (
        f"{kind} {name} exists but is not managed by innominatus for this resource ({uid}): "
        f"{why}; choose another name, or drop it yourself"
    )


@dataclass
class OwnedObjects:
    """The roles and databases (name -> OID) the step created for ``resource_uid``."""

    path: Path
    resource_uid: str
    roles: dict[str, int] = field(default_factory=dict)
    databases: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, resource_uid: str) -> OwnedObjects:
        """The record in ``state_dir`` (empty when there is none, or when it is another
        resource's: the runner gives each resource its own folder, so that is a shared test
        folder). Raises :class:`RecordError` when it cannot be read: ownership must never be
        guessed from a damaged record."""
        path = state_dir / FILE
        try:
            # The state dir is the resource's steps' too: never a link, a FIFO or a device.
            found = read_step_file(path, what="ownership record", limit=RECORD_LIMIT)
        except ValueError as exc:
            raise RecordError(f"{exc}: {path}") from exc
        except OSError as exc:
            raise RecordError(_problem("read", path, exc)) from exc
        if found is None:
            return cls(path=path, resource_uid=resource_uid)
        text = found
        try:
            data: Any = json.loads(text)
            if data.get("resource_uid") != resource_uid:
                return cls(path=path, resource_uid=resource_uid)
            return cls(
                path=path,
                resource_uid=resource_uid,
                roles=_oids(data.get("roles", {})),
                databases=_oids(data.get("databases", {})),
            )
        except (ValueError, AttributeError, TypeError) as exc:
            raise RecordError(
                f"the record of what innominatus created on the PostgreSQL server, {path}, is "
                f"damaged ({exc}); restore it from a backup of data_dir, or remove it to fall "
                f"back on the OIDs in the resource's outputs"
            ) from exc

    def recorded(self, kind: str, name: str, given: int | None) -> frozenset[int]:
        """The OIDs recorded for role or database ``name``: ``given`` (the resource's output,
        passed back by the workflow) and this record's — both written by innominatus, so
        either proves ownership."""
        table = self.roles if kind == "role" else self.databases
        return frozenset(oid for oid in (given, table.get(name)) if oid is not None)

    def note(self, kind: str, name: str, oid: int) -> bool:
        """Record ``oid`` for role or database ``name``; whether that changed the record."""
        table = self.roles if kind == "role" else self.databases
        changed = table.get(name) != oid
        table[name] = oid
        return changed

    def forget(self, *, database: str, role: str) -> bool:
        """Drop the entries of ``database`` and ``role``; whether there were any."""
        found = self.databases.pop(database, None) is not None
        return self.roles.pop(role, None) is not None or found

    def save(self) -> None:
        """Write the record atomically (a new 0600 file renamed over the old one, both synced);
        remove it when it holds nothing. Raises :class:`RecordError`."""
        try:
            if not self.roles and not self.databases:
                self.path.unlink(missing_ok=True)
                return
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = {
                "resource_uid": self.resource_uid,
                "roles": dict(sorted(self.roles.items())),
                "databases": dict(sorted(self.databases.items())),
            }
            temporary = self.path.with_name(f".{FILE}.{secrets.token_hex(6)}.tmp")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            descriptor = os.open(temporary, flags, 0o600)
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=2)
                    handle.write("\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as exc:
            raise RecordError(_problem("write", self.path, exc)) from exc


def _oids(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of names to OIDs, got {type(value).__name__}")
    found: dict[str, int] = {}
    for name, oid in value.items():
        if not isinstance(name, str) or isinstance(oid, bool) or not isinstance(oid, int):
            raise ValueError(f"{name!r}: {oid!r} is not a name and an OID")
        found[name] = oid
    return found


def _problem(doing: str, path: Path, exc: OSError) -> str:
    return (
        f"cannot {doing} {path}, the record of what innominatus created on the PostgreSQL "
        f"server: {exc.strerror or exc}; fix the permissions or free space of data_dir"
    )
