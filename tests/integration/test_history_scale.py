"""Long runs against the real web tier: series, pages, bounded replay, a client that never reads."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
import websocket

from benchmarks.synthetic_run import make_run
from tests.processes import wait_for
from tests.socket_client import RunWatcher

pytestmark = pytest.mark.integration

EVENTS = 20_000


@pytest.fixture
def long_stack(make_stack):
    stack = make_stack(workers=0, REPLAY_LIMIT="500", CLIENT_QUEUE_LIMIT="1000")
    stack.results.mkdir(parents=True, exist_ok=True)
    # Written by the version before series: only run.json and events.jsonl.
    stack.run_id = make_run(str(stack.results), EVENTS, indexed=False)
    return stack


def test_an_old_long_run_opens_from_series_and_pages(long_stack):
    url = f"{long_stack.url}/api/runs/{long_stack.run_id}"
    loss = requests.get(f"{url}/series/batch_loss", timeout=60).json()
    last = requests.get(f"{url}/events", params={"after": 0, "limit": 1}, timeout=10).json()["last_seq"]
    assert loss["last_seq"] == last and len(loss["x"]) == 1000
    assert loss["total"] == 938 * (loss["x"][-1] // 938 + 1), "every batch loss is counted"
    assert all(lo <= m <= hi for lo, m, hi in zip(loss["min"], loss["mean"], loss["max"]))
    assert (long_stack.results / long_stack.run_id / "series" / "meta.json").exists(), "kept"
    page = requests.get(f"{url}/events", params={"after": 15_000, "limit": 10_000}, timeout=10).json()
    assert [e["seq"] for e in page["events"]] == list(range(15_001, last + 1))
    too_big = requests.get(f"{url}/events", params={"limit": 10_001}, timeout=10)
    assert too_big.status_code == 400 and "limit" in too_big.json()["fields"]
    assert requests.get(f"{url}/series/nope", timeout=10).status_code == 404
    epochs = requests.get(f"{url}/epochs", timeout=10).json()
    assert len(epochs["epochs"]) == len(epochs["samples"]) == long_stack.run(long_stack.run_id)["epoch"]


def test_subscribe_replays_a_bounded_tail_and_the_client_pages_the_rest(long_stack):
    watcher = RunWatcher(long_stack.url, long_stack.run_id, after=0).start()
    try:
        events = watcher.wait_done(timeout=120)
    finally:
        watcher.close()
    ack = watcher.acks[0]
    assert ack["replayed"] == 500 and ack["first_seq"] == ack["last_seq"] - 499
    assert [e["seq"] for e in events] == list(range(1, ack["last_seq"] + 1)), "gap-free after paging"


def test_a_client_that_never_reads_is_dropped_and_others_are_served(long_stack):
    ws = websocket.WebSocket()
    ws.sock_opt.sockopt = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
    ws.connect(long_stack.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    ws.recv()  # the Engine.IO open packet; from here on nothing is read
    ws.send("40")
    subscribe = "42" + json.dumps(["subscribe", {"run_id": long_stack.run_id, "after": 0}])
    web_log = long_stack.webs[0].log_path
    for _ in range(60):  # one at a time (a burst would supersede itself): 500 events each it will not take
        ws.send(subscribe)
        if "dropping Socket.IO client" in web_log.read_text():
            break
        time.sleep(0.3)
    wait_for(lambda: "dropping Socket.IO client" in web_log.read_text(), 60, "the reader to be dropped")
    assert requests.get(long_stack.url + "/healthz", timeout=5).status_code == 200
    other = RunWatcher(long_stack.url, long_stack.run_id, after=19_000).start()
    try:
        assert other.wait_done(timeout=60)[-1]["status"] == "succeeded"
    finally:
        other.close()
    ws.close()
