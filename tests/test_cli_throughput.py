"""`trainboard watch` measures throughput and ETA as the page does (one definition)."""

from __future__ import annotations

import io

from trainboard_cli.progress import ProgressLine, Throughput, format_duration


def progress(ts: float, epoch: int, step: int, rate: float) -> dict:
    position = {"epoch": epoch, "step": step, "steps_per_epoch": 100}
    return {"type": "progress", "ts": ts, **position, "losses": [0.5], "images_per_sec": rate}


def test_the_rate_is_over_the_window_not_the_last_batches():
    t = Throughput(batch_size=10)
    t.observe(0.0, 0, 5000.0)
    assert t.images_per_second() == 5000.0, "the worker's figure until the window spans 2 s"
    t.observe(10.0, 100, 9000.0)  # 100 batches in 10 s, evaluation pause included
    assert t.images_per_second() == 100.0
    assert t.eta(200) == 20.0
    t.observe(100.0, 1000, 100.0)  # the first sample left the 60 s window
    assert round(t.batches_per_second(), 3) == 10.0
    t.observe(101.0, 50, 100.0)  # resumed from a checkpoint: start again
    assert t.batches_per_second() == 10.0, "one sample: the reported 100 img/s over 10 per batch"


def test_watch_shows_the_eta_as_the_page_writes_it():
    out = io.StringIO()
    line = ProgressLine(2, out, batch_size=10)
    line.tty = True
    line.update(progress(0.0, 1, 1, 100.0))
    line.update(progress(10.0, 1, 51, 100.0))  # 5 batches/s, 149 left
    assert "50 img/s  ETA 30s" in out.getvalue()
    assert [format_duration(s) for s in (45, 86, 7500)] == ["45s", "1m 26s", "2h 05m"]
