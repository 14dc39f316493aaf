"""The conductor: the web tier proposes a search's runs as results come back.

A search (shared.sweeps.describe_search) starts with no runs. Every ``INTERVAL_SECONDS``
each web process walks the searches still proposing (``keys.ACTIVE_SEARCHES``) and, for
each whose per-sweep lock it gets, does one step:

1. **Proposals first, runs second.** A proposal (its number, run id and values) is
   written to the sweep — on the volume, then in Redis — before its run is submitted.
   A proposal with no run (the process died in between, the queue was full, Redis was
   away) is submitted again under the same run id on the next step; one that has a run
   is never proposed again. So a web tier killed mid-sweep, or Redis emptied mid-sweep
   (sweeps and runs come back from the volume), loses no trial and proposes no duplicate.
   Every write to a search's record happens under its lock (``SearchLock``), so two web
   processes, or a step and a cancel, never overwrite each other.
2. **PBT's next generation** (shared.pbt) once every member of the current one has
   ended: each member a fork of its own run or, in the bottom quarter, of a top one.
3. **New trials** while fewer than ``parallelism`` are in flight and the budget lasts:
   shared.search asks Optuna, given every result so far.
4. **Done** when the budget is spent and every run has ended; the importance of each
   searched field is refreshed as trials finish.

Async-mode agnostic: Flask-SocketIO's ``start_background_task`` and ``sleep`` only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import redis
from flask import Flask

from shared import keys, pbt, search
from shared.lifecycle import TERMINAL
from shared.run_record import RunRecord, new_record
from shared.sweeps import run_spec
from shared.workers import live_workers
from web import submission
from web.errors import ApiError
from web.services import Services, of

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
#: The longest one step may hold a search's lock (released when the step ends; this only
#: bounds how long a holder that died keeps others out). A step stays far below it.
LOCK_SECONDS = 10
#: Most new trials one step proposes. Optuna's work runs on this process's event loop:
#: it yields between two proposals (each tens of ms), and a search of wide parallelism
#: fills up over a few steps rather than freezing requests for seconds in one.
PROPOSALS_PER_STEP = 8


class Conductor:
    def __init__(self, app: Flask, pause: Callable[[], object] = lambda: None):
        self.app = app
        self.wired: Services = of(app)
        #: Yields to the web process's other work (its async mode's sleep(0)).
        self.pause = pause

    def run_once(self) -> None:
        for sweep_id in self.wired.sweeps.active_searches():
            with SearchLock(self.wired.redis, sweep_id) as held:
                if not held:
                    continue  # another web process is at it (or a cancel)
                try:
                    with self.app.app_context():
                        self.step(sweep_id)
                except redis.RedisError:
                    raise  # Redis is away: the loop backs off (shared.retry.run_every)
                except Exception:  # one search's fault must not stop the others
                    log.exception("search %s: step failed; trying again next round", sweep_id)
            self.pause()

    def step(self, sweep_id: str) -> None:
        """One step of one search (the module docstring's four)."""
        store = self.wired.sweeps
        sweep = store.get(sweep_id)
        if sweep is None or sweep.get("done"):
            self.wired.redis.srem(keys.ACTIVE_SEARCHES, sweep_id)
            return
        records = {r["id"]: r for r in store.run_records(sweep)}
        if sweep.get("cancelled"):  # proposals never sent stay unsent
            return self._finish_if_ended(sweep, records)
        unsent = [p for p in sweep["proposals"] if p["run_id"] not in records]
        if unsent and not self._submit(sweep, unsent):
            return  # the queue is full or away: try again next step, propose nothing new
        new = self._next_proposals(sweep, records)
        if new:
            sweep["proposals"].extend(new)
            sweep["run_ids"].extend(p["run_id"] for p in new)
            store.save(sweep)  # recorded before submitted: see the module docstring
            self._submit(sweep, new)
            return
        self._finish_if_ended(sweep, records)

    def _next_proposals(self, sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        if sweep["method"] == "pbt":
            return _pbt_proposals(sweep, records)
        in_flight = sum(1 for p in sweep["proposals"] if (records.get(p["run_id"]) or {}).get("status") not in TERMINAL)
        room = min(self._parallelism(sweep) - in_flight, sweep["trials"] - len(sweep["proposals"]), PROPOSALS_PER_STEP)
        new: list[dict[str, Any]] = []
        for _ in range(max(0, room)):
            self.pause()
            # Each new proposal sees the ones before it as pending trials.
            params = search.propose({**sweep, "proposals": sweep["proposals"] + new}, records)
            new.append(_proposal(len(sweep["proposals"]) + len(new), params, told=search.told(sweep, records)))
        return new

    def _parallelism(self, sweep: dict[str, Any]) -> int:
        if sweep.get("parallelism"):
            return int(sweep["parallelism"])
        return max(1, len(live_workers(self.wired.redis)))

    def _submit(self, sweep: dict[str, Any], proposals: list[dict[str, Any]]) -> bool:
        """Record and enqueue the proposals' runs; False when the queue would not take them."""
        records = [self._record(sweep, p) for p in proposals]
        try:
            submission.submit(records, client=f"search:{sweep['id']}")
        except ApiError as exc:
            log.warning("search %s: %d proposed run(s) wait: %s", sweep["id"], len(records), exc.message)
            return False
        for proposal, record in zip(proposals, records):
            if proposal.get("parent_run_id"):
                self.wired.runs.add_child(proposal["parent_run_id"], record["id"])
        return True

    def _record(self, sweep: dict[str, Any], proposal: dict[str, Any]) -> RunRecord:
        label = f"{sweep['name']} #{proposal['number']}"
        if proposal.get("member") is not None:
            label = f"{sweep['name']} m{proposal['member']} g{proposal['generation']}"
            if proposal.get("exploit"):
                label += " exploit"  # a branch from another member's run
        record = new_record(run_spec(sweep, sweep["base"], proposal["params"], label))
        record["id"], record["sweep_id"] = proposal["run_id"], sweep["id"]
        if proposal.get("parent_run_id"):
            record["parent_run_id"] = proposal["parent_run_id"]
            record["forked_from_epoch"] = record["epoch"] = proposal["from_epoch"]
        return record

    def _finish_if_ended(self, sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> None:
        sent = [p for p in sweep["proposals"] if p["run_id"] in records or not sweep.get("cancelled")]
        ended = all((records.get(p["run_id"]) or {}).get("status") in TERMINAL for p in sent)
        spent = sweep.get("cancelled") or sweep["method"] == "pbt" or len(sweep["proposals"]) >= sweep["trials"]
        changed = self._refresh_importance(sweep, records)
        if ended and spent:
            sweep["done"], sweep["finished_at"] = True, time.time()
            changed = True
        if changed:
            self.wired.sweeps.save(sweep)

    def _refresh_importance(self, sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> bool:
        told = search.told(sweep, records)
        if sweep["method"] == "pbt" or sweep.get("importance_told") == told:
            return False
        self.pause()
        sweep["importance"], sweep["importance_told"] = search.importance(sweep, records), told
        return True


def _proposal(number: int, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"number": number, "run_id": uuid.uuid4().hex, "params": params, "proposed_at": time.time(), **extra}


def _pbt_proposals(sweep: dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The first generation, then the next one each time a generation has ended."""
    if not sweep["proposals"]:
        return [_proposal(m, params, member=m, generation=0) for m, params in enumerate(pbt.initial_population(sweep))]
    number = len(sweep["proposals"])
    return [_proposal(number + i, p.pop("params"), **p) for i, p in enumerate(pbt.next_generation(sweep, records))]


class SearchLock:
    """Whoever changes a search's record holds this: the conductor for one step, a cancel
    for its one write. So no write is lost to another's read-modify-write (a cancel
    cannot drop a proposal, a step cannot drop a cancel). It expires by itself if its
    holder dies; it is released only by its holder."""

    _RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

    def __init__(self, r: Any, sweep_id: str, wait: float = 0.0, sleep: Any = time.sleep):
        self.r, self.key, self.wait, self.sleep = r, keys.sweep_conductor(sweep_id), wait, sleep
        self.token = uuid.uuid4().hex
        self.held = False

    def __enter__(self) -> bool:
        deadline = time.monotonic() + self.wait
        while True:
            self.held = bool(self.r.set(self.key, self.token, nx=True, ex=LOCK_SECONDS))
            if self.held or time.monotonic() >= deadline:
                return self.held
            self.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.r.eval(self._RELEASE, 1, self.key, self.token)
