"""The configuration's groups and its root, :class:`Settings` (ARCHITECTURE §5.1)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reconciler.errors import ConfigError
from reconciler.settings.forges import CommitStatusSettings
from reconciler.settings.platformrepo import PLATFORM, PlatformSettings
from reconciler.settings.sandbox import ProviderSandboxSettings, SandboxSettings
from reconciler.settings.tracing import TracingSettings
from reconciler.settings.values import NAME, Duration, Group, Size


class ApiSettings(Group):
    """The read-only status endpoint served by ``innominatus run``."""

    enabled: bool = True
    """Serve the API at all (default true)."""
    host: str = "127.0.0.1"
    """Interface to bind (default 127.0.0.1: local only)."""
    port: int = Field(default=8081, ge=0, le=65535)
    """TCP port (default 8081; 0 picks a free port)."""
    tokens_env: str | None = None
    """Name of an env var holding comma-separated bearer tokens; unset = no authentication.
    Set but missing or empty in the environment: the daemon refuses to start."""
    allowed_hosts: tuple[str, ...] | None = None
    """Host names the API answers to (its ``Host`` header; stops DNS rebinding): exact names,
    ``*.example.com`` for any subdomain, ``*`` for any host. Default: ``localhost`` and
    ``host`` when it is a name. An IP address is always accepted (a rebinding page sends its
    own name, never an address); ``/healthz`` and ``/readyz`` answer any host."""

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for host in value:
            if not re.fullmatch(r"\*|(\*\.)?[A-Za-z0-9_.-]+", host):
                raise ValueError(
                    f"{host!r} is not a host name; write e.g. status.example.com, "
                    "*.example.com or *"
                )
        return tuple(host.lower() for host in value)

    def bearer_tokens(self, environ: Mapping[str, str]) -> tuple[str, ...]:
        """The tokens ``tokens_env`` names; none when it is unset. A ConfigError when it is
        set but the variable is missing or holds no token: failing open would serve everyone."""
        if not self.tokens_env:
            return ()
        tokens = tuple(t.strip() for t in environ.get(self.tokens_env, "").split(",") if t.strip())
        if not tokens:
            raise ConfigError(
                f"api.tokens_env: environment variable {self.tokens_env} is not set or holds no "
                "token; export it (comma-separated bearer tokens) or remove api.tokens_env to "
                "serve the API without authentication"
            )
        return tokens

    def host_names(self) -> tuple[str, ...]:
        """``allowed_hosts``, or its default for this bind address."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        bound = self.host.strip("[]").lower()
        try:
            ipaddress.ip_address(bound)
        except ValueError:
            return ("localhost", bound) if bound and bound != "localhost" else ("localhost",)
        return ("localhost",)


class RateLimitSettings(Group):
    per_minute: int = Field(default=120, ge=1)
    """Requests one source address may send per minute (default 120), as a token bucket that
    holds a minute's worth: a burst of that many, then one every 60/per_minute seconds."""


class WebhookSettings(Group):
    """The webhook receiver: a listener of its own (not the read-only status API) that turns a
    forge's signed push event into "look at repository R now"."""

    enabled: bool = False
    """Serve the receiver (default false)."""
    host: str = "127.0.0.1"
    """Interface to bind (default 127.0.0.1; 0.0.0.0 to take hooks from outside)."""
    port: int = Field(default=8082, ge=0, le=65535)
    """TCP port (default 8082; 0 picks a free port)."""
    secret_env: str | None = None
    """Env var holding the shared secret: for repositories without ``webhook_secret_env``
    and for provider repositories."""
    max_body: Size = Field(default=1024 * 1024, ge=1024)
    """Largest request body accepted (default 1MiB); larger ones get 413."""
    read_timeout: Duration = Field(default=10.0, gt=0)
    """How long a sender may take to send its body (default 10s); slower ones get 408."""
    rate_limit: RateLimitSettings = RateLimitSettings()

    def secrets(
        self, environ: Mapping[str, str], repositories: tuple[RepositorySettings, ...]
    ) -> tuple[str | None, dict[str, str]]:
        """(shared secret, per-repository secrets by repository name) from the environment.
        A ConfigError when a named variable is unset or empty: a receiver that verified with
        an empty secret would accept anyone's hooks."""

        def read(key: str, env: str) -> str:
            value = environ.get(env, "")
            if not value:
                raise ConfigError(
                    f"{key}: environment variable {env} is not set or empty; export the "
                    "webhook secret there, or remove the key"
                )
            return value

        shared = read("webhooks.secret_env", self.secret_env) if self.secret_env else None
        own = {
            repo.name: read(f"repositories.{repo.name}.webhook_secret_env", repo.webhook_secret_env)
            for repo in repositories
            if repo.webhook_secret_env
        }
        return shared, own


