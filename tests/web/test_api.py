"""The REST API in-process (Flask test client) against a real Redis: validation and errors."""

import json
import os
import re

import pytest

from shared import keys
from shared.settings import Settings


@pytest.fixture
def client(r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    app = create_app(Settings(async_mode="threading", redis_url=redis_server, results_dir=str(tmp_path)))
    return app.test_client()


def post(client, body, raw=False):
    data = body if raw else json.dumps(body)
    return client.post("/api/runs", data=data, content_type="application/json")


def assert_error(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["fields"], dict)
    if field:
        assert field in body["fields"]


def test_submit_creates_a_queued_run_and_enqueues_it(client, r):
    response = post(client, {"epochs": 1, "train_samples": 100})
    assert response.status_code == 201
    run = response.get_json()
    assert run["status"] == "queued" and run["spec"]["epochs"] == 1 and run["queue_position"] == 1
    # The Redis transport keeps one list per priority step: "trainboard.any", "trainboard.any<sep>3", …
    lists = [k for k in r.scan_iter(keys.QUEUE_ANY + "*") if r.type(k) == b"list"]
    assert queued_messages(r, keys.QUEUE_ANY) == 1, "one Celery message on the queue every worker takes"
    message = json.loads(r.lindex(lists[0], 0))
    assert message["headers"]["task"] == keys.TRAIN_TASK
    assert message["content-type"] == "application/json"
    events = client.get(f"/api/runs/{run['id']}/events?after=0").get_json()["events"]
    assert [(e["seq"], e["status"]) for e in events] == [(1, "queued")]


def queued_messages(r, queue: str) -> int:
    """Messages waiting on ``queue``, over the Redis transport's per-priority lists."""
    return sum(r.llen(k) for k in r.scan_iter(queue + "*") if r.type(k) == b"list")


def test_gpu_runs_go_to_the_gpu_queue(client, r):
    assert post(client, {"accelerator": "gpu"}).status_code == 201
    assert queued_messages(r, keys.QUEUE_GPU) == 1 and queued_messages(r, keys.QUEUE_ANY) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"epochs": 0},
        {"epochs": "2"},
        {"lr": True},
        {"batch_size": 1e9},
        {"bogus": 1},
        {"optimizer": "adagrad"},
        {"name": "x" * 500},
    ],
)
def test_bad_specs_are_400_with_fields_and_create_nothing(client, r, body):
    assert_error(post(client, body), 400, next(iter(body)))
    assert r.zcard(keys.RUNS_INDEX) == 0 and queued_messages(r, keys.QUEUE_ANY) == 0


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "", '{"lr": NaN}', '{"lr": Infinity}', "null"])
def test_malformed_bodies_are_400(client, r, raw):
    assert_error(post(client, raw, raw=True), 400)
    assert r.zcard(keys.RUNS_INDEX) == 0


def test_oversized_body_is_413(client):
    assert_error(post(client, {"name": "x" * 100_000}), 413)


def test_unknown_run_ids_are_404_everywhere(client):
    for path in ("/api/runs/{}", "/api/runs/{}/events", "/api/runs/{}/artifacts", "/api/runs/{}/artifacts/run.json"):
        for run_id in ("0" * 32, "../../etc", "nope"):
            assert_error(client.get(path.format(run_id)), 404)
    assert_error(client.post("/api/runs/" + "0" * 32 + "/cancel", json={}), 404)


def test_events_after_must_be_a_non_negative_integer(client):
    run = post(client, {}).get_json()
    for bad in ("x", "-1", "1.5"):
        assert_error(client.get(f"/api/runs/{run['id']}/events?after={bad}"), 400, "after")


def test_artifact_path_tricks_are_refused(client, tmp_path):
    run = post(client, {}).get_json()
    (tmp_path / "secret.txt").write_text("nope")
    os.symlink(tmp_path / "secret.txt", tmp_path / run["id"] / "link.txt")
    for name in ("../secret.txt", "..%2Fsecret.txt", "%2Fetc%2Fpasswd", "link.txt", ".hidden"):
        response = client.get(f"/api/runs/{run['id']}/artifacts/{name}")
        assert response.status_code == 404, name
    ok = client.get(f"/api/runs/{run['id']}/artifacts/run.json")
    assert ok.status_code == 200 and json.loads(ok.data)["id"] == run["id"]


