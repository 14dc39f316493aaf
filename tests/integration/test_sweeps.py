"""Sweeps, notifications and worker load against a real stack (redis, workers, web)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.processes import ROOT, wait_for

pytestmark = pytest.mark.integration

TINY = {"epochs": 1, "train_samples": 300, "batch_size": 32}


class Inbox:
    """A local HTTP server that records JSON POSTs; the first one is answered 503."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.refused = 0
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if inbox.refused == 0:  # a flaky receiver: the notifier must retry
                    inbox.refused += 1
                    self.send_response(503)
                else:
                    inbox.received.append((self.path, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, path: str) -> list[dict]:
        return [body for p, body in self.received if p == path]


def test_a_sweep_over_two_workers_finds_its_best_run_and_notifies(make_stack):
    inbox = Inbox()
    stack = make_stack(
        workers=2, NOTIFY_URL=inbox.url + "/all", PUBLIC_URL="http://tb.example", NOTIFY_ALLOW_PRIVATE="true"
    )  # the sweep's own receiver is on loopback
    body = {
        "name": "lr x bs",
        "base": TINY,
        "grid": {"lr": [0.003, 0.5], "batch_size": [32, 64]},
        "notify_url": inbox.url + "/sweep",
    }
    created = requests.post(stack.url + "/api/sweeps", json=body, timeout=10)
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert sweep["count"] == 4 and sweep["swept"] == ["batch_size", "lr"]
    assert {r["sweep_id"] for r in sweep["runs"]} == {sweep["id"]}
    assert sorted(r["name"] for r in sweep["runs"])[0] == "lr x bs · lr=0.003 batch_size=32"

    state = wait_for(
        lambda: (s := requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json())["finished"] and s,
        240,
        "the sweep to finish",
    )
    assert state["counts"] == {"succeeded": 4}
    accuracy = {r["id"]: r["metrics"]["best_test_accuracy"] for r in state["runs"]}
    assert state["best_run_id"] == max(accuracy, key=accuracy.get)
    assert state["best_test_accuracy"] == max(accuracy.values())
    assert {r["worker"].split("@")[0] for r in state["runs"]} == {"w1", "w2"}, "both workers trained"
    listed = requests.get(stack.url + "/api/sweeps", timeout=10).json()["sweeps"]
    assert [s["id"] for s in listed] == [sweep["id"]] and listed[0]["finished"]

    # One notice per run to NOTIFY_URL and to the sweep's URL, then one for the sweep —
    # despite the receiver refusing the very first POST.
    wait_for(
        lambda: len(inbox.events("/all")) == 5 and len(inbox.events("/sweep")) == 5,
        60,
        f"notices, got {[(p, b['event']) for p, b in inbox.received]}",
    )
    assert inbox.refused == 1
    runs_notified = [b for b in inbox.events("/all") if b["event"] == "run_finished"]
    assert {b["run"]["id"] for b in runs_notified} == set(accuracy)
    assert all(b["run"]["status"] == "succeeded" and "http://tb.example/#run=" in b["text"] for b in runs_notified)
    (sweep_notice,) = [b for b in inbox.events("/sweep") if b["event"] == "sweep_finished"]
    assert sweep_notice["sweep"]["best_run_id"] == state["best_run_id"]
    assert "4 succeeded" in sweep_notice["text"]


def test_a_bad_sweep_creates_nothing_and_a_sweep_can_be_cancelled(make_stack):
    stack = make_stack(workers=0, MAX_QUEUED_RUNS="10")
    bad = requests.post(stack.url + "/api/sweeps", json={"base": TINY, "grid": {"lr": [0.001, 50]}}, timeout=10)
    assert bad.status_code == 400 and "grid.lr[1]" in bad.json()["fields"]
    too_big = requests.post(stack.url + "/api/sweeps", json={"grid": {"seed": list(range(11))}}, timeout=10)
    assert too_big.status_code == 429, "11 runs do not fit a queue capped at 10"
    assert requests.get(stack.url + "/api/runs", timeout=10).json()["runs"] == []
    sweep = requests.post(
        stack.url + "/api/sweeps",
        timeout=10,
        json={
            "base": TINY,
            "random": {"lr": {"min": 1e-4, "max": 1e-2, "log": True}},
            "count": 3,
            "seed": 7,
            "priority": "high",
        },
    ).json()
    assert sweep["count"] == 3 and all(r["spec"]["priority"] == "high" for r in sweep["runs"])
    cancelled = requests.post(f"{stack.url}/api/sweeps/{sweep['id']}/cancel", json={}, timeout=10)
    assert cancelled.status_code == 202 and cancelled.json()["counts"] == {"cancelled": 3}
    again = requests.post(
        stack.url + "/api/sweeps",
        timeout=10,
        json={"base": TINY, "random": {"lr": {"min": 1e-4, "max": 1e-2, "log": True}}, "count": 3, "seed": 7},
    )
    assert [r["spec"]["lr"] for r in again.json()["runs"]] == [r["spec"]["lr"] for r in sweep["runs"]], (
        "a seeded random search is reproducible"
    )


def test_the_cli_sweeps_and_watches_to_the_end(stack):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainboard_cli",
            "--url",
            stack.url,
            "sweep",
            "--lr",
            "0.001,0.01",
            "--epochs",
            "1",
            "--train-samples",
            "300",
            "--name",
            "cli",
            "--watch",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "2 runs over lr" in done.stdout and done.stdout.count("succeeded") == 2
    assert done.stdout.count("★") == 1, "the best run is marked"


def test_the_workers_heartbeat_carries_their_load(stack):
    worker = wait_for(
        lambda: (w := requests.get(stack.url + "/api/workers", timeout=5).json()["workers"]) and "load" in w[0] and w[0],
        30,
        "a heartbeat with load",
    )
    load = worker["load"]
    assert load["cpu_percent"] >= 0 and load["memory_mb"] > 50
    assert "gpu_memory_mb" not in load, "a CPU worker reports no GPU"


def test_the_median_rule_stops_a_run_below_the_finished_runs(stack):
    body = {
        "name": "median",
        "base": {"epochs": 3, "train_samples": 1000, "batch_size": 32},
        "grid": {"lr": [0.003, 0.002, 1e-6]},
        "early_stop_epoch": 1,
    }
    sweep = requests.post(stack.url + "/api/sweeps", json=body, timeout=10).json()
    state = wait_for(
        lambda: (s := requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json())["finished"] and s,
        300,
        "the sweep to finish",
    )
    by_lr = {r["spec"]["lr"]: r for r in state["runs"]}
    assert by_lr[0.003]["epoch"] == 3 and by_lr[0.002]["epoch"] == 3, "the first runs always finish"
    slow = by_lr[1e-6]
    assert slow["status"] == "succeeded" and slow["stopped_early"] and slow["epoch"] == 1
    events = requests.get(f"{stack.url}/api/runs/{slow['id']}/events", timeout=10).json()["events"]
    assert "below the median" in events[-1]["message"]
