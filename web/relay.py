"""Relay from Redis to Socket.IO rooms, in order and without gaps.

One background task per web process listens on every run's pub/sub channel and
on the run-updates channel. Pub/sub can lose messages (a reconnect, a slow
consumer), so the relay remembers the last ``seq`` it sent to each run's room
and, when a message skips ahead, first sends the missing events from the run's
durable log. A subscriber joins the run's room before its bounded replay is read,
so it gets every event, at worst twice or out of order (clients order by seq and
drop repeats); replays take no lock, so they never hold up the live tail.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis
from flask_socketio import SocketIO

from shared import keys
from shared.eventlog import last_seq
from shared.retry import Backoff
from shared.settings import Settings
from shared.workers import live_workers
from web.backpressure import over_limit
from web.history.reader import read_events

log = logging.getLogger(__name__)

#: How often the worker list is read for the page; it is pushed only when it changed
#: (or every WORKERS_REFRESH seconds, to move "last seen" along).
WORKERS_INTERVAL = 2.0
WORKERS_REFRESH = 10.0
#: Events a replay sends before it yields to other clients and checks the buffer.
REPLAY_CHUNK = 50


def room_of(run_id: str) -> str:
    return f"run:{run_id}"


class Relay:
    def __init__(self, socketio: SocketIO, r: redis.Redis, settings: Settings):
        self.socketio = socketio
        self.r = r
        self.settings = settings
        self.cursors: dict[str, int] = {}
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._started = False
        self.running = True

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.socketio.start_background_task(self._loop)
            self.socketio.start_background_task(self._workers_loop)

    # -- subscribers -----------------------------------------------------------
    def replay(
        self, run_id: str, after: int, sid: str, join: Callable[[], None], keep: Callable[[], bool] = lambda: True
    ) -> dict[str, int]:
        """Join the run's room, then send ``sid`` the events after ``after`` — at most
        ``replay_limit`` of them, the newest; returns ``replayed``, ``first_seq``, ``last_seq``.

        The room is joined before the log is read, so every event is either in what
        is read or delivered live (perhaps twice or out of order; clients order by
        seq). No lock is held while sending: a long replay never delays the live
        events of the run's other watchers, and the sends yield to other green
        threads every ``REPLAY_CHUNK`` events. It stops early when ``keep()`` turns
        False (a newer subscribe, a disconnect) or the client stops reading.
        """
        join()
        results_dir, limit = self.settings.results_dir, self.settings.replay_limit
        top = last_seq(self.r, results_dir, run_id)
        first = max(after + 1, top - limit + 1)
        events = read_events(self.r, results_dir, run_id, first - 1, limit, pause=self._pause)
        sent = 0
        for sent, event in enumerate(events, 1):
            self.socketio.emit("run_event", event, to=sid)
            if sent % REPLAY_CHUNK == 0:
                if not keep() or over_limit(self.socketio, sid, self.settings):
                    break  # superseded, gone, or not reading (the buffer guard drops it)
                self.socketio.sleep(0)
        return {"replayed": sent, "first_seq": first if sent else top + 1, "last_seq": top}

    def _pause(self) -> None:
        self.socketio.sleep(0)

    # -- the loop ------------------------------------------------------------
    def _loop(self) -> None:
        backoff = Backoff()
        while self.running:
            pubsub = self.r.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.psubscribe(keys.RUN_EVENTS_PATTERN)
                pubsub.subscribe(keys.RUN_UPDATES_CHANNEL)
                if backoff.retrying:
                    log.info("relay: reconnected to Redis; catching up %d run(s)", len(self.cursors))
                    self._catch_up_all()
                backoff.reset()
                while self.running:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        self.socketio.sleep(0)
                        continue
                    self._dispatch(message)
            except (redis.RedisError, OSError) as exc:
                delay = backoff.next()
                log.warning("relay: Redis unavailable (%s); retrying in %.1fs", exc, delay)
                self.socketio.sleep(delay)
            except Exception:
                log.exception("relay: unexpected error; restarting the loop")
                self.socketio.sleep(1.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    def _workers_loop(self) -> None:
        """Push the worker list to every page when it changes (pages never poll)."""
        last_key, last_sent = None, 0.0
        while self.running:
            try:
                workers = live_workers(self.r)
                key = [(w["name"], w["device"], w.get("current_run")) for w in workers]
                now = time.monotonic()
                if key != last_key or now - last_sent >= WORKERS_REFRESH:
                    self.socketio.emit("workers", {"workers": workers})
                    last_key, last_sent = key, now
            except (redis.RedisError, OSError) as exc:
                log.debug("workers: Redis unavailable (%s)", exc)
            self.socketio.sleep(WORKERS_INTERVAL)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        data = json.loads(message["data"])
        if channel == keys.RUN_UPDATES_CHANNEL:
            self.socketio.emit("run_update", data)
        else:
            self.deliver(keys.run_id_from_channel(channel), data)

    def deliver(self, run_id: str, event: dict[str, Any]) -> None:
        """Send ``event`` to the room, first filling any gap since the last one sent."""
        seq = event["seq"]
        with self._locks[run_id]:
            cursor = self.cursors.get(run_id)
            if cursor is not None and seq <= cursor:
                return
            if cursor is not None and seq > cursor + 1:
                missing = read_events(
                    self.r,
                    self.settings.results_dir,
                    run_id,
                    cursor,
                    limit=min(seq - cursor - 1, self.settings.replay_limit),
                )
                for old in missing:
                    if old["seq"] < seq:
                        self.socketio.emit("run_event", old, to=room_of(run_id))
            self.socketio.emit("run_event", event, to=room_of(run_id))
            self.cursors[run_id] = seq

    def _catch_up_all(self) -> None:
        """After a pub/sub reconnect, send what every followed run missed meanwhile."""
        for run_id, cursor in list(self.cursors.items()):
            events = read_events(self.r, self.settings.results_dir, run_id, cursor, limit=self.settings.replay_limit)
            for event in events:
                self.deliver(run_id, event)
