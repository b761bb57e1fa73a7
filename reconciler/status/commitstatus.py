"""Sending one repository's commit statuses to its forge, without ever holding up a pass.

Owns :class:`CommitStatusSender`. The engine offers it the status of a repository's source
commit (decided by :mod:`reconciler.status.commitstate`) after each status write of that
repository and when a new commit is seen; the sender posts it in a task of its own, so the
pass, the work queue and the Git write-back never wait for the forge.

- Only what changed is sent: an offer equal to the last status the forge accepted is dropped
  (kept in memory; after a restart the current status is sent once more, which the forges
  take as the same status again).
- The latest offer wins: while one post is under way, newer offers replace the waiting one.
- Each post has a timeout (for the whole exchange: an answer dripping in never holds it
  longer; at most 64 KiB of an answer's body is read) and a few attempts, spaced by the one
  backoff primitive (:class:`reconciler.backoff.Backoff`), for network errors, 429 and 5xx;
  other refusals (a bad token, a wrong project, a token no HTTP header can carry) are not
  retried. What failed is sent again at the next offer (the next repository pass at the
  latest).
- A failure is logged once per outage (a warning), then at debug level until a post succeeds
  again (one info line); every post is counted through ``on_result`` (``success``, ``error``).
- The token is sent in a header only; every text that could be logged (an error, an answer's
  body) is masked with every form it goes out in (:func:`~reconciler.status.forge.credentials`:
  a forge may echo a Basic header's base64).

Runs on the engine's event loop (``offer`` must be called from it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.backoff import Backoff
from reconciler.secrets import TextMask
from reconciler.status.forge import (
    CommitState,
    ForgeTarget,
    already_set,
    credentials,
    one_line,
    status_request,
)

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

RETRY = Backoff(first=0.5, cap=5.0, jitter=0.1)
"""Waits between the attempts of one post."""
ATTEMPTS = 3
"""Attempts of one post before it waits for the next offer."""
MAX_ANSWER = 64 * 1024
"""Bytes of an answer's body read at most (an error page is only quoted, never read whole)."""

Status = tuple[str, CommitState, str]
"""(commit sha, state, description)."""


class CommitStatusSender:
    def __init__(
        self,
        *,
        repository: str,
        target: ForgeTarget,
        token: str,
        timeout: float = 10.0,
        on_result: Callable[[str], None] = lambda _result: None,
        retry: Backoff = RETRY,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.repository = repository
        self.target = target
        self._token = token
        self._mask = TextMask(credentials(target.forge, token), min_length=1)
        self._timeout = timeout
        self._on_result = on_result
        self._retry = retry
        self._attempts = max(1, attempts)
        self._client: httpx.AsyncClient | None = None
        self._wanted: Status | None = None
        self.posted: Status | None = None
        """The last status the forge accepted (None: none since the start)."""
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def __repr__(self) -> str:  # never the token
        return f"CommitStatusSender({self.repository!r}, {self.target.forge}:{self.target.project})"

    def offer(self, sha: str, state: CommitState, description: str) -> None:
        """Have the forge show ``state`` for ``sha``; returns at once. Nothing is sent when
        the forge already shows exactly this."""
        wanted: Status = (sha, state, one_line(description, secrets=(self._token,)))
        self._wanted = wanted
        if wanted == self.posted:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name=f"commit-status {self.repository}")

    async def _send(self) -> None:
        while self._wanted is not None and self._wanted != self.posted:
            wanted = self._wanted
            if not await self._post(wanted) and self._wanted == wanted:
                return  # sent again at the next offer

    async def _post(self, status: Status) -> bool:
        import httpx  # on the first post: a daemon without commit statuses never loads it

        sha, state, description = status
        request = status_request(
            self.target, token=self._token, sha=sha, state=state, description=description
        )
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                # The whole exchange within the timeout (httpx's bounds each read only, so an
                # answer dripping a byte at a time would never end); the body read capped.
                async with asyncio.timeout(self._timeout):
                    async with self._client.stream(
                        request.method, request.url, json=request.body, headers=request.headers
                    ) as response:
                        text = "" if response.is_success else await _start_of(response)
            except httpx.HTTPError as exc:
                problem, retry = f"{type(exc).__name__}: {exc}", True
            except TimeoutError:
                problem, retry = f"no answer within {self._timeout:g}s", True
            except (ValueError, httpx.InvalidURL) as exc:  # a request httpx cannot build (a
                # token with a character no header may hold): a refusal, not retried
                problem, retry = f"{type(exc).__name__}: {exc}", False
            else:
                if response.is_success or already_set(self.target, response.status_code, text):
                    self._succeeded(status)
                    return True
                answer = " ".join(text.split())[:200]
                problem = f"HTTP {response.status_code}: {answer}"
                retry = response.status_code == 429 or response.status_code >= 500
            if not retry or attempt == self._attempts:
                break
            await asyncio.sleep(self._retry.delay(attempt))
        self._failed(status, self._mask(problem))
        return False

    def _succeeded(self, status: Status) -> None:
        self.posted = status
        self._on_result("success")
        if self._failing:
            self._failing = False
            logger.info(
                "commit statuses of repository %s reach %s again", self.repository, self._where
            )
        logger.debug("commit status of %s: %s %s", self.repository, status[1], status[0][:12])

    def _failed(self, status: Status, problem: str) -> None:
        self._on_result("error")
        log = logger.debug if self._failing else logger.warning
        self._failing = True
        log(
            "commit status %s of repository %s at %s could not be set on %s: %s; "
            "sent again after the next pass",
            status[1],
            self.repository,
            status[0][:12],
            self._where,
            problem,
        )

    @property
    def _where(self) -> str:
        return f"{self.target.forge} ({self.target.project})"

    async def flush(self, *, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the post under way (at shutdown, and at the
        end of ``innominatus reconcile``)."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    async def close(self, *, grace: float = 5.0) -> None:
        """Flush for up to ``grace`` seconds, then stop: a post still under way is cancelled."""
        await self.flush(timeout=grace)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _start_of(response: httpx.Response) -> str:
    """The first :data:`MAX_ANSWER` bytes of ``response``'s body, decoded (lossily)."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= MAX_ANSWER:
            break
    return bytes(data[:MAX_ANSWER]).decode("utf-8", "replace")
