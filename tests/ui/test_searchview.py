"""A search from the page, as a person makes one: the sweep form with a method and ranges,
the search's card (best so far, importance, marks in the table, PBT's lineage), and the
best settings started as a new run in one click; on a desktop and a 390 px phone."""

from __future__ import annotations

import re

import pytest
import requests

from tests.ui.conftest import assert_quiet, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]
#: One stack with two workers for both searches (tests/conftest.py's SharedStack).
SHARED_STACK = {"workers": 2}


def _fill(pg, label: str, text: str) -> None:
    pg.locator("#sweep-form").get_by_label(label).fill(text)


def test_a_tpe_search_from_the_form_shows_its_search_and_starts_the_best_settings(stack, page):
    sweeps_before = requests.get(stack.url + "/api/sweeps", timeout=10).json()["sweeps"]
    page.goto(stack.url)
    page.get_by_text("New sweep").click()
    form = page.locator("#sweep-form")
    # A range where a grid takes values is named before anything is sent.
    _fill(page, "Learning rate", "1e-4..0.5 log")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector("#sweep-form .field-error:text('a grid takes values')")
    # The server's own words for what only it checks (pbt: a generation shorter than the run).
    form.get_by_label("Search method").select_option("pbt")
    _fill(page, "Epochs", "2")
    _fill(page, "Interval", "5")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector("#sweep-form .field-error:text('for any exploit step to happen')")
    page.console_problems.clear()  # the browser logs the refused request (400): expected here
    assert form.get_by_label("Parallelism").is_hidden()  # pbt queues a generation together
    _fill(page, "Interval", "1")
    form.get_by_label("Search method").select_option("tpe")
    assert form.get_by_label("Early stop at epoch").is_hidden()  # the grid's rule, not a search's
    _fill(page, "Sweep name", "ui tpe")
    _fill(page, "Learning rate", "1e-4..0.5 log")
    _fill(page, "Optimizer", "adam,sgd")
    _fill(page, "Epochs", "2")
    _fill(page, "Train samples", "200")
    _fill(page, "Trials", "5")
    _fill(page, "Parallelism", "2")
    form.get_by_label("Early stopping").select_option("median")  # after 2 finished: some may stop
    page.wait_for_selector("#sweep-count:text('5 trials, proposed as results come back')")
    # A bad range is named next to its field before anything is sent.
    _fill(page, "Batch size", "256..32")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector("#sweep-error:text('Batch size')")
    assert "empty range" in form.locator(".field-error").first.inner_text()
    assert requests.get(stack.url + "/api/sweeps", timeout=10).json()["sweeps"] == sweeps_before, "nothing created"
    _fill(page, "Batch size", "32..128 step 32")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector("#sweep-search:not([hidden])")
    page.wait_for_selector("#search-summary:text('tpe · ')")
    page.wait_for_selector("#sweep-summary:text('finished')", timeout=240_000)
    sweep = requests.get(stack.url + "/api/sweeps", timeout=10).json()["sweeps"][0]
    assert sweep["method"] == "tpe" and sweep["pruner"]["type"] == "median"
    assert sweep["space"]["batch_size"] == {"min": 32, "max": 128, "log": False, "step": 32}
    page.wait_for_selector("#search-best-note:text('after 5 ended trials')")
    assert page.locator("#search-best canvas").count() == 1
    finished = [
        r
        for r in requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json()["runs"]
        if not r.get("stopped_early")
    ]
    if len(finished) >= 4:  # 2+ fields searched and 4+ trials finished: what mattered
        page.wait_for_selector("#search-importance .bar-row")
        assert set(page.locator("#search-importance .bar-label").all_inner_texts()) == {"lr", "batch_size", "optimizer"}
    else:
        assert "once four trials have run to their last epoch" in page.locator("#search-importance").inner_text()
    page.get_by_label("against").select_option("gpu")
    page.wait_for_function("window.trainboard.sweepView.search.plot.axes[0].label.startsWith('GPU time')")
    stopped = [
        r for r in requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json()["runs"] if r.get("stopped_early")
    ]
    for run in stopped:
        row = page.locator(f"#sweep-table tr[data-run-id='{run['id']}']")
        assert f"stopped at epoch {run['stopped_at_epoch']}" in row.inner_text()
    shoot(page, "search-desktop.png")
    page.get_by_role("button", name=re.compile("Start a run with the best settings")).click()
    page.wait_for_selector("#run-detail:not([hidden])")
    page.wait_for_selector("#run-title:text('best of ui tpe')")
    started = requests.get(stack.url + "/api/runs?q=best of", timeout=10).json()["runs"]
    best = requests.get(f"{stack.url}/api/runs/{sweep['best_run_id']}", timeout=10).json()
    assert len(started) == 1 and not started[0].get("sweep_id")
    assert {k: started[0]["spec"][k] for k in ("lr", "batch_size", "optimizer")} == {
        k: best["spec"][k] for k in ("lr", "batch_size", "optimizer")
    }
    page.wait_for_selector("#run-status:text('succeeded')", timeout=120_000)
    assert_quiet(page)


def test_a_pbt_search_draws_its_lineage_on_a_phone(stack, phone):
    body = {
        "name": "ui pbt",
        "method": "pbt",
        "base": {"epochs": 3, "train_samples": 200, "batch_size": 50},
        "space": {"lr": {"min": 1e-5, "max": 0.5, "log": True}},
        "population": 4,
    }
    sweep = requests.post(stack.url + "/api/sweeps", json=body, timeout=10).json()
    phone.goto(f"{stack.url}/#sweep={sweep['id']}")
    phone.wait_for_selector("#sweep-summary:text('finished')", timeout=300_000)
    phone.wait_for_selector("#search-lineage:not([hidden]) polyline.lineage-run", state="attached")
    state = requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json()
    phone.wait_for_function(
        f"document.querySelectorAll('#search-lineage polyline.lineage-run').length === {len(state['runs'])}"
    )
    exploits = [p for p in state["proposals"] if p.get("exploit")]
    dashed = phone.locator("#search-lineage polyline[stroke-dasharray='5 3']")
    assert dashed.count() == len(exploits) >= 1
    assert phone.locator("#search-importance").inner_text().startswith("Importance is not estimated for pbt")
    assert "population 4" in phone.locator("#search-summary").inner_text()
    # Nothing wider than the phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator("#sweep-search").scroll_into_view_if_needed()
    shoot(phone, "search-pbt-phone.png")
    dashed.first.dispatch_event("click")  # a branch opens its run
    phone.wait_for_selector("#run-detail:not([hidden])")
    assert_quiet(phone)