class BackoffSettings(Group):
    initial: Duration = 10.0
    """Delay before the first retry of a failed workflow (default 10s), doubled per attempt."""
    max: Duration = 600.0
    """Upper bound of the retry delay (default 10m)."""


REPLICA_LEASE_TTL = 12.0
"""``engine.lease_ttl`` of replicas unless set: a dead leader's lease expires within it."""


class EngineSettings(Group):
    workers: int = Field(default=4, ge=1, le=256)
    """Executions running at once across all apps (default 4)."""
    step_timeout: Duration = 1800.0
    """Wall-clock limit of one step; its process group is killed past it (default 30m)."""
    max_attempts: int = Field(default=5, ge=1)
    """Attempts of one action before the resource stays ``failed`` (default 5)."""
    backoff: BackoffSettings = BackoffSettings()
    max_deletes: int = Field(default=10, ge=0)
    """Deletes one repository pass may start without ``innominatus confirm`` (default 10)."""
    shutdown_grace: Duration = 30.0
    """On SIGTERM, how long running steps may finish before they are killed (default 30s)."""
    log_limit: int = Field(default=65536, ge=1024)
    """Bytes of output kept per step (the tail; default 64 KiB)."""
    lease_ttl: Duration = Field(default=60.0, ge=3.0)
    """How long the daemon's right to write lasts without renewal (default 60s, at least 3s):
    renewed every third of it; a daemon that cannot renew for two thirds of it (a database
    outage longer than 40s by default) ends its steps and exits, and another daemon may take
    the database over once it has expired. Shorter outages are waited out in place. With
    ``replicas`` the default is 12s: a dead replica or leader is replaced within 15s."""
    replicas: bool = False
    """Several ``innominatus run`` processes on one PostgreSQL database form one installation
    (default false: one daemon per database, a second one is refused). One replica leads — it
    polls, syncs, evaluates guards and writes status — and every replica executes ready
    actions it claims from the database (``FOR UPDATE SKIP LOCKED``), up to its ``workers``.
    PostgreSQL only. Steps that keep files in ``data_dir`` between executions (a Terraform
    local backend) need ``data_dir`` on storage every replica shares."""

    @model_validator(mode="after")
    def _replica_lease(self) -> EngineSettings:
        # Replicas hand the lead over within a lease: 12s unless set, so failover <= 15s.
        if self.replicas and "lease_ttl" not in self.model_fields_set:
            object.__setattr__(self, "lease_ttl", REPLICA_LEASE_TTL)
        return self


class StatusSettings(Group):
    enabled: bool = True
    """Write status files back to Git (default true)."""
    branch: str = "innominatus-status"
    """Branch holding ``apps/<app>.yaml``; created as an orphan branch if missing."""


class PolicySettings(Group):
    """What a repository's Score files may use (Argo CD's projects, for innominatus). Globs
    (``*``, ``?``); the default allows everything. A Score file outside its policy is
    ``Invalid`` with the policy named."""

    resource_types: tuple[str, ...] = ("*",)
    """Resource types its apps may declare (``workload`` is always allowed)."""
    providers: tuple[str, ...] = ("*",)
    """Providers whose workflows may run for its resources."""
    shared_ids: tuple[str, ...] = ("*",)
    """Shared-resource ``id``s its apps may declare."""


