"""Reading a run's history (the web tier): event pages and the series folder.

A range of seqs comes from the run's Redis stream; whatever the stream no longer holds
(trimmed, flushed, or Redis down) comes from ``events.jsonl`` through its seq index
(shared.eventfile), which the recorder (web.history.recorder) writes. Series are read
from the folder the recorder keeps beside it (web.history.series); a run recorded
before series existed has its folder built from its log on first read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import redis

from shared import eventfile, keys
from web.history import series

#: Events per page when a reader gives no limit (REST default, relay gap fill).
DEFAULT_PAGE = 1000
#: Largest page a reader may ask for.
MAX_PAGE = 10_000

log = logging.getLogger(__name__)


def _no_pause() -> None:
    pass


def read_events(
    r: redis.Redis | None,
    results_dir: str,
    run_id: str,
    after: int = 0,
    limit: int = DEFAULT_PAGE,
    pause: Callable[[], None] = _no_pause,
) -> list[dict[str, Any]]:
    """At most ``limit`` events with ``seq > after`` in seq order, from the stream or the file.

    The cost is the page, not the log: the stream answers an id range directly and
    the file is read through its seq index.
    """
    after = max(0, int(after))
    if r is not None:
        try:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                r.xrange(keys.run_stream(run_id), min=f"{after + 1}-0", max="+", count=limit),
            )
            stream = [json.loads(fields[b"e"]) for _id, fields in entries]
            if stream and stream[0]["seq"] == after + 1:
                return stream
        except redis.RedisError as exc:
            log.warning("reading stream of %s failed (%s); using events.jsonl", run_id, exc)
    # The stream no longer (or never) held the start of the range: the file has it.
    log_path, index_path = eventfile.paths(results_dir, run_id)
    return eventfile.read_page(log_path, index_path, after, limit, pause)


_build_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def series_folder(results_dir: str, run_id: str, pause: Callable[[], None] = _no_pause) -> Path:
    """The run's series folder, built from its event log first if it predates series."""
    folder = series.series_dir(results_dir, run_id)
    if series.read_meta(folder) is None:
        with _build_locks[run_id]:
            if series.read_meta(folder) is None:
                log_path, _ = eventfile.paths(results_dir, run_id)
                started = time.perf_counter()
                series.build_from_events(folder, eventfile.iter_events(log_path, pause))
                log.info("built the series of run %s from its event log in %.1f s", run_id, time.perf_counter() - started)
        _build_locks.pop(run_id, None)
    return folder
