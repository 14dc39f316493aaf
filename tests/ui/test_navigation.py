"""Views that can be found again and actions that ask first (issue #23, items 9, 10, 12):
real URLs with history, a confirmation before any cancel, fork defaults that keep the
parent's plan."""

from __future__ import annotations

import pytest
import requests

from tests.ui.conftest import assert_quiet, finished_run, open_run, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]

SWEEP = {"name": "two lrs", "base": {"epochs": 1}, "grid": {"lr": [0.001, 0.01]}}


def test_back_forward_and_edited_addresses_move_between_views(make_stack, page):
    stack = make_stack(workers=0)
    a, b = stack.submit(name="first"), stack.submit(name="second")
    sweep = requests.post(stack.url + "/api/sweeps", json=SWEEP, timeout=10).json()
    page.goto(stack.url)
    runs = page.get_by_role("list", name="Runs")
    runs.get_by_text("first", exact=True).click()
    page.wait_for_selector("#run-title:text('first')")
    runs.get_by_text("second", exact=True).click()
    page.wait_for_selector("#run-title:text('second')")
    assert page.url.endswith(f"#run={b['id']}")
    page.go_back()
    page.wait_for_selector("#run-title:text('first')")
    assert page.url.endswith(f"#run={a['id']}")
    page.go_back()  # the page as it opened: still the app, nothing selected
    page.wait_for_selector("#empty-detail:not([hidden])")
    assert page.url.rstrip("/") == stack.url
    page.go_forward()
    page.wait_for_selector("#run-title:text('first')")
    # The run view's sections are addresses too.
    page.get_by_role("tab", name="Inside the model").click()
    page.wait_for_selector("#panel-inside:not([hidden])")
    assert page.url.endswith(f"#run={a['id']}&tab=inside") and page.locator("#loss-chart").is_hidden()
    assert page.get_by_role("tab", name="Inside the model").get_attribute("aria-selected") == "true"
    page.go_back()
    page.wait_for_selector("#panel-overview:not([hidden])")
    page.goto(f"{stack.url}/#run={b['id']}&tab=files")
    page.wait_for_selector("#run-title:text('second')")
    assert page.locator("#panel-files").is_visible() and page.locator("#panel-overview").is_hidden()
    page.reload()
    page.wait_for_selector("#run-title:text('second')")
    assert page.locator("#panel-files").is_visible(), "a reload keeps the section"
    page.get_by_role("tab", name="Overview").click()
    page.wait_for_selector("#panel-overview:not([hidden])")
    # An address edited by hand opens what it names.
    page.evaluate(f"location.hash = '#sweep={sweep['id']}'")
    page.wait_for_selector("#sweep-title:text('Sweep: two lrs')")
    assert page.locator("#run-detail").is_hidden()
    page.evaluate(f"location.hash = '#run={b['id']}'")
    page.wait_for_selector("#run-title:text('second')")
    page.go_back()
    page.wait_for_selector("#sweep-title:text('Sweep: two lrs')")
    assert_quiet(page)
    # An address naming what does not exist says so (the browser logs the 404 it got).
    page.evaluate("location.hash = '#sweep=doesnotexist'")
    page.wait_for_selector("#empty-detail:text('No sweep has the id doesnotexist')")
    page.evaluate(f"location.hash = '#sweep={'0' * 32}'")
    page.wait_for_selector(f"#empty-detail:text('No sweep has the id {'0' * 32}')")
    page.evaluate(f"location.hash = '#run={'1' * 32}'")
    page.wait_for_selector(f"#empty-detail:text('No run has the id {'1' * 32}')")


