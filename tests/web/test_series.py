"""Series on the volume: points from events, downsampling on read, resumes, old logs."""

import json
import math

import numpy as np
import pytest

from shared import eventfile
from shared.eventlog import EventWriter
from web.history import series
from worker.spool import Spool

RUN = "b" * 32
STEPS = 100


class Events:
    """Makes events the way the worker writes them, with consecutive seqs."""

    def __init__(self):
        self.seq = 0

    def __call__(self, type_, **fields):
        self.seq += 1
        return {"run_id": RUN, "seq": self.seq, "ts": 0.0, "type": type_, **fields}

    def epoch_progress(self, epoch, losses_for, chunk=10):
        for step in range(chunk, STEPS + 1, chunk):
            losses = [losses_for((epoch - 1) * STEPS + s) for s in range(step - chunk + 1, step + 1)]
            yield self(
                "progress",
                epoch=epoch,
                step=step,
                steps_per_epoch=STEPS,
                losses=losses,
                lr=0.01 * epoch,
                images_per_sec=1000.0,
            )


def write(folder, events):
    w = series.SeriesWriter(folder)
    for e in events:
        w.observe(e)
    w.flush()
    return w


def test_total_is_exact_and_a_spike_survives_downsampling(tmp_path):
    ev = Events()
    spike_at = 1234
    loss = lambda x: 100.0 if x == spike_at else 1.0 / x  # noqa: E731
    events = [e for epoch in range(1, 31) for e in ev.epoch_progress(epoch, loss)]
    write(tmp_path / "s", events)
    out = series.read_series(tmp_path / "s", "batch_loss", points=100)
    assert out["total"] == 3000 and len(out["x"]) == 100
    assert max(out["max"]) == 100.0, "a one-batch spike stays visible in the max band"
    assert out["min"][-1] == pytest.approx(1 / 3000, rel=1e-5)
    assert out["last_seq"] == ev.seq
    bucket = out["x"].index(max(x for x in out["x"] if x <= spike_at))
    assert out["mean"][bucket] < out["max"][bucket]


def test_zooming_in_gives_raw_values(tmp_path):
    ev = Events()
    events = [e for epoch in (1, 2) for e in ev.epoch_progress(epoch, lambda x: float(x))]
    write(tmp_path / "s", events)
    out = series.read_series(tmp_path / "s", "batch_loss", start=150, end=160, points=1000)
    assert out["x"] == list(range(150, 161))
    assert out["min"] == out["max"] == out["mean"] == [float(x) for x in range(150, 161)]
    lr = series.read_series(tmp_path / "s", "lr")
    assert lr["x"] == list(range(10, 201, 10)) and lr["mean"][-1] == pytest.approx(0.02)


def test_a_resumed_run_has_no_points_from_its_abandoned_partial_epoch(tmp_path):
    ev = Events()
    events = list(ev.epoch_progress(1, lambda x: 1.0))
    events.append(ev("epoch", epoch=1, train_loss=1.0, test_loss=1.1, test_accuracy=0.5))
    events += list(ev.epoch_progress(2, lambda x: 9.0))[:4]  # crashed after 40 batches
    events.append(ev("status", status="running", resumed_from_epoch=1))
    events += list(ev.epoch_progress(2, lambda x: 2.0))
    events.append(ev("epoch", epoch=2, train_loss=2.0, test_loss=2.1, test_accuracy=0.6))
    write(tmp_path / "s", events)
    out = series.read_series(tmp_path / "s", "batch_loss", points=10_000)
    assert out["total"] == 200 and out["x"] == list(range(1, 201))
    assert 9.0 not in out["max"], "nothing of the abandoned attempt is left"
    acc = series.read_series(tmp_path / "s", "test_accuracy")
    assert acc["x"] == [1, 2] and acc["mean"] == pytest.approx([0.5, 0.6])
    assert [e["epoch"] for e in series.read_epochs(tmp_path / "s")["epochs"]] == [1, 2]


def test_a_new_writer_drops_a_dead_writers_unflushed_tail_and_continues(tmp_path):
    ev = Events()
    folder = tmp_path / "s"
    write(folder, list(ev.epoch_progress(1, lambda x: 1.0)))
    with open(folder / "batch_loss.y", "ab") as f:  # written, never counted in meta.json
        f.write(np.ones(7, dtype="<f4").tobytes())
    w = write(folder, list(ev.epoch_progress(2, lambda x: 2.0)))
    out = series.read_series(folder, "batch_loss", points=10_000)
    assert out["total"] == 200 and out["x"] == list(range(1, 201)) and w.last_seq == ev.seq


def test_meta_never_names_points_that_are_not_written(tmp_path):
    ev = Events()
    w = series.SeriesWriter(tmp_path / "s", flush_interval=3600)
    for e in ev.epoch_progress(1, lambda x: 1.0):
        w.observe(e)
    assert series.read_series(tmp_path / "s", "batch_loss")["total"] == 0, "not flushed yet"
    w.flush()
    assert series.read_series(tmp_path / "s", "batch_loss")["total"] == 100


def test_series_are_built_from_an_old_event_log(tmp_path, r):
    writer = EventWriter(r, str(tmp_path), RUN, spool=Spool(tmp_path, RUN))  # its spool is a log as old versions wrote it
    ev = Events()
    for e in ev.epoch_progress(1, lambda x: 1.0 / x):
        writer.append("progress", **{k: v for k, v in e.items() if k not in ("run_id", "seq", "ts", "type")})
    writer.append("epoch", epoch=1, train_loss=0.1, test_loss=0.2, test_accuracy=0.97, seconds=1.0)
    log_path = Spool(tmp_path, RUN).log_path  # an events.jsonl with no series beside it
    folder = series.series_dir(str(tmp_path), RUN)
    series.build_from_events(folder, eventfile.iter_events(log_path))
    out = series.read_series(folder, "batch_loss", points=10_000)
    assert out["total"] == 100 and out["last_seq"] == writer.seq
    assert out["mean"][0] == pytest.approx(1.0) and out["mean"][-1] == pytest.approx(0.01)
    assert series.read_series(folder, "test_accuracy")["mean"] == pytest.approx([0.97])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".series")]


def test_a_diverged_loss_reads_as_null(tmp_path):
    ev = Events()
    write(tmp_path / "s", [ev("progress", epoch=1, step=2, steps_per_epoch=2, losses=[1.0, math.nan])])
    out = series.read_series(tmp_path / "s", "batch_loss")
    assert out["mean"] == [1.0, None]
    json.dumps(out, allow_nan=False)
