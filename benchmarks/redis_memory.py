"""Redis memory with 100 runs: while they train, and after they finish.

Each run's events go through the real EventWriter (stream capped at STREAM_MAXLEN,
expiry set with the terminal status). ``--retention`` stands in for
STREAM_RETENTION_SECONDS so the benchmark does not wait ten minutes; the previous
version never expired anything, which is what ``--retention 0`` (no expiry) shows.

    python -m benchmarks.redis_memory --runs 100 --events 3000
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from shared.eventlog import EventWriter
from shared.events import EventType
from tests.processes import start_redis


def used_mib(r: redis.Redis) -> float:
    info: dict[str, Any] = r.info("memory")  # type: ignore[assignment]  # sync client
    return round(info["used_memory"] / 2**20, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--events", type=int, default=3000, help="progress events per run")
    parser.add_argument("--retention", type=float, default=2.0, help="0 = never expire (before)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="redis-mem-"))
    proc, url = start_redis(tmp / "redis", persist=False)
    r = redis.Redis.from_url(url)
    try:
        empty = used_mib(r)
        retention = args.retention if args.retention > 0 else 10**9
        writers = [
            EventWriter(r, str(tmp / "results"), uuid.uuid4().hex, retention_seconds=retention) for _ in range(args.runs)
        ]
        for step in range(args.events):
            for w in writers:
                w.append(
                    EventType.PROGRESS,
                    epoch=1,
                    step=step,
                    steps_per_epoch=938,
                    images_per_sec=1e4,
                    lr=0.001,
                    losses=[round(random.random(), 6) for _ in range(10)],
                )
        during = used_mib(r)
        for w in writers:
            w.append(EventType.STATUS, status="succeeded", message="done")
        time.sleep(args.retention + 1.5 if args.retention > 0 else 1)
        after = used_mib(r)
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "events_per_run": args.events,
                    "retention_s": args.retention or None,
                    "empty_mib": empty,
                    "while_running_mib": during,
                    "after_finish_mib": after,
                    "streams_left": len(list(r.scan_iter("trainboard:run:*:stream"))),
                }
            )
        )
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
