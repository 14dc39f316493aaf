"""The event log on the results volume: ``events.jsonl`` plus a seq → byte-offset index.

A five-hour run writes ~200,000 events; parsing the whole file to serve one page
took seconds. ``events.idx`` holds one little-endian int64 per seq: entry ``seq - 1``
is the byte offset of that event's line. A page of ``limit`` events is then one
seek and one read of just those lines, whatever the length of the run.

The index is a cache of the log, never the other way round: a writer that died
between the line and its index entry, or a log written before the index existed,
is caught up on the next read by scanning only the lines past the last indexed
offset. Writing an entry at position ``seq - 1`` (not appending) means a seq
written twice points at its newest line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shared import layout

#: Bytes per index entry (one int64 offset).
ENTRY = 8
#: Lines scanned between calls to ``pause`` while (re)building an index, so a
#: cooperative server (eventlet, gevent) keeps serving other requests meanwhile.
SCAN_CHUNK = 2000


def paths(results_dir: str, run_id: str) -> tuple[Path, Path]:
    folder = layout.run_dir(results_dir, run_id)
    return folder / layout.EVENTS_JSONL, folder / layout.EVENTS_INDEX


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None  # a torn last line from a killed writer
    return event if isinstance(event, dict) and isinstance(event.get("seq"), int) else None


def append(log_path: Path, index_path: Path, seq: int, line: str) -> None:
    """Append one event line and record its offset under ``seq``."""
    with open(log_path, "ab") as f:
        offset = f.tell()
        f.write(line.encode() + b"\n")
    write_entry(index_path, seq, offset)


def write_entry(index_path: Path, seq: int, offset: int) -> None:
    fd = os.open(index_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, offset.to_bytes(ENTRY, "little"), (seq - 1) * ENTRY)
    finally:
        os.close(fd)


def _indexed(index_path: Path) -> int:
    """How many seqs the index covers (entries are dense from seq 1)."""
    try:
        return index_path.stat().st_size // ENTRY
    except FileNotFoundError:
        return 0


def _offset_of(index_path: Path, seq: int) -> int:
    with open(index_path, "rb") as f:
        f.seek((seq - 1) * ENTRY)
        return int.from_bytes(f.read(ENTRY), "little")


def last_line_seq(log_path: Path) -> int:
    """The seq of the last complete line, reading only the file's tail."""
    try:
        with open(log_path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            back = 4096
            while True:
                start = max(0, size - back)
                f.seek(start)
                lines = f.read(size - start).split(b"\n")
                for line in reversed(lines[1:] if start else lines):
                    event = _parse(line) if line.strip() else None
                    if event is not None:
                        return int(event["seq"])
                if start == 0:
                    return 0
                back *= 4
    except FileNotFoundError:
        return 0


def catch_up_index(log_path: Path, index_path: Path, pause: Callable[[], None] = lambda: None) -> int:
    """Index every line the index does not cover yet; returns the highest indexed seq."""
    indexed = _indexed(index_path)
    if not log_path.exists():
        return 0
    top = last_line_seq(log_path)
    if top <= indexed:
        return indexed
    start = _offset_of(index_path, indexed) if indexed else 0
    fd = os.open(index_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            offset = start
            for n, line in enumerate(f, 1):
                event = _parse(line)
                if event is not None and event["seq"] >= 1:
                    os.pwrite(fd, offset.to_bytes(ENTRY, "little"), (event["seq"] - 1) * ENTRY)
                offset += len(line)
                if n % SCAN_CHUNK == 0:
                    pause()
    finally:
        os.close(fd)
    return _indexed(index_path)


def read_page(
    log_path: Path, index_path: Path, after: int, limit: int, pause: Callable[[], None] = lambda: None
) -> list[dict[str, Any]]:
    """At most ``limit`` events with ``seq > after``, in seq order, one per seq."""
    indexed = catch_up_index(log_path, index_path, pause)
    first = after + 1
    if first > indexed:
        return []
    last = min(indexed, after + limit)
    start = _offset_of(index_path, first)
    end = _offset_of(index_path, last + 1) if last < indexed else None
    with open(log_path, "rb") as f:
        f.seek(start)
        chunk = f.read() if end is None or end < start else f.read(end - start)
    found: dict[int, dict[str, Any]] = {}
    for line in chunk.split(b"\n"):
        event = _parse(line) if line.strip() else None
        if event is not None and first <= event["seq"] <= last:
            found[event["seq"]] = event
    return [found[s] for s in sorted(found)]


def iter_events(log_path: Path, pause: Callable[[], None] = lambda: None) -> Iterator[dict[str, Any]]:
    """Every event of the file in file order (repeats included), streamed."""
    try:
        with open(log_path, "rb") as f:
            for n, line in enumerate(f, 1):
                event = _parse(line)
                if event is not None:
                    yield event
                if n % SCAN_CHUNK == 0:
                    pause()
    except FileNotFoundError:
        return
