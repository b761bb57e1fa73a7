"""SQLAlchemy 2 table models of the recorded state. Only ``reconciler.store`` imports this.

Tables: repositories (what was fetched and reconciled), apps (desired spec snapshot and phase),
resources (one row per UID: state, desired/applied inputs hash, applied params, outputs),
executions and steps (workflow runs with bounded logs), transitions (the audit trail: one row
per resource state change, written in the same transaction as the change), leases (the
daemon's, the leader's and each replica's), ready_actions (what replicas claim and run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class RepositoryRow(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    url: Mapped[str] = mapped_column(String(1024))  # redacted
    branch: Mapped[str] = mapped_column(String(255))
    seen_commit: Mapped[str | None] = mapped_column(String(64))
    reconciled_commit: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[str | None] = mapped_column(Text)  # invalid files no recorded app owns
    confirmed_commit: Mapped[str | None] = mapped_column(String(64))
    hold_commit: Mapped[str | None] = mapped_column(String(64))  # the commit the hold began at
    hold_kind: Mapped[str | None] = mapped_column(String(16))  # limit | rewrite
    held_uids: Mapped[list[Any] | None]  # the exact deletes the hold stops
    confirmed_uids: Mapped[list[Any] | None]  # deletes a human confirmed, still pending
    rewritten_from: Mapped[str | None] = mapped_column(String(64))  # last rewrite: old tip
    rewritten_at: Mapped[datetime | None]
    error_since: Mapped[datetime | None]  # when the current outage began
    good_commit: Mapped[str | None] = mapped_column(String(64))  # last commit read in full
    suspended: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_webhook_at: Mapped[datetime | None]  # when a webhook for it was last accepted
    # What the delete guard's verdict recorded with the last sync rests on (None: none to trust)
    guard_basis: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AppRow(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    repository: Mapped[str] = mapped_column(String(63), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    commit: Mapped[str | None] = mapped_column(String(64))
    desired: Mapped[dict[str, Any] | None]  # the app's resources as Git says; None = removed
    error: Mapped[str | None] = mapped_column(Text)  # set while the app is Invalid
    phase: Mapped[str] = mapped_column(String(16), default="Progressing")
    reason: Mapped[str] = mapped_column(String(64), default="Reconciling")
    message: Mapped[str] = mapped_column(Text, default="")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    suspended: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime]


class ResourceRow(Base):
    __tablename__ = "resources"
    # The delete guard's fingerprint, grouped over this index alone (migration 0008).
    __table_args__ = (Index("ix_resources_state_shared_id", "state", "shared", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(512), unique=True)
    app: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    class_: Mapped[str] = mapped_column("class", String(255))
    state: Mapped[str] = mapped_column(String(16))
    desired_hash: Mapped[str | None] = mapped_column(String(64))
    applied_hash: Mapped[str | None] = mapped_column(String(64))
    applied_params: Mapped[dict[str, Any] | None]
    outputs: Mapped[dict[str, Any] | None]  # the non-secret ones
    sealed_outputs: Mapped[str | None] = mapped_column(Text)  # Fernet token of the secret ones
    sealed_params: Mapped[str | None] = mapped_column(Text)  # secret-named applied params
    secret_keys: Mapped[list[Any] | None]
    depends_on: Mapped[list[Any] | None]
    operation: Mapped[str | None] = mapped_column(String(16))  # last operation attempted
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(255))
    workflow: Mapped[str | None] = mapped_column(String(255))
    execution_id: Mapped[int | None] = mapped_column(Integer)
    orphaned: Mapped[bool] = mapped_column(default=False)
    shared: Mapped[bool] = mapped_column(default=False)  # declared with `id`: see claims
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ClaimRow(Base):
    """An app declaring a shared resource (one with a Score ``id``). The resource is deleted
    only when its last claim is released (ARCHITECTURE §5.4)."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("app", "uid", name="uq_claims_app_uid"),
        # Ids never reused (PostgreSQL's sequences never do): the delete guard's fingerprint
        # of the claims (count, sum, max of ids) moves with every change (migration 0007).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app: Mapped[str] = mapped_column(String(255), index=True)
    uid: Mapped[str] = mapped_column(String(512), index=True)


