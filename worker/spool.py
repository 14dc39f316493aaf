"""A worker's local spool: every event of its runs, kept until the web side has it.

Workers share no disk with the web tier, so the event log's durable copy is the web
side's (web.history.recorder reads the run's Redis stream and writes it). Until the recorder
says it holds an event (``RECORDED[run] >= seq``), the event also lives here, in
``RESULTS_DIR/.spool/<run id>/`` on the worker's own disk (the events.jsonl format,
with its seq index). If Redis lost the stream, or the recorder was down longer than
the stream's cap, the recorder finds a gap it cannot fill; :func:`resend_missing`
sends the missing events again on the run's backfill stream, and the recorder
continues. A spool whose run is not being written here and that the recorder has
caught up with is removed (:func:`drain`, from the worker's heartbeat).

Only workers spool (the web tier's own events wait in memory until Redis takes them):
a worker hands its :class:`Spool` to shared.eventlog's writer, which keeps every event
in it before sending.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, cast

import redis

from shared import eventfile, keys, layout
from shared.eventlog import recorded_seq

log = logging.getLogger(__name__)

SPOOL_DIR = ".spool"
#: Events sent again per backfill round trip.
RESEND_CHUNK = 1000
#: A gap the recorder has not filled is sent again after this long.
RESEND_AFTER_SECONDS = 5.0
#: How long a backfill stream lives (the recorder deletes each entry once it has recorded
#: it, and the whole stream when the run ends).
BACKFILL_TTL_SECONDS = 24 * 3600


def spool_root(results_dir: str | Path) -> Path:
    return Path(results_dir) / SPOOL_DIR


class Spool:
    def __init__(self, results_dir: str | Path, run_id: str):
        self.run_id = run_id
        self.folder = spool_root(results_dir) / run_id
        self.log_path = self.folder / layout.EVENTS_JSONL
        self.index_path = self.folder / layout.EVENTS_INDEX

    def append(self, seq: int, line: str) -> None:
        for attempt in (1, 2):
            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                eventfile.append(self.log_path, self.index_path, seq, line)
                return
            except FileNotFoundError:  # removed as caught up between mkdir and open: once more
                if attempt == 2:
                    raise

    def last_seq(self) -> int:
        return eventfile.last_line_seq(self.log_path)

    def lines(self, after: int, upto: int) -> list[tuple[int, str]]:
        """(seq, line) of the spooled events in (after, upto], in seq order."""
        if upto <= after:
            return []
        page = eventfile.read_page(self.log_path, self.index_path, after, upto - after)
        return [(e["seq"], json.dumps(e, separators=(",", ":"))) for e in page]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def resend_missing(self, r: redis.Redis, last: int) -> int:
        return resend_missing(r, self, last)


def _first_in_stream(r: redis.Redis, run_id: str, after: int) -> int | None:
    entries = cast(list[tuple[bytes, Any]], r.xrange(keys.run_stream(run_id), min=f"{after + 1}-0", max="+", count=1))
    return int(entries[0][0].split(b"-")[0]) if entries else None


def _backfill_holds(r: redis.Redis, run_id: str, acked: int) -> int:
    """The last seq the backfill stream already holds for the recorder, or ``acked`` if it
    holds nothing usable. Resends add contiguous ranges from ``acked + 1`` and the recorder
    deletes the entries it has recorded, so when the stream's first entry is the next seq
    wanted, it holds every seq up to its newest entry's."""
    key = keys.run_backfill(run_id)
    head = cast(list[tuple[bytes, Any]], r.xrange(key, count=1))
    tail = cast(list[tuple[bytes, Any]], r.xrevrange(key, count=1))
    if not head or not tail or json.loads(head[0][1][b"e"])["seq"] != acked + 1:
        return acked
    return max(acked, int(json.loads(tail[0][1][b"e"])["seq"]))


def resend_missing(r: redis.Redis, spool: Spool, last: int | None = None) -> int:
    """Send again, on the run's backfill stream, what the recorder lacks and neither the
    stream nor an earlier resend still waiting to be read holds; returns how many events
    were sent (0: nothing missing)."""
    top = spool.last_seq() if last is None else last
    acked = recorded_seq(r, spool.run_id)
    if acked is None or acked >= top:
        return 0  # caught up, or no recorder has seen the run yet (nothing to fill)
    first = _first_in_stream(r, spool.run_id, acked)
    if first == acked + 1:
        return 0  # the stream has the next one: the recorder is just behind
    upto = top if first is None else first - 1
    sent, after = 0, _backfill_holds(r, spool.run_id, acked)
    while after < upto:
        chunk = spool.lines(after, min(upto, after + RESEND_CHUNK))
        if not chunk:
            break
        pipe = r.pipeline(transaction=False)
        for _seq, line in chunk:
            pipe.xadd(keys.run_backfill(spool.run_id), {"e": line})
        pipe.expire(keys.run_backfill(spool.run_id), BACKFILL_TTL_SECONDS)
        pipe.sadd(keys.RECORDING, spool.run_id)
        pipe.execute()
        sent += len(chunk)
        after = chunk[-1][0]
    if sent:
        log.warning(
            "run %s: the recorder lacked seqs %d-%d; sent %d event(s) again from the spool",
            spool.run_id,
            acked + 1,
            upto,
            sent,
        )
    return sent


class Drainer:
    """Looks after every spool of this worker (its heartbeat calls :meth:`drain`)."""

    def __init__(self, r: redis.Redis, results_dir: str | Path):
        self.r, self.root = r, spool_root(results_dir)
        self._resent: dict[str, tuple[int | None, float]] = {}

    def drain(self, writing: set[str]) -> None:
        """Send again what the recorder misses; remove spools it has caught up with —
        never the spool of a run ``writing`` here now, nor of one running anywhere (its
        lease is held): trainers of one box share its RESULTS_DIR, and a caught-up spool
        removed under a running trainer failed its next event."""
        if not self.root.is_dir():
            return
        now = time.monotonic()
        for folder in self.root.iterdir():
            if not layout.is_run_id(folder.name):
                continue
            spool = Spool(self.root.parent, folder.name)
            top = spool.last_seq()
            acked = recorded_seq(self.r, folder.name)
            stale = time.time() - _mtime(spool.log_path) > keys.RECORDED_TTL_SECONDS
            if (acked is not None and acked >= top) or stale:
                if folder.name not in writing and not self.r.exists(keys.run_lease(folder.name)):
                    spool.remove()
                    self._resent.pop(folder.name, None)
                continue
            before = self._resent.get(folder.name)
            if before is not None and before[0] == acked and now - before[1] < RESEND_AFTER_SECONDS:
                continue  # sent recently and the recorder is still working through it
            if resend_missing(self.r, spool, top):
                self._resent[folder.name] = (acked, now)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
