"""The webhook receiver's wiring: which configured repositories (and provider repositories)
it may trigger, with which secret each, and the daemon callbacks it calls. Called by
``assembly.runtime.run_daemon`` when ``webhooks.enabled``.

Secrets: the shared one (``webhooks.secret_env``) first, then each repository's own
(``repositories[].webhook_secret_env``). A repository with its own secret is triggered only by
hooks signed with it; one without, by the shared one; provider repositories by the shared one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry

from reconciler.api.hookevents import HookTargets, Target
from reconciler.api.webhooks import WebhookMetrics, WebhookReceiver
from reconciler.settings import Settings


def webhook_receiver(
    settings: Settings,
    *,
    trigger: Callable[[str], None],
    reload_providers: Callable[[], None],
    record: Callable[[str], None] | None,
    registry: CollectorRegistry | None,
    environ: Mapping[str, str] | None = None,
) -> WebhookReceiver:
    """The receiver for ``settings``; a ConfigError when a secret variable it names is unset
    or empty (:meth:`~reconciler.settings.WebhookSettings.secrets`)."""
    hooks = settings.webhooks
    shared, own = hooks.secrets(os.environ if environ is None else environ, settings.repositories)
    secrets: list[str] = []
    shared_index = None
    if shared is not None:
        shared_index = len(secrets)
        secrets.append(shared)
    targets = []
    for repo in settings.repositories:
        index = shared_index
        if repo.name in own:
            index = len(secrets)
            secrets.append(own[repo.name])
        targets.append(Target(name=repo.name, url=repo.url, branch=repo.branch, secret=index))
    for provider in settings.providers:
        if provider.type == "git" and provider.repository and provider.enabled:
            targets.append(
                Target(
                    name=f"provider {provider.name}",
                    url=provider.repository,
                    branch=None,
                    secret=shared_index,
                )
            )
    return WebhookReceiver(
        targets=HookTargets(tuple(targets)),
        secrets=tuple(secrets),
        trigger=trigger,
        reload_providers=reload_providers,
        record=record,
        max_body=hooks.max_body,
        read_timeout=hooks.read_timeout,
        per_minute=hooks.rate_limit.per_minute,
        metrics=WebhookMetrics(registry),
    )
