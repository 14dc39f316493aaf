"""The event log against a real Redis: order, durability, outage, replay sources."""
import json

import redis

from shared import keys
from shared.eventlog import EventWriter, last_seq, read_events

RUN = "a" * 32
PROGRESS = {"epoch": 1, "steps_per_epoch": 10_000, "losses": [0.5], "images_per_sec": 1.0}


def test_events_get_contiguous_seqs_and_land_in_stream_channel_and_file(r, tmp_path):
    pubsub = r.pubsub()
    pubsub.subscribe(keys.run_channel(RUN))
    pubsub.get_message(timeout=1)
    w = EventWriter(r, str(tmp_path), RUN)
    for i in range(5):
        w.append("progress", **PROGRESS, step=i)
    assert [e["seq"] for e in read_events(r, str(tmp_path), RUN)] == [1, 2, 3, 4, 5]
    published = [json.loads(pubsub.get_message(timeout=1)["data"]) for _ in range(5)]
    assert [e["seq"] for e in published] == [1, 2, 3, 4, 5]
    lines = (tmp_path / RUN / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert read_events(r, str(tmp_path), RUN, after=3) == [json.loads(x) for x in lines[3:]]


def test_a_new_writer_continues_the_sequence(r, tmp_path):
    EventWriter(r, str(tmp_path), RUN).append("status", status="queued", message="")
    w = EventWriter(r, str(tmp_path), RUN)
    assert w.append("status", status="running", message="")["seq"] == 2


def test_history_survives_a_redis_flush_and_a_trimmed_stream(r, tmp_path):
    w = EventWriter(r, str(tmp_path), RUN, stream_maxlen=100)
    for i in range(1000):
        w.append("progress", **PROGRESS, step=i)
    assert r.xlen(keys.run_stream(RUN)) < 1000, "the stream is capped"
    assert [e["seq"] for e in read_events(r, str(tmp_path), RUN)] == list(range(1, 1001))
    r.flushdb()
    assert [e["seq"] for e in read_events(r, str(tmp_path), RUN, after=990)] == list(range(991, 1001))
    assert last_seq(r, str(tmp_path), RUN) == 1000


def test_events_written_while_redis_is_down_are_sent_later_in_order(r, tmp_path):
    w = EventWriter(r, str(tmp_path), RUN)
    w.append("status", status="running", message="")
    w.r = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # "down"
    w.append("progress", **PROGRESS, step=1)
    w.append("progress", **PROGRESS, step=2)
    assert len(w.pending) == 2
    # Readers, cut off from Redis as well, still see everything, from the file.
    assert [e["seq"] for e in read_events(w.r, str(tmp_path), RUN)] == [1, 2, 3]
    w.r = r  # "back"
    assert w.close(timeout=5)
    ids = [i for i, _ in r.xrange(keys.run_stream(RUN))]
    assert ids == [b"1-0", b"2-0", b"3-0"]


def test_reading_with_redis_unreachable_uses_the_file(tmp_path, r):
    EventWriter(r, str(tmp_path), RUN).append("status", status="queued", message="")
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert [e["seq"] for e in read_events(down, str(tmp_path), RUN)] == [1]


def test_an_event_missing_a_required_field_is_refused_and_takes_no_seq(r, tmp_path):
    import pytest

    w = EventWriter(r, str(tmp_path), RUN)
    with pytest.raises(ValueError, match="needs losses"):
        w.append("progress", epoch=1, step=1, steps_per_epoch=1, images_per_sec=1.0)
    with pytest.raises(ValueError):
        w.append("no-such-type")
    assert w.append("status", status="queued", message="")["seq"] == 1


def test_a_diverged_runs_nan_losses_are_logged_as_null(r, tmp_path):
    from shared.series import SeriesWriter, read_series

    folder = tmp_path / "series"
    w = EventWriter(r, str(tmp_path), RUN, observer=SeriesWriter(folder))
    w.append("progress", **{**PROGRESS, "losses": [0.5, float("nan"), float("inf")]}, step=3)
    w.append("epoch", epoch=1, train_loss=float("nan"), test_loss=2.3, test_accuracy=0.1, seconds=1.0)
    stored = [json.loads(line) for line in (tmp_path / RUN / "events.jsonl").read_text().splitlines()]
    assert stored[0]["losses"] == [0.5, None, None] and stored[1]["train_loss"] is None
    assert read_series(folder, "batch_loss")["mean"] == [0.5, None, None]
    assert read_series(folder, "test_loss")["mean"] == [2.3]
