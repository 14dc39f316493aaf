"""Socket.IO messages are validated like REST bodies; auth is enforced at connect."""

from __future__ import annotations

import pytest
import requests
import socketio

pytestmark = pytest.mark.integration


def test_bad_subscribe_messages_get_errors_and_the_server_stays_healthy(make_stack):
    stack = make_stack(workers=0)
    run = stack.submit(epochs=1)
    errors = []
    sio = socketio.Client()
    sio.on("error", errors.append)
    sio.connect(stack.url, transports=["websocket"])
    bad = [
        None,
        [],
        "x",
        5,
        {"run_id": "../../etc"},
        {"run_id": "0" * 32},
        {"run_id": run["id"], "after": -1},
        {"run_id": run["id"], "after": "3"},
        {"run_id": run["id"], "after": True},
        {"run_id": run["id"], "after": 10**30},
        {"run_id": ["a"]},
        {"run_id": "x" * 100_000},
    ]
    for payload in bad:
        ack = sio.call("subscribe", payload, timeout=10)
        assert ack["ok"] is False and ack["error"], payload
    assert len(errors) == len(bad)
    assert sio.call("unsubscribe", {"nope": 1}, timeout=10)["ok"] is False
    good = sio.call("subscribe", {"run_id": run["id"], "after": 0}, timeout=10)
    assert good == {"ok": True, "run_id": run["id"], "replayed": 1, "first_seq": 1, "last_seq": 1}
    sio.disconnect()
    assert requests.get(stack.url + "/healthz").status_code == 200


def test_socket_connections_need_the_token_when_one_is_set(make_stack):
    stack = make_stack(workers=0, API_TOKEN="let-me-in")
    refused = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(stack.url, transports=["websocket"], auth={"token": "wrong"})
    allowed = socketio.Client(reconnection=False)
    allowed.connect(stack.url, transports=["websocket"], auth={"token": "let-me-in"})
    assert allowed.connected
    allowed.disconnect()


def test_socket_io_accepts_only_the_same_origin_by_default(make_stack):
    stack = make_stack(workers=0)
    foreign = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        foreign.connect(stack.url, transports=["websocket"], headers={"Origin": "http://evil.example"})
    same = socketio.Client(reconnection=False)
    same.connect(stack.url, transports=["websocket"])  # the client sends its own origin
    assert same.connected
    same.disconnect()
