"""Run records: the state machine and the volume mirror, against a real Redis."""
import json

from shared.runs import RunStore, new_record
from shared.spec import validate_spec


def test_only_one_of_two_racing_transitions_wins(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({}))
    store.create(record)
    assert store.transition(record["id"], ("queued",), status="running", worker="w1")
    assert store.transition(record["id"], ("queued",), status="cancelled") is None
    assert store.get(record["id"])["status"] == "running"


def test_records_come_back_from_run_json_after_a_flush(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = new_record(validate_spec({"name": "keep me"}))
    store.create(record)
    r.flushdb()
    assert store.list() == []
    assert store.restore_all() == 1
    assert [x["name"] for x in store.list()] == ["keep me"]
    assert json.loads((tmp_path / record["id"] / "run.json").read_text())["name"] == "keep me"


def test_queue_positions_follow_the_waiting_index_through_status_changes(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    runs = [dict(new_record(validate_spec({})), created_at=t) for t in (1.0, 2.0, 3.0)]
    for run in runs:
        store.create(run)
    assert store.queue_positions() == {runs[0]["id"]: 1, runs[1]["id"]: 2, runs[2]["id"]: 3}
    store.transition(runs[0]["id"], ("queued",), status="running")
    assert store.queue_position(runs[0]["id"]) is None and store.queue_position(runs[2]["id"]) == 2
    # Handed back to the queue: it waits behind the runs queued before that moment.
    store.transition(runs[0]["id"], ("running",), status="resuming", queued_at=9.0)
    assert store.queue_positions() == {runs[1]["id"]: 1, runs[2]["id"]: 2, runs[0]["id"]: 3}
    store.transition(runs[1]["id"], None, status="cancelled")
    assert store.waiting_count() == 2
    r.flushdb()  # Redis lost everything: run.json brings the waiting run back in its place
    assert store.get(runs[2]["id"])["status"] == "queued"
    assert store.queue_position(runs[2]["id"]) == 1

def test_waiting_runs_whose_message_vanished_are_enqueued_again(r, tmp_path):
    from shared import keys
    from shared.settings import Settings
    from worker.reaper import MISSING_MESSAGE_SECONDS, requeue_orphans

    store = RunStore(r, str(tmp_path))
    kept, lost = new_record(validate_spec({})), new_record(validate_spec({"accelerator": "gpu"}))
    for record in (kept, lost):
        store.create(record)
    r.rpush(keys.QUEUE_ANY, '{"headers": {"argsrepr": "[\'%s\']"}}' % kept["id"])
    enqueued, seen = [], {}
    settings = Settings(results_dir=str(tmp_path))
    enqueue = lambda run_id, queue: enqueued.append((run_id, queue))  # noqa: E731
    assert requeue_orphans(r, settings, enqueue, seen, now=1000.0) == []
    assert requeue_orphans(r, settings, enqueue, seen, now=1000.0 + MISSING_MESSAGE_SECONDS) == [lost["id"]]
    assert enqueued == [(lost["id"], keys.QUEUE_GPU)], "only the run with no message, on its own queue"
