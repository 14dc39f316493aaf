"""A real Socket.IO client that follows a run the way the page does."""

from __future__ import annotations

import threading
import time

import socketio

TERMINAL = {"succeeded", "failed", "cancelled"}


class RunWatcher:
    """Subscribes to one run; keeps events in seq order and drops repeats.

    python-engineio's client runs each message handler in its own thread, so
    events can reach us out of order even though the server sent them in order:
    like the page, we hold back an event that skips ahead until the ones before
    it arrive. ``gaps`` lists holes still open when the run ended.
    """

    def __init__(self, url: str, run_id: str, after: int = 0, token: str | None = None):
        self.url, self.run_id, self.token = url, run_id, token
        self.events: list[dict] = []
        self.last_seq = after
        self.gaps: list[tuple[int, int]] = []
        self.held: dict[int, dict] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.acks: list[dict] = []
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0)
        self.sio.on("run_event", self._on_event)
        self.sio.on("connect", self._on_connect)

    def start(self) -> RunWatcher:
        self.sio.connect(
            self.url, transports=["websocket"], wait_timeout=10, auth={"token": self.token} if self.token else None
        )
        return self

    def _on_connect(self) -> None:
        # On every (re)connect: subscribe again from the last seq we have.
        threading.Thread(target=self._subscribe, daemon=True).start()

    def _subscribe(self) -> None:
        try:
            ack = self.sio.call("subscribe", {"run_id": self.run_id, "after": self.last_seq}, timeout=10)
            self.acks.append(ack)
            self._fill(ack)
        except Exception as exc:  # reconnect will try again
            self.acks.append({"ok": False, "error": str(exc)})

    def _fill(self, ack: dict) -> None:
        """Like the page: a replay starting after our last seq leaves a hole we page in."""
        import requests

        first = ack.get("first_seq") if isinstance(ack, dict) else None
        while first is not None and self.last_seq + 1 < first:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            page = requests.get(
                f"{self.url}/api/runs/{self.run_id}/events",
                headers=headers,
                params={"after": self.last_seq, "limit": 10000},
                timeout=30,
            ).json()
            if not page["events"]:
                break
            for event in page["events"]:
                if event["seq"] < first:
                    self._on_event(event)

    def _on_event(self, event: dict) -> None:
        if event["run_id"] != self.run_id:
            return
        with self._lock:
            if event["seq"] <= self.last_seq or event["seq"] in self.held:
                self.duplicates += 1
                return
            self.held[event["seq"]] = event
            while self.last_seq + 1 in self.held:
                nxt = self.held.pop(self.last_seq + 1)
                self.last_seq = nxt["seq"]
                self.events.append(nxt)
                if nxt["type"] == "status" and nxt["status"] in TERMINAL:
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
            raise TimeoutError(
                f"run {self.run_id} did not finish in {timeout}s; last seq {self.last_seq}, held back {sorted(self.held)}"
            )
        with self._lock:
            if self.held:
                self.gaps.append((self.last_seq, min(self.held)))
        return self.events

    def close(self) -> None:
        self.sio.disconnect()
