"""One secret-name rule and one masking function, used everywhere (ARCHITECTURE §5.5): a
canary value under a ``dsn`` or ``api_key`` name is hidden by every consumer of the rule."""

from __future__ import annotations

import pytest

from reconciler.executors.logbuffer import LogBuffer
from reconciler.plan.model import RecordedResource
from reconciler.providers.parameters import looks_secret, shown
from reconciler.secrets import MASK, TextMask, is_secret_key, is_secret_name, mask_text
from reconciler.sources.redact import redact_text
from reconciler.status.document import known_secrets, masked_outputs, resource_status
from reconciler.types import AppName, ResourceUid

CANARY = "canary-7f3a9c"
SECRET_NAMES = [
    "password",
    "DB_PASSWORD",
    "passwd",
    "client_secret",
    "token",
    "private_key",
    "privateKey",
    "credentials",
    "connection_string",
    "api_key",
    "API-KEY",
    "apikey",
    "dsn",
    "SENTRY_DSN",
]
PLAIN_NAMES = ["host", "port", "user", "database", "region", "key_name"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_name_that_says_secret_is_secret_to_every_consumer(name: str) -> None:
    assert is_secret_name(name)
    assert is_secret_key(name)
    assert looks_secret(name)  # parameter binding's messages


@pytest.mark.parametrize("name", ["dsn", "api_key", "passwd"])
def test_the_pr_reviews_salted_masks_follow_the_same_name_rule(name: str) -> None:
    from reconciler.plan.review.params import Masker  # the review's own mask *format*

    assert Masker().is_secret((name,), "x")
    assert Masker().is_secret(("outer", name), "x")
    assert CANARY not in Masker().mask(CANARY)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_an_ordinary_name_is_not_secret(name: str) -> None:
    assert not is_secret_name(name)
    assert not looks_secret(name)


def test_a_key_a_workflow_marks_secret_is_secret_whatever_its_name() -> None:
    assert is_secret_key("host", marked={"host"})


@pytest.mark.parametrize("name", ["dsn", "api_key"])
def test_a_dsn_or_api_key_value_never_shows(name: str) -> None:
    resource = RecordedResource(
        uid=ResourceUid("db.default#shop.db"),
        app=AppName("shop"),
        name="db",
        type="db",
        class_="default",
        state="failed",
        outputs={name: CANARY, "url": f"https://x-{CANARY}/"},
        last_error=f"connect with {CANARY} failed",
    )
    assert masked_outputs(resource, known_secrets([resource])) == {
        name: MASK,
        "url": f"https://x-{MASK}/",
    }
    assert CANARY not in repr(resource_status(resource))
    assert CANARY not in shown(name, CANARY)
    log = LogBuffer(limit=4096, secrets={CANARY}, sink=None)
    log.write(f"step printed {CANARY}\n")
    assert CANARY not in log.text
    assert CANARY not in redact_text(f"fetch failed: {CANARY}", secrets={CANARY})


def test_mask_text_masks_the_longest_secret_whole_and_each_line_of_a_multiline_one() -> None:
    pem = "-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----"
    assert mask_text("a abcdef b", {"abcd", "abcdef"}) == f"a {MASK} b"
    assert mask_text(f"x {pem} y", {pem}) == f"x {MASK} y"
    assert mask_text("line AAAABBBBCCCC", {pem}) == f"line {MASK}"


def test_short_values_are_not_masked_unless_the_caller_asks() -> None:
    assert mask_text("a yes b", {"yes"}) == "a yes b"
    assert mask_text("a tok b", {"tok"}, min_length=1) == f"a {MASK} b"
    assert mask_text("abc", {""}, min_length=1) == "abc"


def test_a_compiled_mask_reports_its_longest_secret() -> None:
    mask = TextMask({"abcd", "abcdefgh"})
    assert mask.longest == 8
    assert mask("..abcdefgh..abcd..") == f"..{MASK}..{MASK}.."
    assert TextMask(()).longest == 0
