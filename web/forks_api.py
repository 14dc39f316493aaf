"""Fork and continue: a new run that starts from one epoch of another (worker.forks
says what carries over). ``POST /api/runs/<id>/fork {"from_epoch": k, ...overrides}``;
"continue" is a fork from the last epoch with more ``epochs``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify

from shared import layout
from shared.artifacts import ArtifactError, epoch_states
from shared.redaction import public_run
from shared.run_record import RunRecord, new_record
from shared.spec import NAME_MAX, SpecError, json_schema, validate_spec
from web import submission
from web.api_schema import ERRORS, RUN, RUN_ID_PARAM, error_response, json_response
from web.errors import ApiError, json_body
from web.services import services

forks_api = Blueprint("forks", __name__)


def _from_epoch(body: dict[str, Any], parent: RunRecord) -> int:
    done = int(parent.get("epoch") or 0)
    if done < 1:
        raise ApiError(
            400, "this run has no finished epoch to fork from yet", {"from_epoch": "the run has not finished an epoch"}
        )
    k = body.get("from_epoch", done)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= done:
        raise ApiError(
            400,
            f"from_epoch must be an epoch the run has finished (1 to {done})",
            {"from_epoch": f"an integer from 1 to {done}"},
        )
    return k


def fork_name(parent_name: str, epoch: int) -> str:
    suffix = f" ↳ fork@{epoch}"
    return parent_name[: NAME_MAX - len(suffix)] + suffix


def child_spec(parent: Mapping[str, Any], overrides: dict[str, Any], epoch: int) -> dict[str, Any]:
    """The parent's spec with ``overrides`` applied, validated as any submitted spec."""
    raw = {**parent["spec"], "name": fork_name(parent["name"], epoch), **overrides}
    try:
        spec = validate_spec(raw)
    except SpecError as exc:
        raise ApiError(400, "invalid overrides for the fork", exc.fields) from None
    if spec["epochs"] <= epoch:
        raise ApiError(
            400,
            f"epochs must be more than from_epoch ({epoch}): the fork trains epochs {epoch + 1} to {spec['epochs']}",
            {"epochs": f"must be more than {epoch}"},
        )
    return spec


@forks_api.post("/api/runs/<run_id>/fork")
def fork_run(run_id: str) -> tuple[Response, int]:
    """201 with the new run, queued; 400 (nothing created) for an epoch the run has not
    finished or whose state was pruned, or overrides that are not a valid spec."""
    wired = services()
    parent = wired.runs.get(run_id) if layout.is_run_id(run_id) else None
    if parent is None:
        raise ApiError(404, f"no run with id {run_id!r}")
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", {"_": "a JSON object"})
    epoch = _from_epoch(body, parent)
    spec = child_spec(parent, {k: v for k, v in body.items() if k != "from_epoch"}, epoch)
    try:
        kept = epoch_states(wired.artifacts, run_id)
    except ArtifactError as exc:
        raise ApiError(503, f"the artifact store is unavailable: {exc}") from None
    if epoch not in kept:
        have = f"epochs {kept[0]} to {kept[-1]}" if kept else "none"
        raise ApiError(
            400,
            f"epoch {epoch}'s state is no longer kept (pruned by KEEP_CHECKPOINTS / CHECKPOINT_BUDGET_MB; kept: {have})",
            {"from_epoch": f"no stored state for epoch {epoch}"},
        )
    record = new_record(spec)
    record["parent_run_id"], record["forked_from_epoch"], record["epoch"] = run_id, epoch, epoch
    submission.submit([record])
    wired.runs.add_child(run_id, record["id"])
    return jsonify({**public_run(record), "queue_position": wired.runs.queue_position(record["id"])}), 201


def openapi_paths() -> dict[str, Any]:
    """This blueprint's endpoints in the OpenAPI document (web.openapi)."""
    return {
        "/api/runs/{run_id}/fork": {
            "post": {
                "summary": "A new run from one epoch's state of this one, with spec overrides (continue: "
                "from the last epoch, more epochs)",
                "parameters": [RUN_ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                **json_schema(),
                                "properties": {
                                    "from_epoch": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "description": "default: the last finished epoch",
                                    },
                                    **json_schema()["properties"],
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": json_response(RUN, "the fork, queued"),
                    **ERRORS,
                    "429": error_response("queue full or too many submissions"),
                },
            }
        },
    }
