"""The event log against a real Redis: order, spool, outage, the recorder's history."""

import json
import threading

import redis

from shared import keys
from shared.eventlog import EventWriter, last_seq
from shared.settings import Settings
from web.history.reader import read_events
from web.history.recorder import Recorder
from worker.spool import Spool

RUN = "a" * 32
PROGRESS = {"epoch": 1, "steps_per_epoch": 10_000, "losses": [0.5], "images_per_sec": 1.0}


def record_all(r, results_dir) -> Recorder:
    """The web side's recorder, run until it has recorded everything there is."""
    recorder = Recorder(r, Settings(results_dir=str(results_dir)))
    while recorder.step(block_ms=10):
        pass
    return recorder


def test_events_get_contiguous_seqs_and_land_in_stream_channel_and_spool(r, tmp_path):
    pubsub = r.pubsub()
    pubsub.subscribe(keys.run_channel(RUN))
    pubsub.get_message(timeout=1)
    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN))
    for i in range(5):
        w.append("progress", **PROGRESS, step=i)
    assert [e["seq"] for e in read_events(r, str(tmp_path / "web"), RUN)] == [1, 2, 3, 4, 5]
    published = [json.loads(pubsub.get_message(timeout=1)["data"]) for _ in range(5)]
    assert [e["seq"] for e in published] == [1, 2, 3, 4, 5]
    spooled = (tmp_path / "worker" / ".spool" / RUN / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in spooled] == [1, 2, 3, 4, 5]
    assert not (tmp_path / "worker" / RUN).exists(), "a worker writes no history files"
    assert r.sismember(keys.RECORDING, RUN)


def test_the_recorder_writes_the_history_on_the_web_side(r, tmp_path):
    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN))
    for i in range(5):
        w.append("progress", **PROGRESS, step=i)
    record_all(r, tmp_path / "web")
    lines = (tmp_path / "web" / RUN / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert read_events(r, str(tmp_path / "web"), RUN, after=3) == [json.loads(x) for x in lines[3:]]
    assert int(r.get(keys.run_recorded(RUN))) == 5


def test_a_new_writer_continues_the_sequence(r, tmp_path):
    EventWriter(r, str(tmp_path), RUN, spool=Spool(tmp_path, RUN)).append("status", status="queued", message="")
    # another box: the stream says 1
    w = EventWriter(r, str(tmp_path / "elsewhere"), RUN, spool=Spool(tmp_path / "elsewhere", RUN))
    assert w.append("status", status="running", message="")["seq"] == 2


def test_after_a_flush_a_new_box_continues_from_what_the_web_side_recorded(r, tmp_path):
    from shared.reconciler import Reconciler
    from shared.run_record import new_record
    from shared.runs import RunStore
    from shared.spec import validate_spec

    record = {**new_record(validate_spec({})), "id": RUN}
    RunStore(r, str(tmp_path / "web")).create(record)  # the web side keeps run.json
    w = EventWriter(r, str(tmp_path / "box1"), RUN, spool=Spool(tmp_path / "box1", RUN))
    for i in range(7):
        w.append("progress", **PROGRESS, step=i)
    record_all(r, tmp_path / "web")
    r.flushdb()
    # The web side's reconciler notices the flush: records and recorded seqs come back.
    web = RunStore(r, str(tmp_path / "web"))
    Reconciler(
        r, Settings(results_dir=str(tmp_path / "web")), lambda *a, **k: None, "web", lambda: (web.restore_all(), 0)
    ).run_once()
    other = EventWriter(r, str(tmp_path / "box2"), RUN, spool=Spool(tmp_path / "box2", RUN))
    assert other.append("status", status="running", message="resumed")["seq"] == 8


def test_history_survives_a_redis_flush_and_a_trimmed_stream(r, tmp_path):
    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN), stream_maxlen=100)
    recorder = Recorder(r, Settings(results_dir=str(tmp_path / "web")))
    for i in range(1000):
        w.append("progress", **PROGRESS, step=i)
        if i % 50 == 0:
            recorder.step(block_ms=1)
    while recorder.step(block_ms=10):
        pass
    assert r.xlen(keys.run_stream(RUN)) < 1000, "the stream is capped"
    web = str(tmp_path / "web")
    assert [e["seq"] for e in read_events(r, web, RUN)] == list(range(1, 1001))
    r.flushdb()
    assert [e["seq"] for e in read_events(r, web, RUN, after=990)] == list(range(991, 1001))
    assert last_seq(r, web, RUN) == 1000


