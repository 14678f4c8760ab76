"""The operator's purge webhook: every purge is POSTed, signed, to ``purge_webhook_url`` (a relay that
purges the CDN in front by tag, docs/server.md "Several machines").

The body is JSON ``{"tags": [...], "account": "...", "reason": "...", "time": "<ISO 8601 UTC>"}``,
with the ``Cache-Tag`` names (server/purge.py) of what changed; ``X-Enlarger-Signature`` is
``sha256=<hex HMAC-SHA256 of the body keyed by purge_webhook_secret>``. Delivery runs in the
background, retried with doubling delays a bounded number of times: the change that caused it has
already answered, and a failing receiver only costs a logged warning.

The URL is the operator's, like the trusted origin (security/fetch.py): it is reached without the
address guard, but redirects are not followed, so it cannot lead anywhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

import httpx

from enlarger.server.purge import cdn_tags

logger = logging.getLogger("enlarger.server")
ATTEMPTS = 5  # then the purge is logged as undelivered
FIRST_DELAY = 0.5  # seconds before the first retry; doubled each time
SIGNATURE = "X-Enlarger-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PurgeWebhook:
    def __init__(self, url: str, secret: str, *, first_delay: float = FIRST_DELAY) -> None:
        self._url = url
        self._secret = secret
        self._first_delay = first_delay
        self._client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, tags: tuple[str, ...], reason: str) -> None:
        """Send the purge of internal ``tags`` in the background (never raises, never waits)."""
        named = cdn_tags(tags, accounts=False)
        if not named:
            return
        account = tags[0].split(":", 2)[1]
        time = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = json.dumps({"tags": named, "account": account, "reason": reason, "time": time}).encode()
        task = asyncio.create_task(self._deliver(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE: signature(self._secret, body)}
        delay = self._first_delay
        for attempt in range(1, ATTEMPTS + 1):
            try:
                answer = await self._client.post(self._url, content=body, headers=headers)
                if answer.is_success:
                    return
                problem = f"status {answer.status_code}"
            except httpx.HTTPError as exc:
                problem = str(exc) or type(exc).__name__
            if attempt == ATTEMPTS:
                logger.warning("the purge webhook failed %d times (%s); gave up: %s", ATTEMPTS, problem, body.decode())
                return
            await asyncio.sleep(delay)
            delay *= 2

    async def aclose(self) -> None:
        """At shutdown: stop retrying (the purge log still reaches the replicas) and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
