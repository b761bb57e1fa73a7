"""Typed settings: one YAML file plus ``INNOMINATUS_*`` environment overrides (ARCHITECTURE §5.1).

Loaded once by the CLI (:func:`load_settings`) and passed down, frozen. Every field documents
its unit and default; the defaults run the daemon with no file at all (SQLite and data under
``./.innominatus``). Environment variables win over the file; nested keys use ``__``
(``INNOMINATUS_API__PORT=9000``). Invalid values are reported as ``file:line: key: problem``.

Which file: :func:`find_config`, the one rule every command shares with the daemon
(``--config``, ``$INNOMINATUS_CONFIG``, ``./innominatus.yaml``, ``/etc/innominatus/config.yaml``).

The package: :mod:`.values` (durations, sizes, the base of a group), :mod:`.forges` (commit
statuses), :mod:`.sandbox` (isolation and limits of steps), :mod:`.platformrepo` (the
platform repository), :mod:`.model` (every other group and :class:`Settings`), :mod:`.loading`
(which file, and reading it), :mod:`.platform` (the platform repository's file). Import from
here.
"""

from reconciler.settings.forges import CommitStatusSettings, Forge, forge_location
from reconciler.settings.loading import (
    CONFIG_ENV,
    LOCAL_CONFIG,
    SYSTEM_CONFIG,
    ConfigLocation,
    find_config,
    load_settings,
)
from reconciler.settings.model import (
    ApiSettings,
    BackoffSettings,
    EngineSettings,
    PolicySettings,
    ProviderSourceSettings,
    RateLimitSettings,
    RepositorySettings,
    Settings,
    StatusSettings,
    WebhookSettings,
)
from reconciler.settings.platformrepo import PlatformSettings, PlatformStatusSettings
from reconciler.settings.sandbox import (
    ProviderLimitSettings,
    ProviderSandboxSettings,
    SandboxLimitSettings,
    SandboxMaxSettings,
    SandboxSettings,
)
from reconciler.settings.tracing import TracingSettings
from reconciler.settings.values import Duration, Size, parse_duration, parse_size

__all__ = [
    "CONFIG_ENV",
    "LOCAL_CONFIG",
    "SYSTEM_CONFIG",
    "ApiSettings",
    "BackoffSettings",
    "CommitStatusSettings",
    "ConfigLocation",
    "Duration",
    "EngineSettings",
    "Forge",
    "PlatformSettings",
    "PlatformStatusSettings",
    "PolicySettings",
    "ProviderLimitSettings",
    "ProviderSandboxSettings",
    "ProviderSourceSettings",
    "RateLimitSettings",
    "RepositorySettings",
    "SandboxLimitSettings",
    "SandboxMaxSettings",
    "SandboxSettings",
    "Settings",
    "Size",
    "StatusSettings",
    "TracingSettings",
    "WebhookSettings",
    "find_config",
    "forge_location",
    "load_settings",
    "parse_duration",
    "parse_size",
]
