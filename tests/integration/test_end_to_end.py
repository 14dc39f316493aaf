"""The whole path with real processes: REST → Celery → worker → Redis → web → Socket.IO."""

from __future__ import annotations

import json

import pytest
import requests

from tests.socket_client import RunWatcher

pytestmark = pytest.mark.integration

EXPECTED_FILES = {"run.json", "events.jsonl", "checkpoint.pt", "mnist_cnn.pth", "training_log.json", "test_samples.json"}


def assert_gap_free(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_run_streams_every_event_in_order_to_live_and_late_subscribers(stack):
    run = stack.submit(name="e2e", epochs=3, batch_size=32, lr=0.002, train_samples=3000)
    assert run["status"] == "queued" and len(run["id"]) == 32

    first = RunWatcher(stack.url, run["id"]).start()
    # A second client joins mid-run, asking for everything from the start.
    first.wait_for(lambda e: e["type"] == "epoch" and e["epoch"] == 1)
    late = RunWatcher(stack.url, run["id"], after=0).start()
    events = first.wait_done()
    late_events = late.wait_done()

    assert_gap_free(events)
    assert first.gaps == [] and late.gaps == []
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    assert events[-1]["type"] == "status", "the terminal status is the last event"
    assert [e["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3]
    samples = [e for e in events if e["type"] == "samples"]
    assert len(samples) == 3 and len(samples[0]["items"]) == 16
    item = samples[0]["items"][0]
    assert {"index", "label", "pred", "confidence", "slot"} <= item.keys()
    assert "image" not in item, "images live in the sprite, not in events"
    assert samples[0]["sprite"] == "samples-epoch-001.png"
    sprite = requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts/{samples[0]['sprite']}", timeout=10)
    assert sprite.status_code == 200 and sprite.content[:8] == b"\x89PNG\r\n\x1a\n"
    slots = [i["slot"] for i in samples[0]["items"] + samples[0]["mistakes"]]
    assert slots == list(range(len(slots)))
    for e in events:
        assert e["run_id"] == run["id"] and isinstance(e["ts"], float)
        assert len(json.dumps(e)) < 8192, f"a {e['type']} event is {len(json.dumps(e))} bytes"

    # The same history, read the cheap ways: series and event pages.
    stack.wait_series(run["id"], events[-1]["seq"])
    url = f"{stack.url}/api/runs/{run['id']}"
    loss = requests.get(f"{url}/series/batch_loss", params={"points": 50}, timeout=10).json()
    assert loss["total"] == 3 * 94 and len(loss["x"]) == 50 and loss["last_seq"] == events[-1]["seq"]
    raw = requests.get(f"{url}/series/batch_loss", params={"start": 95, "end": 100}, timeout=10).json()
    first_epoch2 = [e for e in events if e["type"] == "progress" and e["epoch"] == 2]
    assert raw["x"] == [95, 96, 97, 98, 99, 100] and raw["mean"][0] == pytest.approx(first_epoch2[0]["losses"][0], rel=1e-5)
    acc = requests.get(f"{url}/series/test_accuracy", timeout=10).json()
    assert acc["x"] == [1, 2, 3] and acc["mean"][2] == pytest.approx(
        [e for e in events if e["type"] == "epoch"][2]["test_accuracy"], rel=1e-5
    )
    page = requests.get(f"{url}/events", params={"after": 2, "limit": 3}, timeout=10).json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5] and page["last_seq"] == events[-1]["seq"]
    detail = requests.get(f"{url}/epochs", timeout=10).json()
    assert [e["epoch"] for e in detail["epochs"]] == [1, 2, 3] and len(detail["samples"]) == 3

    # Every batch loss arrives, batched into progress events.
    progress = [e for e in events if e["type"] == "progress"]
    losses_per_epoch = {}
    for e in progress:
        losses_per_epoch[e["epoch"]] = losses_per_epoch.get(e["epoch"], 0) + len(e["losses"])
        assert e["steps_per_epoch"] == 94 and e["images_per_sec"] > 0
    assert losses_per_epoch == {1: 94, 2: 94, 3: 94}
    assert len(progress) < 3 * 94, "losses are batched, not one event per batch"

    # The model learned: the generated digits are learnable.
    epochs = [e for e in events if e["type"] == "epoch"]
    assert epochs[-1]["test_accuracy"] > 0.8
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]

    # The late subscriber got the same log; the REST log is identical too.
    assert late_events == events
    assert late.acks[0]["ok"] and late.acks[0]["replayed"] < len(events), "joined mid-run"
    assert stack.events(run["id"], after=0) == events
    assert stack.events(run["id"], after=5) == events[5:]

    record = stack.run(run["id"])
    assert record["status"] == "succeeded" and record["epoch"] == 3
    assert record["metrics"]["test_accuracy"] == epochs[-1]["test_accuracy"]
    assert record["started_at"] >= record["created_at"] and record["finished_at"] >= record["started_at"]
    assert record["worker"].startswith("w1@")

    folder = stack.results / run["id"]
    assert EXPECTED_FILES <= {p.name for p in folder.iterdir()}
    on_disk = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert on_disk == events
    log = json.loads((folder / "training_log.json").read_text())
    assert [len(b) for b in log["batch_losses"]] == [94, 94, 94]
    assert json.loads((folder / "run.json").read_text())["status"] == "succeeded"

    listed = requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts").json()
    assert EXPECTED_FILES <= {a["name"] for a in listed["artifacts"]}
    weights = requests.get(f"{stack.url}/api/runs/{run['id']}/artifacts/mnist_cnn.pth")
    assert weights.status_code == 200 and len(weights.content) > 100_000
    first.close()
    late.close()


def test_run_list_workers_and_health(stack):
    a = stack.submit(name="first", epochs=1, train_samples=100)
    b = stack.submit(name="second", epochs=1, train_samples=100)
    runs = requests.get(stack.url + "/api/runs").json()["runs"]
    assert [r["id"] for r in runs[:2]] == [b["id"], a["id"]], "newest first"
    stack.wait_status(b["id"], "succeeded")
    workers = requests.get(stack.url + "/api/workers").json()["workers"]
    assert len(workers) == 1 and workers[0]["device"] == "cpu" and workers[0]["name"].startswith("w1@")
    assert requests.get(stack.url + "/healthz").json() == {"status": "ok"}


def test_the_gevent_server_streams_a_run_like_eventlet(make_stack):
    """ASYNC_MODE=gevent is one setting away: the same run, the same events, WebSocket too."""
    stack = make_stack(workers=1, ASYNC_MODE="gevent")
    assert "(gevent)" in stack.webs[0].log_path.read_text()
    run = stack.submit(epochs=2, batch_size=32, train_samples=1000)
    watcher = RunWatcher(stack.url, run["id"]).start()  # websocket transport
    try:
        events = watcher.wait_done()
    finally:
        watcher.close()
    assert_gap_free(events)
    assert events[-1]["status"] == "succeeded"
    stack.wait_series(run["id"], events[-1]["seq"])
    loss = requests.get(f"{stack.url}/api/runs/{run['id']}/series/batch_loss", timeout=10).json()
    assert loss["total"] == 2 * 32 and loss["last_seq"] == events[-1]["seq"]


def test_a_diverging_run_ends_normally_with_null_losses(stack):
    run = stack.submit(name="blow up", epochs=1, train_samples=300, batch_size=8, optimizer="sgd", lr=10)
    record = stack.wait_status(run["id"], ("succeeded", "failed"))
    assert record["status"] == "succeeded", record.get("error")
    losses = [x for e in stack.events(run["id"]) if e["type"] == "progress" for x in e["losses"]]
    assert None in losses, "a sgd step of 10 diverges; its NaN losses arrive as null"
    stack.wait_series(run["id"], stack.events(run["id"])[-1]["seq"])
    series = requests.get(f"{stack.url}/api/runs/{run['id']}/series/batch_loss", timeout=10).json()
    assert series["total"] == len(losses) and None in series["mean"]
