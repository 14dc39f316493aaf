"""With a token in force, every route of the app's URL map needs it but the public ones,
and no response or run_update carries a stored notify_url (in-process, real Redis)."""

from __future__ import annotations

import json
import re

import pytest

from shared import keys
from shared.settings import Settings

TOKEN = "s3cret"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
#: A Slack-style webhook on a public address: the path is the secret.
SECRET = "T0123/B0456/SECRETxyz789"
HOOK = f"https://8.8.8.8/services/{SECRET}"
#: What stays open: the health probe, the API's own description, the page and its assets.
PUBLIC = {"/healthz", "/api/openapi.json", "/api/docs", "/", "/static/<path:filename>", "/vendor/<name>"}


@pytest.fixture
def app(r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    return create_app(Settings(async_mode="threading", redis_url=redis_server, results_dir=str(tmp_path), api_token=TOKEN))


def fill(rule: str, run_id: str, sweep_id: str) -> str:
    path = rule.replace("<run_id>", run_id).replace("<sweep_id>", sweep_id)
    path = path.replace("<name>", "batch_loss" if "/series/" in path else "run.json")
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "run.json", path)


def routes(app) -> list[tuple[str, str]]:
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"})


def test_every_route_but_the_public_ones_needs_the_token(app):
    client = app.test_client()
    run = client.post("/api/runs", json={"epochs": 1}, headers=GOOD).get_json()
    sweep = client.post("/api/sweeps", json={"grid": {"lr": [0.1]}}, headers=GOOD).get_json()
    table = routes(app)
    assert len(table) > 15, "the URL map was read"
    for rule, method in table:
        path = fill(rule, run["id"], sweep["id"])
        kwargs = {"json": {}} if method == "POST" else {}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = client.open(path, method=method, headers=headers, **kwargs)
            if rule in PUBLIC:
                assert answer.status_code != 401, (method, rule)
            else:
                assert answer.status_code == 401, (method, rule, headers, answer.status_code)
                assert answer.get_json()["error"] and "Bearer" in answer.headers["WWW-Authenticate"]
        if rule not in PUBLIC:
            assert client.open(path, method=method, headers=GOOD, **kwargs).status_code != 401
    # An unknown /api/ path does not tell that it does not exist.
    assert client.get("/api/nope").status_code == 401
    assert client.get("/api/nope", headers=GOOD).status_code == 404
    # Nothing changed for the 401s: one run (and the sweep's one run), both still there.
    assert client.get("/api/runs", headers=GOOD).get_json()["runs"][-1]["id"] == run["id"]


def test_the_openapi_document_marks_exactly_the_guarded_operations(app):
    doc = app.test_client().get("/api/openapi.json").get_json()
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            guarded = path not in ("/healthz", "/api/openapi.json")
            assert ("security" in operation) == guarded, path
            assert ("401" in operation["responses"]) == guarded, path


def test_without_a_token_everything_stays_open(r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    client = create_app(Settings(async_mode="threading", redis_url=redis_server, results_dir=str(tmp_path))).test_client()
    assert client.get("/api/runs").status_code == 200
    assert client.get("/api/workers").status_code == 200
    assert "securitySchemes" not in client.get("/api/openapi.json").get_json()["components"]


def test_a_bodyless_cancel_is_accepted_but_not_from_another_site(app):
    client = app.test_client()
    run = client.post("/api/runs", json={}, headers=GOOD).get_json()
    evil = client.post(f"/api/runs/{run['id']}/cancel", headers={**GOOD, "Origin": "http://evil.example"})
    assert evil.status_code == 403
    form = client.post(
        f"/api/runs/{run['id']}/cancel", headers=GOOD, data="x=1", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 415
    ok = client.post(f"/api/runs/{run['id']}/cancel", headers=GOOD)  # what curl -X POST sends
    assert ok.status_code == 202 and ok.get_json()["status"] == "cancelled"


def test_no_response_or_run_update_contains_a_stored_notify_url(app, r, tmp_path):
    client = app.test_client()
    updates = r.pubsub()
    updates.subscribe(keys.RUN_UPDATES_CHANNEL)
    run = client.post("/api/runs", json={"epochs": 1, "notify_url": HOOK}, headers=GOOD)
    sweep = client.post("/api/sweeps", json={"grid": {"lr": [0.1, 0.2]}, "notify_url": HOOK}, headers=GOOD)
    assert run.status_code == 201 and sweep.status_code == 201, sweep.get_data(as_text=True)
    run, sweep = run.get_json(), sweep.get_json()
    assert run["spec"]["notify_url"] == "https://8.8.8.8/…", "masked, but the receiver is named"
    assert SECRET in (tmp_path / run["id"] / "run.json").read_text(), "stored whole, for the notifier"
    bodies = [json.dumps(run), json.dumps(sweep)]
    for rule, method in routes(app):
        if method == "GET":
            bodies.append(client.get(fill(rule, run["id"], sweep["id"]), headers=GOOD).get_data(as_text=True))
    bodies.append(client.post(f"/api/runs/{run['id']}/cancel", headers=GOOD).get_data(as_text=True))
    bodies.append(client.post(f"/api/sweeps/{sweep['id']}/cancel", headers=GOOD).get_data(as_text=True))
    events = client.get(f"/api/runs/{run['id']}/events", headers=GOOD).get_data(as_text=True)
    bodies.append(events)
    assert len(bodies) > 15
    for body in bodies:
        assert SECRET not in body
    published = []
    while (message := updates.get_message(timeout=1)) is not None:
        if message["type"] == "message":
            published.append(message["data"].decode())
    assert len(published) >= 4, "submit and cancel of the run and both sweep runs were published"
    assert all(SECRET not in m and "8.8.8.8" in m for m in published)


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "http://localhost/hook",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "ftp://8.8.8.8/",
        "http://no-such-host.invalid/",
    ],
)
def test_internal_notice_targets_are_a_400_naming_the_field(app, r, target):
    client = app.test_client()
    for path, body in (
        ("/api/runs", {"notify_url": target}),
        ("/api/sweeps", {"grid": {"lr": [0.1]}, "notify_url": target}),
    ):
        answer = client.post(path, json=body, headers=GOOD)
        assert answer.status_code == 400, (target, answer.get_data(as_text=True))
        assert "notify_url" in answer.get_json()["fields"]
    assert r.zcard(keys.RUNS_INDEX) == 0 and r.zcard(keys.SWEEPS_INDEX) == 0, "nothing was created"


def test_allow_private_and_allowed_hosts_lift_the_rule(r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    open_ = create_app(
        Settings(async_mode="threading", redis_url=redis_server, results_dir=str(tmp_path / "a"), notify_allow_private=True)
    ).test_client()
    assert open_.post("/api/runs", json={"notify_url": "http://10.0.0.5/hook"}).status_code == 201
    listed = create_app(
        Settings(
            async_mode="threading",
            redis_url=redis_server,
            results_dir=str(tmp_path / "b"),
            notify_allowed_hosts=frozenset({"localhost"}),
        )
    ).test_client()
    assert listed.post("/api/runs", json={"notify_url": "http://localhost:9/hook"}).status_code == 201
    assert listed.post("/api/runs", json={"notify_url": "http://127.0.0.1:9/"}).status_code == 400
