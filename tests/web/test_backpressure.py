"""The client-buffer guard's bounds, per client and over all clients (web.backpressure),
on stand-ins for Engine.IO sockets (the real server's cases: test_hostile_clients)."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from types import SimpleNamespace

from shared.settings import Settings
from web.backpressure import BufferGuard


@dataclass
class Packet:
    data: str


@dataclass
class FakeSocket:
    waiting: int
    size: int
    closed: bool = False
    queue: queue.Queue = field(default_factory=queue.Queue)
    server: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(get_queue_empty_exception=lambda: queue.Empty))

    def __post_init__(self):
        for _ in range(self.waiting):
            self.queue.put(Packet("x" * self.size))

    def close(self, wait: bool = True, abort: bool = False) -> None:
        self.closed = True


def guard(sockets: dict[str, FakeSocket], **limits) -> BufferGuard:
    socketio = SimpleNamespace(server=SimpleNamespace(eio=SimpleNamespace(sockets=sockets)))
    return BufferGuard(socketio, Settings(**limits))


def test_a_client_over_its_own_bound_is_dropped_and_a_reading_one_kept():
    sockets = {"slow": FakeSocket(200, 1000), "reading": FakeSocket(3, 1000)}
    assert guard(sockets, client_queue_limit=100).check() == 1
    assert sockets["slow"].closed and not sockets["reading"].closed
    assert sockets["slow"].queue.qsize() == 1  # emptied, and the writer told to stop (None)


def test_many_slow_clients_each_under_the_bound_are_dropped_biggest_first_past_the_total():
    """Eight clients with 2 MB waiting each, under a 3 MB per-client bound; the total
    bound (5 MB) drops the ones with the most waiting until the rest fit."""
    sockets = {f"c{i}": FakeSocket(100, 20_000 + i * 1000) for i in range(8)}
    dropped = guard(sockets, client_queue_bytes=3 * 2**20, clients_queue_bytes=5 * 2**20).check()
    kept = [sid for sid, s in sockets.items() if not s.closed]
    assert dropped == 6 and kept == ["c0", "c1"], kept