def test_every_cancel_asks_first(make_stack, page):
    stack = make_stack(workers=0)
    run = stack.submit(name="precious")
    sweep = requests.post(stack.url + "/api/sweeps", json=SWEEP, timeout=10).json()
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_selector("#run-title:text('precious')")
    dialog = page.get_by_role("dialog")
    # From the list: the dialog names the run; "Keep it" keeps it.
    page.get_by_role("button", name="Cancel precious").click()
    assert "Cancel “precious”?" in dialog.inner_text()
    shoot(page, "confirm-cancel-desktop.png", full_page=False)
    dialog.get_by_role("button", name="Keep it").click()
    page.wait_for_timeout(300)
    assert stack.run(run["id"])["status"] == "queued"
    # From the header: confirmed, it is cancelled.
    page.locator("#run-detail").get_by_role("button", name="Cancel", exact=True).click()
    dialog.get_by_role("button", name="Cancel run").click()
    page.wait_for_selector("#run-status:text('cancelled')")
    assert stack.run(run["id"])["status"] == "cancelled"
    # A sweep: kept, then cancelled.
    page.goto(f"{stack.url}/#sweep={sweep['id']}")
    page.wait_for_selector("#sweep-title:text('Sweep: two lrs')")
    page.get_by_role("button", name="Cancel sweep").click()
    assert "Its 2 queued and running runs stop" in dialog.inner_text()
    dialog.get_by_role("button", name="Keep it running").click()
    page.wait_for_timeout(300)
    state = requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json()
    assert all(r["status"] == "queued" for r in state["runs"])
    page.get_by_role("button", name="Cancel sweep").click()
    dialog.get_by_role("button", name="Cancel sweep").click()
    page.wait_for_selector("#sweep-table .badge:text('cancelled')")
    assert_quiet(page)


def test_the_fork_dialog_keeps_the_parents_plan(make_stack, page):
    stack = make_stack(workers=1)
    parent = finished_run(stack, "three epochs", epochs=3)
    open_run(page, stack, parent["id"], status=None)
    page.wait_for_selector("#artifacts a:text('state-epoch-003.pt')", state="attached")
    page.get_by_role("button", name="Fork / continue…").click()
    dialog = page.get_by_role("dialog")
    epochs = dialog.get_by_label("Epochs")
    # The parent planned 3 epochs: from epoch 2 it trains the third, as the parent did.
    assert dialog.get_by_label("From epoch").input_value() == "2"
    assert epochs.input_value() == "3"
    assert page.inner_text("#fork-plan") == "Trains 1 more epoch: epoch 3."
    dialog.get_by_label("From epoch").select_option("1")
    assert epochs.input_value() == "3", "still the parent's 3 epochs, not 8"
    assert page.inner_text("#fork-plan") == "Trains 2 more epochs: epochs 2 to 3."
    # Once Epochs is set, another start keeps the number of epochs it trains.
    epochs.fill("5")
    dialog.get_by_label("From epoch").select_option("2")
    assert epochs.input_value() == "6"
    assert page.inner_text("#fork-plan") == "Trains 4 more epochs: epochs 3 to 6."
    start, close = (dialog.get_by_role("button", name=n).bounding_box() for n in ("Start fork", "Close"))
    assert abs(start["y"] - close["y"]) < 1 and abs(start["height"] - close["height"]) < 1, "buttons in line"
    shoot(page, "fork-dialog-desktop.png", full_page=False)
    epochs.fill("2")
    dialog.get_by_role("button", name="Start fork").click()
    assert "Epochs must be more than 2" in page.inner_text("#fork-form .field-error")
    assert len(requests.get(stack.url + "/api/runs", timeout=10).json()["runs"]) == 1
    assert_quiet(page)


def test_compared_runs_are_in_the_address(make_stack, page):
    stack = make_stack(workers=0)
    a, b = stack.submit(name="left"), stack.submit(name="right")
    page.goto(stack.url)
    page.get_by_label("Compare left").check()
    page.wait_for_function(f"location.hash === '#compare={a['id']}'")
    page.get_by_label("Compare right").check()
    page.wait_for_function(f"location.hash === '#compare={a['id']},{b['id']}'")
    page.get_by_role("list", name="Runs").get_by_text("right", exact=True).click()
    page.wait_for_selector("#run-title:text('right')")
    assert page.url.endswith(f"#run={b['id']}&compare={a['id']},{b['id']}"), "picking a run keeps the comparison"
    page.reload()
    page.wait_for_selector("#compare-card:not([hidden])")
    assert page.get_by_label("Compare left").is_checked() and page.get_by_label("Compare right").is_checked()
    page.wait_for_selector("#run-title:text('right')")
    page.go_back()  # before the run was picked: still both compared, no run open
    page.wait_for_selector("#empty-detail:not([hidden])")
    page.go_back()  # only "left" compared
    page.wait_for_function("!document.querySelector('[aria-label=\"Compare right\"]').checked")
    assert page.get_by_label("Compare left").is_checked()
    page.evaluate(f"location.hash = '#run={a['id']}'")  # an address without compare: none compared
    page.wait_for_selector("#compare-card[hidden]", state="attached")
    assert not page.get_by_label("Compare left").is_checked()
    assert_quiet(page)
