"""Safe by default, against a real web tier: JSON-only POSTs, no cross-site requests,
a generated token when reachable from other machines, atomic limits."""

from __future__ import annotations

import concurrent.futures
import re

import pytest
import requests

from tests.processes import wait_for

pytestmark = pytest.mark.integration


def runs(stack) -> list[dict]:
    return requests.get(stack.url + "/api/runs", timeout=10).json()["runs"]


def test_simple_and_cross_site_requests_change_nothing(make_stack):
    stack = make_stack(workers=0)
    plain = requests.post(stack.url + "/api/runs", data='{"epochs": 1}', headers={"Content-Type": "text/plain"}, timeout=10)
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]
    form = requests.post(stack.url + "/api/runs", data={"epochs": "1"}, timeout=10)
    assert form.status_code == 415
    evil = requests.post(stack.url + "/api/runs", json={"epochs": 1}, headers={"Origin": "http://evil.example"}, timeout=10)
    assert evil.status_code == 403
    other_port = requests.post(
        stack.url + "/api/runs", json={"epochs": 1}, headers={"Origin": "http://127.0.0.1:1"}, timeout=10
    )
    assert other_port.status_code == 403, "another port on this machine is another site"
    fetch_meta = requests.post(
        stack.url + "/api/runs", json={"epochs": 1}, headers={"Sec-Fetch-Site": "cross-site"}, timeout=10
    )
    assert fetch_meta.status_code == 403
    assert runs(stack) == [], "nothing was created"
    same = requests.post(
        stack.url + "/api/runs",
        json={"epochs": 1},
        headers={"Origin": stack.url, "Sec-Fetch-Site": "same-origin"},
        timeout=10,
    )
    assert same.status_code == 201
    run_id = same.json()["id"]
    cancel = requests.post(
        f"{stack.url}/api/runs/{run_id}/cancel", headers={"Origin": "http://evil.example"}, json={}, timeout=10
    )
    assert cancel.status_code == 403 and stack.run(run_id)["status"] == "queued"


def test_listening_beyond_loopback_makes_keeps_and_logs_a_token(make_stack):
    stack = make_stack(workers=0, web=False)
    stack.start_web(host="0.0.0.0")
    token_file = stack.results / ".trainboard-token"
    token = token_file.read_text().strip()
    assert len(token) >= 24 and oct(token_file.stat().st_mode & 0o777) == "0o600"
    log = stack.webs[0].log_path.read_text()
    assert re.search(r"http://localhost:\d+/\?token=" + re.escape(token), log)
    assert requests.post(stack.url + "/api/runs", json={"epochs": 1}, timeout=10).status_code == 401
    ok = requests.post(stack.url + "/api/runs", json={"epochs": 1}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 201
    # A restart (or a second replica on the same volume) keeps the same token.
    stack.webs[0].stop()
    stack.start_web(host="0.0.0.0")
    assert token_file.read_text().strip() == token
    assert "?token=" + token in stack.webs[-1].log_path.read_text()
    artifacts = requests.get(
        f"{stack.url}/api/runs/{ok.json()['id']}/artifacts", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert ".trainboard-token" not in str(artifacts)


def test_opting_out_runs_open_and_says_so(make_stack):
    stack = make_stack(workers=0, web=False, ALLOW_OPEN_ACCESS="true")
    stack.start_web(host="0.0.0.0")
    assert not (stack.results / ".trainboard-token").exists()
    assert "no API token (ALLOW_OPEN_ACCESS)" in stack.webs[0].log_path.read_text()
    assert requests.post(stack.url + "/api/runs", json={"epochs": 1}, timeout=10).status_code == 201


def test_parallel_submissions_cannot_pass_the_queue_cap_or_the_rate_limit(make_stack):
    stack = make_stack(workers=0, MAX_QUEUED_RUNS="5", SUBMIT_RATE_PER_MINUTE="1000")

    def submit(_):
        return requests.post(stack.url + "/api/runs", json={"epochs": 1}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(submit, range(40)))
    assert codes.count(201) == 5 and codes.count(429) == 35
    assert len(runs(stack)) == 5

    limited = make_stack(workers=0, MAX_QUEUED_RUNS="1000", SUBMIT_RATE_PER_MINUTE="7")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(
            pool.map(lambda _: requests.post(limited.url + "/api/runs", json={}, timeout=30).status_code, range(30))
        )
    assert codes.count(201) == 7 and codes.count(429) == 23
    wait_for(lambda: len(runs(limited)) == 7, 5, "seven runs")
