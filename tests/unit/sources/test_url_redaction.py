"""URLs and secrets never reach a message, log line or API response (ARCHITECTURE §5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.sources.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:secret@git.example.com/org/repo.git",
            "https://git.example.com/org/repo.git",
        ),
        ("https://ghp_token123@git.example.com:8443/repo", "https://git.example.com:8443/repo"),
        ("ssh://git@git.example.com/org/repo.git", "ssh://git.example.com/org/repo.git"),
        ("https://us%40er:p@ss@host/x.git", "https://host/x.git"),
        ("https://host/path/with@sign/repo.git", "https://host/path/with@sign/repo.git"),
        ("https://host?q=a@b", "https://host?q=a@b"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/apps", "/srv/git/apps"),
        ("file:///srv/git/apps", "file:///srv/git/apps"),
    ],
)
def test_redact_url_strips_userinfo_and_leaves_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


_USERINFO = st.text(
    st.characters(blacklist_categories=("Cs", "Z", "Cc"), blacklist_characters="/?#"),
    min_size=1,
)
_NAME = st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True)


@given(user=_USERINFO, host=_NAME, path=st.from_regex(r"[a-zA-Z0-9@._/-]{0,30}", fullmatch=True))
def test_redact_url_removes_any_userinfo_whole(user: str, host: str, path: str) -> None:
    assert redact_url(f"https://{user}@{host}/{path}") == f"https://{host}/{path}"


def test_redact_text_redacts_every_url_in_free_text() -> None:
    text = (
        "fatal: unable to access 'https://x-access-token:s3cr3t@git.example.com/a.git/': 403\n"
        "hint: also tried http://other-token@mirror.example.com/a.git"
    )

    shown = redact_text(text)

    assert "s3cr3t" not in shown
    assert "other-token" not in shown
    assert "'https://git.example.com/a.git/': 403" in shown
    assert "http://mirror.example.com/a.git" in shown


def test_redact_text_masks_given_secrets_longest_first() -> None:
    shown = redact_text("token abc and abcdef", secrets=["abc", "abcdef"])

    assert shown == "token *** and ***"


def test_redact_text_ignores_empty_secrets() -> None:
    assert redact_text("nothing secret", secrets=["", "zzz"]) == "nothing secret"
