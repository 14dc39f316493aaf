"""The sweeps API: one submission, many runs (see shared.sweeps for the body)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from shared import lifecycle, search_space, sweeps
from shared import spec as specs
from shared.redaction import public_sweep
from shared.run_record import new_record
from shared.spec import SpecError
from shared.sweep_store import SweepStore, is_search, new_sweep, summarize
from shared.sweeps import expand
from web import submission
from web.api_schema import ERRORS, SWEEP_ID_PARAM, error_response, json_response
from web.conductor import LOCK_SECONDS, SearchLock
from web.errors import ApiError, json_body
from web.services import services

sweeps_api = Blueprint("sweeps", __name__)


def _sweeps() -> SweepStore:
    return services().sweeps


@sweeps_api.post("/api/sweeps")
def create_sweep() -> tuple[Response, int]:
    """Body ``{name, base, grid | random+count+seed, priority, notify_url, early_stop_epoch}``
    → ``201 {sweep with counts, "runs": [records]}``; all runs queued together or none.
    A search (``method`` + ``space``, shared.search_space) is created with no runs: the
    conductor (web.conductor) proposes them a few at a time."""
    try:
        description, specs = expand(json_body())
    except SpecError as exc:
        raise ApiError(400, "invalid sweep", exc.fields) from None
    records = [new_record(spec) for spec in specs]
    sweep = new_sweep(description, [r["id"] for r in records])
    for record in records:
        record["sweep_id"] = sweep["id"]
    store = _sweeps()
    if is_search(sweep):
        submission.check_notice_targets([{"spec": sweep}], services().settings)
    else:
        submission.submit(records)
    store.create(sweep)
    return jsonify(public_sweep({**summarize(sweep, records), "runs": records})), 201


@sweeps_api.get("/api/sweeps")
def list_sweeps() -> Response:
    """``{"sweeps": [...]}``: the 100 newest, each with counts by status and its best run."""
    store = _sweeps()
    return jsonify({"sweeps": [public_sweep(summarize(s, store.run_records(s))) for s in store.recent()]})


def _get(sweep_id: str) -> dict[str, Any]:
    sweep = _sweeps().get(sweep_id)
    if sweep is None:
        raise ApiError(404, f"no sweep with id {sweep_id!r}")
    return sweep


@sweeps_api.get("/api/sweeps/<sweep_id>")
def get_sweep(sweep_id: str) -> Response:
    """The sweep, its runs, counts by status, and the best run so far."""
    sweep = _get(sweep_id)
    runs = _sweeps().run_records(sweep)
    return jsonify(public_sweep({**summarize(sweep, runs), "runs": runs}))


@sweeps_api.post("/api/sweeps/<sweep_id>/cancel")
def cancel_sweep(sweep_id: str) -> tuple[Response, int]:
    """Cancel every waiting and running run of the sweep → ``202`` with the sweep."""
    sweep = _get(sweep_id)
    if is_search(sweep) and not sweep.get("done"):
        # Waits out a holder that died (its lock expires after LOCK_SECONDS).
        with SearchLock(services().redis, sweep_id, wait=LOCK_SECONDS + 2, sleep=services().socketio.sleep) as held:
            if not held:
                raise ApiError(503, "the search is busy; try again in a moment")
            sweep = _get(sweep_id)  # as it is now, under the lock
            sweep["cancelled"] = True  # the conductor proposes nothing more, then marks it done
            _sweeps().save(sweep)
    runs = [submission.cancel(r) if not lifecycle.is_terminal(r["status"]) else r for r in _sweeps().run_records(sweep)]
    return jsonify(public_sweep({**summarize(sweep, runs), "runs": runs, "cancel_requested": True})), 202


def sweep_schema() -> dict[str, Any]:
    """A sweep body (shared.sweeps): swept values use the run spec's own field schemas.
    Bounds a schema cannot state (at most 200 runs in all) are checked by the server."""
    fields = specs.json_schema()["properties"]
    values = {
        name: {"type": "array", "minItems": 1, "maxItems": sweeps.MAX_VALUES, "items": fields[name]}
        for name in sweeps.SWEEPABLE
    }
    base = {name: schema for name, schema in fields.items() if name in sweeps.SWEEPABLE}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{f.name: specs.field_schema(f) for f in sweeps.SWEEP_FIELDS},
            "base": {"type": "object", "additionalProperties": False, "properties": base},
            "grid": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": values},
            "random": {"type": "object", "minProperties": 1},
            "count": {"type": "integer", "minimum": 1, "maximum": sweeps.MAX_SWEEP_RUNS},
            "seed": {"type": "integer"},
            # A search (shared.search_space): method + space, proposed as results come back.
            **{f.name: specs.field_schema(f) for f in search_space.SEARCH_FIELDS if f.name != "seed"},
            "space": {
                "type": "object",
                "minProperties": 1,
                "description": "per field: [choices] or {min, max[, log | step]}",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "array", "minItems": 1, "maxItems": search_space.MAX_CHOICES},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["min", "max"],
                            "properties": {
                                "min": {"type": "number"},
                                "max": {"type": "number"},
                                "log": {"type": "boolean"},
                                "step": {"type": "number", "exclusiveMinimum": 0},
                            },
                        },
                    ]
                },
            },
            "pruner": {
                "type": "object",
                "additionalProperties": False,
                "properties": {f.name: specs.field_schema(f) for f in search_space.PRUNER_FIELDS},
            },
        },
    }


def openapi_paths() -> dict[str, Any]:
    """This blueprint's endpoints in the OpenAPI document (web.openapi)."""
    return {
        "/api/sweeps": {
            "get": {
                "summary": "The 100 newest sweeps with counts by status and their best run",
                "responses": {"200": json_response({"type": "object"}, "sweeps")},
            },
            "post": {
                "summary": "Start a sweep: a grid or random list (its runs queued together), or a search "
                "(method + space: grid, random, tpe or pbt, its runs proposed as results come back)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": sweep_schema()}}},
                "responses": {
                    "201": json_response({"type": "object"}, "the sweep and its runs"),
                    "400": ERRORS["400"],
                    "413": error_response("body too large"),
                    "429": error_response("queue full or too many submissions"),
                },
            },
        },
        "/api/sweeps/{sweep_id}": {
            "get": {
                "summary": "A sweep, its runs, counts by status and the best run so far",
                "parameters": [SWEEP_ID_PARAM],
                "responses": {"200": json_response({"type": "object"}, "the sweep"), "404": ERRORS["404"]},
            }
        },
        "/api/sweeps/{sweep_id}/cancel": {
            "post": {
                "summary": "Cancel every waiting and running run of a sweep",
                "parameters": [SWEEP_ID_PARAM],
                "responses": {"202": json_response({"type": "object"}, "cancel requested"), "404": ERRORS["404"]},
            }
        },
    }
