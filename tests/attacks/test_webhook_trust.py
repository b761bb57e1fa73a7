"""Attack (a signed body saying more than "look at R"): nothing of the body beyond the
repository and branch it names is used; the answer echoes nothing else."""

from __future__ import annotations

from tests.attacks._webhook_harness import body_of, hub, signed_headers
from tests.integration.api.hook_payloads import github_push


def test_a_hook_only_ever_triggers_configured_names_whatever_else_the_body_claims() -> None:
    h = hub()
    payload = github_push() | {
        "after": "$(touch /tmp/pwned)",
        "name": "own",
        "trigger": ["own", "provider x"],
        "commits": [{"id": "x", "modified": ["../../etc/passwd"]}],
    }
    body = body_of(payload)
    response = h.client.post("/hooks/github", content=body, headers=signed_headers("github", body))
    assert response.status_code == 202
    assert response.json() == {"triggered": ["github-apps"], "providers": []}
    assert h.triggered == ["github-apps"]
    assert h.reloads == 0


def test_a_generic_hook_cannot_name_a_repository_by_a_fragment_of_its_name() -> None:
    h = hub()
    for name in ("loc", "local ", "LOCAL", "provider", "x", "*", ""):
        body = body_of({"repository": name, "ref": "refs/heads/main"})
        h.client.post("/hooks/generic", content=body, headers=signed_headers("generic", body))
    assert h.triggered == []
    assert h.reloads == 0