class RepositorySettings(Group):
    name: str
    """Short unique name, used in logs, metrics and the API."""
    url: str
    """Local path, file://, https://, ssh:// or git@ URL (never with credentials in it)."""
    branch: str = "main"
    include: tuple[str, ...] = ("**/score.yaml", "**/*.score.yaml")
    """Globs selecting Score files (``**`` crosses folders)."""
    golden_path_runs: tuple[str, ...] = ("runs/**/*.yaml", "**/*.run.yaml")
    """Globs selecting ``kind: GoldenPathRun`` files (a file Score's ``include`` selects is a
    Score file); ``[]`` turns golden path runs off for the repository."""
    interval: Duration = 60.0
    """Poll interval (default 60s, with jitter); local paths are also watched."""
    watch: bool = True
    """For local repositories: react to new commits at once by watching the folder."""
    prune: bool = True
    """Delete resources removed from Git (default true); false leaves them orphaned."""
    on_rewrite: Literal["hold", "follow"] = "hold"
    """When the branch's history is rewritten (a force-push to a tip that does not descend
    from the last synced commit): ``hold`` the deletes it causes until `innominatus confirm`
    (default), or ``follow`` the new history like any commit."""
    status: StatusSettings = StatusSettings()
    policy: PolicySettings = PolicySettings()
    share_with: tuple[str, ...] = ()
    """Repositories whose apps may also declare the shared resources (``id``) this
    repository's apps declared first. By default a shared id belongs to one repository."""
    token_env: str | None = None
    """Env var holding an HTTPS token (sent as a header, never in the URL)."""
    ssh_key: Path | None = None
    """Private key file for ssh:// and git@ URLs."""
    webhook_secret_env: str | None = None
    """Env var holding this repository's webhook secret (default: ``webhooks.secret_env``)."""
    commit_status: CommitStatusSettings | None = None
    """Set commit statuses of the source commit on the forge (default: off)."""

    @model_validator(mode="after")
    def _commit_status_target(self) -> RepositorySettings:
        if self.commit_status is not None:
            self.commit_status.target(self.url)  # a local path needs api_url and project
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (at most 63)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", value):
            raise ValueError("the URL holds a password; remove it and set token_env instead")
        return value


class ProviderSourceSettings(Group):
    """One provider: a folder, or a Git repository at a pinned ref or SemVer range."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    """Must equal the provider's ``metadata.name``."""
    type: Literal["filesystem", "git"] = "filesystem"
    path: Path | None = None
    """``filesystem``: the folder holding provider.yaml. ``git``: a sub-folder of the
    repository holding it (default: the repository root)."""
    repository: str | None = None
    """``git``: URL or local path of the provider repository."""
    ref: str | None = None
    """``git``: a tag, a branch or a full commit SHA."""
    version: str | None = None
    """``git``: a SemVer range (``>=1.2,<2``) resolved to the highest matching tag."""
    sha256: str | None = None
    """Expected tree hash (``innominatus providers hash DIR``); any mismatch refuses the set."""
    keyring: Path | None = None
    """``git``: a GnuPG home whose keys must have signed the pinned tag or commit."""
    token_env: str | None = None
    """``git``: env var holding an HTTPS token."""
    interval: Duration = 300.0
    """How often the source is re-checked (default 5m); local folders are also watched."""
    enabled: bool = True
    parameters: dict[str, Any] = {}
    """Installation parameters: values the platform team fixes for this provider's workflow
    parameters of the same name (the GitOps target, a DNS domain, the environment variable
    holding an admin DSN). They replace the workflows' defaults and a resource cannot
    override them. Never put a secret here: name an environment variable instead."""
    sandbox: ProviderSandboxSettings | None = None
    """This provider's network and limits, within ``sandbox.max`` (default: ``sandbox``)."""

    @model_validator(mode="after")
    def _complete(self) -> ProviderSourceSettings:
        if self.type == "filesystem" and self.path is None:
            raise ValueError("a filesystem provider needs `path`, the folder of provider.yaml")
        if self.type == "git":
            if not self.repository:
                raise ValueError("a git provider needs `repository`, its URL or path")
            if bool(self.ref) == bool(self.version):
                raise ValueError("a git provider needs exactly one of `ref` or `version`")
        return self


