"""The conductor in-process against a real Redis (no workers): proposals are recorded before
their runs, the budget and parallelism hold, a step that fails for one search does not stop
the others, and a cancel under the lock is never lost."""

from __future__ import annotations

import json

import pytest

from shared import keys
from shared.settings import Settings

TINY = {"epochs": 2, "train_samples": 200}


@pytest.fixture
def app(r, redis_server, tmp_path):
    from web.app import create_app

    return create_app(Settings(async_mode="threading", redis_url=redis_server, results_dir=str(tmp_path)))


def _create(app, body) -> dict:
    answer = app.test_client().post("/api/sweeps", data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def test_a_step_proposes_up_to_parallelism_records_first_and_keeps_the_budget(app, r):
    from web.conductor import Conductor

    sweep = _create(
        app, {"method": "random", "base": TINY, "space": {"lr": {"min": 1e-4, "max": 0.1}}, "trials": 3, "parallelism": 2}
    )
    conductor = Conductor(app)
    conductor.run_once()
    stored = json.loads(r.get(keys.sweep_record(sweep["id"])))
    assert len(stored["proposals"]) == 2 and stored["run_ids"] == [p["run_id"] for p in stored["proposals"]]
    for proposal in stored["proposals"]:
        run = json.loads(r.get(keys.run_record(proposal["run_id"])))
        assert run["sweep_id"] == sweep["id"] and run["status"] == "queued" and run["spec"]["lr"] == proposal["params"]["lr"]
    conductor.run_once()  # both still in flight: nothing more
    assert len(json.loads(r.get(keys.sweep_record(sweep["id"])))["proposals"]) == 2


def test_one_failing_search_does_not_stop_the_others(app, r, monkeypatch):
    from web import conductor as module

    first = _create(app, {"method": "random", "base": TINY, "space": {"lr": [0.1, 0.01]}, "trials": 2, "parallelism": 1})
    second = _create(app, {"method": "random", "base": TINY, "space": {"lr": [0.1, 0.01]}, "trials": 2, "parallelism": 1})
    real_propose = module.search.propose

    def propose(sweep, records):
        if sweep["id"] == min(first["id"], second["id"]):  # the one walked first
            raise ValueError("a broken search")
        return real_propose(sweep, records)

    monkeypatch.setattr(module.search, "propose", propose)
    module.Conductor(app).run_once()
    late = max(first["id"], second["id"])
    assert len(json.loads(r.get(keys.sweep_record(late)))["proposals"]) == 1
    assert not r.exists(keys.sweep_conductor(min(first["id"], second["id"])))  # its lock was released


def test_a_cancel_waits_for_the_step_and_is_kept(app, r):
    from web.conductor import Conductor, SearchLock

    sweep = _create(
        app, {"method": "random", "base": TINY, "space": {"lr": [0.1, 0.01, 0.001]}, "trials": 3, "parallelism": 1}
    )
    with SearchLock(r, sweep["id"]) as held:  # a step in progress elsewhere
        assert held
        with SearchLock(r, sweep["id"]) as second:
            assert not second
    client = app.test_client()
    assert client.post(f"/api/sweeps/{sweep['id']}/cancel", data="{}", content_type="application/json").status_code == 202
    Conductor(app).run_once()
    stored = json.loads(r.get(keys.sweep_record(sweep["id"])))
    assert stored["cancelled"] and stored["done"] and stored["proposals"] == []
    assert not r.sismember(keys.ACTIVE_SEARCHES, sweep["id"])
