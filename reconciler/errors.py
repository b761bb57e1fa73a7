"""The error hierarchy, grouped by what the caller should do next.

Every error innominatus raises derives from :class:`InnominatusError`. Callers branch on the
two behaviours that matter: :class:`TemporaryError` (retry after ``delay`` seconds) and
:class:`PermanentError` (retrying will not help; a human must change an input). Messages are
written for the operator: they name the object and the next step. Third-party exceptions are
translated into these at the module that talks to the outside system (``raise X from exc``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a user's file: ``file:line:column`` (1-based; column optional)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class InnominatusError(Exception):
    """Root of every error innominatus raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TemporaryError(InnominatusError):
    """A failure that may go away by itself: the engine's work queue retries its key after
    ``delay`` seconds, or after the next delay of its backoff when ``delay`` is None."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(InnominatusError):
    """A failure that needs a change of input (a file, a setting, a provider): the work queue
    records its message and does not retry; a new trigger (a commit, a reload) looks again."""


class ConfigError(PermanentError):
    """The configuration file or environment holds a value innominatus cannot use."""


class InputError(PermanentError):
    """A user file (Score spec, provider manifest, workflow) is invalid at ``location``."""

    def __init__(self, message: str, *, location: Location) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.detail = message


class SourceError(TemporaryError):
    """A Git repository could not be read, fetched or pushed."""


class StoreError(TemporaryError):
    """The database could not be reached or refused a statement."""


class StaleError(TemporaryError):
    """A resource changed between the plan and the start of its action: plan again."""


class HeldError(StaleError):
    """The action may not start now: its delete is held by the delete guard, or its app or
    repository is suspended. Checked where an execution begins, whatever the plan said."""


class LockedError(PermanentError):
    """Another daemon holds the database this one was asked to use."""


class FencedError(PermanentError):
    """A write by a daemon whose lease epoch is no longer the database's: another daemon took
    the lease, so this one must stop writing and end its steps (ARCHITECTURE §6 invariant 9)."""
