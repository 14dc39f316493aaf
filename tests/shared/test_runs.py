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


def test_queue_positions_are_fifo_over_waiting_runs(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    runs = [dict(new_record(validate_spec({})), created_at=t) for t in (1.0, 2.0, 3.0)]
    runs[0]["status"] = "running"
    assert store.queue_positions(runs) == {runs[1]["id"]: 1, runs[2]["id"]: 2}
