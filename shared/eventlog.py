"""The per-run event log: ordered, gap-free, durable.

Writing (one writer per run at a time, guaranteed by the run's state machine):
each event gets the next ``seq``, is appended to ``events.jsonl`` on the results
volume, then XADDed to the run's capped stream under id ``<seq>-0`` and published
on the run's channel in one pipeline. If Redis is unreachable the event stays in
a pending queue and is sent, in order, once Redis answers again; the file already
has it, so readers never miss it.

Reading: a range of seqs comes from the stream; whatever the stream no longer
holds (trimmed, flushed, or Redis down) comes from ``events.jsonl``.
"""
from __future__ import annotations

import json
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

import redis

from shared import keys, layout

log = logging.getLogger(__name__)

TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def _read_jsonl(path: Path, after: int) -> list[dict[str, Any]]:
    events = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed writer
                if event.get("seq", 0) > after:
                    events.append(event)
    except FileNotFoundError:
        return []
    # A resumed writer may have re-appended events the file already had.
    unique = {e["seq"]: e for e in events}
    return [unique[s] for s in sorted(unique)]


def read_events(r: redis.Redis | None, results_dir: str, run_id: str, after: int = 0,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Events with ``seq > after`` in seq order, from the stream and the file."""
    after = max(0, int(after))
    stream: list[dict[str, Any]] = []
    if r is not None:
        try:
            entries = r.xrange(keys.run_stream(run_id), min=f"{after + 1}-0", max="+",
                               count=limit)
            stream = [json.loads(fields[b"e"]) for _id, fields in entries]
        except redis.RedisError as exc:
            log.warning("reading stream of %s failed (%s); using events.jsonl", run_id, exc)
    if stream and stream[0]["seq"] == after + 1:
        return stream
    older = _read_jsonl(layout.run_dir(results_dir, run_id) / layout.EVENTS_JSONL, after)
    first_stream_seq = stream[0]["seq"] if stream else None
    if first_stream_seq is not None:
        older = [e for e in older if e["seq"] < first_stream_seq]
    merged = older + stream
    return merged[:limit] if limit else merged


def last_seq(r: redis.Redis | None, results_dir: str, run_id: str) -> int:
    """The highest seq written so far, by the stream or the file."""
    best = 0
    if r is not None:
        try:
            top = r.xrevrange(keys.run_stream(run_id), count=1)
            if top:
                best = int(top[0][0].split(b"-")[0])
        except redis.RedisError:
            pass
    path = layout.run_dir(results_dir, run_id) / layout.EVENTS_JSONL
    file_events = _read_jsonl(path, best)
    if file_events:
        best = max(best, file_events[-1]["seq"])
    return best


class EventWriter:
    """Appends events of one run; survives Redis outages by queueing."""

    def __init__(self, r: redis.Redis, results_dir: str, run_id: str,
                 stream_maxlen: int = 20000):
        self.r = r
        self.run_id = run_id
        self.stream_maxlen = stream_maxlen
        self.path = layout.run_dir(results_dir, run_id) / layout.EVENTS_JSONL
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = last_seq(r, results_dir, run_id)
        self.pending: deque[dict[str, Any]] = deque()
        self._retry_at = 0.0
        self._backoff = 0.5

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        event = {"run_id": self.run_id, "seq": self.seq, "ts": time.time(), "type": type_,
                 **fields}
        line = encode(event)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        self.pending.append(event)
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
            for event in self.pending:
                line = encode(event)
                pipe.xadd(stream, {"e": line}, id=f"{event['seq']}-0",
                          maxlen=self.stream_maxlen, approximate=True)
                pipe.publish(channel, line)
            results = pipe.execute(raise_on_error=False)
        except redis.ConnectionError as exc:
            self._schedule_retry(exc)
            return False
        for result in results[0::2]:
            # An id at or below the top means an earlier attempt already landed.
            if isinstance(result, Exception) and "equal or smaller" not in str(result):
                log.error("XADD failed for run %s: %s", self.run_id, result)
        self.pending.clear()
        self._backoff = 0.5
        self._retry_at = 0.0
        return True

    def _schedule_retry(self, exc: Exception) -> None:
        log.warning("Redis unavailable (%s); %d event(s) of run %s queued, retry in %.1fs",
                    exc, len(self.pending), self.run_id, self._backoff)
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 10.0)

    def close(self, timeout: float = 120.0) -> bool:
        """Flush, retrying with capped backoff until ``timeout``; True if all landed."""
        deadline = time.monotonic() + timeout
        while not self.flush():
            if time.monotonic() >= deadline:
                log.error("gave up sending %d event(s) of run %s to Redis; they are in %s",
                          len(self.pending), self.run_id, self.path)
                return False
            time.sleep(max(0.0, min(self._retry_at - time.monotonic(), deadline - time.monotonic())))
        return True
