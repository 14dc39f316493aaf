"""Leases: proof that a worker is alive and still owns the runs it trains.

A lease is a Redis key holding the worker's name with a short expiry, renewed by
the worker's heartbeat thread (not the training loop, so a slow batch or a long
evaluation never loses it). When a worker dies, its leases expire and the
reconciler (shared.reconciler, run by any live process) resumes its runs elsewhere.
A worker that finds its lease gone (it was stalled or cut off longer than the
lease) stops writing at once, so a run never has two writers.
"""

from __future__ import annotations

import logging
import threading

import redis

from shared import keys

log = logging.getLogger(__name__)

# Renew our lease. If it vanished (Redis restarted without persistence, or we were
# stalled past expiry) take it back only while the run record still names us as
# the running worker, or is gone too; otherwise the run was handed on: let go.
_RENEW = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if owner then return 0 end
local raw = redis.call('get', KEYS[2])
if raw then
  local record = cjson.decode(raw)
  if record['status'] ~= 'running' or record['worker'] ~= ARGV[1] then return 0 end
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaseKeeper:
    def __init__(self, r: redis.Redis, owner: str, lease_seconds: float):
        self.r = r
        self.owner = owner
        self.ttl_ms = int(lease_seconds * 1000)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)

    def acquire(self, run_id: str) -> bool:
        if not self.r.set(keys.run_lease(run_id), self.owner, nx=True, px=self.ttl_ms):
            return False
        with self._lock:
            self._held.add(run_id)
        return True

    def holds(self, run_id: str) -> bool:
        """Local answer, updated by renew(): cheap enough for the training loop."""
        with self._lock:
            return run_id in self._held

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def renew(self) -> None:
        """Extend every held lease; drop the ones that expired or were taken."""
        for run_id in self.held():
            if not self._renew(
                keys=[keys.run_lease(run_id), keys.run_record(run_id)],
                args=[self.owner, self.ttl_ms],
            ):
                log.error("lease on run %s lost; this worker stops writing to it", run_id)
                with self._lock:
                    self._held.discard(run_id)

    def release(self, run_id: str) -> None:
        with self._lock:
            self._held.discard(run_id)
        self._release(keys=[keys.run_lease(run_id)], args=[self.owner])
