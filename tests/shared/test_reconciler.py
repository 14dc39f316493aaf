"""The reconciler keeps the invariants from the records (real Redis; docs/architecture.md)."""

from __future__ import annotations

import json

import pytest

from shared import keys, lifecycle
from shared.eventlog import EventWriter
from shared.reconciler import Reconciler
from shared.run_record import new_record
from shared.runs import RunStore
from shared.settings import Settings
from shared.spec import validate_spec
from shared.sweep_store import SweepStore
from web.history.reader import read_events

LEASE = 15.0


@pytest.fixture
def world(r, tmp_path):
    """A web-side reconciler (it holds the records) and what it enqueued."""
    settings = Settings(results_dir=str(tmp_path), lease_seconds=LEASE, max_restarts=2)
    store = RunStore(r, str(tmp_path))
    enqueued: list[tuple[str, str]] = []

    def reconciler(me: str = "web-1", web_side: bool = True) -> Reconciler:
        restore = (lambda: (store.restore_all(), SweepStore(r, str(tmp_path)).restore_all())) if web_side else None

        def enqueue(run_id, spec, resumed=False):
            enqueued.append((run_id, keys.queue_for(spec)))

        return Reconciler(r, settings, enqueue, me, restore)

    return store, reconciler, enqueued


def running_run(r, store, tmp_path, worker="box0", leased=True) -> dict:
    record = new_record(validate_spec({}))
    writer = EventWriter(r, str(tmp_path), record["id"])
    lifecycle.submit(store, record, writer)
    if leased:
        r.set(keys.run_lease(record["id"]), worker, px=int(LEASE * 1000))
    assert lifecycle.claim(store, record["id"], writer, f"started on {worker}", worker=worker)
    return record


def idle_worker(r, name, device="cpu", current_run=None):
    r.sadd(keys.WORKERS, name)
    r.set(keys.worker_heartbeat(name), json.dumps({"name": name, "device": device, "current_run": current_run}))


def test_a_running_run_whose_lease_expired_is_handed_on_even_with_no_worker_alive(r, tmp_path, world):
    store, reconciler, enqueued = world
    run = running_run(r, store, tmp_path)
    web = reconciler()
    assert web.run_once(now=1000.0).handed_on == [], "its lease is live"
    r.delete(keys.run_lease(run["id"]))  # the worker died: its lease ran out
    done = web.run_once(now=1000.0 + LEASE)
    assert done.handed_on == [run["id"]] and enqueued == [(run["id"], keys.QUEUE_ANY)]
    record = store.get(run["id"])
    assert record["status"] == "resuming" and record["restarts"] == 1 and record["worker"] is None
    assert read_events(r, str(tmp_path), run["id"])[-1]["message"].startswith("worker box0 lost; resuming")
    assert store.queue_position(run["id"]) == 1, "it waits in the queue again"


def test_after_redis_loses_its_data_the_indexes_come_back_from_the_records_and_the_run_is_handed_on(r, tmp_path, world):
    """Issue #22.1: the worker died, then Redis restarted empty inside the lease window."""
    store, reconciler, enqueued = world
    run = running_run(r, store, tmp_path)
    web = reconciler()
    web.run_once(now=1000.0)
    waiting = new_record(validate_spec({}))
    store.create(waiting)
    r.flushdb()  # the head box rebooted: Redis empty (the waiting run's message too), the worker gone
    first = web.run_once(now=2000.0)
    assert first.restored == (2, 0), "the run records came back from run.json"
    assert first.requeued == [waiting["id"]] and enqueued == [(waiting["id"], keys.QUEUE_ANY)], "sent again at once"
    assert store.get(run["id"])["status"] == "running"
    assert r.zrange(keys.runs_with_status("running"), 0, -1) == [run["id"].encode()]
    assert first.handed_on == [], "live workers get a lease period to take their leases back"
    assert web.run_once(now=2000.0 + LEASE - 1).handed_on == []
    assert web.run_once(now=2000.0 + LEASE).handed_on == [run["id"]]
    assert store.get(run["id"])["status"] == "resuming" and enqueued[-1] == (run["id"], keys.QUEUE_ANY)


def test_a_live_worker_that_takes_its_lease_back_after_the_loss_keeps_its_run(r, tmp_path, world):
    store, reconciler, _ = world
    run = running_run(r, store, tmp_path)
    web = reconciler()
    web.run_once(now=1000.0)
    r.flushdb()
    web.run_once(now=2000.0)
    r.set(keys.run_lease(run["id"]), "box0", px=int(LEASE * 1000))  # its next heartbeat
    assert web.run_once(now=2000.0 + 2 * LEASE).handed_on == []
    assert store.get(run["id"])["status"] == "running"


def test_a_worker_side_reconciler_never_restores_but_still_hands_on(r, tmp_path, world):
    store, reconciler, _ = world
    run = running_run(r, store, tmp_path, leased=False)
    worker = reconciler("box1", web_side=False)
    assert worker.run_once(now=1000.0).restored == (0, 0)
    assert not r.exists(keys.RECORDS_RESTORED), "only the side holding the records may say they are restored"
    assert worker.run_once(now=1000.0 + LEASE).handed_on == [run["id"]]


