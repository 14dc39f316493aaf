"""Workers anywhere: boxes that share no disk with the web tier, against real processes.

A real S3 store (SeaweedFS on loopback), Redis, the web tier (with its recorder) and
workers whose RESULTS_DIR is their own ("another machine"); the only things they
share with the web tier are REDIS_URL and ARTIFACTS_URL. Each fault (a worker
SIGKILLed, Redis restarted empty, the web tier killed) must leave a gap-free history
with every epoch once, recorded on the web side.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter

import pytest
import requests

from shared import keys
from tests import processes
from tests.socket_client import RunWatcher

pytestmark = pytest.mark.integration

SPEC = dict(epochs=3, batch_size=32, train_samples=1500)
ARTIFACTS = {"checkpoint.pt", "mnist_cnn.pth", "mnist_cnn.npz", "training_log.json", "test_samples.json"}


@pytest.fixture
def s3(tmp_path):
    proc, env = processes.start_s3(tmp_path / "s3")
    yield env
    proc.stop()


@pytest.fixture
def boxes(make_stack, s3, tmp_path):
    """A stack whose web tier keeps the history in its RESULTS_DIR and whose workers
    are added on "other boxes" with a private RESULTS_DIR each."""
    stack = make_stack(workers=0, ARTIFACTS_URL="s3://trainboard/runs", LEASE_SECONDS="3", **s3)

    def add(name: str) -> processes.Proc:
        return stack.add_worker(name, RESULTS_DIR=str(tmp_path / f"box-{name}"))

    stack.add_box = add
    return stack


def history(stack, run_id: str) -> list[dict]:
    """The run's log as the web side recorded it (events.jsonl), in file order."""
    path = stack.results / run_id / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_recorded(stack, run_id: str, timeout: float = 60) -> list[dict]:
    def done():
        path = stack.results / run_id / "events.jsonl"
        if not path.exists():
            return None
        events = history(stack, run_id)
        return events if events and events[-1].get("status") in ("succeeded", "failed") else None

    return processes.wait_for(done, timeout, f"history of {run_id} recorded to its end")


def assert_whole(events: list[dict], epochs: int) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "gap-free, each seq once"
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == list(range(1, epochs + 1))
    assert events[-1]["status"] == "succeeded"


def test_a_run_on_another_box_keeps_its_files_in_the_store_and_its_history_on_the_web(boxes, tmp_path):
    stack = boxes
    stack.add_box("far")
    run = stack.submit(**SPEC, notify_url="https://8.8.8.8/services/SECRET")
    record = stack.wait_status(run["id"], ("succeeded", "failed"), timeout=180)
    assert record["status"] == "succeeded", record.get("error")
    assert_whole(wait_recorded(stack, run["id"]), 3)
    listed = requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts", timeout=10).json()["artifacts"]
    names = {a["name"] for a in listed}
    assert ARTIFACTS | {"run.json", "events.jsonl"} <= names, names
    assert any(n.startswith("samples-") for n in names)
    weights = requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts/mnist_cnn.pth", timeout=30)
    assert weights.status_code == 200 and len(weights.content) == next(
        a["size"] for a in listed if a["name"] == "mnist_cnn.pth"
    )
    assert not (stack.results / run["id"] / "mnist_cnn.pth").exists(), "files live in the store"
    box = tmp_path / "box-far"
    assert not (box / run["id"] / "events.jsonl").exists(), "the worker wrote no history"
    assert not (box / run["id"] / "series").exists()
    processes.wait_for(lambda: not (box / ".spool" / run["id"]).exists(), 30, "spool drained")
    predict = requests.post(f"{stack.url}/api/runs/{run['id']}/predict", json={"pixels": [0] * 784})
    assert predict.status_code == 200, "the web tier's NumPy model reads the weights from the store"
    assert "SECRET" not in requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts/run.json").text
    series = requests.get(f"{stack.url}/api/runs/{run['id']}/series/test_accuracy", timeout=10).json()
    assert series["x"] == [1, 2, 3]


def test_a_killed_worker_run_finishes_on_another_box_from_the_stored_checkpoint(boxes):
    stack = boxes
    first = stack.add_box("first")
    run = stack.submit(**{**SPEC, "epochs": 4})
    watcher = RunWatcher(stack.url, run["id"]).start()
    watcher.wait_for(lambda e: e["type"] == "epoch" and e["epoch"] == 1, timeout=120)
    watcher.wait_for(lambda e: e["type"] == "progress" and e["epoch"] == 2, timeout=60)
    first.kill()
    stack.add_box("second")
    watcher.wait_done(240)
    watcher.close()
    events = wait_recorded(stack, run["id"])
    assert_whole(events, 4)
    resumed = [e for e in events if e.get("resumed_from_epoch") is not None]
    assert [e["resumed_from_epoch"] for e in resumed] == [1], "resumed from the store's checkpoint"
    assert stack.run(run["id"])["worker"].startswith("second@")


def test_redis_restarted_empty_mid_run_loses_nothing(boxes):
    stack = boxes
    stack.add_box("box")
    run = stack.submit(**{**SPEC, "epochs": 4})
    processes.wait_for(lambda: stack.run(run["id"])["epoch"] >= 1, 120, "epoch 1")
    port = int(stack.redis_url.rsplit(":", 1)[1].split("/")[0])
    stack.redis_proc.stop()
    shutil.rmtree(stack.root / "redis")  # its data is gone for good
    time.sleep(1)
    stack.redis_proc, _ = processes.start_redis(stack.root / "redis", port, persist=False)
    record = stack.wait_status(run["id"], ("succeeded", "failed"), timeout=240)
    assert record["status"] == "succeeded", record.get("error")
    assert record["name"] == run["name"], "the record came back from the web side's run.json"
    assert_whole(wait_recorded(stack, run["id"]), 4)


def test_the_web_tier_killed_mid_run_and_restarted_records_everything_once(boxes):
    stack = boxes
    stack.add_box("box")
    port = int(stack.url.rsplit(":", 1)[1])
    run = stack.submit(**{**SPEC, "epochs": 4})
    processes.wait_for(lambda: stack.run(run["id"])["epoch"] >= 1, 120, "epoch 1")
    stack.webs[0].kill()  # the recorder beside it dies too
    time.sleep(3)
    stack.start_web(port)
    record = stack.wait_status(run["id"], ("succeeded", "failed"), timeout=240)
    assert record["status"] == "succeeded", record.get("error")
    assert_whole(wait_recorded(stack, run["id"]), 4)


def test_two_web_processes_record_each_event_exactly_once(boxes):
    stack = boxes
    stack.start_web()  # a second web process, with its own recorder on standby
    stack.add_box("box")
    run = stack.submit(**SPEC)
    stack.wait_status(run["id"], ("succeeded", "failed"), timeout=180)
    events = wait_recorded(stack, run["id"])
    assert_whole(events, 3)
    assert max(Counter(e["seq"] for e in events).values()) == 1
    # The active recorder publishes its counts every STATS_EVERY_SECONDS (2 s): wait for the
    # next snapshot rather than read one that may predate the run's last events.
    processes.wait_for(
        lambda: json.loads(stack.r.get(keys.RECORDER_STATS) or "{}").get("events", 0) >= len(events),
        30,
        "the recorder's stats to count every event",
    )
