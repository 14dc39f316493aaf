"""The page on a 390×844 phone and with long names (issue #23, items 13 and 17): no
sideways scroll, whole badges, a tapped run scrolled into view, actions kept in line."""

from __future__ import annotations

import pytest
import requests

from tests.ui.conftest import assert_quiet, finished_run, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]

LONG = "a rather long run name that says everything about the learning rate and the batch size tried"
#: Elements that reach past the right edge of the screen, unless a card scrolls them in
#: place (the first few, for the message).
OVER = """[...document.querySelectorAll('body *')].filter(e => {
  if (!e.getClientRects().length || e.closest('dialog:not([open])')) return false;
  if (e.getBoundingClientRect().right <= document.documentElement.clientWidth + 1) return false;
  for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== 'visible') return false;
  return true;
}).slice(0, 5).map(e => `${e.tagName}#${e.id}.${e.getAttribute('class')} ${Math.round(e.getBoundingClientRect().right)}`)"""
CUT = "[...document.querySelectorAll('.badge')].filter(b => b.offsetParent && b.scrollWidth > b.clientWidth + 1).length"
WIDTH = "document.documentElement.scrollWidth"


def test_the_page_fits_a_phone_and_a_tapped_run_comes_into_view(make_stack, phone):
    stack = make_stack(workers=1)
    done = finished_run(stack, "finished")
    stack.workers[0].stop()
    sweep = {"name": "phone sweep", "base": {"epochs": 1}, "grid": {"lr": [0.001, 0.01], "batch_size": [32, 64]}}
    sweep_id = requests.post(stack.url + "/api/sweeps", json=sweep, timeout=10).json()["id"]
    cancelled = stack.submit(name="cancelled one", epochs=1)
    requests.post(f"{stack.url}/api/runs/{cancelled['id']}/cancel", json={}, timeout=10)
    for i in range(3):
        stack.submit(name=f"{LONG} #{i}", epochs=1)
    phone.goto(stack.url)
    phone.wait_for_selector("#run-list .run[data-status=cancelled]")
    shoot(phone, "page-phone.png", full_page=False)
    assert phone.evaluate(OVER) == [] and phone.evaluate(WIDTH) <= 390, "no sideways scroll"
    assert phone.evaluate(CUT) == 0, "every badge whole"
    form = phone.locator("#run-form")
    form.get_by_label("Learning rate").fill("")
    form.get_by_role("button", name="Start run").tap()
    phone.wait_for_selector("#run-form .field-error:text('Learning rate is required')")
    shoot(phone, "form-errors-phone.png", full_page=False)
    assert phone.evaluate(OVER) == [] and phone.evaluate(WIDTH) <= 390
    item = phone.get_by_role("list", name="Runs").get_by_text("cancelled one", exact=True)
    item.scroll_into_view_if_needed()
    item.tap()
    phone.wait_for_selector("#run-title:text('cancelled one')")
    phone.wait_for_function(
        "(() => { const r = document.querySelector('#run-title').getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= innerHeight; })()"
    )
    shoot(phone, "run-phone.png", full_page=False)
    assert phone.evaluate(WIDTH) <= 390 and phone.evaluate(CUT) == 0
    assert "1 epoch ·" in phone.inner_text("#run-spec"), "one epoch, not '1 epochs'"
    # A finished run's whole view (charts, samples, confusion matrix, what is inside) fits too.
    phone.goto(f"{stack.url}/#run={done['id']}")
    phone.wait_for_selector("#confusion table")
    phone.wait_for_timeout(500)
    shoot(phone, "run-phone-full.png")
    assert phone.evaluate(OVER) == [] and phone.evaluate(WIDTH) <= 390
    phone.get_by_role("tab", name="Inside the model").tap()
    phone.wait_for_selector("#model-summary table")
    phone.wait_for_function("document.querySelectorAll('#layers canvas.strip').length > 0")
    shoot(phone, "inside-phone-full.png")
    assert phone.evaluate(OVER) == [] and phone.evaluate(WIDTH) <= 390
    phone.goto(f"{stack.url}/#sweep={sweep_id}")
    phone.wait_for_selector("#sweep-table tbody tr")
    phone.wait_for_timeout(500)
    shoot(phone, "sweep-phone-full.png")
    assert phone.evaluate(OVER) == [] and phone.evaluate(WIDTH) <= 390 and phone.evaluate(CUT) == 0
    assert_quiet(phone)


def test_long_names_keep_the_actions_in_line(make_stack, page):
    stack = make_stack(workers=0)
    run = stack.submit(name=LONG, epochs=1)
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_selector("#run-status:text('queued')")
    page.locator("#cancel-run").wait_for()  # laid out (under load it may come a frame later)
    badge = page.locator("#run-status").bounding_box()
    cancel = page.locator("#cancel-run").bounding_box()
    title = page.locator("#run-title").bounding_box()
    assert title["y"] <= cancel["y"] < title["y"] + title["height"], "Cancel on the title's line, not below it"
    assert abs((cancel["y"] + cancel["height"] / 2) - (badge["y"] + badge["height"] / 2)) < 12, "Cancel beside the title"
    item = page.locator(f".run[data-run-id='{run['id']}']")
    item.get_by_role("button", name=f"Cancel {LONG}").wait_for()
    name = item.locator(".run-name").bounding_box()
    button = item.get_by_role("button", name=f"Cancel {LONG}").bounding_box()
    assert abs(name["y"] - button["y"]) < 12, "the list's Cancel on the name's line"
    assert page.evaluate(CUT) == 0
    shoot(page, "long-name-desktop.png", full_page=False)
    assert_quiet(page)
