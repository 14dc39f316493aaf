"""The recorder: the web side's durable history of every run, written from Redis.

Workers share no disk with the web tier (docs/architecture.md, "Workers anywhere"), so they
write no history files. The recorder follows every run named in ``RECORDING`` (each
event writer adds its run as it sends), reads its Redis stream and writes, in
``RESULTS_DIR/<run>/`` on the web side: ``events.jsonl`` with its seq index, the
series and per-epoch detail (web.history.series), and ``run.json`` (the record, mirrored
whenever a status or an epoch is recorded, and at the end).

* **Exactly one** recorder is active however many web processes run: it holds the
  ``RECORDER_LEASE`` key (SET NX with a TTL, renewed every loop, taken over by a
  standby within ``RECORDER_LEASE_SECONDS`` when the holder dies, at once when its
  supervising web process saw it die: web.history.supervisor).
* **Idempotent by seq**: an event is written only when its seq is the next one
  (``last + 1``), so a repeat (a resend, an overlapping read, two recorders for a
  moment) is skipped. ``run_recorded(run)`` publishes the last seq held.
* **Gap-free**: when the stream no longer holds the next seq (Redis lost it, or the
  recorder was down longer than the stream's cap) the run waits; the worker that
  spooled the events sends them again on the run's backfill stream (worker.spool),
  which the recorder reads first.
* **Redis losing its data** is noticed by the missing ``RECORDER_SENTINEL``: the
  recorder names the runs it follows again, with the seq its history holds, then
  recording goes on (the records and indexes come back from ``run.json`` and
  ``sweeps/`` through the reconciler, shared.reconciler).

It runs as its own process (``python -m web.history.recorder``, started and supervised by
``python -m web`` beside the server: web.history.supervisor), so writing history
never competes with the Socket.IO relay for the web server's event loop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import statistics
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, cast

import redis

from shared import eventfile, keys, layout
from shared.connections import redis_client
from shared.events import EventType
from shared.lifecycle import TERMINAL
from shared.retry import Backoff
from shared.settings import Settings, settings_or_exit
from web.history.series import SeriesWriter, series_dir

log = logging.getLogger("web.history.recorder")

#: How long the recorder lease lives without renewal (a standby takes over after this;
#: at once when the web process that supervised the holder saw it die). Not a run's
#: lease (the LEASE_SECONDS setting).
RECORDER_LEASE_SECONDS = 10.0
#: Longest a read blocks waiting for new events.
BLOCK_MS = 200
#: Stream entries read per run per round.
READ_COUNT = 1000
#: Lags kept for the percentiles in RECORDER_STATS.
LAG_WINDOW = 50_000
STATS_EVERY_SECONDS = 2.0

#: Renew the lease only if we still hold it; take it if it is free.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
end
return 0
"""


class RunHistory:
    """One run's history files on the web side, appended in seq order."""

    def __init__(self, results_dir: str, run_id: str):
        self.run_id = run_id
        self.log_path, self.index_path = eventfile.paths(results_dir, run_id)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.last = eventfile.catch_up_index(self.log_path, self.index_path)
        self.series = SeriesWriter(series_dir(results_dir, run_id), flush_on_detail=False)
        if self.series.last_seq < self.last:  # the series lag the log (a crash in between)
            self.series.catch_up(lambda after: eventfile.read_page(self.log_path, self.index_path, after, 1000))
        self.series.flush()  # meta on disk at once: readers never rebuild it meanwhile

    def write(self, event: dict[str, Any], line: str) -> None:
        eventfile.append(self.log_path, self.index_path, event["seq"], line)
        self.series.observe(event)
        self.last = event["seq"]


