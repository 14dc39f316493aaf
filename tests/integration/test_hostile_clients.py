"""Hostile clients against the real server (``python -m web`` under eventlet): the live
stream is as closed as REST, one socket cannot make the server work without bound, and
what the real server does with bodies is what the guard expects (DESIGN.md, "Hostile
clients")."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests
import socketio

from shared.eventlog import EventWriter
from tests import processes

pytestmark = pytest.mark.integration

TOKEN = "hostile-test-token"


@pytest.fixture
def closed_stack(make_stack):
    """A stack with a token in force and no worker: runs stay queued."""
    return make_stack(workers=0, API_TOKEN=TOKEN, MAX_SUBSCRIPTIONS="3")


def healthy(stack) -> bool:
    response = requests.get(stack.url + "/healthz", timeout=10)
    return response.status_code == 200 and response.json() == {"status": "ok"}


def polling_connect(url: str, auth_json: str) -> str:
    """Engine.IO long-polling handshake, then a raw Socket.IO CONNECT with ``auth_json``
    exactly as given (lone surrogates included); returns the server's answer packet."""
    session = requests.Session()
    opened = session.get(f"{url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=10)
    sid = json.loads(opened.text[1:])["sid"]
    params = {"EIO": "4", "transport": "polling", "sid": sid}
    try:
        posted = session.post(f"{url}/socket.io/", params=params, data=("40" + auth_json).encode(), timeout=5)
    except requests.RequestException as exc:  # over Engine.IO's 1 MB bound: never read
        return f"refused by Engine.IO: {type(exc).__name__}"
    if posted.status_code != 200:
        return f"refused by Engine.IO: HTTP {posted.status_code}"
    return session.get(f"{url}/socket.io/", params=params, timeout=10).text


@pytest.mark.parametrize(
    "auth",
    [
        '{"token":"\\ud800"}',  # a lone surrogate: token_ok once raised, and the server let it in
        '{"token":"\\udfff\\ud800"}',
        '{"token":123}',
        '{"token":["hostile-test-token"]}',
        '{"token":{"$ne":null}}',
        '{"token":""}',
        '{"token":null}',
        '"hostile-test-token"',
        "[]",
        "",
        '{"token":"' + "x" * 1_000_000 + '"}',
    ],
    ids=["surrogate", "surrogates", "int", "list", "object", "empty", "null", "bare-string", "array", "none", "1MB"],
)
def test_a_connect_without_the_token_is_refused_whatever_it_sends(closed_stack, auth):
    answer = polling_connect(closed_stack.url, auth)
    assert answer.startswith(("44", "refused by Engine.IO")), f"expected connect_error, got {answer[:120]!r}"
    assert '"sid"' not in answer
    if len(auth) > 100_000:  # under Engine.IO's bound, the connect handler refuses it itself
        assert polling_connect(closed_stack.url, '{"token":"' + "x" * 900_000 + '"}').startswith("44")
    processes.wait_for(lambda: healthy(closed_stack), 30, "/healthz ok")


def test_the_right_token_connects_and_a_wrong_one_gets_nothing_at_all(closed_stack):
    assert polling_connect(closed_stack.url, json.dumps({"token": TOKEN})).startswith("40{")
    heard: list[str] = []
    sio = socketio.Client(reconnection=False)
    for event in ("run_update", "workers", "run_event"):
        sio.on(event, lambda *_a, e=event: heard.append(e))
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(closed_stack.url, transports=["websocket"], auth={"token": TOKEN + "x"}, wait_timeout=5)
    closed_stack.submit(epochs=1)  # a run_update every connected page would hear
    assert heard == []


def connected(stack) -> socketio.Client:
    sio = socketio.Client(reconnection=False)
    sio.connect(stack.url, transports=["websocket"], auth={"token": TOKEN}, wait_timeout=10)
    return sio


def test_subscriptions_are_capped_and_a_repeat_replaces(closed_stack):
    runs = [closed_stack.submit(epochs=1)["id"] for _ in range(4)]
    sio = connected(closed_stack)
    for run_id in runs[:3]:
        assert sio.call("subscribe", {"run_id": run_id, "after": 0}, timeout=10)["ok"]
    again = sio.call("subscribe", {"run_id": runs[0], "after": 0}, timeout=10)
    assert again["ok"], "a repeated subscribe replaces the earlier one"
    over = sio.call("subscribe", {"run_id": runs[3], "after": 0}, timeout=10)
    assert over["ok"] is False and "follows 3 runs" in over["error"]
    assert sio.call("unsubscribe", {"run_id": runs[1]}, timeout=10)["ok"]
    assert sio.call("subscribe", {"run_id": runs[3], "after": 0}, timeout=10)["ok"], "room again after unsubscribing"
    sio.disconnect()


def test_a_burst_of_subscribes_costs_about_one_replay_not_one_each(closed_stack):
    run_id = closed_stack.submit(epochs=1)["id"]
    writer = EventWriter(closed_stack.r, str(closed_stack.results), run_id)
    for step in range(1, 1000):
        writer.append("progress", epoch=1, step=step, steps_per_epoch=1000, losses=[0.5], images_per_sec=100.0)
    writer.close(timeout=10)
    sio = connected(closed_stack)
    received: list[int] = []
    sio.on("run_event", lambda e: received.append(e["seq"]))
    acks: list[dict] = []
    done = threading.Event()
    burst = 60  # under MAX_REFUSALS refused (at most 52): a burst, not a flood

    def on_ack(ack: dict) -> None:
        acks.append(ack)
        if len(acks) == burst:
            done.set()

    for _ in range(burst):
        sio.emit("subscribe", {"run_id": run_id, "after": 0}, callback=on_ack)
    assert done.wait(120), f"{len(acks)} of {burst} acks"
    refused = [a for a in acks if not a["ok"]]
    assert refused, "subscribes beyond the ones in flight are refused at once"
    assert {a["error"].split(" ")[-1] for a in refused} <= {"acks", "run"}, refused[:3]
    processes.wait_for(lambda: len(set(received)) == 1000, 30, "every event once at least")
    assert len(received) <= 4 * 1000, f"{len(received)} events sent for {burst} subscribes of a 1,000-event run"
    processes.wait_for(lambda: healthy(closed_stack), 30, "/healthz ok")
    sio.disconnect()


def test_a_client_that_keeps_subscribing_past_its_bounds_is_disconnected(closed_stack):
    """Past MAX_REFUSALS refused subscribes (here: over the 3 runs it may follow) the
    client is dropped, whatever it keeps sending."""
    runs = [closed_stack.submit(epochs=1)["id"] for _ in range(3)]
    sio = connected(closed_stack)
    for run_id in runs:
        assert sio.call("subscribe", {"run_id": run_id, "after": 0}, timeout=10)["ok"]
    gone = threading.Event()
    sio.on("disconnect", lambda *_a: gone.set())
    for i in range(400):
        sio.emit("subscribe", {"run_id": f"{i:032x}", "after": 0})
    assert gone.wait(30), "the flooding client is still connected"
    processes.wait_for(lambda: "keeps subscribing past its bounds" in closed_stack.logs_text(), 10, "the warning")
    assert closed_stack.logs_text().count("keeps subscribing past its bounds") == 1
    processes.wait_for(lambda: healthy(closed_stack), 30, "/healthz ok")


def polling_session(url: str) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    opened = session.get(f"{url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=10)
    return session, {"EIO": "4", "transport": "polling", "sid": json.loads(opened.text[1:])["sid"]}


@pytest.mark.parametrize("packet", ["4X", '451-["subscribe",{"_placeholder":true,"num":0}]', "4" + "9" * 20])
def test_a_packet_that_is_not_socketio_ends_the_client_with_one_warning(closed_stack, packet):
    """Before any connect: Engine.IO once logged a traceback per packet and read on (an
    anonymous script filled the log and stalled /healthz)."""
    session, params = polling_session(closed_stack.url)
    for _ in range(20):
        try:
            session.post(f"{closed_stack.url}/socket.io/", params=params, data=packet.encode(), timeout=5)
        except requests.RequestException:
            break
    processes.wait_for(
        lambda: session.get(f"{closed_stack.url}/socket.io/", params=params, timeout=10).status_code == 400,
        10,
        "the session to be closed",
    )
    logs = closed_stack.logs_text()
    assert logs.count("is not Socket.IO") == 1 and "message handler error" not in logs
    processes.wait_for(lambda: healthy(closed_stack), 30, "/healthz ok")


def test_a_session_without_a_socketio_connection_is_closed(closed_stack):
    """A refused client that keeps answering pings, or a bare handshake, holds no slot
    for longer than the connect grace (web.backpressure.CONNECT_GRACE_SECONDS)."""
    session, params = polling_session(closed_stack.url)
    refused = session.post(f"{closed_stack.url}/socket.io/", params=params, data=b'40{"token":"wrong"}', timeout=5)
    assert refused.status_code == 200
    assert session.get(f"{closed_stack.url}/socket.io/", params=params, timeout=10).text.startswith("44")
    processes.wait_for(
        lambda: session.get(f"{closed_stack.url}/socket.io/", params=params, timeout=30).status_code == 400,
        25,
        "the refused session to be closed",
    )
    assert connected(closed_stack).connected, "a client that connects is untouched"


@pytest.mark.parametrize("origin", ["http://[::1", "http://[zz]", "//["])
def test_an_origin_no_browser_sends_is_a_403_not_a_500(closed_stack, origin):
    response = requests.post(
        closed_stack.url + "/api/runs",
        json={},
        headers={"Authorization": f"Bearer {TOKEN}", "Origin": origin},
        timeout=10,
    )
    assert response.status_code == 403 and "Origin" in response.json()["error"]


def raw_request(
    url: str, method: str, path: str, headers: dict[str, str], body_chunks: list[bytes] | None
) -> tuple[int, dict]:
    """A request as curl sends it: no body at all, or a chunked one."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    if body_chunks is None:
        connection.putrequest(method, path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
    else:
        connection.request(method, path, body=iter(body_chunks), headers=headers, encode_chunked=True)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_the_real_server_takes_bodyless_and_chunked_posts_and_refuses_deep_json(make_stack):
    stack = make_stack(workers=0)
    run = stack.submit(epochs=1)
    status, body = raw_request(stack.url, "POST", f"/api/runs/{run['id']}/cancel", {}, None)
    assert status == 202, body  # curl -X POST: no body, no Content-Type (eventlet says text/plain)
    spec = json.dumps({"name": "chunked", "epochs": 1}).encode()
    status, body = raw_request(stack.url, "POST", "/api/runs", {"Content-Type": "application/json"}, [spec[:7], spec[7:]])
    assert status == 201 and body["name"] == "chunked", body
    status, body = raw_request(stack.url, "POST", "/api/runs", {"Content-Type": "text/plain"}, [spec])
    assert status == 415, body
    deep = b"[" * 30_000 + b"]" * 30_000
    for path in ("/api/runs", "/api/sweeps", f"/api/runs/{run['id']}/fork", f"/api/runs/{run['id']}/predict"):
        response = requests.post(stack.url + path, data=deep, headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400 and "nested deeper" in response.json()["error"], (path, response.text)
    nested: object = 1
    for _ in range(40):  # parses fine, but deeper than any body needs
        nested = [nested]
    assert requests.post(stack.url + "/api/runs", json={"name": nested}, timeout=10).status_code == 400


def test_healthz_tells_anonymous_callers_only_the_word(make_stack):
    stack = make_stack(workers=0, API_TOKEN=TOKEN)
    processes.wait_for(lambda: healthy(stack), 30, "the recorder to start")
    anonymous = requests.get(stack.url + "/healthz", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    detailed = requests.get(stack.url + "/healthz", headers=stack.auth, timeout=10).json()
    assert detailed["status"] == "ok" and detailed["recorder_restarts"] == 0
    stack.redis_proc.kill()
    down = requests.get(stack.url + "/healthz", timeout=30)
    assert down.status_code == 503 and down.json() == {"status": "degraded"}, down.text
    inside = requests.get(stack.url + "/healthz", headers=stack.auth, timeout=30).json()
    assert "Redis does not answer" in inside["problems"]["redis"]


def test_the_cli_never_lets_an_id_change_the_endpoint(make_stack, capsys):
    from trainboard_cli.main import main

    stack = make_stack(workers=0)
    for bad in ("../workers", "..", ".", "%2e%2e/workers", "0" * 32 + "\n"):
        assert main(["--url", stack.url, "show", bad]) == 2, bad
        captured = capsys.readouterr()
        assert "workers" not in captured.out and "HTTP 404" in captured.err, (bad, captured)


def websocket_upgrade(url: str) -> tuple[int, dict[str, str]]:
    """A raw WebSocket upgrade that offers permessage-deflate, as every browser does;
    returns the status and the response headers (lower-case names)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(
        "GET",
        "/socket.io/?EIO=4&transport=websocket",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        },
    )
    response = conn.getresponse()
    headers = {k.lower(): v for k, v in response.getheaders()}
    conn.close()
    return response.status, headers


def test_websocket_compression_is_declined_unless_configured(closed_stack, make_stack):
    """One event to a room of N is compressed N times with per-client deflate contexts;
    the server declines the offer by default (WS_COMPRESSION) and still upgrades."""
    status, headers = websocket_upgrade(closed_stack.url)
    assert status == 101 and "sec-websocket-extensions" not in headers, headers
    compressing = make_stack(workers=0, API_TOKEN=TOKEN, WS_COMPRESSION="true")
    status, headers = websocket_upgrade(compressing.url)
    assert status == 101 and "permessage-deflate" in headers.get("sec-websocket-extensions", ""), headers


def test_a_websocket_flooding_bad_packets_is_cut_off_at_once(closed_stack):
    """Over a WebSocket the reader once went on through everything the client sent (70,000
    frames a second held /healthz for 30 s): now the connection is shut at the first."""
    import websocket

    ws = websocket.create_connection(
        closed_stack.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=10
    )
    ws.recv()  # the Engine.IO open packet
    deadline = time.monotonic() + 20  # how many frames the kernel buffers first varies with load
    with pytest.raises((websocket.WebSocketException, OSError)):
        while time.monotonic() < deadline:
            ws.send("4X")
    processes.wait_for(lambda: healthy(closed_stack), 30, "/healthz ok")
    assert closed_stack.logs_text().count("is not Socket.IO") == 1
