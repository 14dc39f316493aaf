"""The per-run event log: ordered, gap-free, durable.

Writing (one writer per run at a time, guaranteed by the run's state machine):
each event gets the next ``seq``, is kept in the worker's local spool, then XADDed
to the run's capped stream under id ``<seq>-0`` and published on the run's channel
in one pipeline. If Redis is unreachable the event stays pending and is sent, in
order, once Redis answers again. The web tier's recorder (web.history.recorder)
reads the stream and writes ``events.jsonl`` (and the series) on the web side; the
worker's spool (worker.spool) fills any gap it finds.

Both tiers write (the worker while it trains; the web tier its runs' queued and
cancelled events), so the writer lives here. Reading history is the web tier's alone:
web.history.reader.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol, cast

import redis

from shared import eventfile, events, keys
from shared.events import EventType
from shared.lifecycle import TERMINAL
from shared.retry import Backoff
from shared.settings import Settings

log = logging.getLogger(__name__)


class EventSpool(Protocol):
    """Where a worker keeps its runs' events until the recorder has them (worker.spool)."""

    folder: Path

    def append(self, seq: int, line: str) -> None: ...

    def last_seq(self) -> int: ...

    def resend_missing(self, r: redis.Redis, last: int) -> int:
        """Send again what the recorder lacks and the stream lost; how many were sent."""
        ...


def recorded_seq(r: redis.Redis, run_id: str) -> int | None:
    """The last seq the web side's history holds, or None if the recorder has not said."""
    raw = cast(bytes | None, r.get(keys.run_recorded(run_id)))
    return int(raw) if raw is not None else None


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def last_seq(r: redis.Redis | None, results_dir: str, run_id: str) -> int:
    """The highest seq written so far, by the stream or the file."""
    best = 0
    if r is not None:
        try:
            top = cast(list[tuple[bytes, Any]], r.xrevrange(keys.run_stream(run_id), count=1))
            if top:
                best = int(top[0][0].split(b"-")[0])
        except redis.RedisError:
            pass
    log_path, _ = eventfile.paths(results_dir, run_id)
    return max(best, eventfile.last_line_seq(log_path))


