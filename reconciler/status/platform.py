"""The platform repository's status file: ``platform.yaml`` on its status branch (default
``innominatus-status``), saying which commit's provider set runs and, when the newest commit's
set was refused, why (ARCHITECTURE §5.6, for the repository that carries the providers).

Owns :class:`PlatformOutcome` (what the follower decided) and :func:`write_platform_status`:
the document is compared with the file on the branch but for ``updated_at``, and committed
and pushed (fast-forward only, :meth:`GitMirror.write_files`) only when it differs. Called
by the runtime's platform follower, from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from reconciler.sources.git import GitMirror
from reconciler.types import CommitSha
from reconciler.yamlfile import dump

STATUS_FILE = "platform.yaml"


@dataclass(frozen=True, slots=True)
class PlatformOutcome:
    """The platform repository as the daemon last saw it."""

    repository: str
    """Its URL or path, redacted."""
    branch: str
    path: str
    commit: str | None
    """The newest commit read (None: the repository could not be fetched yet)."""
    loaded_commit: str | None
    """The commit whose provider set runs."""
    providers: tuple[tuple[str, str], ...] = ()
    """(name, version) of the running set."""
    fingerprint: str | None = None
    refused: str | None = None
    """Why ``commit``'s set was refused (or could not be read); None when it runs."""

    def document(self) -> dict[str, Any]:
        """The status file's content (and ``/api/v1/providers``' ``platform``)."""
        ready = self.refused is None and self.commit == self.loaded_commit
        if ready:
            condition = {
                "type": "Ready",
                "status": "True",
                "reason": "ProviderSetLoaded",
                "message": f"the provider set of {self.path} at {(self.commit or '')[:12]} runs",
            }
        else:
            running = (
                f"the set of {self.loaded_commit[:12]} keeps running"
                if self.loaded_commit
                else "no set runs"
            )
            condition = {
                "type": "Ready",
                "status": "False",
                "reason": "ProviderSetRefused",
                "message": f"{self.refused}; {running}",
            }
        return {
            "repository": self.repository,
            "branch": self.branch,
            "path": self.path,
            "phase": "Ready" if ready else "Refused",
            "commit": self.commit,
            "loaded_commit": self.loaded_commit,
            "fingerprint": self.fingerprint,
            "providers": [{"name": n, "version": v} for n, v in self.providers],
            "refused": self.refused,
            "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "conditions": [condition],
        }


def _same(existing: bytes | None, document: dict[str, Any]) -> bool:
    if existing is None:
        return False
    try:
        found = yaml.safe_load(existing)
    except yaml.YAMLError:
        return False
    if not isinstance(found, dict):
        return False
    found.pop("updated_at", None)
    return found == {k: v for k, v in document.items() if k != "updated_at"}


def write_platform_status(
    *, mirror: GitMirror, branch: str, outcome: PlatformOutcome
) -> CommitSha | None:
    """Commit ``outcome`` as ``platform.yaml`` on ``branch`` when it differs from what the
    branch holds; the new commit, or None. A failure is a SourceError for the caller."""
    document = outcome.document()
    if _same(mirror.read_branch_file(branch, STATUS_FILE), document):
        return None
    short = (outcome.commit or "")[:12]
    verdict = "refused" if document["phase"] == "Refused" else "loaded"
    return mirror.write_files(
        branch=branch,
        files={STATUS_FILE: dump(document).encode()},
        message=f"status: platform {verdict}" + (f" at {short}" if short else ""),
    )
