"""Per-client bounds on the live stream: what one Socket.IO client may make the server do.

A client is a browser tab, or a script written to hurt. Without bounds, one socket
sending 2,000 ``subscribe`` events starts 2,000 replays, each reading and queueing a
thousand events, and the server's memory and latency follow. So (docs/architecture.md, "Invariants"):

* **Subscriptions are capped** (``max_subscriptions`` runs per client); a repeated
  ``subscribe`` for a run it already follows replaces the earlier one — never adds.
* **One replay per client at a time**, and a newer ``subscribe`` for the same run
  supersedes the replay in flight (it stops at its next chunk; a waiting one never
  starts), so a burst costs about one replay, not one per message.
* **Subscribes in flight are capped** (``MAX_PENDING``): beyond them a client is told
  to wait for its acks, at once, without work.
* **Replays in flight are capped in total** (``REPLAY_SLOTS``): replay memory is at
  most that many pages of ``replay_limit`` events, however many clients ask.
* **A client that floods is dropped**: past ``MAX_REFUSALS`` refused subscribes it is
  disconnected, and what it queued meanwhile is discarded unhandled (Socket.IO ignores
  events of a client it no longer knows): a page never gets near the bound.
* A client that disconnects (or is dropped for not reading: web.backpressure) has its
  replays stopped at their next chunk.

Green-thread friendly: ``threading`` primitives, patched by the entry point's async mode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: Subscribes of one client being handled at once (waiting for its replay turn included).
MAX_PENDING = 8
#: Replays in flight across every client of this process.
REPLAY_SLOTS = 8
#: Refused subscribes after which a client counts as flooding and is disconnected.
MAX_REFUSALS = 64


class Refused(Exception):
    """A subscribe over a bound: answered ``{"ok": false, "error"}`` and nothing done."""


@dataclass
class Client:
    rooms: set[str] = field(default_factory=set)
    #: The newest subscribe per followed run: a replay whose number is not it stops.
    #: Numbers come from one counter per client, so a run followed again never
    #: revives an old replay, and a run left takes its entry with it.
    generation: dict[str, int] = field(default_factory=dict)
    subscribes: int = 0
    pending: int = 0
    refusals: int = 0
    closed: bool = False
    replay_turn: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Ticket:
    """One subscribe's claim: ``current()`` is False once superseded or disconnected."""

    client: Client
    run_id: str
    number: int

    def current(self) -> bool:
        return not self.client.closed and self.client.generation.get(self.run_id) == self.number


class Subscriptions:
    def __init__(self, max_subscriptions: int):
        self.max_subscriptions = max_subscriptions
        self.clients: dict[str, Client] = {}
        self.slots = threading.BoundedSemaphore(REPLAY_SLOTS)

    def rooms_of(self, sid: str) -> set[str]:
        client = self.clients.get(sid)
        return set(client.rooms) if client else set()

    @contextmanager
    def subscribe(self, sid: str, run_id: str) -> Iterator[Ticket]:
        """Admit one subscribe (or raise :class:`Refused`); the ticket says whether it is
        still the newest for its run while it replays."""
        client = self.clients.setdefault(sid, Client())
        if run_id not in client.rooms and len(client.rooms) >= self.max_subscriptions:
            client.refusals += 1
            raise Refused(f"this connection follows {len(client.rooms)} runs, the most allowed; unsubscribe from one first")
        if client.pending >= MAX_PENDING:
            client.refusals += 1
            raise Refused(f"{client.pending} subscribes of this connection are still being answered; wait for their acks")
        client.subscribes += 1
        number = client.generation[run_id] = client.subscribes
        client.rooms.add(run_id)
        client.pending += 1
        try:
            yield Ticket(client, run_id, number)
        finally:
            client.pending -= 1

    @contextmanager
    def replay_turn(self, ticket: Ticket) -> Iterator[bool]:
        """Wait for this client's turn and a free slot; yields whether the replay should
        still run (a newer subscribe for the run, or a disconnect, cancels it)."""
        with ticket.client.replay_turn:
            if not ticket.current():
                yield False
                return
            with self.slots:
                yield ticket.current()

    def flooding(self, sid: str) -> bool:
        client = self.clients.get(sid)
        return client is not None and client.refusals > MAX_REFUSALS

    def unsubscribe(self, sid: str, run_id: str) -> None:
        client = self.clients.get(sid)
        if client is not None:
            client.rooms.discard(run_id)
            client.generation.pop(run_id, None)  # stops its replay

    def forget(self, sid: str) -> None:
        """The client is gone: its replays stop at their next chunk."""
        client = self.clients.pop(sid, None)
        if client is not None:
            client.closed = True
