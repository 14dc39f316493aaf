"""A small client of the public API (REST with requests, live events with python-socketio)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
import socketio

from shared import lifecycle
from shared.events import EventType

TERMINAL = {s.value for s in lifecycle.TERMINAL}


def _segment(value: str) -> str:
    """One URL path segment: an id a user typed never changes which endpoint is called
    (``../workers`` stays one segment, answered 404)."""
    return quote(str(value), safe="").replace(".", "%2E")  # "." and ".." too: never a dot segment


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        fields = "; ".join(f"{k}: {v}" for k, v in (body.get("fields") or {}).items())
        super().__init__(f"{body.get('error', 'error')} (HTTP {status})" + (f" — {fields}" if fields else ""))
        self.status = status


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200] or response.reason}
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/runs", json=spec)

    def fork(self, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/api/runs/{_segment(run_id)}/fork", json=body)

    def runs_page(
        self, status: str | None = None, search: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of runs, newest first, and the cursor of the next (None at the end)."""
        params = {
            k: v for k, v in {"status": status, "q": search, "limit": limit, "cursor": cursor}.items() if v is not None
        }
        body = self._call("GET", "/api/runs", params=params)
        return body["runs"], body.get("next_cursor")

    def runs(
        self, status: str | None = None, search: str | None = None, limit: int = 100, every: bool = False
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` runs, or with ``every`` all of them (following cursors)."""
        runs, cursor = self.runs_page(status, search, limit)
        while every and cursor:
            page, cursor = self.runs_page(status, search, 500, cursor)
            runs.extend(page)
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{_segment(run_id)}")

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/runs/{_segment(run_id)}/cancel", json={})

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """One page: at most ``limit`` (≤ 10,000) events with seq > ``after``."""
        return self._call("GET", f"/api/runs/{_segment(run_id)}/events", params={"after": after, "limit": limit})["events"]

    def create_sweep(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/sweeps", json=body)

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """The sweep with its runs, counts by status and best run."""
        return self._call("GET", f"/api/sweeps/{_segment(sweep_id)}")

    def epochs(self, run_id: str) -> list[dict[str, Any]]:
        """The run's ``epoch`` events (metrics per epoch), without reading its log."""
        return self._call("GET", f"/api/runs/{_segment(run_id)}/epochs")["epochs"]

    def follow(
        self, run_id: str, on_event: Callable[[dict[str, Any]], None], on_reconnect: Callable[[], None] = lambda: None
    ) -> None:
        """Call ``on_event`` for every event in seq order until the run ends.

        Reconnects on its own and subscribes again with the last seq it has, so a
        network blip or a web-tier restart loses nothing.
        """
        sio = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5)
        follower = _Follower(self, sio, run_id, on_event, on_reconnect)
        sio.on("connect", follower.connected)
        sio.on("run_event", follower.event)
        sio.on("error", _server_error)
        sio.connect(
            self.url, auth={"token": self.token} if self.token else None, transports=["websocket"], wait_timeout=self.timeout
        )
        try:
            while not follower.done.wait(0.5):
                pass
        finally:
            sio.disconnect()


def _server_error(data: dict[str, Any]) -> None:
    raise SystemExit(f"server: {data.get('error')}")


class _Follower:
    """One followed run: events handed on in seq order, gaps filled from event pages,
    a fresh subscribe (from the last seq) after every reconnect."""

    def __init__(
        self,
        client: Client,
        sio: socketio.Client,
        run_id: str,
        on_event: Callable[[dict[str, Any]], None],
        on_reconnect: Callable[[], None],
    ):
        self.client, self.sio, self.run_id = client, sio, run_id
        self.on_event, self.on_reconnect = on_event, on_reconnect
        self.last = 0
        self.held: dict[int, dict[str, Any]] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.connects = 0

    def connected(self) -> None:
        self.connects += 1
        if self.connects > 1:
            self.on_reconnect()
        self.sio.emit("subscribe", {"run_id": self.run_id, "after": self.last}, callback=self.fill)

    def fill(self, ack: dict[str, Any] | None = None) -> None:
        """The server replays a bounded tail; older events we lack come in pages."""
        first = (ack or {}).get("first_seq")
        while first is not None and self.last + 1 < first:
            page = self.client.events(self.run_id, after=self.last, limit=10_000)
            if not page:
                break
            for event in page:
                if event["seq"] < first:
                    self.event(event)

    def event(self, event: dict[str, Any]) -> None:
        if event.get("run_id") != self.run_id:
            return
        with self.lock:  # handlers may run in parallel threads: re-order by seq
            if event["seq"] <= self.last:
                return
            self.held[event["seq"]] = event
            while self.last + 1 in self.held:
                nxt = self.held.pop(self.last + 1)
                self.last = nxt["seq"]
                self.on_event(nxt)
                if nxt["type"] == EventType.STATUS and nxt["status"] in TERMINAL:
                    self.done.set()
