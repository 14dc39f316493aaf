"""Reading worker presence (written by worker.presence every couple of seconds)."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from shared import keys


def live_workers(r: redis.Redis) -> list[dict[str, Any]]:
    """Workers whose heartbeat has not expired, by name; forgets the ones that have."""
    names = sorted(n.decode() for n in cast(set[bytes], r.smembers(keys.WORKERS)))
    raws = cast(list[bytes | None], r.mget([keys.worker_heartbeat(n) for n in names]) if names else [])
    workers = []
    for name, raw in zip(names, raws):
        if raw is None:
            r.srem(keys.WORKERS, name)  # heartbeat expired: the worker is gone
        else:
            workers.append(json.loads(raw))
    return workers
