"""Run records: the state machine and the volume mirror, against a real Redis."""

import json

from shared import lifecycle
from shared.eventlog import EventWriter
from shared.run_record import new_record
from shared.runs import RunStore
from shared.spec import validate_spec
from web.history.reader import read_events


def log(r, tmp_path, run_id):
    return EventWriter(r, str(tmp_path), run_id)


def test_only_one_of_two_racing_transitions_wins_and_only_it_logs_its_status(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({}))
    lifecycle.submit(store, record, log(r, tmp_path, record["id"]))
    assert lifecycle.claim(store, record["id"], log(r, tmp_path, record["id"]), "started on w1", worker="w1")
    assert lifecycle.cancel_waiting(store, record["id"], log(r, tmp_path, record["id"])) is None, "the claim won"
    assert store.get(record["id"])["status"] == "running"
    events = read_events(r, str(tmp_path), record["id"])
    assert [(e["seq"], e["status"], e["message"]) for e in events] == [
        (1, "queued", "waiting for a worker"),
        (2, "running", "started on w1"),
    ], "each status change logged its event, the losing one none"


def test_a_resumed_claim_says_from_which_epoch(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({}))
    writer = log(r, tmp_path, record["id"])
    lifecycle.submit(store, record, writer)
    lifecycle.claim(store, record["id"], writer, "resumed", resumed_from_epoch=3)
    lifecycle.finish(store, record["id"], lifecycle.Status.FAILED, writer, "boom")
    events = read_events(r, str(tmp_path), record["id"])
    assert events[1]["resumed_from_epoch"] == 3 and "resumed_from_epoch" not in events[0]
    assert events[-1]["status"] == "failed" and store.get(record["id"])["error"] == "boom"


def test_records_come_back_from_run_json_after_a_flush(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({"name": "keep me"}))
    store.create(record)
    r.flushdb()
    assert store.page() == ([], None)
    assert store.restore_all() == 1
    assert [x["name"] for x in store.page()[0]] == ["keep me"]
    assert [x["name"] for x in store.page(status="queued")[0]] == ["keep me"]
    assert json.loads((tmp_path / record["id"] / "run.json").read_text())["name"] == "keep me"


def test_queue_positions_follow_the_waiting_index_through_status_changes(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    runs = [dict(new_record(validate_spec({})), created_at=t) for t in (1.0, 2.0, 3.0)]
    for run in runs:
        store.create(run)
    assert store.queue_positions() == {runs[0]["id"]: 1, runs[1]["id"]: 2, runs[2]["id"]: 3}
    lifecycle.claim(store, runs[0]["id"], log(r, tmp_path, runs[0]["id"]), "claimed")
    assert store.queue_position(runs[0]["id"]) is None and store.queue_position(runs[2]["id"]) == 2
    # Handed back to the queue: it was running, so it waits ahead of the runs never started.
    lifecycle.hand_off(store, runs[0]["id"], log(r, tmp_path, runs[0]["id"]), "handed on")
    assert store.queue_positions() == {runs[0]["id"]: 1, runs[1]["id"]: 2, runs[2]["id"]: 3}
    lifecycle.cancel_waiting(store, runs[1]["id"], log(r, tmp_path, runs[1]["id"]))
    assert store.waiting_count() == 2
    r.flushdb()  # Redis lost everything: run.json brings the waiting run back in its place
    assert store.get(runs[2]["id"])["status"] == "queued"
    assert store.queue_position(runs[2]["id"]) == 1


def test_every_run_is_reachable_by_paging_newest_first_with_filters(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    made = []
    for i in range(1234):
        record = new_record(validate_spec({"name": f"{'sweep' if i % 10 == 0 else 'run'}-{i}"}))
        record["created_at"] = 1000.0 + i // 3  # runs of equal timestamps, as after a restore
        store.create(record)
        if i % 7 == 0:
            lifecycle.claim(store, record["id"], log(r, tmp_path, record["id"]), "claimed")
        made.append(record)

    def walk(**kw):
        seen, cursor, pages = [], None, 0
        while True:
            page, cursor = store.page(limit=100, cursor=cursor, **kw)
            seen += page
            pages += 1
            if cursor is None:
                return seen, pages

    everything, pages = walk()
    assert len(everything) == 1234 and len({x["id"] for x in everything}) == 1234
    assert [x["created_at"] for x in everything] == sorted((x["created_at"] for x in made), reverse=True)
    assert pages <= 14
    running, _ = walk(status="running")
    assert {x["id"] for x in running} == {m["id"] for i, m in enumerate(made) if i % 7 == 0}
    found, _ = walk(name_contains="SWEEP")
    assert {x["name"] for x in found} == {f"sweep-{i}" for i in range(0, 1234, 10)}


def test_a_malformed_cursor_is_refused(r, tmp_path):
    import pytest

    for bad in ("x", "1.0~nothex", "nan~" + "a" * 32, "inf~" + "a" * 32, "1e5~" + "a" * 32):
        with pytest.raises(ValueError):
            RunStore(r, str(tmp_path)).page(cursor=bad)


def test_every_lifecycle_operation_is_its_own_member():
    """Two operations with the same moves (hand_off, lose) must not alias each other."""
    assert lifecycle.Op.LOSE is not lifecycle.Op.HAND_OFF and lifecycle.Op.LOSE.name == "LOSE"
    assert len(list(lifecycle.Op)) == len(lifecycle.Op.__members__)


def test_a_run_handed_on_waits_ahead_of_the_runs_that_never_started(r, tmp_path):
    """It was running: it continues before new work of its priority starts (its message
    goes one broker step ahead too: shared.connections.send_run)."""
    store = RunStore(r, str(tmp_path))
    first, second = (dict(new_record(validate_spec({})), created_at=t) for t in (1.0, 2.0))
    for run in (first, second):
        store.create(run)
    lifecycle.claim(store, first["id"], log(r, tmp_path, first["id"]), "claimed", worker="w1")
    later = dict(new_record(validate_spec({})), created_at=3.0)
    store.create(later)
    lifecycle.lose(store, first["id"], 1, log(r, tmp_path, first["id"]), "lost")
    assert store.queue_positions() == {first["id"]: 1, second["id"]: 2, later["id"]: 3}
    urgent = dict(new_record(validate_spec({"priority": "high"})), created_at=4.0)
    store.create(urgent)
    assert store.queue_position(urgent["id"]) == 1, "a higher priority still goes first"


def test_progress_alone_is_not_written_to_run_json_but_kept_in_redis(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({"name": "steady"}))
    store.create(record)
    on_disk = tmp_path / record["id"] / "run.json"
    before = on_disk.read_bytes()
    store.update(record["id"], progress={"epoch": 1, "step": 5, "steps_per_epoch": 10, "images_per_sec": 100.0})
    assert on_disk.read_bytes() == before, "a once-a-second progress update costs no disk write"
    assert store.get(record["id"])["progress"]["step"] == 5
    store.update(record["id"], epoch=1)
    assert json.loads(on_disk.read_text())["epoch"] == 1 and json.loads(on_disk.read_text())["progress"]["step"] == 5
