"""Fuzz what users run: every REST route from the OpenAPI document and every Socket.IO
event, against the real server (``python -m web`` under eventlet), with hostile values
(lone surrogates, deep nesting, huge numbers, wrong types). Nothing may answer 5xx, no
connect without the token may get in, and the server stays healthy throughout.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
import socketio
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests import processes

pytestmark = pytest.mark.integration

TOKEN = "fuzz-real-token"
SETTINGS = dict(deadline=None, derandomize=bool(os.environ.get("CI")), suppress_health_check=list(HealthCheck))

#: Text with what breaks encoders: lone surrogates, NUL, right-to-left marks, astral planes.
hostile_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "\U0001f600"])),
    max_size=40,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, dataset):
    from tests.conftest import Stack

    stack = Stack(
        tmp_path_factory.mktemp("fuzz"),
        dataset,
        API_TOKEN=TOKEN,
        SUBMIT_RATE_PER_MINUTE="100000",
        MAX_QUEUED_RUNS="100000",
        NOTIFY_ALLOW_PRIVATE="true",
    )
    stack.start_web()
    yield stack
    stack.stop()


def test_no_rest_input_gets_a_server_error_from_the_real_server(fuzz_stack):
    schema = schemathesis.openapi.from_url(
        fuzz_stack.url + "/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(operation.as_strategy())
        @hypothesis_settings(max_examples=25, **SETTINGS)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

        check()
    assert requests.get(fuzz_stack.url + "/healthz", timeout=10).status_code == 200


def test_no_socket_message_breaks_the_real_server(fuzz_stack):
    run_id = fuzz_stack.submit(epochs=1)["id"]
    sio = socketio.Client(reconnection=False)
    sio.connect(fuzz_stack.url, transports=["websocket"], auth={"token": TOKEN}, wait_timeout=10)

    @given(
        event=st.sampled_from(["subscribe", "unsubscribe", "no-such-event"]),
        payload=st.one_of(
            json_values,
            st.fixed_dictionaries({"run_id": st.one_of(st.just(run_id), json_values), "after": json_values}),
        ),
    )
    @hypothesis_settings(max_examples=150, **SETTINGS)
    def check(event, payload):
        ack = sio.call(event, payload, timeout=10) if event != "no-such-event" else None
        if ack is not None:
            assert isinstance(ack, dict) and ack.get("ok") in (True, False), ack
            assert ack["ok"] or ack.get("error"), ack

    check()
    assert sio.connected
    assert sio.call("subscribe", {"run_id": run_id, "after": 0}, timeout=10)["ok"]
    sio.disconnect()
    assert requests.get(fuzz_stack.url + "/healthz", timeout=10).status_code == 200


def test_no_connect_without_the_token_gets_in(fuzz_stack):
    @given(auth=st.one_of(json_values, st.fixed_dictionaries({"token": json_values})))
    @hypothesis_settings(max_examples=40, **SETTINGS)
    def check(auth):
        if isinstance(auth, dict) and auth.get("token") == TOKEN:
            return
        sio = socketio.Client(reconnection=False)
        try:
            sio.connect(fuzz_stack.url, transports=["websocket"], auth=auth, wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return
        connected = sio.connected
        sio.disconnect()
        raise AssertionError(f"connected with auth {auth!r}: {connected}")

    check()
    processes.wait_for(lambda: requests.get(fuzz_stack.url + "/healthz", timeout=10).ok, 10, "healthy")
