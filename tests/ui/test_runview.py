"""The run view shows one run's numbers, derived from its record and its own events
(issue #23, items 1, 3 and 6): a fork never shows its parent's stats, a finished run's
Images/s is the whole run's, a cancelled run says so and where it stopped."""

from __future__ import annotations

import re

import pytest
import requests

from shared.metrics import MISSING
from tests.processes import wait_for
from tests.ui.conftest import assert_quiet, shoot

pytestmark = [pytest.mark.ui, pytest.mark.integration]

STATS = ("#stat-epoch", "#stat-acc", "#stat-test-loss", "#stat-rate")


def stats(page) -> dict[str, str]:
    return {s: page.inner_text(s) for s in STATS}


def test_a_fork_never_shows_its_parents_numbers(make_stack, page):
    stack = make_stack(workers=1)
    parent = stack.submit(name="parent", epochs=3, batch_size=32, train_samples=640)
    stack.wait_status(parent["id"], "succeeded", timeout=180)
    stack.workers[0].stop()  # the fork waits in the queue: it has no numbers of its own yet
    page.goto(f"{stack.url}/#run={parent['id']}")
    page.wait_for_selector("#stat-epoch:text('3')")
    page.wait_for_function(f"document.querySelector('#stat-rate').textContent !== '{MISSING}'")
    # Its epochs reach the page from the history, or from the stream while the recorder catches up.
    page.wait_for_function("document.querySelector('#stat-acc').textContent.endsWith('%')")
    theirs = stats(page)
    page.get_by_role("button", name="Fork / continue…").click()
    dialog = page.locator("#fork-dialog")
    dialog.get_by_label("From epoch").select_option("1")
    dialog.get_by_role("button", name="Start fork").click()
    page.wait_for_selector("#run-lineage:text('forked at epoch 1 from parent')")
    page.wait_for_selector("#run-status:text('queued')")
    page.wait_for_timeout(500)  # anything left over would show by now
    assert stats(page) == {"#stat-epoch": "1", "#stat-acc": MISSING, "#stat-test-loss": MISSING, "#stat-rate": MISSING}
    shoot(page, "fork-desktop.png", full_page=False)
    # Back to the parent through the lineage link: its own numbers, none of the fork's.
    page.locator("#run-lineage a").click()
    page.wait_for_selector("#run-title:text('parent')")
    page.wait_for_function(f"document.querySelector('#stat-acc').textContent === {theirs['#stat-acc']!r}")
    assert stats(page) == theirs
    assert_quiet(page)


def test_a_finished_run_shows_its_whole_run_images_per_second(stack, page):
    run = stack.submit(name="timed", epochs=2, batch_size=64, train_samples=1000)
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_selector("#run-status:text('succeeded')", timeout=180_000)
    record = stack.run(run["id"])
    expected = 2 * 1000 / (record["finished_at"] - record["started_at"])
    for _ in range(2):  # live, then after a reload: the same figure
        page.wait_for_function(f"document.querySelector('#stat-rate').textContent !== '{MISSING}'")
        shown = float(page.inner_text("#stat-rate").replace(",", ""))
        assert abs(shown - expected) <= max(1.0, 0.01 * expected), (shown, expected)
        assert page.get_attribute("#stat-rate", "title") == "average over the whole run"
        assert page.inner_text("#run-message").startswith("finished 2 epochs, best test accuracy "), "live and reloaded"
        page.reload()
        page.wait_for_selector("#run-status:text('succeeded')")
    assert_quiet(page)


