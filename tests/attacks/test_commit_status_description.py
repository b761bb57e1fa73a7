"""Attack (a hostile tenant's words in the forge's UI): whatever a failing step prints, the
commit-status description the forge receives is one line of printable text, at most 140
characters, without the token: no NUL (which a PostgreSQL-backed forge such as GitLab refuses
with a 500, so the failure would never show), no terminal escape sequences, no bidirectional
overrides that make the words read as something else, and no secret pieced together from
around a control character.

Real HTTP: the real sender against the fake GitHub and GitLab of tests.fakes.forges."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.backoff import Backoff
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.forge import ForgeTarget
from tests.fakes.forges import FakeForge

TOKEN = "glpat-canary0description7d1f"
SHA = "4f2a9c" + "1" * 34
HOSTILE = (
    "shop: db: step 'make' failed: exit code 3: \x1b[2J\x1b[31mdisk\x1b[0m quota\x00exceeded\x07"
    "\r\nfake line\u2028\u202eexe.txt\u200b\x7f\x9b[1m "
    + TOKEN[:9]
    + "\x1b[0m"
    + TOKEN[9:]
    + " "
    + "x" * 300
)


@pytest.mark.parametrize("forge_name", ["github", "gitlab"])
def test_a_step_error_reaches_the_forge_as_one_printable_line_without_the_token(
    forge_name: str,
) -> None:
    project = "platform/shop" if forge_name == "gitlab" else "acme/shop"
    with FakeForge(forge_name, token=TOKEN, project=project) as forge:
        sender = CommitStatusSender(
            repository="apps",
            target=ForgeTarget(forge=forge_name, api_url=forge.url, project=project),
            token=TOKEN,
            timeout=2.0,
            retry=Backoff(first=0.01, cap=0.05, jitter=0.0),
        )

        async def run() -> None:
            sender.offer(SHA, "failure", HOSTILE)
            await sender.flush(timeout=10)
            await sender.close()

        asyncio.run(run())
        posted = forge.latest(SHA)
    assert posted is not None
    text = posted.description
    assert text.startswith("shop: db: step 'make' failed: exit code 3: disk quota exceeded")
    assert all(ch.isprintable() for ch in text), repr(text)
    for escape in ("[2J", "[31m", "[1m"):
        assert escape not in text
    assert TOKEN not in text
    assert TOKEN[9:] not in text
    assert len(text) <= 140