class RecordMirror:
    """Writes ``run.json`` copies beside the history, off the recording loop: a record
    mirror fsyncs, and every run ending an epoch in the same second would otherwise hold
    up every other run's next events (the recorder's p99 lag). Marks coalesce: a run
    marked twice before the thread gets to it is written once, with its latest record."""

    def __init__(self, write: Any, stop: threading.Event):
        self.write, self.stop = write, stop
        self.dirty: set[str] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self.run, name="record-mirror", daemon=True)
        self.thread.start()

    def mark(self, run_id: str) -> None:
        with self.lock:
            self.dirty.add(run_id)
        self.wake.set()

    def flush(self) -> None:
        with self.lock:
            pending, self.dirty = self.dirty, set()
        for run_id in pending:
            try:
                self.write(run_id)
            except (redis.RedisError, OSError) as exc:  # the next mark writes it again
                log.warning("recorder: could not mirror run %s: %s", run_id, exc)

    def run(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            self.flush()


class Recorder:
    def __init__(self, r: redis.Redis, settings: Settings, owner: str | None = None):
        self.r, self.settings = r, settings
        self.results_dir = settings.results_dir
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runs: dict[str, RunHistory] = {}
        self._lease = r.register_script(_LEASE)
        self.active = False
        self.lags: deque[float] = deque(maxlen=LAG_WINDOW)
        self.recorded_total = 0
        self._stats_at = 0.0
        self._stop = threading.Event()
        self.mirror = RecordMirror(self._mirror_record, self._stop)
        #: The last epoch each run's history holds: a mirrored record never names less
        #: (the worker updates the record just after sending the epoch's events, so the
        #: record read at that moment may lag; after a data loss the worker's resume
        #: reads ``epoch`` to know which epochs were announced, and would repeat one).
        self.epochs: dict[str, int] = {}

    # -- the lease -----------------------------------------------------------
    def hold_lease(self) -> bool:
        held = bool(self._lease(keys=[keys.RECORDER_LEASE], args=[self.owner, int(RECORDER_LEASE_SECONDS * 1000)]))
        if held != self.active:
            log.info("recorder %s %s", self.owner, "is active" if held else "is on standby")
            if not held:
                self.runs.clear()  # another recorder writes now; reopen from disk if we return
        self.active = held
        return held

    # -- Redis lost its data -------------------------------------------------
    def check_sentinel(self) -> None:
        """Redis lost its data: name every run we follow again, with what we hold."""
        if self.r.exists(keys.RECORDER_SENTINEL):
            return
        pipe = self.r.pipeline(transaction=False)
        for run_id, history in self.runs.items():
            pipe.set(keys.run_recorded(run_id), history.last)
            pipe.sadd(keys.RECORDING, run_id)
        pipe.set(keys.RECORDER_SENTINEL, self.owner)
        pipe.execute()
        if self.runs:
            log.warning("Redis had lost its data: following %d run(s) again", len(self.runs))

    # -- one round -------------------------------------------------------------
    def step(self, block_ms: int = BLOCK_MS) -> int:
        """Hold the lease, then record what every followed run's streams have; returns
        the number of events written."""
        if not self.hold_lease():
            self._stop.wait(1.0)
            return 0
        self.check_sentinel()
        for raw in cast(set[bytes], self.r.smembers(keys.RECORDING)):
            run_id = raw.decode()
            if run_id not in self.runs and layout.is_run_id(run_id):
                self.runs[run_id] = RunHistory(self.results_dir, run_id)
                self.r.set(keys.run_recorded(run_id), self.runs[run_id].last)
        if not self.runs:
            self._stop.wait(block_ms / 1000)
            return 0
        written: dict[str, list[dict[str, Any]]] = {}
        self._read_backfill(written)
        ids = list(self.runs)
        streams: dict[Any, Any] = {keys.run_stream(i): f"{self.runs[i].last}-0" for i in ids}
        answer = cast(list[Any], self.r.xread(streams, count=READ_COUNT, block=block_ms) or [])
        for stream, entries in answer:
            run_id = stream.decode()[len(f"{keys.PREFIX}:run:") : -len(":stream")]
            self._apply(run_id, [fields[b"e"] for _id, fields in entries], written)
        self._finish_round(written)
        return sum(len(v) for v in written.values())

    def _read_backfill(self, written: dict[str, list[dict[str, Any]]]) -> None:
        pipe = self.r.pipeline(transaction=False)
        ids = list(self.runs)
        for run_id in ids:
            pipe.xrange(keys.run_backfill(run_id), count=READ_COUNT * 10)
        for run_id, entries in zip(ids, pipe.execute()):
            if entries:
                read = sorted((json.loads(f[b"e"])["seq"], i, f[b"e"]) for i, f in entries)
                self._apply(run_id, [line for _seq, _i, line in read], written)
                # Only the entries read and recorded go: the worker may be adding the rest of
                # a chunk at this moment, and deleting the key would lose it until the next
                # resend (2 s later, per chunk: seen as 12 s to fill a 1,900-event gap).
                history = self.runs.get(run_id)
                done = [i for seq, i, _line in read if history and seq <= history.last]
                if done:
                    self.r.xdel(keys.run_backfill(run_id), *done)

    def _apply(self, run_id: str, lines: list[bytes], written: dict[str, list[dict[str, Any]]]) -> None:
        history = self.runs.get(run_id)
        if history is None:
            return
        now = time.time()
        for raw in lines:
            event = json.loads(raw)
            seq = event.get("seq")
            if not isinstance(seq, int) or seq <= history.last:
                continue  # already recorded: a repeat is harmless
            if seq != history.last + 1:
                break  # a gap: wait for the backfill from the worker's spool
            history.write(event, raw.decode())
            written.setdefault(run_id, []).append(event)
            self.lags.append(now - float(event.get("ts", now)))
            self.recorded_total += 1

    def _finish_round(self, written: dict[str, list[dict[str, Any]]]) -> None:
        if not written:
            self._publish_stats()
            return
        pipe = self.r.pipeline(transaction=False)
        ended = []
        for run_id, events in written.items():
            history = self.runs[run_id]
            pipe.set(keys.run_recorded(run_id), history.last)
            kinds = {e["type"] for e in events}
            for event in events:
                if event["type"] == EventType.EPOCH and isinstance(event.get("epoch"), int):
                    self.epochs[run_id] = max(self.epochs.get(run_id, 0), event["epoch"])
            if kinds & {EventType.EPOCH, EventType.SAMPLES, EventType.STATUS}:
                history.series.flush()  # once per round, however many such events it held
            if any(e["type"] == EventType.STATUS and e.get("status") in TERMINAL for e in events):
                ended.append(run_id)
                self._mirror_record(run_id)  # the final record: written before the run is let go
            elif EventType.STATUS in kinds or EventType.EPOCH in kinds:
                self.mirror.mark(run_id)
        for run_id in ended:
            self.runs.pop(run_id).series.flush()
            self.epochs.pop(run_id, None)
            pipe.srem(keys.RECORDING, run_id)
            pipe.expire(keys.run_recorded(run_id), keys.RECORDED_TTL_SECONDS)
            pipe.delete(keys.run_backfill(run_id))
        pipe.execute()
        self._publish_stats(force=bool(ended))

    def _mirror_record(self, run_id: str) -> None:
        """``run.json`` on the web side: the record's durable copy (used after a flush)."""
        raw = cast(bytes | None, self.r.get(keys.run_record(run_id)))
        if raw is not None:
            record = json.loads(raw)
            record["epoch"] = max(int(record.get("epoch") or 0), self.epochs.get(run_id, 0))
            layout.write_json(layout.run_dir(self.results_dir, run_id) / layout.RUN_JSON, record)

    def _publish_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if (not force and now - self._stats_at < STATS_EVERY_SECONDS) or not self.lags:
            return
        self._stats_at = now
        ordered = sorted(self.lags)
        stats = {
            "owner": self.owner,
            "events": self.recorded_total,
            "runs": len(self.runs),
            "lag_p50_ms": round(statistics.median(ordered) * 1000, 1),
            "lag_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
            "lag_max_ms": round(ordered[-1] * 1000, 1),
            "at": time.time(),
        }
        self.r.set(keys.RECORDER_STATS, json.dumps(stats), ex=60)

    # -- the loop --------------------------------------------------------------
    def run_forever(self) -> None:
        backoff = Backoff()
        parent = int(os.environ.get("TRAINBOARD_RECORDER_PARENT") or 0)
        while not self._stop.is_set():
            if parent and os.getppid() != parent:
                log.info("the web process that started this recorder is gone; stopping")
                break
            try:
                self.step()
                backoff.reset()
            except (redis.RedisError, OSError) as exc:
                delay = backoff.next()
                log.warning("recorder: %s; retrying in %.1f s", exc, delay)
                self.active = False
                self._stop.wait(delay)
        self.mirror.flush()
        if self.active:
            for history in self.runs.values():
                history.series.flush()
            try:
                self.r.eval(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
                    1,
                    keys.RECORDER_LEASE,
                    self.owner,
                )
            except redis.RedisError:
                pass

    def stop(self, *_args: Any) -> None:
        self._stop.set()


def main() -> None:
    settings = settings_or_exit()
    Path(settings.results_dir).mkdir(parents=True, exist_ok=True)
    if settings.recorder_nice:
        os.nice(settings.recorder_nice)
    recorder = Recorder(redis_client(settings.redis_url), settings, os.environ.get("TRAINBOARD_RECORDER_OWNER"))
    signal.signal(signal.SIGTERM, recorder.stop)
    signal.signal(signal.SIGINT, recorder.stop)
    log.info("recorder %s writing history into %s", recorder.owner, settings.results_dir)
    recorder.run_forever()


if __name__ == "__main__":
    main()
