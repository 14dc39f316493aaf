"""The run list with thousands of runs: page times, filters, search, reachability.

Creates ``--runs`` records (every 50th failed, the rest succeeded, a few named
"needle") through the real RunStore and lifecycle, starts the web tier, and times
GET /api/runs: the first page, a page deep in history, walking every run in pages of
500, a status filter, a name search over all of history, and one run's record (queue
position). ``--before-tree`` times the previous release on the same Redis side by side.

    python -m benchmarks.run_list --runs 5000 [--before-tree /tmp/tb-before]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import redis
import requests

from benchmarks.fanout import start_web
from shared import lifecycle
from shared.eventlog import EventWriter
from shared.lifecycle import Status
from shared.run_record import new_record
from shared.runs import RunStore
from shared.spec import validate_spec
from tests.processes import ROOT, start_redis


def ms(call, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def populate(r: redis.Redis, results: str, count: int) -> None:
    store = RunStore(r, results)
    for i in range(count):
        record = new_record(validate_spec({"name": f"{'needle' if i % 1000 == 7 else 'run'}-{i}"}))
        record["created_at"] = 1.7e9 + i
        writer = EventWriter(r, results, record["id"])
        lifecycle.submit(store, record, writer)
        lifecycle.claim(store, record["id"], writer, "synthetic")
        lifecycle.finish(store, record["id"], Status.FAILED if i % 50 == 0 else Status.SUCCEEDED, writer, "synthetic")


def walk(url: str, **params) -> tuple[int, int]:
    seen, requests_made, cursor = 0, 0, None
    while True:
        body = requests.get(
            url + "/api/runs", params={**params, **({"cursor": cursor} if cursor else {})}, timeout=60
        ).json()
        requests_made += 1
        seen += len(body["runs"])
        cursor = body.get("next_cursor")
        if not cursor:
            return seen, requests_made


def measure(label: str, url: str, paged: bool) -> dict:
    first = requests.get(url + "/api/runs", timeout=60).json()["runs"]
    out = {
        "variant": label,
        "first_page_runs": len(first),
        "first_page_ms": ms(lambda: requests.get(url + "/api/runs", params={"limit": 100}, timeout=60)),
        "one_run_ms": ms(lambda: requests.get(f"{url}/api/runs/{first[0]['id']}", timeout=60)),
        "status_filter_ms": ms(lambda: requests.get(url + "/api/runs", params={"status": "failed"}, timeout=60)),
    }
    if paged:
        deep = requests.get(url + "/api/runs", params={"limit": 500}, timeout=60).json()
        for _ in range(5):
            deep = requests.get(url + "/api/runs", params={"limit": 100, "cursor": deep["next_cursor"]}, timeout=60).json()
        cursor = deep["next_cursor"]
        out["deep_page_ms"] = ms(
            lambda: requests.get(url + "/api/runs", params={"limit": 100, "cursor": cursor}, timeout=60)
        )
        start = time.perf_counter()
        out["walk_all_runs"], out["walk_requests"] = walk(url, limit=500)
        out["walk_all_ms"] = round((time.perf_counter() - start) * 1000, 1)
        start = time.perf_counter()
        out["search_found"], out["search_requests"] = walk(url, q="needle")
        out["search_all_history_ms"] = round((time.perf_counter() - start) * 1000, 1)
    else:
        out["reachable_runs"] = len(first)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--before-tree", type=Path)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runlist-"))
    proc, url_redis = start_redis(tmp / "redis", persist=False)
    env = {**os.environ, "REDIS_URL": url_redis, "RESULTS_DIR": str(tmp / "results")}
    try:
        started = time.perf_counter()
        populate(redis.Redis.from_url(url_redis), env["RESULTS_DIR"], args.runs)
        print(f"# {args.runs} runs written in {time.perf_counter() - started:.0f} s", flush=True)
        rows = []
        web, url = start_web(ROOT, env, tmp / "web.log")
        rows.append(measure("current", url, paged=True))
        web.terminate()
        if args.before_tree:
            web, url = start_web(args.before_tree, env, tmp / "web-before.log")
            rows.append(measure("before", url, paged=False))
            web.terminate()
        for row in rows:
            print(json.dumps({"runs": args.runs, **row}))
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
