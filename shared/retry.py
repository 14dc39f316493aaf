"""The one retry policy: capped exponential backoff, each retry logged.

Every loop that waits for Redis to come back — the relay, the heartbeat, the event
writer's pending queue, a worker recording a run's end — waits 0.5 s, 1 s, 2 s, …
up to 10 s between tries, and starts again from 0.5 s after a success. Single
commands are also retried briefly by the Redis client itself (shared.connections).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import redis

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors that mean "Redis is not answering right now", worth waiting out.
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
FIRST_DELAY = 0.5
MAX_DELAY = 10.0


class Backoff:
    """Delays of capped exponential backoff: ``next()`` 0.5, 1, 2, … ≤ 10; ``reset()``."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY):
        self.first, self.cap = first, cap
        self.delay = first

    @property
    def retrying(self) -> bool:
        """True after a failure that no success has followed yet."""
        return self.delay > self.first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def retry_redis(call: Callable[[], T], what: str, timeout: float = 300.0) -> T:
    """Run ``call`` until it succeeds or ``timeout`` passes; log every retry."""
    deadline = time.monotonic() + timeout
    backoff = Backoff()
    while True:
        try:
            return call()
        except TRANSIENT as exc:
            delay = backoff.next()
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: Redis unavailable (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)


def attempts(count: int, backoff: Backoff | None = None, sleep: Callable[[float], object] = time.sleep) -> Iterator[int]:
    """Attempt numbers 1..``count``, waiting the policy's delay before each retry:
    ``for attempt in attempts(4): ...`` (``break`` on success)."""
    backoff = backoff or Backoff()
    for attempt in range(1, count + 1):
        if attempt > 1:
            sleep(backoff.next())
        yield attempt


def run_every(
    step: Callable[[], object],
    interval: float,
    sleep: Callable[[float], object],
    keep_going: Callable[[], bool],
    what: str,
) -> None:
    """Call ``step`` every ``interval`` seconds while ``keep_going()``: a Redis outage
    waits out the policy's backoff (each retry logged), any other failure is logged
    and the next round comes as usual. ``sleep`` is the caller's: an Event's ``wait``
    (returns at once on stop) or an async mode's ``sleep``."""
    backoff = Backoff()
    while keep_going():
        try:
            step()
            backoff.reset()
            sleep(interval)
        except redis.RedisError as exc:
            delay = backoff.next()
            log.warning("%s: Redis unavailable (%s); retrying in %.1fs", what, exc, delay)
            sleep(delay)
        except Exception:
            log.exception("%s failed", what)
            sleep(interval)
