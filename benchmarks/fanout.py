"""Fan-out latency: R runs × C Socket.IO clients (Node, socket.io-client from npm).

A publisher process writes events for R runs the way workers do (EventWriter with
its local spool: ~10 progress events/s per run carrying 10 batch losses each,
and every 5 s an epoch and a samples event), and the real web tier relays them to
R × C clients that measure publish → client latency and check seqs are gap-free;
its recorder writes the history meanwhile, as in production.

``--variant before`` runs the web tier of another checkout (``--before-tree``, e.g.
a ``git worktree`` of the previous release) and publishes samples events as that
version did (40 images as 784-int lists, ≈75 KB), for a side-by-side comparison.

    python -m benchmarks.fanout --runs 4 --clients 50 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis
import requests

from benchmarks.synthetic_run import light_samples, publish_live
from shared.eventlog import EventWriter
from shared.events import EventType
from tests.processes import ROOT, free_port, start_redis, wait_for
from worker.spool import Spool


def start_web(tree: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**env, "WEB_PORT": str(port), "WEB_HOST": "127.0.0.1", "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "web"], cwd=tree, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url + "/healthz", timeout=2).ok, 30, "web")
    return proc, url


def samples_fields(epoch: int, heavy: bool) -> dict:
    """A light samples event (images in the sprite), or, ``heavy``, what the previous
    version put in every samples event: 40 images of 784 pixels inline."""
    if not heavy:
        return light_samples(epoch)
    items: list[dict[str, Any]] = [{"index": i, "label": i % 10, "pred": i % 10, "confidence": 0.98} for i in range(40)]
    for item in items:
        item["image"] = [random.randrange(256) for _ in range(784)]
    return {"epoch": epoch, "sprite": None, "tile": None, "items": items[:16], "mistakes": items[16:]}


def publish(r: redis.Redis, results: str, run_ids: list[str], seconds: float, heavy: bool) -> int:
    # Workers spool locally; the web tier's recorder (started by python -m web) writes
    # the history, so this measures the relay with the recorder running beside it.
    writers = [EventWriter(r, results, rid, spool=Spool(results, rid)) for rid in run_ids]
    sent = publish_live(writers, seconds, 10.0, 50, lambda epoch: samples_fields(epoch, heavy))
    for w in writers:
        w.append(EventType.STATUS, status="succeeded", message="benchmark done")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--clients", type=int, default=50, help="clients per run")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--variant", choices=("current", "before"), default="current")
    parser.add_argument("--before-tree", type=Path, help="checkout of the previous version")
    parser.add_argument(
        "--web-tree", type=Path, help="run the web tier from this checkout (today's events): an older relay side by side"
    )
    args = parser.parse_args()
    tree = args.before_tree if args.variant == "before" else (args.web_tree or ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
    redis_proc, redis_url = start_redis(tmp / "redis", persist=False)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RESULTS_DIR": str(tmp / "results"),
        "SUBMIT_RATE_PER_MINUTE": "100000",
        "MAX_QUEUED_RUNS": "100000",
    }
    web, url = start_web(tree, env, tmp / "web.log")
    try:
        run_ids = [
            requests.post(url + "/api/runs", json={"name": f"fan{i}"}, timeout=10).json()["id"] for i in range(args.runs)
        ]
        node = subprocess.Popen(
            ["node", str(ROOT / "benchmarks" / "fanout_clients.mjs"), url, str(args.clients), *run_ids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert node.stderr is not None
        line = node.stderr.readline()
        if "subscribed" not in line:
            raise SystemExit(f"clients did not come up: {line}")
        r = redis.Redis.from_url(redis_url)
        sent = publish(r, env["RESULTS_DIR"], run_ids, args.seconds, heavy=args.variant == "before")
        out, err = node.communicate(timeout=120)
        result = json.loads(out)
        result.update(
            variant=args.variant,
            web_tree=str(tree),
            recorder=os.environ.get("RECORDER", "on"),
            recorder_nice=os.environ.get("RECORDER_NICE", "default"),
            ws_compression=os.environ.get("WS_COMPRESSION", "false"),
            runs=args.runs,
            clients_per_run=args.clients,
            events_published=sent,
            expected_deliveries=sent * args.clients,
        )
        print(json.dumps(result))
    finally:
        web.terminate()
        redis_proc.stop()


if __name__ == "__main__":
    main()
