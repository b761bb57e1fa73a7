"""Push events shaped like each forge's documented webhook payloads (trimmed to the fields a
receiver reads, plus a few it must ignore), and the headers each forge sends with them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SECRET = "s3cret-hook"
SHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"


def github_push(
    ref: str = "refs/heads/main", url: str = "https://github.com/acme/apps"
) -> dict[str, Any]:
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads#push
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": SHA,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {
            "id": 1296269,
            "name": "apps",
            "full_name": "acme/apps",
            "private": True,
            "html_url": url,
            "clone_url": url + ".git",
            "ssh_url": "git@github.com:acme/apps.git",
            "default_branch": "main",
        },
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "head_commit": {"id": SHA, "message": "bigger db"},
    }


def gitlab_push(ref: str = "refs/heads/main") -> dict[str, Any]:
    # https://docs.gitlab.com/user/project/integrations/webhook_events/#push-events
    return {
        "object_kind": "push" if ref.startswith("refs/heads/") else "tag_push",
        "before": "0" * 40,
        "after": SHA,
        "ref": ref,
        "checkout_sha": SHA,
        "user_username": "dev",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": "apps",
            "web_url": "https://gitlab.example.com/platform/apps",
            "git_ssh_url": "git@gitlab.example.com:platform/apps.git",
            "git_http_url": "https://gitlab.example.com/platform/apps.git",
            "path_with_namespace": "platform/apps",
            "default_branch": "main",
        },
        "repository": {
            "name": "apps",
            "url": "git@gitlab.example.com:platform/apps.git",
            "homepage": "https://gitlab.example.com/platform/apps",
            "git_http_url": "https://gitlab.example.com/platform/apps.git",
            "git_ssh_url": "git@gitlab.example.com:platform/apps.git",
        },
        "commits": [{"id": SHA, "message": "bigger db"}],
        "total_commits_count": 1,
    }


def gitea_push(ref: str = "refs/heads/main", host: str = "gitea.example.com") -> dict[str, Any]:
    # https://docs.gitea.com/usage/webhooks (the same shape on Forgejo)
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": SHA,
        "compare_url": f"https://{host}/acme/apps/compare/x...y",
        "commits": [{"id": SHA, "message": "bigger db"}],
        "repository": {
            "id": 1,
            "name": "apps",
            "full_name": "acme/apps",
            "html_url": f"https://{host}/acme/apps",
            "ssh_url": f"git@{host}:acme/apps.git",
            "clone_url": f"https://{host}/acme/apps.git",
            "default_branch": "main",
        },
        "pusher": {"login": "dev"},
    }


def bitbucket_push(name: str = "main", kind: str = "branch") -> dict[str, Any]:
    # https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/#Push
    return {
        "actor": {"display_name": "dev"},
        "repository": {
            "type": "repository",
            "name": "apps",
            "full_name": "acme/apps",
            "links": {"html": {"href": "https://bitbucket.org/acme/apps"}},
        },
        "push": {
            "changes": [
                {
                    "new": {"type": kind, "name": name, "target": {"type": "commit", "hash": SHA}},
                    "old": {"type": kind, "name": name, "target": {"hash": "1" * 40}},
                    "created": False,
                    "forced": False,
                }
            ]
        },
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(
    provider: str, body: bytes, secret: str = SECRET, event: str = "push"
) -> dict[str, str]:
    """The headers ``provider`` sends with ``body``, signed with ``secret``."""
    sig = signature(body, secret)
    return {
        "github": {"X-GitHub-Event": event, "X-Hub-Signature-256": f"sha256={sig}"},
        "gitlab": {
            "X-Gitlab-Event": "Push Hook" if event == "push" else event,
            "X-Gitlab-Token": secret,
        },
        "gitea": {"X-Gitea-Event": event, "X-Gitea-Signature": sig},
        "forgejo": {"X-Forgejo-Event": event, "X-Forgejo-Signature": sig},
        "bitbucket": {
            "X-Event-Key": "repo:push" if event == "push" else event,
            "X-Hub-Signature": f"sha256={sig}",
        },
        "generic": {"X-Innominatus-Signature": f"sha256={sig}"},
    }[provider] | {"Content-Type": "application/json"}
