"""A sweep's own fields are declared once (shared.sweeps.SWEEP_FIELDS) and every view of
them follows: the validator, the OpenAPI schema, the CLI's flags and the page's form."""

import pytest

from shared import sweeps
from shared.spec import SpecError


def test_sweep_fields_validate_and_pass_on_to_every_run():
    description, specs = sweeps.expand(
        {"name": "s", "grid": {"lr": [0.1, 0.2]}, "priority": "high", "early_stop_epoch": 2.0}
    )
    assert description["early_stop_epoch"] == 2 and description["priority"] == "high"
    assert [s["priority"] for s in specs] == ["high", "high"]
    assert [s["name"] for s in specs] == ["s · lr=0.1", "s · lr=0.2"]
    for bad in (
        {"early_stop_epoch": 0},
        {"early_stop_epoch": True},
        {"priority": "urgent"},
        {"name": ""},
        {"base": {"priority": "high"}},
    ):
        with pytest.raises(SpecError) as exc:
            sweeps.expand({"grid": {"lr": [0.1]}, **bad})
        assert set(exc.value.fields) <= {*bad, "base.priority"}


def test_every_view_of_the_sweep_fields_comes_from_the_table():
    from trainboard_cli.main import parser
    from web.sweeps_api import sweep_schema

    schema = sweep_schema()["properties"]
    sweep_cli = next(a for a in parser()._subparsers._group_actions[0].choices.items() if a[0] == "sweep")[1]
    flags = {a.dest for a in sweep_cli._actions}
    for field in sweeps.SWEEP_FIELDS:
        assert field.name in schema and field.name in flags and field.name in sweeps.TOP_LEVEL
        assert field.name not in sweeps.SWEEPABLE
