"""Recorder throughput and lag: R concurrent synthetic runs at E events/s each.

A publisher process writes events the way workers do (EventWriter: spool on its own
disk, XADD + PUBLISH to Redis; ~E progress events/s per run carrying 10 batch losses
each, and every 5 s an epoch and a samples event) into a real Redis; the real
recorder process (``python -m web.history.recorder``) writes every run's history into its
own RESULTS_DIR. Printed: events sent and recorded, recorded events/s, the
recorder's lag (publish → written to events.jsonl: p50, p99, max, from its
RECORDER_STATS), and a gap check of every run's events.jsonl (each seq once, in order).

    python -m benchmarks.recorder --runs 50 --rate 10 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import redis

from benchmarks.synthetic_run import publish_live
from shared import keys
from shared.eventlog import EventWriter
from shared.events import EventType
from tests.processes import ROOT, start_redis, wait_for
from worker.spool import Spool


def publish(url: str, scratch: str, run_ids: list[str], seconds: float, rate: float) -> None:
    r = redis.Redis.from_url(url)
    writers = [EventWriter(r, scratch, rid, spool=Spool(scratch, rid)) for rid in run_ids]
    for w in writers:
        w.append(EventType.STATUS, status="running", message="benchmark")
    publish_live(writers, seconds, rate, int(rate * 5))
    for w in writers:
        w.append(EventType.STATUS, status="succeeded", message="benchmark done")
        w.close()


def top_seq(r: redis.Redis, run_id: str) -> int:
    top = cast(list[tuple[bytes, Any]], r.xrevrange(keys.run_stream(run_id), count=1))
    return int(top[0][0].split(b"-")[0])


def recorded(r: redis.Redis, run_id: str) -> int:
    return int(cast(bytes | None, r.get(keys.run_recorded(run_id))) or 0)


def check_history(results: Path, run_ids: list[str], sent: dict[str, int]) -> tuple[int, int]:
    """(runs whose events.jsonl holds seqs 1..last exactly once, events recorded)."""
    whole, total = 0, 0
    for rid in run_ids:
        seqs = [json.loads(line)["seq"] for line in (results / rid / "events.jsonl").read_text().splitlines()]
        total += len(seqs)
        whole += seqs == list(range(1, sent[rid] + 1))
    return whole, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="progress events per second per run")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (worker boxes)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="trainboard-recorder-bench-"))
    redis_proc, url = start_redis(tmp / "redis", persist=False)
    r = redis.Redis.from_url(url)
    results = tmp / "web-results"
    env = {**os.environ, "REDIS_URL": url, "RESULTS_DIR": str(results), "PYTHONPATH": str(ROOT)}
    recorder = subprocess.Popen(
        [sys.executable, "-m", "web.history.recorder"],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / "recorder.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    run_ids = [uuid.uuid4().hex for _ in range(args.runs)]
    try:
        wait_for(lambda: r.exists(keys.RECORDER_LEASE), 30, "recorder lease")
        groups = [run_ids[i :: args.publishers] for i in range(args.publishers)]
        started = time.monotonic()
        procs = [
            multiprocessing.Process(target=publish, args=(url, str(tmp / f"box{i}"), g, args.seconds, args.rate))
            for i, g in enumerate(groups)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        sent = {rid: top_seq(r, rid) for rid in run_ids}
        wait_for(lambda: all(recorded(r, rid) >= sent[rid] for rid in run_ids), 120, "recorder caught up")
        elapsed = time.monotonic() - started
        time.sleep(2.5)  # one more stats refresh
        stats = json.loads(cast(bytes | None, r.get(keys.RECORDER_STATS)) or "{}")
        whole, total = check_history(results, run_ids, sent)
        row = {
            "runs": args.runs,
            "rate_per_run": args.rate,
            "seconds": args.seconds,
            "events_sent": sum(sent.values()),
            "events_recorded": total,
            "recorded_per_sec": round(total / elapsed, 1),
            "lag_p50_ms": stats.get("lag_p50_ms"),
            "lag_p99_ms": stats.get("lag_p99_ms"),
            "lag_max_ms": stats.get("lag_max_ms"),
            "runs_gap_free": f"{whole}/{args.runs}",
        }
        print(json.dumps(row))
    finally:
        recorder.terminate()
        recorder.wait(10)
        redis_proc.stop()


if __name__ == "__main__":
    main()
