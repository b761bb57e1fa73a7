"""Which provider sources cannot load on this machine because of a value of the daemon's host.

``innominatus plan`` runs in CI with the daemon's configuration, whose provider sources may
name things that exist only where the daemon runs: a ``filesystem`` folder, a local provider
repository, a GnuPG ``keyring``, the environment variable a ``token_env`` names. Such a source
is left out of the plan (its types show as unknown) instead of refusing the whole set, and
named as a :class:`HostOnly` value. The rule is narrow on purpose: a value counts only when
what it names is *absent here* (:func:`absent_here`), or when a fetch failed while the token
it needs is unset (:func:`unfetchable`). Anything else — an invalid manifest, a conflict, a bad
signature, a pin mismatch, a fetch failing with every value present — stays a refusal a
reviewer must see. Called by :meth:`reconciler.assembly.catalog.ProviderCatalog.load_here`
only; the daemon's own loading never asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.settings import ProviderSourceSettings
from reconciler.sources.redact import redact_url
from reconciler.sources.remote import local_path


@dataclass(frozen=True, slots=True)
class HostOnly:
    """One value of a provider source that does not hold on this machine."""

    source: str  # the provider source's name
    setting: str  # its key: path, repository, keyring, token_env
    value: str  # what the key names (a path, an environment variable's name)
    reason: str  # "does not exist on this machine"
    detail: str = ""  # what failed because of it, when something was tried ("without it, ...")

    @property
    def key(self) -> str:
        """``providers[team-a].path``: where the value is in the configuration."""
        return f"providers[{self.source}].{self.setting}"

    @property
    def why(self) -> str:
        """``path /srv/providers/team-a does not exist on this machine``."""
        return f"{self.setting} {self.value} {self.reason}"

    @property
    def message(self) -> str:
        """The one line a plan shows for it."""
        detail = f"; {self.detail}" if self.detail else ""
        return (
            f"{self.key}: {self.value} {self.reason} (a value of the daemon's host){detail}; "
            f"the plan resolves {self.source}'s types as unknown"
        )


def absent_here(source: ProviderSourceSettings) -> HostOnly | None:
    """The first value of ``source`` naming something absent on this machine, else None.

    A ``filesystem`` folder, a local ``git`` repository or a ``keyring`` that does not exist
    here. One that exists but is wrong (no ``provider.yaml``, a bad signature) is not absent:
    loading it fails as it would on the daemon's host."""
    if source.type == "filesystem" and source.path is not None:
        if not source.path.exists():
            return HostOnly(source.name, "path", str(source.path), "does not exist on this machine")
        return None
    if source.type == "git" and source.repository:
        try:
            local = local_path(source.repository)
        except ValueError:  # file:// naming another host: refused when loading, as always
            local = None
        if local is not None and not local.exists():
            return HostOnly(source.name, "repository", str(local), "does not exist on this machine")
    if source.keyring is not None and not Path(source.keyring).is_dir():
        return HostOnly(
            source.name, "keyring", str(source.keyring), "is not a folder on this machine"
        )
    return None


def unfetchable(
    source: ProviderSourceSettings, *, token: str | None, error: str
) -> HostOnly | None:
    """The unset ``token_env`` a failed fetch of ``source`` is put down to, else None.

    Only when ``token_env`` is configured and its variable is unset or empty here: the daemon's
    host has the token, this machine tried without it. With the token present (or none
    configured) a failed fetch is a real problem."""
    if not source.token_env or token:
        return None
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    failed = lines[-1] if lines else f"fetching {redact_url(source.repository or '')} failed"
    return HostOnly(
        source.name,
        "token_env",
        source.token_env,
        "is not set on this machine",
        f"without it, {failed}",
    )