def test_a_run_lost_too_often_fails_with_the_reason(r, tmp_path, world):
    store, reconciler, enqueued = world
    run = running_run(r, store, tmp_path, leased=False)
    store.update(run["id"], restarts=2)
    done = reconciler().run_once(now=5000.0)
    done = reconciler().run_once(now=5000.0 + LEASE)
    assert done.failed == [run["id"]] and enqueued == []
    assert store.get(run["id"])["error"] == "worker box0 lost; gave up after 2 restart(s)"


def test_one_pass_at_a_time(r, tmp_path, world):
    _, reconciler, _ = world
    r.set(keys.RECONCILER_LOCK, "someone-else", px=5000)
    assert not reconciler().run_once(now=1.0).acted
    r.delete(keys.RECONCILER_LOCK)
    assert reconciler().run_once(now=1.0).acted
    assert not r.exists(keys.RECONCILER_LOCK), "released at the end of the pass"


def test_indexes_that_disagree_with_the_records_are_fixed(r, tmp_path, world):
    store, reconciler, _ = world
    run = running_run(r, store, tmp_path)
    writer = EventWriter(r, str(tmp_path), run["id"])
    lifecycle.finish(store, run["id"], lifecycle.Status.SUCCEEDED, writer, "done")
    # A piecemeal restore left stale entries behind.
    r.zadd(keys.runs_with_status("running"), {run["id"]: run["created_at"]})
    r.zadd(keys.WAITING_RUNS, {run["id"]: 1.0})
    r.zadd(keys.runs_with_status("queued"), {"f" * 32: 1.0})  # no such record anywhere
    done = reconciler().run_once(now=1000.0)
    assert sorted(done.reindexed) == sorted([run["id"], "f" * 32])
    assert r.zrange(keys.runs_with_status("running"), 0, -1) == []
    assert r.zrange(keys.runs_with_status("queued"), 0, -1) == []
    assert r.zrange(keys.WAITING_RUNS, 0, -1) == []
    assert r.zrange(keys.runs_with_status("succeeded"), 0, -1) == [run["id"].encode()]


def test_waiting_runs_beside_an_idle_worker_are_sent_again_on_their_own_queue(r, tmp_path, world):
    store, reconciler, enqueued = world
    cpu_run, gpu_run = new_record(validate_spec({})), new_record(validate_spec({"accelerator": "gpu"}))
    for record in (cpu_run, gpu_run):
        store.create(record)
    idle_worker(r, "busy", current_run="f" * 32)
    # Any process may hold the pass: the first-seen times live in Redis, not in one of them.
    assert reconciler("a").run_once(now=1000.0).requeued == []
    stranded = Settings().stranded_task_seconds
    assert reconciler("b").run_once(now=1000.0 + stranded).requeued == [], "every worker busy: normal"
    idle_worker(r, "idle-cpu")
    assert reconciler("a").run_once(now=2000.0).requeued == [], "one look is not enough"
    assert reconciler("b").run_once(now=2000.0 + stranded).requeued == [cpu_run["id"]]
    assert enqueued == [(cpu_run["id"], keys.QUEUE_ANY)], "a CPU worker cannot take the GPU run"


def test_a_place_reserved_for_a_submission_being_written_is_kept_until_it_is_abandoned(r, tmp_path, world):
    """web.admission reserves a waiting place, then the record is written: a pass between
    the two must not free the place (a burst would get past the queue cap), but a place
    whose submission never got its record (the web process died) is freed in the end."""
    from shared.reconciler import RESERVATION_GRACE_SECONDS
    from web.admission import admit

    store, reconciler, _ = world
    rec = reconciler()
    record = new_record(validate_spec({}))
    record["queued_at"] = record["created_at"]
    assert admit(r, "client", [record], now=1000.0, cap=1, per_minute=100).admitted
    assert rec.run_once(now=1000.0).reindexed == []
    assert not admit(r, "client", [new_record(validate_spec({}))], now=1001.0, cap=1, per_minute=100).admitted
    # Written: a real queued run now, never touched.
    lifecycle.submit(store, record, EventWriter(r, str(tmp_path), record["id"]))
    assert rec.run_once(now=1000.0 + RESERVATION_GRACE_SECONDS + 1).reindexed == []
    assert r.zrange(keys.WAITING_RUNS, 0, -1) == [record["id"].encode()]
    # A reservation whose record never comes is released after the grace, not before.
    orphan = new_record(validate_spec({}))
    r.zadd(keys.WAITING_RUNS, {orphan["id"]: 5.0})
    assert rec.run_once(now=2000.0).reindexed == []
    assert rec.run_once(now=2000.0 + RESERVATION_GRACE_SECONDS - 1).reindexed == []
    assert rec.run_once(now=2000.0 + RESERVATION_GRACE_SECONDS).reindexed == [orphan["id"]]
    assert r.zrange(keys.WAITING_RUNS, 0, -1) == [record["id"].encode()]