def test_cancel_queued_then_cancel_again_is_409(client, r):
    run = post(client, {}).get_json()
    response = client.post(f"/api/runs/{run['id']}/cancel", json={})
    assert response.status_code == 202 and response.get_json()["status"] == "cancelled"
    again = client.post(f"/api/runs/{run['id']}/cancel", json={})
    assert_error(again, 409)
    events = client.get(f"/api/runs/{run['id']}/events").get_json()["events"]
    assert [e["status"] for e in events] == ["queued", "cancelled"]


def test_wrong_method_is_a_json_405(client):
    assert_error(client.delete("/api/runs"), 405)


def test_page_and_vendor_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and b"Trainboard" in page.data
    assert client.get("/vendor/uPlot.esm.js").status_code in (200, 404)  # 404 only without npm deps
    assert client.get("/vendor/../../pyproject.toml").status_code == 404


def test_openapi_document_describes_exactly_the_real_routes(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    app = client.application
    real = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            if rule.rule == "/api/docs":
                continue  # the HTML view of the document, not an API operation
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                real.add((path, method.lower()))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == real


def test_spec_schema_matches_the_validator_fields(client):
    from shared.spec import DEFAULTS

    schema = client.get("/api/openapi.json").get_json()["components"]["schemas"]["RunSpec"]
    assert set(schema["properties"]) == set(DEFAULTS) and schema["additionalProperties"] is False


@pytest.fixture
def token_client(r, redis_server, tmp_path, monkeypatch):
    from web.app import create_app

    app = create_app(
        Settings(
            async_mode="threading",
            redis_url=redis_server,
            results_dir=str(tmp_path),
            api_token="s3cret",
            submit_rate_per_minute=3,
            max_queued_runs=2,
        )
    )
    return app.test_client()


def test_token_is_required_to_submit_cancel_read_events_and_download(token_client, r):
    c = token_client
    assert_error(post(c, {}), 401)
    assert r.zcard(keys.RUNS_INDEX) == 0
    bad = {"Authorization": "Bearer wrong"}
    good = {"Authorization": "Bearer s3cret"}
    assert_error(c.post("/api/runs", json={}, headers=bad), 401)
    run = c.post("/api/runs", json={}, headers=good).get_json()
    for path in (
        f"/api/runs/{run['id']}/events",
        f"/api/runs/{run['id']}/artifacts",
        f"/api/runs/{run['id']}/artifacts/run.json",
    ):
        assert_error(c.get(path), 401)
        assert c.get(path, headers=good).status_code == 200
    assert_error(c.post(f"/api/runs/{run['id']}/cancel", json={}), 401)
    assert c.post(f"/api/runs/{run['id']}/cancel", headers=good, json={}).status_code == 202
    assert_error(c.get("/api/runs"), 401)  # reads are guarded too (tests/web/test_guard.py)


def test_queue_limit_and_submission_rate_give_429(token_client, r):
    good = {"Authorization": "Bearer s3cret"}
    assert token_client.post("/api/runs", json={}, headers=good).status_code == 201
    assert token_client.post("/api/runs", json={}, headers=good).status_code == 201
    full = token_client.post("/api/runs", json={}, headers=good)
    assert_error(full, 429)
    assert "queue is full" in full.get_json()["error"]
    assert r.zcard(keys.RUNS_INDEX) == 2
    for run in token_client.get("/api/runs", headers=good).get_json()["runs"]:
        token_client.post(f"/api/runs/{run['id']}/cancel", headers=good, json={})
    assert token_client.post("/api/runs", json={}, headers=good).status_code == 201
    limited = token_client.post("/api/runs", json={}, headers=good)
    assert_error(limited, 429)
    assert "per minute" in limited.get_json()["error"] and limited.headers["Retry-After"]


def test_predict_validates_pixels_and_needs_a_finished_model(client, tmp_path):
    from worker.checkpoints import save_weights_npz
    from worker.model import Net

    run = post(client, {}).get_json()
    url = f"/api/runs/{run['id']}/predict"
    assert_error(client.post(url, json={"pixels": [0] * 784}), 409)
    save_weights_npz(tmp_path / run["id"] / "mnist_cnn.npz", Net())
    for bad in (
        {"pixels": [0] * 783},
        {"pixels": [300] * 784},
        {"pixels": [True] * 784},
        {"pixels": "abc"},
        [1, 2],
        {"pixels": [0] * 784, "x": 1},
    ):
        assert_error(client.post(url, json=bad), 400)
    ok = client.post(url, json={"pixels": [0] * 784})
    assert ok.status_code == 200
    body = ok.get_json()
    assert 0 <= body["pred"] <= 9 and abs(sum(body["probabilities"]) - 1) < 1e-4
