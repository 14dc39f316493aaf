"""Faults together, against real processes: each invariant of docs/architecture.md
("Invariants") holds when a worker, Redis and the recorder fail in one go."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests import processes

pytestmark = pytest.mark.integration

TOKEN = "compound-faults-token"
LEASE = 4.0


def statuses(events):
    return [e["status"] for e in events if e["type"] == "status"]


def restart_redis_empty(stack) -> None:
    """The head box rebooted without persistence: Redis comes back on its port, empty."""
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    stack.redis_proc.kill()
    for leftover in (stack.root / "redis").rglob("*.aof*"):
        leftover.unlink() if leftover.is_file() else None
    stack.redis_proc, _ = processes.start_redis(stack.root / "redis-empty", port, persist=False)


def worker_of(stack, run_id):
    name = processes.wait_for(lambda: stack.run(run_id).get("worker"), 60, "the run to be claimed")
    return next(w for w in stack.workers if name.startswith(f"{w.name}@"))


def test_a_worker_killed_then_redis_restarted_empty_inside_the_lease_still_finishes(make_stack, tmp_path):
    """Issue #22.1: two boxes with private disks; the run's box dies after epoch 1 and,
    inside its lease window, Redis restarts empty. Once stuck `running` forever."""
    store = tmp_path / "artifact-store"
    stack = make_stack(workers=0, LEASE_SECONDS=str(LEASE), ARTIFACTS_URL=f"file://{store}")
    for i in (0, 1):
        stack.add_worker(f"box{i}", RESULTS_DIR=str(tmp_path / f"box{i}-scratch"))
    run = stack.submit(epochs=3, batch_size=32, train_samples=2000)
    box = worker_of(stack, run["id"])
    processes.wait_for(lambda: stack.run(run["id"])["epoch"] >= 1, 120, "epoch 1")
    box.kill()
    killed_at = time.time()
    time.sleep(LEASE / 2)
    restart_redis_empty(stack)
    record = stack.wait_status(run["id"], ("succeeded", "failed"), timeout=240)
    assert record["status"] == "succeeded", record.get("error")
    assert record["restarts"] == 1 and not record["worker"].startswith(f"{box.name}@")
    events = processes.wait_for(
        lambda: (ev := stack.events(run["id"])) and ev[-1].get("status") == "succeeded" and ev, 60, "the whole log"
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "gap-free"
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3], "every epoch once"
    resumed = next(e for e in events if e["type"] == "status" and e["status"] == "resuming")
    print(f"killed + Redis emptied: handed on {resumed['ts'] - killed_at:.1f} s after the kill (lease {LEASE} s)")
    assert resumed["ts"] - killed_at <= LEASE + 30 + LEASE, "handed on within the promised bound"


def test_with_no_worker_alive_a_lost_run_is_still_handed_on(make_stack):
    """Issue #22.2: the only worker dies; the web tier's reconciler hands its run on."""
    stack = make_stack(workers=1, LEASE_SECONDS=str(LEASE))
    run = stack.submit(epochs=3, batch_size=32, train_samples=2000)
    processes.wait_for(lambda: stack.run(run["id"])["status"] == "running", 60, "running")
    stack.workers[0].kill()
    killed_at = time.time()
    record = stack.wait_status(run["id"], "resuming", timeout=LEASE + 30)
    print(f"no worker alive: resuming {time.time() - killed_at:.1f} s after the kill (lease {LEASE} s)")
    assert record["restarts"] == 1 and record["worker"] is None
    stack.add_worker("late")
    assert stack.wait_status(run["id"], ("succeeded", "failed"), timeout=180)["status"] == "succeeded"


def recorder_pid(web: processes.Proc) -> int:
    out = subprocess.run(["pgrep", "-P", str(web.popen.pid), "-f", "web.history.recorder"], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def health(stack, detailed: bool = False) -> dict:
    return requests.get(stack.url + "/healthz", headers=stack.auth if detailed else {}, timeout=10).json()


def test_a_killed_recorder_is_noticed_restarted_and_history_catches_up(make_stack):
    """Issue #22.3: kill -9 of the recorder child; /healthz says so, the web tier starts it
    again, and the log, the series and the epochs are whole."""
    stack = make_stack(workers=1, API_TOKEN=TOKEN)
    processes.wait_for(lambda: health(stack) == {"status": "ok"}, 30, "healthy")
    run = stack.submit(epochs=3, batch_size=32, train_samples=2000)
    processes.wait_for(lambda: stack.run(run["id"])["status"] == "running", 60, "running")
    first = recorder_pid(stack.webs[0])
    os.kill(first, signal.SIGKILL)
    seen = processes.wait_for(lambda: (h := health(stack, detailed=True))["status"] == "degraded" and h, 10, "degraded")
    assert "recorder" in seen["problems"], seen
    processes.wait_for(lambda: health(stack) == {"status": "ok"}, 60, "ok again")
    assert recorder_pid(stack.webs[0]) != first
    assert health(stack, detailed=True)["recorder_restarts"] == 1
    assert stack.wait_status(run["id"], ("succeeded", "failed"), timeout=180)["status"] == "succeeded"
    folder = Path(stack.results) / run["id"]
    lines = processes.wait_for(
        lambda: (n := len((folder / "events.jsonl").read_text().splitlines())) == stack.events(run["id"])[-1]["seq"] and n,
        60,
        "the recorder to catch up",
    )
    assert lines == len(stack.events(run["id"]))
    epochs = requests.get(f"{stack.url}/api/runs/{run['id']}/epochs", headers=stack.auth, timeout=10).json()["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    series = requests.get(f"{stack.url}/api/runs/{run['id']}/series/test_accuracy", headers=stack.auth, timeout=10)
    assert series.json()["total"] == 3
