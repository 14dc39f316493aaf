"""The page's strict forms check against the spec's own table (issue #23, items 7-8): the
bounds rendered into the page are shared.spec's and shared.sweeps', never spelled twice."""

from __future__ import annotations

import json
import re

from shared import spec, sweeps
from shared.settings import Settings
from web.app import create_app


def test_the_page_carries_the_specs_bounds(tmp_path, monkeypatch):
    # In-process app: threading, or Flask-SocketIO picks eventlet and the test process's
    # later socket tests end up waiting in eventlet's hub.
    page = (
        create_app(Settings(async_mode="threading", results_dir=str(tmp_path))).test_client().get("/").get_data(as_text=True)
    )
    rendered = re.search(r'<script type="application/json" id="form-rules">(.*?)</script>', page)
    assert rendered
    rules = json.loads(rendered.group(1))
    by_name = {f["name"]: f for f in rules["fields"]}
    assert list(by_name) == [f.name for f in spec.FIELDS]
    lr = by_name["lr"]
    assert (lr["kind"], lr["low"], lr["high"], lr["exclusive_low"], lr["nullable"]) == ("number", 0, 10, True, False)
    assert by_name["train_samples"]["nullable"] and by_name["train_samples"]["placeholder"] == "all 60,000"
    assert [f["name"] for f in rules["sweep_fields"]] == [f.name for f in sweeps.SWEEP_FIELDS]
    assert (rules["max_sweep_runs"], rules["max_values"]) == (sweeps.MAX_SWEEP_RUNS, sweeps.MAX_VALUES)
