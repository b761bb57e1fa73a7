"""Attack (a signed hook naming a repository in a confusing spelling): a hook only triggers
the configured repository it really names."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.hookevents import normalise_url
from tests.attacks._webhook_harness import body_of, hub, signed_headers
from tests.integration.api.hook_payloads import bitbucket_push, github_push


def _github(urls: dict[str, Any], full_name: str | None = "acme/apps") -> dict[str, Any]:
    payload = github_push()
    payload["repository"] = {"full_name": full_name, **urls}
    return payload


def _post(h, provider: str, payload: dict[str, Any]):
    body = body_of(payload)
    return h.client.post(f"/hooks/{provider}", content=body, headers=signed_headers(provider, body))


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/acme/apps",
        "https://github.com@evil.example/acme/apps",
        "https://evil.example/github.com/acme/apps",
        "https://evil.example:github.com/acme/apps",
        "git@evil.example:acme/apps.git",
        "https://github.com/acme/apps/../other",
        "https://github.com/other/../acme/apps",
        "https://github.com/acme/apps%2f..%2fother",
        "https://github.com/acme/apps/extra",
        "https://github.com/acme",
    ],
)
def test_a_url_on_another_host_or_path_does_not_trigger_a_repository(url: str) -> None:
    h = hub()
    response = _post(h, "github", _github({"clone_url": url, "html_url": url}, None))
    assert "github-apps" not in h.triggered, (url, response.text)


def test_a_forge_hook_without_urls_only_names_repositories_on_that_forge() -> None:
    h = hub()
    response = _post(h, "github", _github({}))
    assert response.status_code in {200, 202}
    assert set(h.triggered) <= {"github-apps"}, h.triggered


def test_unicode_look_alikes_do_not_fold_onto_an_ascii_repository_name() -> None:
    assert normalise_url("https://github.com/acme/\u212aube") != normalise_url(
        "https://github.com/acme/kube"
    )


def test_case_differences_in_ascii_still_match() -> None:
    h = hub()
    url = "https://GITHUB.com/ACME/Apps.git"
    _post(h, "github", _github({"clone_url": url}, "ACME/Apps"))
    assert h.triggered == ["github-apps"]


def test_a_generic_hook_cannot_name_a_local_path_outside_the_configured_one() -> None:
    h = hub()
    for name in ("/srv/git/apps/../apps", "/srv/git/../git/apps.git", "file:///srv/git/x/../apps"):
        _post(h, "generic", {"repository": name, "ref": "refs/heads/main"})
    assert h.triggered == []


def test_a_bitbucket_push_of_several_branches_triggers_the_followed_one() -> None:
    h = hub()
    payload = bitbucket_push("feature")
    main = bitbucket_push("main")["push"]["changes"][0]
    payload["push"]["changes"].append(main)
    response = _post(h, "bitbucket", payload)
    assert response.status_code == 202, response.text
    assert h.triggered == ["bitbucket-apps"]
