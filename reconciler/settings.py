"""Typed settings: one YAML file plus ``INNOMINATUS_*`` environment overrides (ARCHITECTURE §5.1).

Loaded once by the CLI (:func:`load_settings`) and passed down, frozen. Every field documents
its unit and default; the defaults run the daemon with no file at all (SQLite and data under
``./.innominatus``). Environment variables win over the file; nested keys use ``__``
(``INNOMINATUS_API__PORT=9000``). Invalid values are reported as ``file:line: key: problem``.

Which file: :func:`find_config`, the one rule every command shares with the daemon
(``--config``, ``$INNOMINATUS_CONFIG``, ``./innominatus.yaml``, ``/etc/innominatus/config.yaml``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from reconciler.errors import ConfigError, InputError
from reconciler.yamlfile import load_documents

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")


def parse_duration(value: Any) -> float:
    """``"30m"``, ``"10s"``, ``"250ms"``, ``"1h"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 5m, 1h or 250ms")


Duration = Annotated[float, BeforeValidator(parse_duration)]

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """``"1MiB"``, ``"512KiB"``, ``"4GiB"``, ``"64kB"`` or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1MiB, 512KiB or 65536")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    raise ValueError(f"{value!r} is not a size; write e.g. 1MiB, 512KiB or a number of bytes")


Size = Annotated[int, BeforeValidator(parse_size)]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(_Group):
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


class RateLimitSettings(_Group):
    per_minute: int = Field(default=120, ge=1)
    """Requests one source address may send per minute (default 120), as a token bucket that
    holds a minute's worth: a burst of that many, then one every 60/per_minute seconds."""


class WebhookSettings(_Group):
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


class BackoffSettings(_Group):
    initial: Duration = 10.0
    """Delay before the first retry of a failed workflow (default 10s), doubled per attempt."""
    max: Duration = 600.0
    """Upper bound of the retry delay (default 10m)."""


class EngineSettings(_Group):
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
    the database over once it has expired. Shorter outages are waited out in place."""


class StatusSettings(_Group):
    enabled: bool = True
    """Write status files back to Git (default true)."""
    branch: str = "innominatus-status"
    """Branch holding ``apps/<app>.yaml``; created as an orphan branch if missing."""


Forge = Literal["github", "gitlab", "gitea", "forgejo", "bitbucket"]
_SCP_URL = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_OWNER_REPO = re.compile(r"^[^/\s]+/[^/\s]+$")


def forge_location(url: str) -> tuple[str, str] | None:
    """(host with port, project path) of a repository URL on a forge: ``https://host/o/r.git``,
    ``ssh://git@host:22/o/r``, ``git@host:o/r.git``; None for a local path or ``file://``.
    An SSH port names the SSH service, not the forge's web API, so it is dropped."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        scheme, _, rest = url.partition("://")
        if scheme == "file":
            return None
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2]
        if scheme.startswith("ssh") or scheme == "git":
            host = host.partition(":")[0]
    else:
        scp = _SCP_URL.match(url)
        if scp is None or "/" in scp.group("host"):
            return None
        host, path = scp.group("host"), scp.group("path")
    path = path.strip("/").removesuffix(".git")
    return (host.lower(), path) if host and path else None


