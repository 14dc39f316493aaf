"""Retrying Redis calls through a short outage, with capped exponential backoff."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors that mean "Redis is not answering right now", worth waiting out.
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def retry_redis(call: Callable[[], T], what: str, timeout: float = 300.0,
                first_delay: float = 0.5, max_delay: float = 10.0) -> T:
    """Run ``call`` until it succeeds or ``timeout`` passes; log every retry."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        try:
            return call()
        except TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: Redis unavailable (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
