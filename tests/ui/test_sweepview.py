"""The sweep view keeps up with the run list (issue #23, item 4): both show the record the
server pushed, so a sweep's table never says "running" for a run the list says finished."""

from __future__ import annotations

import re

import pytest
import requests

from tests.ui.conftest import assert_quiet

pytestmark = [pytest.mark.ui, pytest.mark.integration]

# When each run first reads "succeeded" in the run list and in the sweep's table (ms).
WATCH = """() => {
  window.seen = {};
  const note = (id, where) => { (window.seen[id] ||= {})[where] ??= performance.now(); };
  setInterval(() => {
    for (const li of document.querySelectorAll('#run-list .run[data-status=succeeded]')) note(li.dataset.runId, 'list');
    for (const tr of document.querySelectorAll('#sweep-table tbody tr'))
      if (tr.querySelector('.badge')?.textContent === 'succeeded') note(tr.dataset.runId, 'table');
  }, 20);
}"""


def test_the_sweep_view_keeps_up_with_the_run_list(make_stack, page):
    stack = make_stack(workers=1)
    body = {"name": "in step", "base": {"epochs": 1, "train_samples": 300}, "grid": {"lr": [0.001, 0.003]}}
    sweep = requests.post(stack.url + "/api/sweeps", json=body, timeout=10).json()
    page.goto(f"{stack.url}/#sweep={sweep['id']}")
    page.wait_for_selector("#sweep-table tbody tr")
    page.evaluate(WATCH)
    page.wait_for_function("Object.values(window.seen).filter(s => s.list && s.table).length === 2", timeout=120_000)
    seen = page.evaluate("window.seen")
    for run_id, at in seen.items():
        assert abs(at["table"] - at["list"]) < 500, f"{run_id}: table {at['table'] - at['list']:.0f} ms behind the list"
    page.wait_for_selector("#sweep-summary:text('2 succeeded')")
    best = page.locator("#sweep-summary").get_by_role("link", name=re.compile("open the best run"))
    best.wait_for()
    # Parallel coordinates with two runs: no line traces the frame (item 16).
    page.wait_for_function(
        "[...document.querySelectorAll('#sweep-parallel polyline')]"
        ".filter(p => p.getAttribute('points').includes(' ')).length === 2"
    )
    ends = page.evaluate(
        "(() => { const l = document.querySelector('.pc-axis line');"
        " return [l.getAttribute('y1'), l.getAttribute('y2')].map(Number); })()"
    )
    ys = page.evaluate(
        "[...document.querySelectorAll('#sweep-parallel polyline')]"
        ".flatMap(p => p.getAttribute('points').split(' ').map(xy => Number(xy.split(',')[1])))"
    )
    assert len(ys) >= 4 and not any(abs(y - end) < 3 for y in ys for end in ends), (ys, ends)
    best.click()  # one click from the sweep to its best run
    page.wait_for_selector("#run-detail:not([hidden])")
    best_id = requests.get(f"{stack.url}/api/sweeps/{sweep['id']}", timeout=10).json()["best_run_id"]
    assert page.url.endswith(f"#run={best_id}")
    assert_quiet(page)