class Settings(BaseSettings):
    """The root of innominatus' configuration (ARCHITECTURE §5.1)."""

    model_config = SettingsConfigDict(
        env_prefix="INNOMINATUS_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database: str = "sqlite:///.innominatus/state.db"
    """SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host:5432/db."""
    data_dir: Path = Path(".innominatus")
    """Clones, per-execution workdirs, per-resource state dirs, keys."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    """``text`` (default): one readable line per record; ``json``: one JSON object per line
    (``time``, ``level``, ``logger``, ``message``, and ``app``, ``resource``, ``execution``
    where the line is about one), for log collectors."""
    secret_key: SecretStr | None = None
    """Fernet key sealing secret outputs at rest; set it through INNOMINATUS_SECRET_KEY, never
    in the file. Unset: a key file ``data_dir/secret.key`` (0600) is created on first start."""
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()
    engine: EngineSettings = EngineSettings()
    tracing: TracingSettings = TracingSettings()
    repositories: tuple[RepositorySettings, ...] = ()
    platform: PlatformSettings | None = None
    """The platform repository carrying ``providers:`` and ``step_defaults:`` (then neither
    may be set here); unset: they are read from this file."""
    providers: tuple[ProviderSourceSettings, ...] = ()
    sandbox: SandboxSettings = SandboxSettings()
    step_defaults: dict[str, dict[str, Any]] = {}
    """Config keys every step of a type gets unless the step sets them, by step type — e.g.
    ``{kubernetes: {url: <GitOps repository>, path: clusters/prod}}`` so providers written for
    an ambient cluster (the original innominatus' kubernetes steps) deliver to your target."""
    step_token_envs: tuple[str, ...] = ()
    """Environment variables a step may name as its ``token_env`` (a provider could otherwise
    send any of the daemon's variables to a server of its choosing). Names given in
    ``step_defaults`` are allowed too."""

    @field_validator("repositories")
    @classmethod
    def _unique_repositories(
        cls, value: tuple[RepositorySettings, ...]
    ) -> tuple[RepositorySettings, ...]:
        seen: set[str] = set()
        for repo in value:
            if repo.name in seen:
                raise ValueError(f"two repositories are named {repo.name!r}; rename one")
            seen.add(repo.name)
        return value

    @model_validator(mode="after")
    def _webhook_secret(self) -> Settings:
        if self.webhooks.enabled and not (
            self.webhooks.secret_env or any(r.webhook_secret_env for r in self.repositories)
        ):
            raise ValueError(
                "webhooks.enabled: the receiver needs a secret; set webhooks.secret_env "
                "(or repositories[].webhook_secret_env) to an environment variable holding it"
            )
        return self

    @model_validator(mode="after")
    def _replicas_need_postgresql(self) -> Settings:
        if self.engine.replicas and not self.database.startswith("postgresql"):
            raise ValueError(
                "engine.replicas: several replicas share one PostgreSQL database, and database "
                "is not one (SQLite allows one daemon); set database to a postgresql+psycopg:// "
                "URL, or remove engine.replicas"
            )
        return self

    @model_validator(mode="after")
    def _one_place_for_providers(self) -> Settings:
        if self.platform is None:
            return self
        if self.providers or self.step_defaults:
            key = "providers" if self.providers else "step_defaults"
            raise ValueError(
                f"{key}: platform: is set, so providers and step_defaults come from "
                f"{self.platform.path} in the platform repository; move this key there, or "
                "remove platform:"
            )
        if any(repo.name == PLATFORM for repo in self.repositories):
            raise ValueError(
                f"repositories: {PLATFORM!r} names the platform repository when platform: is "
                "set; rename this app repository"
            )
        return self

    @model_validator(mode="after")
    def _provider_limits(self) -> Settings:
        for provider in self.providers:
            if provider.sandbox is None:
                continue
            for key, value in provider.sandbox.limits.model_dump(exclude_none=True).items():
                top = getattr(self.sandbox.max, key)
                if value > top:
                    raise ValueError(
                        f"providers.{provider.name}.sandbox.limits.{key}: {value} is above the "
                        f"platform maximum sandbox.max.{key} ({top}); lower it, or raise "
                        f"sandbox.max.{key}"
                    )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init values).
        return (env_settings, init_settings)
