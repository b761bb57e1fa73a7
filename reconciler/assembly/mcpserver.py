"""The read-only MCP server (``innominatus mcp``): the daemon's recorded state, its providers
and ``plan`` offered as tools to AI assistants over the Model Context Protocol.

Owns the tools and their inputs; every answer comes from a read path that already exists, so an
assistant sees what the API and the CLI show: app summaries and status documents
(:class:`~reconciler.status.views.StatusViews`, outputs masked as everywhere), executions and
their logs (stored masked), the provider catalogue, the types with the JSON Schema of their
create workflow's parameters (:mod:`reconciler.providers.schema`), golden paths, and the JSON
plan of a pull request (:func:`~reconciler.plan.render.document.review_document`). Nothing here
writes: the store is opened read-only per call by the ``open_store`` it is given, so a call
sees the state as it is then and a missing database is an error result, not a dead server.

Errors are results, one line each (``is_error``): an unknown app or execution, invalid
arguments (a NUL character, a limit out of range), a database that is not there. Anything
unexpected is the SDK's ``Error executing tool NAME``, its traceback only on the server's
stderr. The only module that imports the ``mcp`` SDK (the ``mcp`` extra); called by
:mod:`reconciler.cli.mcp`, which passes the read paths in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from reconciler import __version__
from reconciler.errors import InnominatusError
from reconciler.plan.render.document import review_document
from reconciler.plan.review import Review
from reconciler.providers.registry import ProviderSet
from reconciler.providers.schema import create_workflows, params_schema
from reconciler.status.views import StatusViews, execution_document
from reconciler.store import Store
from reconciler.store.executions import MAX_ID

NO_NUL = r"^[^\x00]*$"
"""No name, filter or ref holds a NUL (and PostgreSQL text cannot): refused before any read."""
Name = Annotated[str, Field(min_length=1, max_length=512, pattern=NO_NUL)]
Filter = Annotated[str, Field(max_length=512, pattern=NO_NUL)] | None
ExecutionId = Annotated[int, Field(ge=1, le=MAX_ID, description="The execution's number.")]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
INSTRUCTIONS = (
    "innominatus reconciles Score workloads from Git with versioned providers. These tools "
    "read its recorded state (apps, resources, executions, logs), its providers and golden "
    "paths, and plan what merging a branch would do. They change nothing; secret values are "
    "always masked."
)


@dataclass(frozen=True, kw_only=True)
class ReadPaths:
    """Where the tools read from (the CLI's own read paths, passed in)."""

    open_store: Callable[[], Store]
    """The configured store, read-only; closed by the caller."""
    catalogue: Callable[[], dict[str, Any]]
    """The provider catalogue as ``innominatus providers list -o json`` shows it."""
    provider_set: Callable[[], ProviderSet]
    """The provider set the daemon would load now (an error when it is refused)."""
    golden_paths: Callable[[ProviderSet], list[dict[str, Any]]]
    """The golden paths of a set, as ``innominatus goldenpaths list -o json`` shows them."""
    review: Callable[[Path, str | None, str, bool], Review]
    """``plan``'s review of a clone: path, base (None: the configured branch), head,
    against_state."""


@contextmanager
def _answering(what: str) -> Iterator[None]:
    """Expected failures become one-line error results (never a traceback to the client)."""
    try:
        yield
    except ToolError:
        raise
    except InnominatusError as exc:
        raise ToolError(_one_line(exc.message)) from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        raise ToolError(f"{what}: {where}{exc.strerror or exc}") from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Tools:
    """The tools, each a read of one :class:`ReadPaths` entry. Blocking: the SDK runs each
    call in a worker thread."""

    def __init__(self, paths: ReadPaths) -> None:
        self._paths = paths

    @contextmanager
    def _views(self) -> Iterator[StatusViews]:
        store = self._paths.open_store()
        try:
            yield StatusViews(store)
        finally:
            store.close()

    def list_apps(
        self,
        *,
        limit: Annotated[int, Field(ge=1, le=1000, description="Apps per page.")] = 100,
        after: Filter = None,
        phase: Filter = None,
        repository: Filter = None,
        name_contains: Filter = None,
        resource_type: Filter = None,
    ) -> dict[str, Any]:
        """One page of app summaries (name, repository, phase, suspended, live resources by
        state, updated_at), sorted by name, with `total` and `next_after`: pass it as `after`
        for the next page (null on the last). Filters: phase (Ready, Reconciling, Stalled,
        Deleting, ...), repository name, part of the app name (any case), a live resource
        type."""
        with _answering("list_apps"), self._views() as views:
            document, last = views.app_summaries(
                after=after,
                limit=limit,
                phase=phase,
                repository=repository,
                text=name_contains,
                type_=resource_type,
            )
        return {**document, "next_after": last}

    def get_app(self, app: Name) -> dict[str, Any]:
        """An app's status document, as on the status branch and `/api/v1/apps/{app}`:
        phase, conditions, source commit and file, every resource with state, provider,
        workflow, outputs (secrets masked) and last error."""
        with _answering("get_app"), self._views() as views:
            document = views.app(app)
        if document is None:
            raise ToolError(f"no app named {app!r}; list_apps lists the apps")
        return document

    def list_resources(
        self, app: Filter = None, resource_type: Filter = None, state: Filter = None
    ) -> dict[str, Any]:
        """Recorded resources (outputs masked), optionally of one app, of one type or in one
        state (pending, active, failed, deleting, ...)."""
        with _answering("list_resources"), self._views() as views:
            if app is not None and views.store.apps.get(app) is None:
                raise ToolError(f"no app named {app!r}; list_apps lists the apps")
            return views.resources(app=app, type_=resource_type, state=state)

    def get_resource(self, app: Name, resource: Name) -> dict[str, Any]:
        """One resource of an app: type, state, provider, workflow, outputs (secrets masked),
        last error."""
        found = self.list_resources(app=app)["resources"]
        for document in found:
            if document["name"] == resource:
                return dict(document)
        known = ", ".join(d["name"] for d in found) or "none"
        raise ToolError(f"app {app!r} has no resource {resource!r}; its resources: {known}")

    def list_executions(
        self,
        app: Filter = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="How many, newest first.")] = 50,
    ) -> dict[str, Any]:
        """Recent workflow executions, newest first (as `innominatus executions list`),
        optionally of one app (golden path runs under the run's name)."""
        with _answering("list_executions"), self._views() as views:
            records = views.store.executions.all(app=app, limit=limit)
            return {"executions": [execution_document(r, with_steps=False) for r in records]}

    def get_execution(self, execution: ExecutionId) -> dict[str, Any]:
        """One execution with its steps (state, exit code, error, times)."""
        with _answering("get_execution"), self._views() as views:
            document = views.execution(execution)
        if document is None:
            raise ToolError(f"no execution {execution}; list_executions shows recent ones")
        return document

    def get_execution_logs(self, execution: ExecutionId) -> dict[str, Any]:
        """The kept tail of each step's log of an execution (secrets masked when recorded)."""
        with _answering("get_execution_logs"), self._views() as views:
            document = views.execution_logs(execution)
        if document is None:
            raise ToolError(f"no execution {execution}; list_executions shows recent ones")
        return document

    def list_providers(self) -> dict[str, Any]:
        """The provider catalogue as it loads now: each provider's version, source, ref,
        commit, tree hash, types, aliases and workflows, and the refusal when the set is
        refused."""
        with _answering("list_providers"):
            return self._paths.catalogue()

    def list_resource_types(self) -> dict[str, Any]:
        """Every resource type the providers claim, with its provider, aliases and the JSON
        Schema of the `params` its create workflow(s) accept (typed, required, allowed values,
        defaults; parameters the platform sets are `false`)."""
        with _answering("list_resource_types"):
            providers = self._paths.provider_set()
        types = []
        for name, provider in sorted(providers.providers.items()):
            for type_ in sorted(provider.types):
                workflows = create_workflows(providers, type_)
                types.append(
                    {
                        "type": type_,
                        "provider": name,
                        "version": provider.version,
                        "aliases": sorted(a for a, t in provider.aliases.items() if t == type_),
                        "create_workflows": [
                            {"workflow": w.name, "params": params_schema(w)} for w in workflows
                        ],
                    }
                )
        return {"types": types}

    def list_golden_paths(self) -> dict[str, Any]:
        """Golden paths of the loaded providers with their typed parameters (as
        `innominatus goldenpaths list`); a `GoldenPathRun` file in an app repository runs
        one."""
        with _answering("list_golden_paths"):
            return {"goldenpaths": self._paths.golden_paths(self._paths.provider_set())}

    def plan(
        self,
        repository_path: Annotated[str, Field(min_length=1, max_length=4096, pattern=NO_NUL)],
        base: Filter = None,
        head: Annotated[str, Field(min_length=1, max_length=512, pattern=NO_NUL)] = "HEAD",
        against_state: bool = False,
    ) -> dict[str, Any]:
        """What merging `head` into `base` would do, as `innominatus plan --format json`:
        per app the actions in order (create, update, delete, replace) with workflow and
        parameter diff (secrets masked), problems, golden path runs, notes, and `exit_code`
        (0 no change, 2 changes, 1 problems). `repository_path` is a local clone on the
        server's machine holding both refs (committed objects only are read); `base` defaults
        to the configured branch. `against_state` plans against the recorded state instead."""
        with _answering("plan"):
            review = self._paths.review(Path(repository_path), base, head, against_state)
            return review_document(review)


def build_server(paths: ReadPaths) -> MCPServer[Any]:
    """The server with every tool registered, each marked read-only."""
    server: MCPServer[Any] = MCPServer(
        "innominatus", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    tools = Tools(paths)
    for tool in (
        tools.list_apps,
        tools.get_app,
        tools.list_resources,
        tools.get_resource,
        tools.list_executions,
        tools.get_execution,
        tools.get_execution_logs,
        tools.list_providers,
        tools.list_resource_types,
        tools.list_golden_paths,
        tools.plan,
    ):
        server.add_tool(tool, annotations=READ_ONLY)
    return server


def serve_stdio(paths: ReadPaths) -> None:
    """Serve the tools on stdin/stdout until the client closes them."""
    build_server(paths).run("stdio")