class CommitStatusSettings(_Group):
    """Commit statuses on the forge (Atlantis, Flux's notification controller): the daemon
    marks the source commit of each pass ``pending``, ``success`` or ``failure`` (with the
    first problem) through the forge's HTTP API. Off unless the group is given."""

    forge: Forge
    """``github``, ``gitlab``, ``gitea``, ``forgejo`` or ``bitbucket`` (Bitbucket Cloud)."""
    token_env: str
    """Env var holding the API token (sent as a header only; never logged). Bitbucket:
    an access token, or ``user:app-password`` for basic authentication."""
    api_url: str | None = None
    """Base URL of the forge's API. Default from the repository URL's host:
    https://api.github.com for github.com (https://HOST/api/v3 for GitHub Enterprise),
    https://HOST/api/v4 for GitLab, https://HOST/api/v1 for Gitea and Forgejo,
    https://api.bitbucket.org/2.0 for Bitbucket."""
    project: str | None = None
    """``owner/repo`` (GitLab: ``group/subgroup/project``; Bitbucket: ``workspace/slug``).
    Default: the repository URL's path."""
    context: str = Field(default="innominatus/reconcile", min_length=1, max_length=40)
    """The status's name on the commit (GitHub and Gitea ``context``, GitLab ``name``,
    Bitbucket ``name`` and ``key``)."""
    target_url: str | None = None
    """Link shown with the status (e.g. the dashboard's public URL). Default: none;
    Bitbucket, which requires one, links the commit's page."""
    timeout: Duration = Field(default=10.0, gt=0)
    """Seconds one request to the forge may take (default 10s)."""

    @field_validator("api_url", "target_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s@]+(/\S*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL without credentials")
        return value.rstrip("/") if value is not None else None

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def target(self, repository_url: str) -> tuple[str, str]:
        """(API base URL, project) for a repository at ``repository_url``: the settings,
        or derived from the URL. A ValueError saying what to set when neither gives one."""
        location = forge_location(repository_url)
        project = self.project or (location[1] if location is not None else None)
        api_url = self.api_url
        if api_url is None and location is not None:
            host = location[0]
            api_url = {
                "github": "https://api.github.com"
                if host == "github.com"
                else f"https://{host}/api/v3",
                "gitlab": f"https://{host}/api/v4",
                "gitea": f"https://{host}/api/v1",
                "forgejo": f"https://{host}/api/v1",
                "bitbucket": "https://api.bitbucket.org/2.0",
            }[self.forge]
        if api_url is None or project is None:
            raise ValueError(
                "commit_status: the repository URL is a local path, so the forge cannot be "
                "derived from it; set commit_status.api_url and commit_status.project "
                "(owner/repo)"
            )
        if any(part in ("", ".", "..") for part in project.split("/")):
            raise ValueError(
                f"commit_status: {project!r} has an empty, '.' or '..' segment, which would "
                "lead the forge's API elsewhere; set commit_status.project"
            )
        if self.forge != "gitlab" and not _OWNER_REPO.match(project):
            raise ValueError(
                f"commit_status: {self.forge} needs the project as owner/repo, got "
                f"{project!r}; set commit_status.project"
            )
        return api_url, project

    def token(self, environ: Mapping[str, str], *, repository: str) -> str:
        """The API token from the environment; a ConfigError naming the variable (never its
        value) when it is unset or empty."""
        value = environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"repositories.{repository}.commit_status.token_env: environment variable "
                f"{self.token_env} is not set or empty; export the forge's API token there, "
                "or remove commit_status"
            )
        return value


class PolicySettings(_Group):
    """What a repository's Score files may use (Argo CD's projects, for innominatus). Globs
    (``*``, ``?``); the default allows everything. A Score file outside its policy is
    ``Invalid`` with the policy named."""

    resource_types: tuple[str, ...] = ("*",)
    """Resource types its apps may declare (``workload`` is always allowed)."""
    providers: tuple[str, ...] = ("*",)
    """Providers whose workflows may run for its resources."""
    shared_ids: tuple[str, ...] = ("*",)
    """Shared-resource ``id``s its apps may declare."""


class RepositorySettings(_Group):
    name: str
    """Short unique name, used in logs, metrics and the API."""
    url: str
    """Local path, file://, https://, ssh:// or git@ URL (never with credentials in it)."""
    branch: str = "main"
    include: tuple[str, ...] = ("**/score.yaml", "**/*.score.yaml")
    """Globs selecting Score files (``**`` crosses folders)."""
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
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (at most 63)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", value):
            raise ValueError("the URL holds a password; remove it and set token_env instead")
        return value


class SandboxLimitSettings(_Group):
    """Limits of one step's programs (``sandbox.limits``; ``sandbox.max`` holds the platform
    maxima a provider's own ``sandbox.limits`` may not exceed). A step over one fails with the
    limit named and stays retryable; wall time is ``engine.step_timeout``."""

    cpu_seconds: int = Field(default=1800, ge=1)
    """CPU seconds each process of a step may use (RLIMIT_CPU; default 1800, i.e. 30m)."""
    memory: Size = Field(default=4 * 1024**3, ge=16 * 1024**2)
    """Address space each process may map (RLIMIT_AS; default 4GiB, at least 16MiB). Virtual
    memory, not resident: runtimes that reserve much up front (the JVM) need more."""
    open_files: int = Field(default=4096, ge=16)
    """Open file descriptors per process (RLIMIT_NOFILE; default 4096)."""
    processes: int = Field(default=1024, ge=8)
    """Processes and threads a step may hold at once (a pids cgroup; default 1024)."""
    output_size: Size = Field(default=1024**3, ge=1024)
    """Largest file a step may write, its state included (RLIMIT_FSIZE; default 1GiB). The
    step's log is bounded apart by ``engine.log_limit``."""


class SandboxMaxSettings(SandboxLimitSettings):
    """Platform maxima: ``sandbox.limits`` and every provider's ``sandbox.limits`` must stay
    within them."""

    cpu_seconds: int = Field(default=4 * 3600, ge=1)
    """Largest ``cpu_seconds`` a provider may ask for (default 14400, i.e. 4h)."""
    memory: Size = Field(default=16 * 1024**3, ge=16 * 1024**2)
    """Largest ``memory`` a provider may ask for (default 16GiB)."""
    open_files: int = Field(default=65536, ge=16)
    """Largest ``open_files`` a provider may ask for (default 65536)."""
    processes: int = Field(default=8192, ge=8)
    """Largest ``processes`` a provider may ask for (default 8192)."""
    output_size: Size = Field(default=16 * 1024**3, ge=1024)
    """Largest ``output_size`` a provider may ask for (default 16GiB)."""


