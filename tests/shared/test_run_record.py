"""The run record's one definition (shared/run_record.py): what a record may hold, that
every change is announced with it, and that the API's schema is the same table."""

import json

import pytest

from shared import keys, lifecycle, run_record
from shared.eventlog import EventWriter
from shared.runs import RunStore
from shared.spec import validate_spec
from web.openapi import document


def test_a_new_record_starts_with_the_tables_initial_values():
    record = run_record.new_record(validate_spec({"name": "fresh"}))
    assert record["status"] == "queued" and record["name"] == "fresh" and len(record["id"]) == 32
    starting = {f.name for f in run_record.RUN_FIELDS if f.required or f.initial is not run_record._UNSET}
    assert set(record) == starting
    assert record["metrics"] == {} and record["epoch"] == 0 and record["restarts"] == 0


def test_a_field_the_table_does_not_declare_is_refused_and_changes_nothing(r, tmp_path):
    store = RunStore(r, str(tmp_path))
    record = run_record.new_record(validate_spec({}))
    store.create(record)
    with pytest.raises(ValueError, match="best_acuracy"):
        store.update(record["id"], best_acuracy=0.9)
    assert "best_acuracy" not in store.get(record["id"])
    with pytest.raises(ValueError, match="surprise"):
        store.create({**run_record.new_record(validate_spec({})), "surprise": 1})


def test_every_change_is_announced_in_the_same_step(r, tmp_path):
    """Creating, a status change and a plain update each publish the new record on
    run_update: no caller has to remember to."""
    store = RunStore(r, str(tmp_path))
    pubsub = r.pubsub()
    pubsub.subscribe(keys.RUN_UPDATES_CHANNEL)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    record = run_record.new_record(validate_spec({}))
    writer = EventWriter(r, str(tmp_path), record["id"])
    lifecycle.submit(store, record, writer)
    lifecycle.claim(store, record["id"], writer, "started", worker="w1")
    store.update(record["id"], progress={"epoch": 1, "step": 3, "steps_per_epoch": 10, "images_per_sec": 99.0})
    heard = []
    while (message := pubsub.get_message(timeout=1)) is not None:
        heard.append(json.loads(message["data"]))
    assert [(m["status"], m.get("progress", {}).get("step")) for m in heard] == [
        ("queued", None),
        ("running", None),
        ("running", 3),
    ]


def test_the_api_schema_is_the_table():
    schema = document()["components"]["schemas"]["Run"]
    assert set(schema["properties"]) == {f.name for f in run_record.RUN_FIELDS} | set(run_record.ANSWER_FIELDS)
    assert schema["required"] == ["id", "name", "status", "spec", "created_at"]
    assert all(p.get("description") for name, p in schema["properties"].items() if name in run_record.BY_NAME)


def test_a_run_list_in_a_terminal_is_drawn_from_the_column_table():
    from shared.metrics import MISSING
    from shared.run_record import LIST_COLUMNS, list_lines, new_record

    done = {**new_record({"name": "done", "epochs": 3}), "status": "succeeded", "epoch": 3}
    done["metrics"] = {"best_test_accuracy": 0.9871}
    waiting = new_record({"name": "waiting", "epochs": 12})
    header, first, second = list_lines([done, waiting])
    assert header.split() == " ".join(c.title for c in LIST_COLUMNS).split()
    assert first.split() == [done["id"], "succeeded", "3/3", "98.71%", "done"]
    assert second.split() == [waiting["id"], "queued", "0/12", MISSING, "waiting"], "no result yet: the one missing mark"
    assert header.index("NAME") == first.index("done") == second.index("waiting"), "columns line up"


def test_each_fields_json_schema_agrees_with_its_python_type():
    import types
    import typing

    json_type = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}

    def expected(tp):
        if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            return sorted(expected(arg) if arg is not type(None) else "null" for arg in typing.get_args(tp))
        return json_type[typing.get_origin(tp) or tp]

    for f in run_record.RUN_FIELDS:
        if "$ref" in f.schema or "enum" in f.schema:
            assert f.type is str or "$ref" in f.schema, f.name
            continue
        declared = f.schema["type"]
        assert (sorted(declared) if isinstance(declared, list) else declared) == expected(f.type), f.name
    assert [f.name for f in run_record.RUN_FIELDS if f.required] == ["id", "name", "status", "spec", "created_at"]