class DeclarationRow(Base):
    """An app whose recorded spec declares a shared resource (one with a Score ``id``), kept
    with the spec (valid or not), so that judging a shared resource reads only the apps
    declaring it (migration 0009)."""

    __tablename__ = "shared_declarations"
    __table_args__ = (UniqueConstraint("app", "uid", name="uq_shared_declarations_app_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app: Mapped[str] = mapped_column(String(255), index=True)
    uid: Mapped[str] = mapped_column(String(512), index=True)


class ParsedFileRow(Base):
    """A Score file as the daemon last parsed it (:mod:`reconciler.score.frozen`), so that a
    restart parses only what changed since (migration 0010). ``key`` names the path, the
    content and the parser; ``nodes`` is what parsing it built, charged to the pass's budget."""

    __tablename__ = "parsed_files"
    __table_args__ = (UniqueConstraint("repository", "path", name="uq_parsed_files_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(63))
    path: Mapped[str] = mapped_column(String(1024))
    key: Mapped[str] = mapped_column(String(64))
    nodes: Mapped[int] = mapped_column(Integer)
    workloads: Mapped[bytes] = mapped_column(LargeBinary)


class ExecutionRow(Base):
    __tablename__ = "executions"
    __table_args__ = (
        # Invariant 3, kept by the database too: at most one running execution per resource,
        # whichever replica runs it.
        Index(
            "uq_executions_one_running",
            "resource_uid",
            unique=True,
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_uid: Mapped[str] = mapped_column(String(512), index=True)
    app: Mapped[str] = mapped_column(String(255), index=True)
    operation: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(255))
    provider_version: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), index=True)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    epoch: Mapped[int | None] = mapped_column(Integer)  # the lease epoch that started it
    replica: Mapped[str | None] = mapped_column(String(63))  # the replica lease that runs it


class StepRow(Base):
    __tablename__ = "steps"
    __table_args__ = (Index("ix_steps_execution_position", "execution_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    log_truncated: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class TransitionRow(Base):
    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_uid: Mapped[str] = mapped_column(String(512), index=True)
    app: Mapped[str] = mapped_column(String(255))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    execution_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]


class LeaseRow(Base):
    """The daemon's right to write (ARCHITECTURE §6 invariant 9): one row per lease, renewed by
    its holder; ``epoch`` grows with every new holder and fences off the writes of older ones."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime]


class ReadyActionRow(Base):
    """An action the leading replica found ready, waiting for a replica to claim and run it
    (``engine.replicas``): one per resource at most. ``claimed_by`` names the replica lease of
    the replica running it; ``result`` is set when it ended, for the leader to act on."""

    __tablename__ = "ready_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_uid: Mapped[str] = mapped_column(String(512), unique=True)
    app: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(16))
    shared: Mapped[bool] = mapped_column(default=False)
    providers: Mapped[str | None] = mapped_column(String(64))  # the leader's provider set
    offered_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(63), index=True)
    claimed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(16))


class ControlRow(Base):
    """An operator action (confirm, retry, suspend, resume) for the running daemon to act on
    within a second: the CLI appends a row, the daemon reads the rows after the last it saw."""

    __tablename__ = "control"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str | None] = mapped_column(String(63))
    app: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime]


class GoldenPathRunRow(Base):
    """A golden path run requested by a ``kind: GoldenPathRun`` file of a repository: the
    content last asked for (``digest``) and the content last started (``run_digest``); it
    is due while they differ. Its steps and logs are an execution (``execution_id``)."""

    __tablename__ = "golden_path_runs"
    __table_args__ = (UniqueConstraint("repository", "name", name="uq_golden_path_runs_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(63), index=True)
    name: Mapped[str] = mapped_column(String(63))
    file: Mapped[str] = mapped_column(String(1024))
    golden_path: Mapped[str] = mapped_column(String(255), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    run_digest: Mapped[str | None] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    execution_id: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(255))
    provider_version: Mapped[str | None] = mapped_column(String(64))
    workflow: Mapped[str | None] = mapped_column(String(255))
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requested_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