def test_a_cancelled_run_says_so_and_where_it_stopped(stack, page):
    run = stack.submit(name="stopped", epochs=3, batch_size=4, train_samples=3000)
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_function("Number(document.querySelector('#loss-chart').dataset.points) > 30", timeout=120_000)
    response = requests.post(f"{stack.url}/api/runs/{run['id']}/cancel", json={}, timeout=10)
    assert response.status_code == 202
    page.wait_for_selector("#run-status:text('cancelled')", timeout=30_000)
    wait_for(lambda: stack.run(run["id"])["finished_at"], 30, "the cancel to be recorded")
    for _ in range(2):  # as it happens, then after a reload
        page.wait_for_selector("#run-message:text('Cancelled in epoch 1 of 3, at batch')")
        # It stopped where its loss curve ends.
        page.wait_for_function(
            "document.querySelector('#run-message').textContent.includes("
            "`at batch ${document.querySelector('#loss-chart').dataset.points} of 750.`)"
        )
        batches = int(page.get_attribute("#loss-chart", "data-points"))
        progress = page.inner_text("#progress-text")
        assert progress.startswith(f"{batches / 2250 * 100:.1f}%") and progress != "0.0%"
        assert page.inner_text("#stat-rate") != MISSING
        item = page.locator(f".run[data-run-id='{run['id']}']")
        assert "stopped in epoch 1/3" in item.inner_text(), "the list says where it stopped too"
        shoot(page, "cancelled-desktop.png", full_page=False)
        page.reload()
        page.wait_for_selector("#run-status:text('cancelled')")
        page.wait_for_function("Number(document.querySelector('#loss-chart').dataset.points) > 0")
    assert_quiet(page)


def seconds(text: str) -> int:
    """'ETA 45s' / 'ETA 1m 26s' / 'ETA 2h 05m', as the page writes every duration."""
    m = re.search(r"ETA (?:(\d+)h )?(?:(\d+)m )?(?:(\d+)s)?(?=\s|$|·)", text)
    assert m and any(m.groups()), f"no ETA in {text!r}"
    h, mins, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mins * 60 + s


def test_the_list_and_the_header_give_one_eta(stack, page):
    run = stack.submit(name="eta", epochs=3, batch_size=8, train_samples=3000)
    page.goto(f"{stack.url}/#run={run['id']}")
    page.wait_for_selector("#progress-text:text('ETA')", timeout=60_000)
    page.wait_for_function(
        f"document.querySelector(\".run[data-run-id='{run['id']}']\").innerText.includes('ETA')", timeout=30_000
    )
    page.wait_for_timeout(3000)  # a few seconds of window
    # Both read in one step, eight times: a busy machine may draw the list a tick after the
    # header, so one reading can straddle a redraw; what they say most of the time must agree.
    row = f".run[data-run-id='{run['id']}']"
    both = f"[document.querySelector('#progress-text').innerText, document.querySelector(\"{row}\").innerText]"
    gaps = []
    for _ in range(8):
        header_text, list_text = page.evaluate(both)
        header, listed = seconds(header_text), seconds(list_text)
        gaps.append((abs(header - listed) - max(3, 0.1 * header), header, listed))
        page.wait_for_timeout(250)
    assert sorted(gaps)[len(gaps) // 2][0] <= 0, gaps
    shoot(page, "running-desktop.png", full_page=False)
    assert requests.post(f"{stack.url}/api/runs/{run['id']}/cancel", json={}, timeout=10).status_code == 202
    assert_quiet(page)


# Moments when the list shows a run running on a worker whose chip says "idle" (or the
# chip names a run the list shows ended).
DISAGREE = """() => {
  window.disagree = [];
  setInterval(() => {
    const chip = document.querySelector('.worker')?.textContent || '';
    const run = document.querySelector('#run-list .run');
    if (!run) return;
    const name = run.querySelector('.run-name').textContent, status = run.dataset.status;
    if (status === 'running' && !chip.includes(`running ${name}`)) window.disagree.push(`${status}: ${chip}`);
    if (status === 'succeeded' && chip.includes(`running ${name}`)) window.disagree.push(`${status}: ${chip}`);
  }, 25);
}"""


def test_the_worker_chip_agrees_with_the_run_list(stack, page):
    page.goto(stack.url)
    page.wait_for_selector(".worker:text('idle')")
    page.evaluate(DISAGREE)
    run = stack.submit(name="chip", epochs=1, batch_size=32, train_samples=640)
    page.wait_for_selector(f".run[data-run-id='{run['id']}'][data-status=succeeded]", timeout=120_000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.disagree") == []
    assert_quiet(page)
