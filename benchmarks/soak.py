"""Soak with compound faults (``make soak``): every promise of docs/architecture.md
("Invariants") at once, against real processes, and how long each fault costs.

8 runs over 3 CPU workers on two "boxes" (each worker its own RESULTS_DIR; files in a
real S3 store, SeaweedFS; history on the web side) while, one after another:

1. a worker is SIGKILLed (and started again),
2. a worker is SIGKILLed and 5 s later Redis restarts **empty**,
3. the web tier is SIGKILLed (server and recorder) and started again,
4. the recorder alone is SIGKILLed (the web tier must notice and restart it),
5. every worker is SIGKILLed and for ``--no-worker-seconds`` none is alive.

Then: every run succeeded, each history is whole and gap-free with every epoch once;
for each fault, the worst time until the runs it touched made progress again (from the
fault, or from its heal for the no-worker window); and the longest any `running` run
went without an event after the last fault healed (the bound is LEASE_SECONDS + 30 s).

    python -m benchmarks.soak --lease 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests

from tests import processes
from tests.synthetic_mnist import make_dataset

SPEC = {"epochs": 3, "batch_size": 32, "train_samples": 2000}
PROGRESS = ("progress", "epoch")


class Soak:
    def __init__(self, root: Path, lease: float):
        self.root, self.lease = root, lease
        self.data = make_dataset(root / "data", train=3000, test=500)
        self.redis_dir = root / "redis"
        self.redis, self.redis_url = processes.start_redis(self.redis_dir, persist=False)
        self.redis_port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.s3, s3_env = processes.start_s3(root / "s3")
        self.env = processes.stack_env(
            self.redis_url,
            root / "web-results",
            self.data,
            ARTIFACTS_URL="s3://trainboard/soak",
            LEASE_SECONDS=str(lease),
            **s3_env,
        )
        self.logs = root / "logs"
        self.logs.mkdir()
        self.workers: dict[str, processes.Proc] = {}
        self.web, self.url = processes.start_web(self.env, self.logs)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.faults: list[dict[str, Any]] = []

    # -- processes ---------------------------------------------------------------
    def start_worker(self, name: str) -> None:
        box = "box0" if name in ("w1", "w2") else "box1"
        env = {**self.env, "RESULTS_DIR": str(self.root / f"{box}-scratch")}
        self.workers[name] = processes.start_worker(name, env, self.logs)

    def kill_worker(self, name: str) -> None:
        self.workers.pop(name).kill()

    def restart_redis_empty(self) -> None:
        self.redis.kill()
        self.redis, _ = processes.start_redis(self.root / f"redis-{time.time():.0f}", self.redis_port, persist=False)

    def restart_web(self) -> None:
        self.web.kill()
        time.sleep(1)
        self.web, _ = processes.start_web(self.env, self.logs, self.port)

    def kill_recorder(self) -> None:
        assert self.web.popen is not None
        pids = subprocess.run(["pgrep", "-P", str(self.web.popen.pid)], capture_output=True, text=True).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)

    # -- the API -----------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return processes.wait_for(lambda: requests.get(self.url + path, params=params, timeout=10).json(), 60, f"GET {path}")

    def running_on(self, worker: str) -> list[str]:
        runs = self.get("/api/runs", limit=100)["runs"]
        return [r["id"] for r in runs if r["status"] == "running" and (r["worker"] or "").startswith(f"{worker}@")]

    def running(self) -> list[str]:
        return [r["id"] for r in self.get("/api/runs", limit=100)["runs"] if r["status"] in ("running", "resuming")]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            page = self.get(f"/api/runs/{run_id}/events", after=events[-1]["seq"] if events else 0, limit=10_000)
            if not page["events"]:
                return events
            events.extend(page["events"])

    def fault(self, name: str, touched: list[str], healed_at: float | None = None) -> None:
        at = time.time()
        self.faults.append({"fault": name, "at": at, "healed_at": healed_at or at, "runs": touched})
        print(f"{time.strftime('%H:%M:%S')} fault: {name} (runs touched: {len(touched)})", flush=True)

    def stop(self) -> None:
        for proc in [self.web, *self.workers.values(), self.redis, self.s3]:
            proc.stop()


def recovery(fault: dict[str, Any], histories: dict[str, list[dict[str, Any]]], until: float) -> dict[str, float | None]:
    """Worst, over the runs the fault touched: the time from the fault to a lost run's
    hand-on (``resuming``, before the next fault), and from the fault's heal to the run's next progress or
    epoch event (a run handed on may wait behind queued runs for a free worker)."""
    handed, progress = None, None
    for run_id in fault["runs"]:
        events = histories[run_id]
        resumed = [e["ts"] for e in events if e.get("status") == "resuming" and fault["at"] < e["ts"] < until]
        if resumed:
            handed = max(handed or 0.0, resumed[0] - fault["at"])
        later = [e["ts"] for e in events if e["type"] in PROGRESS and e["ts"] > fault["healed_at"]]
        if later:
            progress = max(progress or 0.0, later[0] - fault["healed_at"])
    return {
        "handed_on_s": None if handed is None else round(handed, 1),
        "progress_again_s": None if progress is None else round(progress, 1),
    }


def longest_silence(events: list[dict[str, Any]], after: float) -> float:
    """The longest stretch a `running` run went without an event after ``after``."""
    longest, running_since = 0.0, None
    previous = None
    for event in events:
        if previous is not None and running_since is not None and event["ts"] > after:
            longest = max(longest, event["ts"] - max(previous, after))
        if event["type"] == "status":
            running_since = event["ts"] if event["status"] == "running" else None
        previous = event["ts"]
    return round(longest, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lease", type=float, default=5.0, help="LEASE_SECONDS for the stack")
    parser.add_argument("--no-worker-seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    soak = Soak(root, args.lease)
    started = time.time()
    try:
        for name in ("w1", "w2", "w3"):
            soak.start_worker(name)
        for name in ("w1", "w2", "w3"):
            processes.wait_worker_ready(redis.Redis.from_url(soak.redis_url), name)

        def submit(name: str) -> str:
            return str(requests.post(soak.url + "/api/runs", json={**SPEC, "name": name}, timeout=10).json()["id"])

        run_ids = [submit(f"soak {i}") for i in range(args.runs)]

        def busy() -> list[str]:
            """The running runs; if the first runs have all ended, one more is submitted and
            awaited, so every fault lands on a run in flight (a fault that touches nothing
            proves nothing)."""
            if not soak.running():
                run_ids.append(submit(f"soak {len(run_ids)}"))
                processes.wait_for(soak.running, 120, "a run in flight")
            return soak.running()

        processes.wait_for(lambda: len(soak.running_on("w1")) > 0, 120, "w1 to train")
        time.sleep(3)
        soak.fault("worker SIGKILL", soak.running_on("w1"))
        soak.kill_worker("w1")
        time.sleep(3)
        soak.start_worker("w1")

        processes.wait_for(lambda: len(soak.running_on("w2")) > 0, 120, "w2 to train")
        touched = soak.running()
        soak.fault("worker SIGKILL, Redis restarted empty 5 s later", touched)
        soak.kill_worker("w2")
        time.sleep(5)
        soak.restart_redis_empty()
        soak.faults[-1]["healed_at"] = time.time()
        soak.start_worker("w2")
        time.sleep(15)

        soak.fault("web tier SIGKILL", busy())
        soak.restart_web()
        soak.faults[-1]["healed_at"] = time.time()
        time.sleep(8)

        soak.fault("recorder alone SIGKILL", busy())
        soak.kill_recorder()
        time.sleep(8)

        touched = busy()
        for name in list(soak.workers):
            soak.kill_worker(name)
        soak.fault(f"no worker alive for {args.no_worker_seconds:.0f} s", touched)
        time.sleep(args.no_worker_seconds)
        for name in ("w1", "w2", "w3"):
            soak.start_worker(name)
        soak.faults[-1]["healed_at"] = last_heal = time.time()

        def all_done() -> bool:
            runs = [soak.get(f"/api/runs/{i}") for i in run_ids]
            return all(r["status"] in ("succeeded", "failed", "cancelled") for r in runs)

        processes.wait_for(all_done, 900, "every run to end", interval=2)
        records = [soak.get(f"/api/runs/{i}") for i in run_ids]
        histories = {i: soak.events(i) for i in run_ids}
        whole = {
            i: [e["seq"] for e in h] == list(range(1, len(h) + 1))
            and [e["epoch"] for e in h if e["type"] == "epoch"] == list(range(1, SPEC["epochs"] + 1))
            and h[-1].get("status") == "succeeded"
            for i, h in histories.items()
        }
        result = {
            "runs": len(run_ids),
            "succeeded": sum(r["status"] == "succeeded" for r in records),
            "histories_whole_and_gap_free": sum(whole.values()),
            "restarts": sum(r.get("restarts", 0) for r in records),
            "lease_seconds": args.lease,
            "recovery_seconds": {
                f["fault"]: recovery(f, histories, nxt["at"] if nxt else float("inf"))
                for f, nxt in zip(soak.faults, [*soak.faults[1:], None])
            },
            "longest_running_silence_after_last_heal_s": max(longest_silence(h, last_heal) for h in histories.values()),
            "bound_s": args.lease + 30,
            "last_run_ended_after_last_heal_s": round(max(r["finished_at"] for r in records) - last_heal, 1),
            "total_seconds": round(time.time() - started, 1),
        }
        print(json.dumps(result, indent=1))
        ok = result["succeeded"] == len(run_ids) == result["histories_whole_and_gap_free"]
        ok = ok and result["longest_running_silence_after_last_heal_s"] <= result["bound_s"]
        untouched = [f["fault"] for f in soak.faults if not f["runs"]]
        if untouched:
            print(f"faults that found no run in flight: {untouched}", file=sys.stderr)
            ok = False
        if not ok:
            print(f"soak FAILED; logs in {soak.logs}", file=sys.stderr)
            raise SystemExit(1)
    finally:
        soak.stop()


if __name__ == "__main__":
    main()
