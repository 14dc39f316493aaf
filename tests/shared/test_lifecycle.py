"""The run lifecycle (shared/lifecycle.py) against a real Redis: every operation moves a run
only from the statuses it names, logs its status event only when it did, and no operation
leads out of an ended run."""

import pytest

from shared import lifecycle
from shared.lifecycle import ACTIVE, ALL, TERMINAL, Op, Status
from shared.run_record import new_record
from shared.runs import RunStore
from shared.spec import validate_spec


class Log:
    def __init__(self):
        self.events = []

    def append(self, type_, **fields):
        self.events.append({"type": str(type_), **fields})
        return self.events[-1]


def run_in(store: RunStore, status: str) -> str:
    record = new_record(validate_spec({"name": f"in {status}"}))
    store.create(record)
    if status != Status.QUEUED:
        store._transition(record["id"], None, status=status)
    return record["id"]


def test_every_operation_is_its_own_member():
    assert len({op.value[0] for op in Op}) == len(Op) == len(Op.__members__), "no operation is an alias of another"
    assert Op.LOSE is not Op.HAND_OFF and Op.LOSE.name == "LOSE"


def test_no_operation_leads_out_of_an_ended_run_and_every_target_is_a_status():
    for op in Op:
        assert not op.allowed_from & TERMINAL, op
        assert op.leads_to <= set(Status), op
    assert set(ALL) == {s.value for s in Status} and not ACTIVE & TERMINAL


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.name)
def test_an_operation_moves_a_run_only_from_the_statuses_it_names(r, tmp_path, op):
    store = RunStore(r, str(tmp_path))
    to = sorted(op.leads_to, key=lambda s: s.value)[0]
    for status in Status:
        run_id, log = run_in(store, status.value), Log()
        before = store.get(run_id)
        moved = lifecycle.apply(store, op, run_id, to, log, "because")
        if status in op.allowed_from:
            assert moved is not None and moved["status"] == to.value, (op, status)
            assert log.events == [{"type": "status", "status": to.value, "message": "because"}]
        else:
            assert moved is None, f"{op.name} moved a {status.value} run"
            assert log.events == [] and store.get(run_id) == before, "a refused move changes and logs nothing"


def test_a_target_the_operation_cannot_lead_to_is_refused_before_anything_changes(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    run_id, log = run_in(store, Status.RUNNING), Log()
    with pytest.raises(ValueError, match="HAND_OFF cannot lead to succeeded"):
        lifecycle.apply(store, Op.HAND_OFF, run_id, Status.SUCCEEDED, log, "no")
    assert store.get(run_id)["status"] == Status.RUNNING and log.events == []


def test_the_named_operations_record_what_each_promises(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    log = Log()
    record = new_record(validate_spec({"name": "life"}))
    lifecycle.submit(store, record, log)
    run_id = record["id"]
    claimed = lifecycle.claim(store, run_id, log, "on w1", resumed_from_epoch=None, worker="w1")
    assert claimed["status"] == "running" and claimed["worker"] == "w1"
    lost = lifecycle.lose(store, run_id, 1, log, "w1 lost")
    assert lost["status"] == "resuming" and lost["restarts"] == 1 and lost["worker"] is None
    lifecycle.claim(store, run_id, log, "on w2", resumed_from_epoch=2, worker="w2")
    failed = lifecycle.finish(store, run_id, Status.FAILED, log, "out of memory")
    assert failed["error"] == "out of memory" and failed["finished_at"] is not None
    assert [e["status"] for e in log.events] == ["queued", "running", "resuming", "running", "failed"]
    assert log.events[3]["resumed_from_epoch"] == 2
    assert lifecycle.cancel_waiting(store, run_id, log) is None, "an ended run cannot be cancelled"
    with pytest.raises(ValueError):
        lifecycle.submit(store, {**new_record(validate_spec({})), "status": "running"}, log)
