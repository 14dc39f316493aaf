"""Horizontal scaling with processes, the same topology as `docker compose --scale worker=2`."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.integration


def test_two_workers_share_four_runs_and_queue_positions_go_down(make_stack):
    stack = make_stack(workers=2)
    # One long run keeps one worker busy, so the finishes are staggered and the last
    # run's queue position visibly steps down (2, then 1) before it starts.
    runs = [
        stack.submit(name=f"run {i}", epochs=epochs, batch_size=32, train_samples=1500)
        for i, epochs in enumerate((1, 4, 1, 1))
    ]
    last = runs[-1]["id"]
    positions = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        record = stack.run(last)
        if record["status"] == "queued":
            positions.append(record["queue_position"])
        if all(stack.run(r["id"])["status"] in ("succeeded", "failed") for r in runs):
            break
        time.sleep(0.1)
    records = [stack.run(r["id"]) for r in runs]
    assert [r["status"] for r in records] == ["succeeded"] * 4
    workers = {r["worker"].split("@")[0] for r in records}
    assert workers == {"w1", "w2"}, f"each worker took at least one run: {records}"
    assert positions and positions[0] >= 2, positions
    assert positions == sorted(positions, reverse=True) and positions[-1] == 1, positions
    # Never two runs on one worker at once.
    spans = sorted((r["worker"], r["started_at"], r["finished_at"]) for r in records)
    for (w1, _, end1), (w2, start2, _) in zip(spans, spans[1:]):
        if w1 == w2:
            assert start2 >= end1


def test_cpu_workers_never_take_runs_that_require_a_gpu(make_stack):
    stack = make_stack(workers=1)
    gpu_run = stack.submit(name="needs gpu", epochs=1, train_samples=100, accelerator="gpu")
    any_run = stack.submit(name="anywhere", epochs=1, train_samples=100)
    stack.wait_status(any_run["id"], "succeeded")
    # The GPU run was queued first: a worker allowed to take it would have started it first.
    record = stack.run(gpu_run["id"])
    assert record["status"] == "queued" and record["queue_position"] == 1
    assert stack.run(any_run["id"])["train_path"].startswith("cpu:")


def test_higher_priority_runs_start_first_fifo_within_a_priority(make_stack):
    stack = make_stack(workers=1)
    blocker = stack.submit(name="blocker", epochs=3, batch_size=32, train_samples=3000)
    stack.wait_status(blocker["id"], "running")
    tiny = dict(epochs=1, train_samples=100)
    low = stack.submit(name="low", priority="low", **tiny)
    normal1 = stack.submit(name="normal-1", **tiny)
    high = stack.submit(name="high", priority="high", **tiny)
    normal2 = stack.submit(name="normal-2", priority="normal", **tiny)
    order = [high, normal1, normal2, low]
    assert [stack.run(r["id"])["queue_position"] for r in order] == [1, 2, 3, 4]
    # The blocker has done its job (everything queued behind it): cancelling it frees the worker.
    cancel = requests.post(f"{stack.url}/api/runs/{blocker['id']}/cancel", json={}, headers=stack.auth, timeout=10)
    assert cancel.status_code == 202, cancel.text
    records = [stack.wait_status(r["id"], "succeeded", timeout=180) for r in order]
    starts = [rec["started_at"] for rec in records]
    assert starts == sorted(starts), [(rec["name"], rec["started_at"]) for rec in records]
