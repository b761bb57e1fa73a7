"""The JSON documents the API serves, built from the store (shared with ``innominatus
status`` so the CLI and the endpoint report the same states). Blocking: call from a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.status import pages
from reconciler.status.document import app_status, known_secrets, resource_status
from reconciler.store import ExecutionRecord, RepositoryRecord, Store


def _iso(value: Any) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_document(record: ExecutionRecord, *, with_steps: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": record.id,
        "app": record.app,
        "resource": record.resource_uid,
        "operation": record.operation,
        "provider": record.provider,
        "provider_version": record.provider_version,
        "workflow": record.workflow,
        "state": record.state,
        "attempt": record.attempt,
        "commit": record.commit,
        "error": record.error,
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "replica": record.replica,
    }
    if with_steps:
        document["steps"] = [
            {
                "position": s.position,
                "name": s.name,
                "type": s.type,
                "state": s.state,
                "exit_code": s.exit_code,
                "error": s.error,
                "log_truncated": s.log_truncated,
                "started_at": _iso(s.started_at),
                "finished_at": _iso(s.finished_at),
            }
            for s in record.steps
        ]
    return document


@dataclass(frozen=True)
class StatusViews:
    store: Store
    providers: Callable[[], dict[str, Any]] | None = None
    """The provider catalogue's description (only the daemon has one)."""

    def version(self) -> str:
        """What :meth:`apps` shows has changed when this has: the store's version and the
        outages of the repositories (they become conditions of their apps)."""
        outages = [
            f"{r.name}@{_iso(r.error_since)}:{r.last_error}"
            for r in self.store.repositories.all()
            if r.error_since is not None
        ]
        return self.store.resources.version() + "|" + "|".join(outages)

    def apps(self) -> dict[str, Any]:
        resources = self.store.resources.by_app()
        sources = {r.name: r for r in self.store.repositories.all()}
        return {
            "apps": [
                app_status(app, resources.get(app.name, []), source=sources.get(app.repository))
                for app in self.store.apps.all()
            ]
        }

    def app_summaries(
        self,
        *,
        after: str | None,
        limit: int,
        phase: str | None = None,
        repository: str | None = None,
        text: str | None = None,
        type_: str | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """One page of app summaries (name, repository, phase, live resources by state,
        updated_at) and the name to continue after (None on the last page)."""
        page = self.store.apps.summaries(
            after=after, limit=limit, phase=phase, repository=repository, text=text, type_=type_
        )
        document = {
            "apps": [
                {
                    "name": a.name,
                    "repository": a.repository,
                    "phase": a.phase,
                    "suspended": a.suspended,
                    "resources": a.resources,
                    "updated_at": _iso(a.updated_at),
                }
                for a in page.apps
            ],
            "total": page.total,
        }
        return document, page.last

    def app(self, name: str) -> dict[str, Any] | None:
        record = self.store.apps.get(name)
        if record is None:
            return None
        source = self.store.repositories.get(record.repository)
        return app_status(record, self.store.resources.of_app(name), source=source)

    def overview(self) -> dict[str, Any]:
        """The dashboard's overview (:func:`reconciler.status.pages.overview`)."""
        return pages.overview(
            self.store,
            repositories=self.repositories()["repositories"],
            providers=self.providers,
            executions=lambda e: execution_document(e, with_steps=False),
        )

    def app_detail(self, name: str) -> dict[str, Any] | None:
        """An app's page: status document, dependency graph, latest executions."""
        return pages.app_detail(
            self.store, name, executions=lambda e: execution_document(e, with_steps=False)
        )

    def graph(self, name: str) -> dict[str, Any] | None:
        """The dependency graph the app page draws (``/api/v1/graph?app=``)."""
        detail = self.app_detail(name)
        return None if detail is None else detail["graph"]

    def resource_types(self) -> list[str]:
        return self.store.apps.resource_types()

    def resources(self, *, app: str | None, type_: str | None, state: str | None) -> dict[str, Any]:
        found = self.store.resources.all(app=app, type_=type_, state=state)
        # A secret copied into another resource's ordinary output is masked by value: every
        # secret known to the store (any app's, so one copied across a shared resource too).
        secrets = known_secrets(self.store.resources.all())
        return {
            "resources": [
                {"app": r.app, "name": r.name, **resource_status(r, secrets)} for r in found
            ]
        }

    def executions(self, *, app: str | None) -> dict[str, Any]:
        return {
            "executions": [
                execution_document(e, with_steps=False) for e in self.store.executions.all(app=app)
            ]
        }

    def execution(self, execution_id: int) -> dict[str, Any] | None:
        record = self.store.executions.get(execution_id)
        return None if record is None else execution_document(record, with_steps=True)

    def execution_logs(self, execution_id: int) -> dict[str, Any] | None:
        record = self.store.executions.get(execution_id)
        if record is None:
            return None
        return {
            "id": record.id,
            "state": record.state,
            "steps": [
                {"name": s.name, "state": s.state, "log": s.log, "log_truncated": s.log_truncated}
                for s in record.steps
            ],
        }

    def provider_catalogue(self) -> dict[str, Any] | None:
        return None if self.providers is None else self.providers()

    def repositories(self) -> dict[str, Any]:
        return {
            "repositories": [
                {
                    "name": r.name,
                    "url": r.url,
                    "branch": r.branch,
                    "last_seen_commit": r.seen_commit,
                    "last_reconciled_commit": r.reconciled_commit,
                    "last_seen_at": _iso(r.last_seen_at),
                    "next_poll_at": _iso(r.next_poll_at),
                    "last_webhook_at": _iso(r.last_webhook_at),
                    "last_error": r.last_error,
                    "error_since": _iso(r.error_since),
                    "good_commit": r.good_commit,
                    "deletes_held": r.hold_reason,
                    "hold": _hold(r),
                    "held_deletes": len(r.held_uids),
                    "suspended": r.suspended,
                    "history_rewritten": (
                        {"from": r.rewritten_from, "at": _iso(r.rewritten_at)}
                        if r.rewritten_from
                        else None
                    ),
                    "invalid_files": r.problems.splitlines() if r.problems else [],
                }
                for r in self.store.repositories.all()
            ]
        }


def _hold(record: RepositoryRecord) -> dict[str, Any] | None:
    """The delete guard's hold: its exact deletes and the command that releases them."""
    if record.hold_reason is None:
        return None
    return {
        "kind": record.hold_kind,
        "commit": record.hold_commit,
        "reason": record.hold_reason,
        "deletes": list(record.held_uids),
        "command": f"innominatus confirm {record.name}",
    }
