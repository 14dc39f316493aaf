"""Opening long runs: first event page, full-range series, the page's loss chart in
Chromium, web RSS, and /healthz latency while 20 clients subscribe from seq 0.

Runs are synthetic finished runs written the way the worker writes them
(benchmarks.synthetic_run): ``--events 200000`` is ~5.5 hours at 10 progress
events/s (1.9 M batch losses). With ``--before-tree`` the same measurements run
against the web tier of another checkout side by side (its own Redis database,
the same results volume, a run in the old layout so it cannot use new files).

    python -m benchmarks.history --events 200000 [--before-tree /tmp/tb-before]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import socketio

from benchmarks.fanout import start_web
from benchmarks.synthetic_run import make_run
from tests.processes import ROOT, start_redis

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def timed(call, repeats: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1), result


def rss_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    kib = lambda k: int(fields[k].split()[0]) / 1024  # noqa: E731
    return {"rss_mib": round(kib("VmRSS"), 1), "peak_rss_mib": round(kib("VmHWM"), 1)}


def subscribers_and_health(url: str, run_id: str, clients: int, cap: float) -> dict:
    """``clients`` clients subscribe from seq 0 at once; /healthz is timed meanwhile."""
    received = [0] * clients
    acks: list[dict] = []
    socks = []
    for i in range(clients):
        sio = socketio.Client(reconnection=False)

        def on_event(_e, i=i):
            received[i] += 1

        sio.on("run_event", on_event)
        sio.connect(url, transports=["websocket"])
        socks.append(sio)
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=lambda s=s: acks.append(s.call("subscribe", {"run_id": run_id, "after": 0}, timeout=cap + 30)),
            daemon=True,
        )
        for s in socks
    ]
    for t in threads:
        t.start()
    health = []
    while time.monotonic() - start < cap and (
        len(acks) < clients or any(received[i] < (acks[0] or {}).get("replayed", 1) for i in range(clients))
    ):
        t0 = time.perf_counter()
        requests.get(url + "/healthz", timeout=60)
        health.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.1)
    elapsed = time.monotonic() - start
    for s in socks:
        s.disconnect()
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "events_received_total": sum(received),
        "replayed_per_client": acks[0].get("replayed") if acks and isinstance(acks[0], dict) else None,
        "healthz_p50_ms": round(statistics.median(health), 1) if health else None,
        "healthz_max_ms": round(max(health), 1) if health else None,
    }


def chart_time(url: str, run_id: str, total: int, cap: float) -> float | None:
    """Seconds from navigation until the loss chart holds every batch loss of the run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        start = time.perf_counter()
        page.goto(f"{url}/#run={run_id}")
        try:
            page.wait_for_function(
                f"Number(document.querySelector('#loss-chart').dataset.points) >= {total}", timeout=cap * 1000, polling=50
            )
            seconds = round(time.perf_counter() - start, 2)
        except Exception:
            seconds = None
        browser.close()
    return seconds


def measure(label: str, url: str, pid: int, run_id: str, old_run_id: str, total: int, series_api: bool, cap: float) -> dict:
    out: dict = {"variant": label}
    out["first_page_ms"], page = timed(
        lambda: requests.get(f"{url}/api/runs/{run_id}/events", params={"after": 0, "limit": 100}, timeout=600).json()
    )
    out["first_page_events"] = len(page["events"])
    out["late_page_ms"], _ = timed(
        lambda: requests.get(
            f"{url}/api/runs/{run_id}/events", params={"after": total // 10 * 9 // 10, "limit": 1000}, timeout=600
        )
    )
    if series_api:
        start = time.perf_counter()
        requests.get(f"{url}/api/runs/{old_run_id}/series/batch_loss", timeout=600).raise_for_status()
        out["old_layout_first_series_build_ms"] = round((time.perf_counter() - start) * 1000, 1)
        out["series_full_range_ms"], s = timed(
            lambda: requests.get(f"{url}/api/runs/{run_id}/series/batch_loss", params={"points": 1000}, timeout=60).json()
        )
        out["series_total_points"] = s["total"]
        out["series_zoom_1000_raw_ms"], _ = timed(
            lambda: requests.get(
                f"{url}/api/runs/{run_id}/series/batch_loss",
                params={"start": total // 2, "end": total // 2 + 999},
                timeout=60,
            )
        )
    out["chart_shown_s"] = chart_time(url, run_id, total, cap)
    out["subscribe_from_0"] = subscribers_and_health(url, run_id, 20, cap)
    out.update(rss_mib(pid))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--before-tree", type=Path)
    parser.add_argument("--cap", type=float, default=60, help="seconds before a step is given up")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="history-"))
    results = tmp / "results"
    started = time.perf_counter()
    run_id = make_run(str(results), args.events)
    old_run_id = make_run(str(results), args.events, indexed=False)
    before_run = make_run(str(results), args.events, indexed=False) if args.before_tree else None
    print(f"# wrote 3 runs of {args.events} events in {time.perf_counter() - started:.0f} s", flush=True)
    redis_proc, redis_url = start_redis(tmp / "redis", persist=False)
    env = {**os.environ, "RESULTS_DIR": str(results)}
    rows = []
    try:
        web, url = start_web(ROOT, {**env, "REDIS_URL": redis_url}, tmp / "web.log")
        total = requests.get(f"{url}/api/runs/{run_id}/series/batch_loss", timeout=60).json()["total"]
        rows.append(measure("current", url, web.pid, run_id, old_run_id, total, True, args.cap))
        web.terminate()
        if args.before_tree:
            web, url = start_web(args.before_tree, {**env, "REDIS_URL": redis_url[:-1] + "1"}, tmp / "web-before.log")
            assert before_run is not None
            rows.append(measure("before", url, web.pid, before_run, before_run, total, False, args.cap))
            web.terminate()
    finally:
        redis_proc.stop()
    for row in rows:
        print(json.dumps({"events": args.events, "batch_losses": total, **row}), flush=True)


if __name__ == "__main__":
    main()
