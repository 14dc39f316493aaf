"""The page and its front-end libraries (served from npm's node_modules, never copied)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, send_from_directory

from shared import lifecycle, metrics, search_space, spec, sweeps
from shared.events import EventType
from web.history import series

pages = Blueprint("pages", __name__, static_folder="static", static_url_path="/static")

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"

#: The only files of node_modules the page may load, by the name it loads them under.
VENDOR_FILES = {
    "socket.io.esm.min.js": "socket.io-client/dist/socket.io.esm.min.js",
    "uPlot.esm.js": "uplot/dist/uPlot.esm.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}


def _field_table(fields: tuple[spec.Field, ...]) -> list[dict[str, Any]]:
    """What the page's strict forms check each input against (shared.spec's own bounds)."""
    keys = ("name", "kind", "low", "high", "exclusive_low", "nullable", "choices", "placeholder")
    return [{k: getattr(f, k) for k in keys} for f in fields]


@pages.get("/")
def index() -> str:
    return render_template(
        "index.html",
        fields=spec.FIELDS,
        name_max=spec.NAME_MAX,
        sweepable=sweeps.SWEEPABLE,
        sweep_fields=sweeps.SWEEP_FIELDS,
        search_fields=search_space.SEARCH_FIELDS,
        pruner_fields=search_space.PRUNER_FIELDS,
        priorities=spec.BY_NAME["priority"].choices,
        epoch_metrics=metrics.page_table(),
        measures={**metrics.page_measures(), "train_images": spec.MNIST_TRAIN_SIZE},
        vocabulary={
            "events": {t.name: t.value for t in EventType},
            "series": {name.upper(): name for name in series.NAMES},
        },
        form_rules={
            "fields": _field_table(spec.FIELDS),
            "sweep_fields": _field_table(sweeps.SWEEP_FIELDS),
            "search_fields": _field_table(search_space.SEARCH_FIELDS),
            "pruner_fields": _field_table(search_space.PRUNER_FIELDS),
            "max_choices": search_space.MAX_CHOICES,
            "max_sweep_runs": sweeps.MAX_SWEEP_RUNS,
            "max_values": sweeps.MAX_VALUES,
        },
        lifecycle={
            "statuses": list(lifecycle.ALL),
            "by_name": {s.name: s.value for s in lifecycle.Status},
            "waiting": sorted(s.value for s in lifecycle.WAITING),
            "active": sorted(s.value for s in lifecycle.ACTIVE),
        },
    )


@pages.get("/api/docs")
def api_docs() -> str:
    """A browsable view of /api/openapi.json (rendered by static/js/apidocs.js)."""
    return render_template("api_docs.html")


@pages.get("/vendor/<name>")
def vendor(name: str) -> Response:
    relative = VENDOR_FILES.get(name)
    if relative is None or not (NODE_MODULES / relative).is_file():
        abort(404)
    path = NODE_MODULES / relative
    return send_from_directory(path.parent, path.name, max_age=3600)
