"""Sweeps that learn, against a real stack (redis, Celery workers, ``python -m web``):
a TPE search whose proposals follow its results, ASHA stopping runs at rungs, PBT
forking, and a search that survives its web tier killed and Redis emptied mid-way."""

from __future__ import annotations

import time

import pytest
import redis
import requests

from shared import keys, search
from tests.integration.test_sweeps import Inbox
from tests.processes import wait_for

pytestmark = pytest.mark.integration

TINY = {"epochs": 1, "train_samples": 200, "batch_size": 50}
#: The stack the tpe, ASHA and PBT tests share: two workers (tests/conftest.py's SharedStack),
#: and notices to the test's own loopback inbox.
SHARED_STACK = {"workers": 2, "NOTIFY_ALLOW_PRIVATE": "true"}
SPACE = {"lr": {"min": 1e-4, "max": 0.5, "log": True}, "optimizer": ["adam", "sgd"]}


def _sweep(stack, sweep_id: str) -> dict:
    return requests.get(f"{stack.url}/api/sweeps/{sweep_id}", headers=stack.auth, timeout=10).json()


def _finished(stack, sweep_id: str, timeout: float = 300) -> dict:
    return wait_for(lambda: (s := _sweep(stack, sweep_id))["finished"] and s, timeout, "the search to finish", interval=0.5)


