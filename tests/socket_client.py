"""A real Socket.IO client that follows a run the way the page does."""
from __future__ import annotations

import threading
import time

import socketio

TERMINAL = {"succeeded", "failed", "cancelled"}


class RunWatcher:
    """Subscribes to one run; keeps events in seq order, drops repeats, records gaps."""

    def __init__(self, url: str, run_id: str, after: int = 0):
        self.url, self.run_id = url, run_id
        self.events: list[dict] = []
        self.last_seq = after
        self.gaps: list[tuple[int, int]] = []
        self.duplicates = 0
        self.done = threading.Event()
        self.acks: list[dict] = []
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2,
                                   reconnection_delay_max=1.0)
        self.sio.on("run_event", self._on_event)
        self.sio.on("connect", self._on_connect)

    def start(self) -> "RunWatcher":
        self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        return self

    def _on_connect(self) -> None:
        # On every (re)connect: subscribe again from the last seq we have.
        threading.Thread(target=self._subscribe, daemon=True).start()

    def _subscribe(self) -> None:
        try:
            ack = self.sio.call("subscribe", {"run_id": self.run_id, "after": self.last_seq},
                                timeout=10)
            self.acks.append(ack)
        except Exception as exc:  # reconnect will try again
            self.acks.append({"ok": False, "error": str(exc)})

    def _on_event(self, event: dict) -> None:
        if event["run_id"] != self.run_id:
            return
        if event["seq"] <= self.last_seq:
            self.duplicates += 1
            return
        if event["seq"] != self.last_seq + 1:
            self.gaps.append((self.last_seq, event["seq"]))
        self.last_seq = event["seq"]
        self.events.append(event)
        if event["type"] == "status" and event["status"] in TERMINAL:
            self.done.set()

    def wait_for(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(e) for e in list(self.events)):
                return
            time.sleep(0.05)
        raise TimeoutError(f"no matching event within {timeout}s; have {len(self.events)}")

    def wait_done(self, timeout: float = 120) -> list[dict]:
        if not self.done.wait(timeout):
            raise TimeoutError(f"run {self.run_id} did not finish in {timeout}s")
        return self.events

    def close(self) -> None:
        self.sio.disconnect()
