"""Admitting a submission: queue cap and per-client rate limit in one atomic step.

Checking the queue's size, then the client's recent submissions, then recording
the new run over separate round trips let parallel requests all pass both checks.
One Lua script does all of it inside Redis, so exactly ``cap - waiting`` of any
burst get in, and a run's place in the queue is reserved before its record exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from shared import keys
from shared.runs import waiting_score

#: KEYS[1] waiting-runs index, KEYS[2] the client's submit window.
#: ARGV: now, queue cap, limit per window, window seconds, submission id, then for each
#: run its waiting score and id. A sweep of n runs counts n toward the cap, 1 toward the rate.
#: Returns {0, waiting after} admitted; {1, waiting} queue full; {2, oldest} rate-limited.
_ADMIT = """
local waiting = redis.call('ZCARD', KEYS[1])
local runs = (#ARGV - 5) / 2
if waiting + runs > tonumber(ARGV[2]) then return {1, waiting} end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {2, oldest[2]}
end
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('EXPIRE', KEYS[2], math.ceil(window * 2))
for i = 6, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
return {0, waiting + runs}
"""

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Admission:
    admitted: bool
    #: Runs waiting when the queue is full.
    waiting: int = 0
    retry_after: int = 0


def admit(
    r: redis.Redis, client: str, records: Sequence[Mapping[str, Any]], now: float, cap: int, per_minute: int
) -> Admission:
    """Reserve queue places for ``records`` (one submission) or say why not."""
    args: list[Any] = [now, cap, per_minute, WINDOW_SECONDS, records[0]["id"]]
    for record in records:
        args += [waiting_score(record), record["id"]]
    code, value = cast(list[Any], r.eval(_ADMIT, 2, keys.WAITING_RUNS, keys.submit_window(client), *(str(a) for a in args)))
    if code == 0:
        return Admission(True)
    if code == 1:
        return Admission(False, waiting=int(value))
    retry_after = max(1, int(float(value) + WINDOW_SECONDS - now) + 1)
    return Admission(False, retry_after=retry_after)
