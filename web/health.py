"""What ``/healthz`` knows: is Redis answering, and is history being recorded?

``ok`` needs both. ``degraded`` names what is wrong — only to a caller holding the
API token: an anonymous probe learns the one word, never a host, a port or an error
text (a Redis error names both).

History is being recorded when a recorder holds the recorder lease (the dead one's is
released at once by its supervisor), this process's own recorder child is alive when
it runs one, and no event sent to Redis has waited longer than ``recorder_max_lag``
seconds to reach the web side's log. The lag is read from Redis, not from the
recorder's own figures, so a recorder that is stuck (waiting at a gap for a spool
that never comes) shows as well as one that is gone.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import redis

from shared import keys
from shared.settings import Settings
from web.history.supervisor import RecorderSupervisor

#: Most recording runs whose lag one probe reads (active runs; the oldest lag wins).
LAG_SAMPLE = 500


def oldest_unrecorded_age(r: redis.Redis, now: float | None = None) -> float:
    """Seconds the oldest event in Redis that the recorder does not hold yet has waited
    (0 when it holds everything). Two round trips, whatever the number of runs."""
    now = time.time() if now is None else now
    run_ids = [i.decode() for i in cast(list[bytes], r.srandmember(keys.RECORDING, LAG_SAMPLE) or [])]
    if not run_ids:
        return 0.0
    pipe = r.pipeline(transaction=False)
    for run_id in run_ids:
        pipe.get(keys.run_recorded(run_id))
    recorded = [int(v) if v is not None else 0 for v in pipe.execute()]
    for run_id, last in zip(run_ids, recorded):
        pipe.xrange(keys.run_stream(run_id), min=f"{last + 1}-0", count=1)
    oldest = now
    for entries in pipe.execute():
        if entries:
            event = json.loads(entries[0][1][b"e"])
            oldest = min(oldest, float(event.get("ts", now)))
    return max(0.0, now - oldest)


def check(r: redis.Redis, settings: Settings, recorder: RecorderSupervisor | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, full answer). 503 only when Redis does not answer: a web tier
    whose recorder is restarting still serves pages and runs, so probes keep it."""
    try:
        r.ping()
    except redis.RedisError as exc:
        return 503, {"status": "degraded", "problems": {"redis": f"Redis does not answer: {exc}"}}
    problems: dict[str, Any] = {}
    if recorder is not None and not recorder.alive:
        problems["recorder"] = f"this web process's recorder exited ({recorder.last_exit}); restarting it"
    try:
        if not r.exists(keys.RECORDER_LEASE):
            problems.setdefault("recorder", "no recorder is active: history is not being written")
        lag = oldest_unrecorded_age(r)
        if lag > settings.recorder_max_lag:
            problems["recorder_lag_seconds"] = round(lag, 1)
        stats = r.get(keys.RECORDER_STATS)
    except redis.RedisError as exc:
        return 503, {"status": "degraded", "problems": {"redis": f"Redis does not answer: {exc}"}}
    answer: dict[str, Any] = {"status": "degraded" if problems else "ok"}
    if problems:
        answer["problems"] = problems
    if recorder is not None:
        answer["recorder_restarts"] = recorder.restarts
    if stats:
        answer["recorder_stats"] = json.loads(cast(bytes, stats))
    return 200, answer


def public(answer: dict[str, Any]) -> dict[str, Any]:
    """What an anonymous caller sees: the word, nothing else."""
    return {"status": answer["status"]}
