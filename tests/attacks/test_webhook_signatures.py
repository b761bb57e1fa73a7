"""Attack (hostile sender): get a hook accepted without holding the secret."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reconciler.api import hookevents
from reconciler.errors import ConfigError
from reconciler.settings import RepositorySettings, WebhookSettings
from tests.attacks._webhook_harness import SECRET, body_of, hub, signature, signed_headers
from tests.integration.api.hook_payloads import github_push

BODY = body_of(github_push())


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        ("github", {"X-Hub-Signature-256": ""}),
        ("github", {"X-Hub-Signature-256": "sha256="}),
        ("github", {"X-Hub-Signature-256": "sha256"}),
        ("github", {"X-Hub-Signature-256": "sha256=   "}),
        (
            "github",
            {
                "X-Hub-Signature-256": "sha1="
                + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
            },
        ),
        ("github", {"X-Hub-Signature": "sha256=" + signature(BODY)}),  # the wrong header
        (
            "github",
            {"X-Hub-Signature-256": "sha256=" + hmac.new(b"", BODY, hashlib.sha256).hexdigest()},
        ),
        ("github", {"X-Hub-Signature-256": "sha256=" + signature(BODY)[:32]}),
        ("gitlab", {"X-Gitlab-Token": ""}),
        ("gitlab", {"X-Gitlab-Token": SECRET[:-1]}),
        ("gitlab", {"X-Gitlab-Token": SECRET + " x"}),
        ("gitea", {"X-Gitea-Signature": ""}),
        ("gitea", {"X-Gitea-Signature": "sha256=" + signature(BODY)}),
        ("forgejo", {"X-Forgejo-Signature": " "}),
        ("bitbucket", {"X-Hub-Signature": "sha1=" + signature(BODY)}),
        ("generic", {"X-Innominatus-Signature": signature(BODY)}),  # no prefix
        ("generic", {"X-Hub-Signature-256": "sha256=" + signature(BODY)}),  # github's header
    ],
)
def test_empty_truncated_sha1_or_misplaced_signatures_are_refused(
    provider: str, headers: dict[str, str]
) -> None:
    h = hub()
    event = {"X-GitHub-Event": "push", "X-Gitlab-Event": "Push Hook", "X-Gitea-Event": "push"}
    response = h.client.post(f"/hooks/{provider}", content=BODY, headers=event | headers)
    assert response.status_code == 401
    assert h.triggered == []


def test_an_uppercase_hex_signature_is_only_accepted_when_it_is_the_right_hmac() -> None:
    h = hub()
    good = "sha256=" + signature(BODY).upper()
    bad = "sha256=" + signature(BODY, "guess").upper()
    base = {"X-GitHub-Event": "push"}
    ok = h.client.post("/hooks/github", content=BODY, headers=base | {"X-Hub-Signature-256": good})
    no = h.client.post("/hooks/github", content=BODY, headers=base | {"X-Hub-Signature-256": bad})
    assert (ok.status_code, no.status_code) == (202, 401)


def test_a_hook_signed_with_another_repositorys_secret_does_not_trigger_this_one() -> None:
    h = hub()
    payload = github_push(url="https://github.com/acme/own")
    payload["repository"] |= {"full_name": "acme/own", "ssh_url": "git@github.com:acme/own.git"}
    body = body_of(payload)
    for provider in ("github", "generic"):
        data = body if provider == "github" else body_of({"repository": "own"})
        response = h.client.post(
            f"/hooks/{provider}", content=data, headers=signed_headers(provider, data)
        )
        assert response.status_code == 401
    assert h.triggered == []


def test_a_forged_generic_hook_is_refused() -> None:
    h = hub()
    body = body_of({"repository": "local", "ref": "refs/heads/main"})
    for headers in (
        {},
        {"X-Innominatus-Signature": "sha256=" + signature(body, "guess")},
        {"X-Innominatus-Signature": "sha256=" + signature(b"{}")},
    ):
        assert h.client.post("/hooks/generic", content=body, headers=headers).status_code == 401
    assert h.triggered == []


def test_the_gitlab_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hookevents.hmac, "compare_digest", spy)
    found = hookevents.verified_secrets(
        "gitlab", {"x-gitlab-token": "guess"}, b"{}", [SECRET, "other"]
    )
    assert found == set()
    assert len(calls) == 2  # every secret, whether or not an earlier one matched


def test_an_empty_secret_variable_is_a_configuration_error() -> None:
    settings = WebhookSettings(enabled=True, secret_env="HOOK")
    repo = RepositorySettings(name="a", url="https://github.com/acme/a", webhook_secret_env="OWN")
    with pytest.raises(ConfigError):
        settings.secrets({"HOOK": "", "OWN": "x"}, (repo,))
    with pytest.raises(ConfigError):
        settings.secrets({"HOOK": "x", "OWN": ""}, (repo,))