class EventWriter:
    """Appends events of one run; survives Redis outages by queueing.

    Each event gets the next ``seq`` and goes to the run's capped stream (id
    ``<seq>-0``) and pub/sub channel in one pipeline, which also names the run in
    RECORDING so the web tier's recorder follows it. The writer keeps no history
    file: the recorder writes the durable log on the web side. With ``spool`` (a
    worker's: worker.spool) every event is also kept on the local disk until the
    recorder has it; without (the web tier's own queued/cancelled events) it is held
    in memory until Redis takes it.

    The first seq continues from whatever is highest: the stream, the recorder's
    high-water mark, this box's spool, or a history file in ``results_dir`` (one
    machine): so seqs stay unique across resumes on other boxes and Redis losses.

    When the run's terminal status is sent, the stream gets an expiry of
    ``retention_seconds``: late readers have that long to catch up from Redis, then
    the web side's history serves it and Redis holds nothing of the finished run's log.
    """

    def __init__(
        self,
        r: redis.Redis,
        results_dir: str,
        run_id: str,
        stream_maxlen: int = 5000,
        retention_seconds: float = 600.0,
        *,
        spool: EventSpool | None = None,
    ):
        self.r = r
        self.run_id = run_id
        self.stream_maxlen = stream_maxlen
        self.retention_seconds = retention_seconds
        self.spool = spool
        self.seq = max(last_seq(r, results_dir, run_id), self._recorded(), self.spool.last_seq() if self.spool else 0)
        #: (seq, encoded line) of events not yet sent to Redis.
        self.pending: deque[tuple[int, str]] = deque()
        self._retry_at = 0.0
        self._backoff = Backoff()
        self._expire_stream = False

    def _recorded(self) -> int:
        try:
            return recorded_seq(self.r, self.run_id) or 0
        except redis.RedisError:
            return 0

    @classmethod
    def for_run(cls, r: redis.Redis, settings: Settings, run_id: str, spool: EventSpool | None = None) -> EventWriter:
        """A writer configured by the settings (stream cap, retention)."""
        return cls(r, settings.results_dir, run_id, settings.stream_maxlen, settings.stream_retention_seconds, spool=spool)

    def append(self, type_: EventType, **fields: Any) -> dict[str, Any]:
        kind = events.check(type_, fields)  # before the seq is taken: a bad event changes nothing
        self.seq += 1
        event = {"run_id": self.run_id, "seq": self.seq, "ts": time.time(), "type": kind.value, **fields}
        try:
            line = encode(event)
        except ValueError:  # a diverged run's NaN/inf losses: logged as null, not fatal
            event = events.finite(event)
            line = encode(event)
        if self.spool is not None:
            self.spool.append(self.seq, line)
        if kind is EventType.STATUS and fields.get("status") in TERMINAL:
            self._expire_stream = True
        self.pending.append((self.seq, line))  # encoded once, sent as is
        if time.monotonic() >= self._retry_at:
            self.flush()
        return event

    def flush(self) -> bool:
        """Send pending events to Redis in order; True when none are left."""
        if not self.pending:
            return True
        stream, channel = keys.run_stream(self.run_id), keys.run_channel(self.run_id)
        try:
            pipe = self.r.pipeline(transaction=False)
            for seq, line in self.pending:
                pipe.xadd(stream, {"e": line}, id=f"{seq}-0", maxlen=self.stream_maxlen, approximate=True)
                pipe.publish(channel, line)
            pipe.sadd(keys.RECORDING, self.run_id)
            if self._expire_stream:
                pipe.expire(stream, max(1, int(self.retention_seconds)))
            results = pipe.execute(raise_on_error=False)
        except redis.ConnectionError as exc:
            self._schedule_retry(exc)
            return False
        for result in results[0 : 2 * len(self.pending) : 2]:
            # An id at or below the top means an earlier attempt already landed.
            if isinstance(result, Exception) and "equal or smaller" not in str(result):
                log.error("XADD failed for run %s: %s", self.run_id, result)
        self.pending.clear()
        self._backoff.reset()
        self._retry_at = 0.0
        return True

    def _schedule_retry(self, exc: Exception) -> None:
        log.warning(
            "Redis unavailable (%s); %d event(s) of run %s queued, retry in %.1fs",
            exc,
            len(self.pending),
            self.run_id,
            self._backoff.delay,
        )
        self._retry_at = time.monotonic() + self._backoff.next()

    def close(self, timeout: float = 120.0, recorded_within: float = 0.0) -> bool:
        """Flush, retrying with capped backoff until ``timeout``; True if all landed.
        With ``recorded_within`` > 0, also wait that long for the recorder to hold the
        last event (sending again from the spool what it lacks); the spool keeps them
        either way, and the worker's drainer goes on after this returns."""
        deadline = time.monotonic() + timeout
        while not self.flush():
            if time.monotonic() >= deadline:
                log.error(
                    "gave up sending %d event(s) of run %s to Redis; they are in %s",
                    len(self.pending),
                    self.run_id,
                    self.spool.folder if self.spool else "memory only",
                )
                return False
            time.sleep(max(0.0, min(self._retry_at - time.monotonic(), deadline - time.monotonic())))
        if self.spool is not None and recorded_within > 0:
            self.wait_recorded(recorded_within)
        return True

    def wait_recorded(self, timeout: float) -> bool:
        """Wait until the recorder holds every event written so far; True if it does."""
        deadline = time.monotonic() + timeout
        resent_at = time.monotonic()
        while time.monotonic() < deadline:
            try:
                if (recorded_seq(self.r, self.run_id) or 0) >= self.seq:
                    return True
                if self.spool is not None and time.monotonic() - resent_at >= 2.0:
                    self.spool.resend_missing(self.r, self.seq)
                    resent_at = time.monotonic()
            except redis.RedisError:
                pass
            time.sleep(0.1)
        return False