def _create(stack, body: dict) -> dict:
    created = requests.post(stack.url + "/api/sweeps", json=body, headers=stack.auth, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()


def test_a_tpe_search_of_8_trials_keeps_2_in_flight_and_its_proposals_follow_its_results(stack):
    inbox = Inbox()
    body = {"name": "tpe", "method": "tpe", "base": TINY, "space": SPACE, "trials": 8, "parallelism": 2, "seed": 3}
    sweep = _create(stack, {**body, "notify_url": inbox.url + "/sweep"})
    assert sweep["runs"] == [] and sweep["method"] == "tpe" and sweep["trials"] == 8 and not sweep["finished"]
    most_in_flight = 0

    def done():
        nonlocal most_in_flight
        state = _sweep(stack, sweep["id"])
        most_in_flight = max(
            most_in_flight, sum(1 for r in state["runs"] if r["status"] not in ("succeeded", "failed", "cancelled"))
        )
        return state["finished"] and state

    state = wait_for(done, 400, "the tpe search to finish", interval=0.3)
    assert state["counts"] == {"succeeded": 8}
    assert len({r["id"] for r in state["runs"]}) == 8 == len(state["proposals"])
    assert most_in_flight <= 2
    # Later proposals were made knowing earlier results ...
    assert [p["told"] for p in state["proposals"]][:2] == [0, 0]
    assert state["proposals"][-1]["told"] >= 5
    # ... and depend on them: the same history proposes the same trial; another history
    # (every result but the first two reversed) proposes another.
    records = {r["id"]: r for r in state["runs"]}
    last = state["proposals"][-1]
    before = {**state, "proposals": state["proposals"][:-1]}
    told_then = {p["run_id"] for p in state["proposals"][: last["told"]]}
    seen = {rid: rec for rid, rec in records.items() if rid in told_then}
    assert search.propose(before, seen) == last["params"]
    flipped = {rid: {**rec, "accuracy_by_epoch": {"1": 1 - rec["accuracy_by_epoch"]["1"]}} for rid, rec in seen.items()}
    assert search.propose(before, flipped) != last["params"]
    assert state["best_run_id"] == max(records, key=lambda i: records[i]["metrics"]["best_test_accuracy"])
    names = sorted(r["name"] for r in state["runs"])
    assert names[0].startswith("tpe #0 · lr=")
    # Its notice comes once, after the conductor marked it done.
    finished = lambda: [n for n in inbox.events("/sweep") if n.get("event") == "sweep_finished"]  # noqa: E731
    notice = wait_for(finished, 60, "the search's notice")
    assert len(notice) == 1 and notice[0]["event"] == "sweep_finished" and notice[0]["sweep"]["id"] == state["id"]
    assert notice[0]["sweep"]["counts"] == {"succeeded": 8}


def test_asha_stops_runs_at_its_rungs(stack):
    body = {
        "method": "random",
        "base": {**TINY, "epochs": 3},
        "space": {"lr": {"min": 1e-5, "max": 0.5, "log": True}},
        "trials": 8,
        "parallelism": 2,
        "seed": 1,
        "pruner": {"type": "asha", "eta": 3, "min_epochs": 1},
    }
    state = _finished(stack, _create(stack, body)["id"], 500)
    assert state["counts"] == {"succeeded": 8}
    stopped = [r for r in state["runs"] if r.get("stopped_early")]
    assert stopped, "ASHA stopped nobody"
    for run in stopped:  # at its rung of epoch 1 (min_epochs 1); never at epoch 3, the last (also a rung)
        assert run["stopped_at_epoch"] == 1 and run["epoch"] == 1
        ended = [e for e in stack.events(run["id"]) if e["type"] == "status"][-1]
        assert ended["status"] == "succeeded" and f"epoch-{run['epoch']} rung" in ended["message"], ended
    assert any(r["epoch"] == 3 for r in state["runs"]), "some run must reach the last epoch"


def test_pbt_forks_its_bottom_members_from_its_top(stack):
    body = {
        "method": "pbt",
        "base": {**TINY, "epochs": 3},
        "space": {"lr": {"min": 1e-5, "max": 0.5, "log": True}},
        "population": 4,
        "interval": 1,
        "seed": 2,
    }
    state = _finished(stack, _create(stack, body)["id"], 500)
    runs = {r["id"]: r for r in state["runs"]}
    proposals = {p["run_id"]: p for p in state["proposals"]}
    assert len(runs) == 12 and all(r["status"] == "succeeded" for r in runs.values())  # 4 members x 3 generations
    assert {p["member"] for p in proposals.values()} == {0, 1, 2, 3}
    for run_id, p in proposals.items():
        run = runs[run_id]
        if p["generation"] == 0:
            assert not run.get("parent_run_id")
            continue
        parent = runs[p["parent_run_id"]]
        assert run["parent_run_id"] == parent["id"] and run["forked_from_epoch"] == p["generation"]
        assert run_id in parent.get("children", [])
        assert (proposals[parent["id"]]["member"] != p["member"]) == p["exploit"]
    assert sum(p.get("exploit", False) for p in proposals.values()) == 2  # the bottom one of four, twice
    for run in runs.values():  # each run trained its generation and stopped at its end
        assert run["epoch"] == proposals[run["id"]]["generation"] + 1
        assert not run.get("stopped_early")


def test_a_search_survives_its_web_tier_killed_and_redis_emptied(make_stack):
    # A run whose task message the flush took is sent again after STRANDED_TASK_SECONDS
    # (30 by default): 5 here, so the test waits for that rescue seconds, not half a minute.
    stack = make_stack(workers=1, STRANDED_TASK_SECONDS="5")
    body = {"method": "tpe", "base": TINY, "space": SPACE, "trials": 6, "parallelism": 2, "seed": 5}
    sweep = _create(stack, body)
    r = redis.Redis.from_url(stack.redis_url)
    wait_for(lambda: len(_sweep(stack, sweep["id"])["runs"]) >= 2, 60, "the first proposals")
    stack.webs[0].kill()  # mid-sweep: no goodbye
    stack.start_web()
    wait_for(lambda: any(r_["status"] == "succeeded" for r_ in _sweep(stack, sweep["id"])["runs"]), 120, "a result")
    r.flushall()
    state = _finished(stack, sweep["id"], 400)
    assert len(state["proposals"]) == 6 and len({p["run_id"] for p in state["proposals"]}) == 6
    assert len(state["runs"]) == 6 and state["counts"] == {"succeeded": 6}
    assert [p["number"] for p in state["proposals"]] == list(range(6))
    params = [tuple(sorted(p["params"].items())) for p in state["proposals"]]
    assert len(set(params)) == 6, "a trial was proposed twice"
    # Every run of the sweep is one of its proposals: none was made twice under two ids.
    listed = requests.get(f"{stack.url}/api/runs?limit=500", headers=stack.auth, timeout=10).json()["runs"]
    assert sorted(x["id"] for x in listed if x.get("sweep_id") == sweep["id"]) == sorted(
        p["run_id"] for p in state["proposals"]
    )
    assert not r.sismember(keys.ACTIVE_SEARCHES, sweep["id"])


def test_a_bad_search_is_a_400_naming_the_field_and_creates_nothing(make_stack):
    stack = make_stack(workers=0)
    body = {"method": "tpe", "base": {"epochs": 2}, "space": {"lr": {"min": 0.1, "max": 0.01}, "momentum": [0.9]}}
    answer = requests.post(stack.url + "/api/sweeps", json=body, headers=stack.auth, timeout=10)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()["fields"]) == {"space.lr", "space.momentum"}, answer.json()
    assert requests.get(stack.url + "/api/sweeps", headers=stack.auth, timeout=10).json()["sweeps"] == []
    assert requests.get(stack.url + "/api/runs", headers=stack.auth, timeout=10).json()["runs"] == []
    assert stack.r.scard(keys.ACTIVE_SEARCHES) == 0


def test_a_cancelled_search_proposes_nothing_more_and_finishes(make_stack):
    stack = make_stack(workers=1)
    body = {"method": "random", "base": {**TINY, "epochs": 3}, "space": SPACE, "trials": 20, "parallelism": 1}
    sweep = _create(stack, body)
    wait_for(lambda: any(r["status"] == "running" for r in _sweep(stack, sweep["id"])["runs"]), 60, "a running trial")
    answer = requests.post(f"{stack.url}/api/sweeps/{sweep['id']}/cancel", json={}, headers=stack.auth, timeout=20)
    assert answer.status_code == 202, answer.text
    state = _finished(stack, sweep["id"], 120)
    assert state["cancelled"] and len(state["proposals"]) == len(state["runs"]) <= 2
    assert all(r["status"] == "cancelled" or r["status"] == "succeeded" for r in state["runs"])
    time.sleep(5)  # a few conductor steps later: still nothing new
    assert len(_sweep(stack, sweep["id"])["proposals"]) == len(state["proposals"])