def test_a_gap_the_stream_cannot_fill_is_sent_again_from_the_spool(r, tmp_path):
    """The recorder was down longer than the stream's cap: the worker's spool fills in."""
    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN), stream_maxlen=100)
    w.append("status", status="running", message="")
    recorder = record_all(r, tmp_path / "web")  # has seq 1
    for i in range(2000):
        w.append("progress", **PROGRESS, step=i)
    assert int(r.xrange(keys.run_stream(RUN), count=1)[0][0].split(b"-")[0]) > 2, "seq 2 is trimmed"
    recorder.step(block_ms=10)
    assert int(r.get(keys.run_recorded(RUN))) == 1, "the recorder waits at the gap"
    assert w.close(), "every event is in the stream"
    # The recorder goes on as the web tier's would, while the writer waits for it.
    stop = threading.Event()
    recording = threading.Thread(target=lambda: [recorder.step(block_ms=10) for _ in iter(stop.is_set, True)])
    recording.start()
    try:
        assert w.wait_recorded(30), "the writer sent the missing events again from its spool"
    finally:
        stop.set()
        recording.join()
    web = str(tmp_path / "web")
    assert [e["seq"] for e in read_events(None, web, RUN, limit=5000)] == list(range(1, 2002))
    assert r.xlen(keys.run_backfill(RUN)) == 0 and recorder.step(block_ms=10) == 0


def test_a_backfill_longer_than_one_read_is_recorded_whole_from_one_resend(r, tmp_path, monkeypatch):
    """The recorder reads a backfill in bounded slices; what it has not read yet stays
    there (it once deleted the whole stream after its first slice, so each further slice
    waited for the worker's next resend, 2 s apart)."""
    from web.history import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "READ_COUNT", 10)  # slices of 100
    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN), stream_maxlen=20)
    w.append("status", status="running", message="")
    recorder = record_all(r, tmp_path / "web")  # has seq 1
    for i in range(350):
        w.append("progress", **PROGRESS, step=i)
    spool = Spool(tmp_path / "worker", RUN)
    assert spool.resend_missing(r, w.seq) > 300
    held = r.xlen(keys.run_backfill(RUN))
    assert spool.resend_missing(r, w.seq) == 0, "what the backfill holds is not sent twice"
    recorder.step(block_ms=10)  # one slice: the recorder moves on, the rest still waits
    assert 1 < int(r.get(keys.run_recorded(RUN))) < 351
    assert spool.resend_missing(r, w.seq) == 0 and r.xlen(keys.run_backfill(RUN)) < held
    while recorder.step(block_ms=10):
        pass
    assert int(r.get(keys.run_recorded(RUN))) == 351, "one resend was enough"
    assert r.xlen(keys.run_backfill(RUN)) == 0, "each entry deleted once recorded"
    assert [e["seq"] for e in read_events(None, str(tmp_path / "web"), RUN, limit=5000)] == list(range(1, 352))


def test_events_written_while_redis_is_down_are_sent_later_in_order(r, tmp_path):
    w = EventWriter(r, str(tmp_path), RUN, spool=Spool(tmp_path, RUN))
    w.append("status", status="running", message="")
    w.r = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # "down"
    w.append("progress", **PROGRESS, step=1)
    w.append("progress", **PROGRESS, step=2)
    assert len(w.pending) == 2
    assert Spool(tmp_path, RUN).last_seq() == 3, "the spool has them meanwhile"
    w.r = r  # "back"
    assert w.close(timeout=5)
    ids = [i for i, _ in r.xrange(keys.run_stream(RUN))]
    assert ids == [b"1-0", b"2-0", b"3-0"]


