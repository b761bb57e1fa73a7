"""The commit-status senders of the configured repositories (``repositories[].commit_status``),
each counting what it sends in ``innominatus_commit_status_total``. Called by
``assembly.runtime`` when it makes the engine.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from reconciler.engine.metrics import Metrics
from reconciler.settings import Settings
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget


def commit_status_senders(
    settings: Settings, *, metrics: Metrics, environ: Mapping[str, str]
) -> dict[str, CommitStatusSender]:
    """A sender of commit statuses for each repository with ``commit_status``, its token read
    from ``environ`` now (a ConfigError naming the variable when it is unset)."""
    senders = {}
    for repo in settings.repositories:
        config = repo.commit_status
        if config is None:
            continue
        api_url, project = config.target(repo.url)
        count = functools.partial(_count_commit_status, metrics, repo.name, config.forge)
        senders[repo.name] = CommitStatusSender(
            repository=repo.name,
            target=ForgeTarget(
                forge=config.forge,
                api_url=api_url,
                project=project,
                context=config.context,
                target_url=config.target_url,
            ),
            token=config.token(environ, repository=repo.name),
            timeout=config.timeout,
            on_result=count,
        )
    return senders


def _count_commit_status(metrics: Metrics, repository: str, forge: str, result: str) -> None:
    metrics.commit_statuses.labels(repository=repository, forge=forge, result=result).inc()
