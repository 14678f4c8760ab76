"""A limit on guessing credentials: failed sign-ins and API token checks per client address.

Tokens are long and random, so guessing one is hopeless — but a script can still try as fast as
the server answers, and each try costs a database query. After ``auth_failures_allowed``
failures within ``auth_failures_window`` seconds, the address gets 429 with ``Retry-After``
(code 971) and no token it sends is even checked until its oldest failure leaves the window.

The count lives in this process (one deque per address, bounded): with several replicas or
``--processes N`` each counts on its own, so a client may make up to N times as many tries. The
address is the TCP peer's (IPv6: its /64, which one host usually holds whole); behind a proxy
every client shares the proxy's address, so the proxy should limit sign-ins itself.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.requests import Request

from enlarger.errors import TooManyFailuresError
from enlarger.settings import Settings

MAX_CLIENTS = 100_000  # addresses remembered at most; the longest-quiet ones are forgotten first


def client_key(request: Request) -> str:
    """The address a failure is counted against."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Guesses:
    """Failures per client address in a sliding window (see the module)."""

    def __init__(self, allowed: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @classmethod
    def of(cls, settings: Settings) -> Guesses:
        return cls(settings.auth_failures_allowed, settings.auth_failures_window)

    def check(self, request: Request) -> str:
        """The request's client key; raises :class:`TooManyFailuresError` while it must wait."""
        key = client_key(request)
        if not self.allowed:
            return key
        failures = self._failures.get(key)
        if failures is None:
            return key
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.allowed:
            wait = max(1, math.ceil(failures[0] + self.window - now))
            raise TooManyFailuresError(
                f"too many failed sign-ins or token checks from your address; retry in {wait} s", retry_after=wait
            )
        return key

    def failed(self, key: str) -> None:
        """Count one failed credential check against ``key``."""
        if not self.allowed:
            return
        failures = self._failures.get(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.allowed)
        failures.append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)


def guesses(request: Request) -> Guesses:
    """The application's :class:`Guesses` (``app.state.guesses``, made by ``create_app``)."""
    found: Guesses = request.app.state.guesses
    return found