def test_reading_with_redis_unreachable_uses_the_file(tmp_path, r):
    EventWriter(r, str(tmp_path), RUN).append("status", status="queued", message="")
    record_all(r, tmp_path)
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert [e["seq"] for e in read_events(down, str(tmp_path), RUN)] == [1]


def test_an_event_missing_a_required_field_is_refused_and_takes_no_seq(r, tmp_path):
    import pytest

    w = EventWriter(r, str(tmp_path), RUN, spool=Spool(tmp_path, RUN))
    with pytest.raises(ValueError, match="needs losses"):
        w.append("progress", epoch=1, step=1, steps_per_epoch=1, images_per_sec=1.0)
    with pytest.raises(ValueError):
        w.append("no-such-type")
    assert w.append("status", status="queued", message="")["seq"] == 1


def test_a_diverged_runs_nan_losses_are_logged_as_null(r, tmp_path):
    from web.history.series import read_series, series_dir

    w = EventWriter(r, str(tmp_path / "worker"), RUN, spool=Spool(tmp_path / "worker", RUN))
    w.append("progress", **{**PROGRESS, "losses": [0.5, float("nan"), float("inf")]}, step=3)
    w.append("epoch", epoch=1, train_loss=float("nan"), test_loss=2.3, test_accuracy=0.1, seconds=1.0)
    record_all(r, tmp_path / "web")
    stored = [json.loads(line) for line in (tmp_path / "web" / RUN / "events.jsonl").read_text().splitlines()]
    assert stored[0]["losses"] == [0.5, None, None] and stored[1]["train_loss"] is None
    folder = series_dir(str(tmp_path / "web"), RUN)
    assert read_series(folder, "batch_loss")["mean"] == [0.5, None, None]
    assert read_series(folder, "test_loss")["mean"] == [2.3]


def test_run_json_never_names_fewer_epochs_than_the_history_holds(r, tmp_path):
    """The worker updates the record just after an epoch's events; a mirror taken in
    between must not keep the old epoch: after a flush, resume reads it to know which
    epochs were announced, and would announce one twice."""
    from shared.run_record import new_record
    from shared.runs import RunStore
    from shared.spec import validate_spec

    record = {**new_record(validate_spec({})), "id": RUN}
    RunStore(r, str(tmp_path / "box")).create(record)  # in Redis: epoch 0 still
    w = EventWriter(r, str(tmp_path / "box"), RUN, spool=Spool(tmp_path / "box", RUN))
    w.append("epoch", epoch=1, train_loss=0.3, test_loss=0.2, test_accuracy=0.9, seconds=1.0)
    recorder = record_all(r, tmp_path / "web")
    recorder.mirror.flush()
    recorder._mirror_record(RUN)
    mirrored = json.loads((tmp_path / "web" / RUN / "run.json").read_text())
    assert mirrored["epoch"] == 1


def test_a_caught_up_spool_stays_while_its_run_runs_anywhere(r, tmp_path):
    """Trainers of one box share its RESULTS_DIR: another trainer's heartbeat once removed
    a running run's caught-up spool and that run's next event failed (a clean-clone CI
    run caught it). A spool goes only once no lease says its run is running."""
    from worker.spool import Drainer

    running, ended = "b" * 32, "c" * 32
    for run_id in (running, ended):
        Spool(tmp_path, run_id).append(1, json.dumps({"seq": 1}))
        r.set(keys.run_recorded(run_id), 1)  # the recorder holds everything
    r.set(keys.run_lease(running), "another-trainer")
    Drainer(r, tmp_path).drain(writing=set())
    assert Spool(tmp_path, running).folder.is_dir(), "kept: its run is running on another trainer"
    assert not Spool(tmp_path, ended).folder.exists(), "removed: caught up, and nobody runs it"