class ProviderLimitSettings(_Group):
    """A provider's own limits (``providers[].sandbox.limits``); unset keys keep
    ``sandbox.limits``."""

    cpu_seconds: int | None = Field(default=None, ge=1)
    """CPU seconds per process (default: ``sandbox.limits.cpu_seconds``)."""
    memory: Size | None = Field(default=None, ge=16 * 1024**2)
    """Address space per process (default: ``sandbox.limits.memory``)."""
    open_files: int | None = Field(default=None, ge=16)
    """Open files per process (default: ``sandbox.limits.open_files``)."""
    processes: int | None = Field(default=None, ge=8)
    """Processes and threads per step (default: ``sandbox.limits.processes``)."""
    output_size: Size | None = Field(default=None, ge=1024)
    """Largest file written (default: ``sandbox.limits.output_size``)."""


class ProviderSandboxSettings(_Group):
    """A provider's sandbox (``providers[].sandbox``), within the platform's ``sandbox.max``."""

    network: Literal["host", "none"] | None = None
    """``none``: its steps have loopback only (default: ``sandbox.network``)."""
    limits: ProviderLimitSettings = ProviderLimitSettings()
    writable: tuple[Path, ...] = ()
    """Existing folders (absolute paths) its steps may also write, e.g. the folder of the
    dns provider's ``hosts_file``; a folder holding ``data_dir`` is refused."""

    @field_validator("writable")
    @classmethod
    def _absolute(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        for folder in value:
            if not folder.is_absolute():
                raise ValueError(f"{folder} is not an absolute path; write the full path")
        return value


class SandboxSettings(_Group):
    """Steps in a sandbox (bubblewrap): a step's programs see a read-only system, their
    workdir and resource state dir read-write, their provider folder read-only, a private
    ``/tmp``, and nothing else of ``data_dir`` (README "Sandbox")."""

    mode: Literal["auto", "required", "off"] = "auto"
    """``auto`` (default): isolate steps when bubblewrap works here, else run them without and
    say so in the log and ``/api/v1/providers``; ``required``: refuse to start without it;
    ``off``: steps run as the daemon, with neither isolation nor limits."""
    network: Literal["host", "none"] = "host"
    """``host`` (default): steps share the host's network; ``none``: loopback only."""
    bwrap: str = "bwrap"
    """The bubblewrap program: a name looked up on PATH or an absolute path (default bwrap)."""
    read_only: tuple[Path, ...] = ()
    """More folders steps see read-only (tools installed outside /usr, e.g. /opt/tools). A
    folder holding ``data_dir`` is refused."""
    limits: SandboxLimitSettings = SandboxLimitSettings()
    max: SandboxMaxSettings = SandboxMaxSettings()

    @model_validator(mode="after")
    def _within_max(self) -> SandboxSettings:
        for key in SandboxLimitSettings.model_fields:
            value, top = getattr(self.limits, key), getattr(self.max, key)
            if value > top:
                raise ValueError(
                    f"limits.{key} ({value}) is above the platform maximum max.{key} ({top}); "
                    f"lower it or raise sandbox.max.{key}"
                )
        return self


class ProviderSourceSettings(_Group):
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
    secret_key: SecretStr | None = None
    """Fernet key sealing secret outputs at rest; set it through INNOMINATUS_SECRET_KEY, never
    in the file. Unset: a key file ``data_dir/secret.key`` (0600) is created on first start."""
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()
    engine: EngineSettings = EngineSettings()
    repositories: tuple[RepositorySettings, ...] = ()
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


def _relative_to(base: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Resolve relative paths of the file against the file's folder."""
    out = dict(data)
    for key in ("data_dir",):
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute():
            out[key] = str((base / out[key]).resolve())
    db = out.get("database")
    if isinstance(db, str) and db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        rel = db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            out["database"] = f"sqlite:///{(base / rel).resolve()}"
    for group in ("repositories", "providers"):
        items = out.get(group)
        if not isinstance(items, list):
            continue
        fixed = []
        for item in items:
            entry = dict(item) if isinstance(item, dict) else item
            if isinstance(entry, dict):
                for key in ("url", "path", "repository", "keyring", "ssh_key"):
                    value = entry.get(key)
                    if key == "path" and entry.get("type") == "git":
                        continue  # a folder inside the provider repository, not on this disk
                    if isinstance(value, str) and _local_relative(value):
                        entry[key] = str((base / value).resolve())
                parameters = entry.get("parameters")
                if isinstance(parameters, dict):
                    entry["parameters"] = {
                        name: (
                            str((base / value).resolve())
                            if isinstance(value, str)
                            and name.endswith(_PATH_SUFFIXES)
                            and _local_relative(value)
                            else value
                        )
                        for name, value in parameters.items()
                    }
            fixed.append(entry)
        out[group] = fixed
    return out


_PATH_SUFFIXES = ("_file", "_path", "_dir")
"""Installation parameters named like this hold paths, resolved against the config's folder."""


def _local_relative(value: str) -> bool:
    """A relative local path (``apps``, ``./apps``, ``../x``), not a URL (``https://``,
    ``file://``), an scp-style address (``git@host:repo``) or an absolute path."""
    if not value or Path(value).is_absolute() or re.match(r"^[a-z][a-z0-9+.-]*://", value):
        return False
    head = value.split("/", 1)[0]
    return ":" not in head


CONFIG_ENV = "INNOMINATUS_CONFIG"
LOCAL_CONFIG = Path("innominatus.yaml")
"""Looked for in the current directory when neither ``--config`` nor the variable is given."""
SYSTEM_CONFIG = Path("/etc/innominatus/config.yaml")
"""Looked for last: where the container image and packages put the daemon's configuration."""


@dataclass(frozen=True)
class ConfigLocation:
    """Which configuration file applies, and why: what commands say when they cannot find
    the state they were asked about."""

    path: Path | None
    """The file; None when none was found (the built-in defaults apply)."""
    origin: str
    """How it was chosen: ``--config``, ``INNOMINATUS_CONFIG``, ``./innominatus.yaml``,
    ``/etc/innominatus/config.yaml``, or ``defaults``."""

    def describe(self) -> str:
        """``cfg.yaml (from --config)``, or what was looked for when nothing was found."""
        if self.path is None:
            return (
                f"no configuration file ({CONFIG_ENV} is unset, and neither ./{LOCAL_CONFIG} "
                f"nor {SYSTEM_CONFIG} exists): the built-in defaults"
            )
        how = {
            "--config": "from --config",
            CONFIG_ENV: f"from {CONFIG_ENV}",
            f"./{LOCAL_CONFIG}": "found in the current directory",
        }.get(self.origin, "the system-wide default")
        return f"{self.path} ({how})"


def find_config(
    explicit: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    system: Path = SYSTEM_CONFIG,
) -> ConfigLocation:
    """The configuration file the daemon and every command use: ``explicit`` (``--config``),
    else ``$INNOMINATUS_CONFIG``, else ``./innominatus.yaml``, else
    ``/etc/innominatus/config.yaml``, else none (the defaults). A file named explicitly or by
    the variable is used even when it is missing (loading it then says so); the two default
    places count only when they exist, so a command never guesses silently."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return ConfigLocation(explicit, "--config")
    if env.get(CONFIG_ENV):
        return ConfigLocation(Path(env[CONFIG_ENV]), CONFIG_ENV)
    local = (cwd or Path()) / LOCAL_CONFIG
    if local.is_file():
        return ConfigLocation(local if cwd is not None else LOCAL_CONFIG, f"./{LOCAL_CONFIG}")
    if system.is_file():
        return ConfigLocation(system, str(system))
    return ConfigLocation(None, "defaults")


def load_settings(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read ``path`` (or the file :func:`find_config` finds, or nothing) and the environment.

    Relative paths in the file are taken relative to the file's folder, so a config works from
    any current directory. Raises :class:`ConfigError` naming the file, line and key.
    """
    path = find_config(path, environ=environ).path
    data: dict[str, Any] = {}
    document = None
    if path is not None:
        try:
            text = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path}: config file not found; pass an existing file to --config "
                "or unset INNOMINATUS_CONFIG to run on the defaults"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
        try:
            documents = load_documents(text, file=str(path))
        except InputError as exc:
            raise ConfigError(exc.message) from exc
        if documents:
            document = documents[0]
            if document.data is None:
                document = None
            elif not isinstance(document.data, dict):
                raise ConfigError(f"{path}:1: the config must be a mapping of keys to values")
            else:
                data = _relative_to(path.resolve().parent, document.data)
    try:
        if environ is None:
            return Settings(**data)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
        try:
            return Settings(**data)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            named = re.match(r"^([a-z_]+(?:\.[a-z_]+)+): ", message)
            if not loc and named:  # a check across groups names its key: point at it
                loc = tuple(named.group(1).split("."))
                message = message[named.end() :]
            key = ".".join(str(part) for part in loc) or "(root)"
            where = (
                str(document.location(loc))
                if document is not None
                else (str(path) if path else "environment")
            )
            if err["type"] == "extra_forbidden":
                message = "unknown key; check the spelling against the README's configuration table"
            elif err["type"] == "literal_error":
                message = f"{message}"
            problems.append(f"{where}: {key}: {message}")
        raise ConfigError("\n".join(problems)) from exc
