"""Progressive sign-in throttling (登录限速): per client address and per username, never a lockout.

OWASP ASVS 5 V6.3 asks for brute-force controls that an outsider cannot turn
into a lockout of a legitimate user. Two counters of failed sign-ins:

- **Per client address**, over every username: after ``login_free_failures``
  failures each next attempt from that address waits ``login_delay`` seconds,
  doubled by every further failure, up to ``login_max_delay``. While it waits
  every attempt from it is answered 429 unchecked, the right password
  included: that is the guessing address.
- **Per username**, over every address: after ``login_account_failures``
  failures, attempts on that name from *unfamiliar* addresses wait likewise,
  but at most ``login_account_max_delay`` (a minute). An address where the
  name signed in within the last 30 days is familiar and skips this counter.
  So many addresses together are slowed on one account, and an outsider can
  delay its owner from a new place by a minute at most, never keep them out.

Both are keyed by what was typed, whether or not such an account exists, and
nothing here reads the store: a real and an unknown username get the same
answers at every count. A refused attempt is not a failure (it was not
checked), so waiting is the only way on. Failures are forgotten after an hour
without one. The counters live in memory: the service is one process (it holds
the warehouse's single writer), and at most ``max_keys`` of each are kept,
least recently failed dropped first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from jingyun.errors import JingyunError
from jingyun.security.config import ServiceSettings

FORGET_SECONDS = 3600.0
FAMILIAR_SECONDS = 30 * 86400.0
FAMILIAR_PER_NAME = 8


@dataclass
class _Count:
    failures: int
    last: float  # when the last failure was
    until: float  # no attempt before this


def _key(username: str) -> str:
    return username.strip().casefold()


class LoginThrottle:
    def __init__(self, service: ServiceSettings, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.service = service
        self.clock = clock
        self.max_keys = max_keys
        self._addresses: OrderedDict[str, _Count] = OrderedDict()
        self._names: OrderedDict[str, _Count] = OrderedDict()
        self._familiar: OrderedDict[str, dict[str, float]] = OrderedDict()  # name -> address -> last sign-in
        self._lock = threading.Lock()

    def check(self, username: str, address: str) -> None:
        """Raise 429 with Retry-After when this attempt must wait; the same answer for every cause."""
        now = self.clock()
        name = _key(username)
        with self._lock:
            waits = [self._wait(self._addresses.get(address), now)]
            if not self._is_familiar(name, address, now):
                waits.append(self._wait(self._names.get(name), now))
        wait = max(waits)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            err = JingyunError("rate_limited", f"too many failed sign-ins; retry after {seconds} s", None, status=429)
            err.headers = {"Retry-After": str(seconds)}  # type: ignore[attr-defined]
            raise err

    def failed(self, username: str, address: str) -> list[tuple[str, int]]:
        """Count a checked, wrong attempt; the counters that start throttling with it, and their failures."""
        now = self.clock()
        s = self.service
        with self._lock:
            counted = [("address", self._bump(self._addresses, address, now, s.login_free_failures, s.login_max_delay),
                        s.login_free_failures),
                       ("account", self._bump(self._names, _key(username), now, s.login_account_failures,
                                              s.login_account_max_delay), s.login_account_failures)]
            return [(scope, failures) for scope, failures, free in counted if failures == free]

    def succeeded(self, username: str, address: str) -> None:
        """A right password: the name's failures end and this address becomes familiar for it.

        The address counter is left to fade: a guesser holding one real account must not clear it by
        signing in to that account between guesses.
        """
        now = self.clock()
        name = _key(username)
        with self._lock:
            self._names.pop(name, None)
            places = self._familiar.pop(name, {})
            places[address] = now
            if len(places) > FAMILIAR_PER_NAME:
                del places[min(places, key=places.__getitem__)]
            self._familiar[name] = places
            while len(self._familiar) > self.max_keys:
                self._familiar.popitem(last=False)

    def failures(self, username: str, address: str) -> tuple[int, int]:
        """(failures counted for the address, for the name): for tests and the operator."""
        with self._lock:
            a, n = self._addresses.get(address), self._names.get(_key(username))
            return (a.failures if a else 0, n.failures if n else 0)

    # -- inside the lock ---------------------------------------------------------------------
    def _wait(self, count: _Count | None, now: float) -> float:
        if count is None or now - count.last > FORGET_SECONDS:
            return 0.0
        return count.until - now

    def _is_familiar(self, name: str, address: str, now: float) -> bool:
        seen = self._familiar.get(name, {}).get(address)
        return seen is not None and now - seen <= FAMILIAR_SECONDS

    def _bump(self, table: OrderedDict[str, _Count], key: str, now: float, free: int, cap: float) -> int:
        count = table.pop(key, None)
        if count is None or now - count.last > FORGET_SECONDS:
            count = _Count(0, now, now)
        count.failures += 1
        count.last = now
        over = count.failures - free
        if over >= 0:
            count.until = now + min(cap, self.service.login_delay * 2.0 ** min(over, 40))
        table[key] = count  # most recently failed last
        while len(table) > self.max_keys:
            table.popitem(last=False)
        return count.failures
