"""Hostile clients against the real web tier (web tier alone: Redis + ``python -m web``).

1. **Subscribe flood**: one raw WebSocket client sends ``--subscribes`` subscribes for
   one run of ``--events`` events, then stops reading. Measured: the web process's RSS
   before, at peak and after; ``/healthz`` latency sampled every 100 ms throughout;
   whether the client was dropped.
2. **Anonymous connects** with surrogate, non-string, empty and 1 MB tokens while
   API_TOKEN is set: how many got in (must be 0).
3. **Malformed packets**, anonymously: one WebSocket sends ``4X`` (not Socket.IO) as fast
   as it can for ``--burst-seconds``. Measured: frames sent, ``/healthz`` during, how much
   the web tier logged, whether the client was cut off.
4. **Half-sent requests**: ``--half-open`` connections each send the start of a request
   and nothing more; ``/healthz`` is asked five times while they are held.

``--web-tree`` runs the web tier of another checkout (e.g. a ``git worktree`` of the
previous release) for a side-by-side figure.

    python -m benchmarks.hostile --subscribes 2000 --events 1020 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests
import websocket

from benchmarks.fanout import start_web
from shared.eventlog import EventWriter
from shared.events import EventType
from tests.processes import ROOT, start_redis

TOKEN = "benchmark-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def raw_socket(url: str, auth: str) -> tuple[websocket.WebSocket, str]:
    """Engine.IO over a bare WebSocket: open, send CONNECT with ``auth`` as given,
    return the socket and the server's answer to the CONNECT."""
    ws = websocket.create_connection(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=10)
    ws.recv()  # the Engine.IO open packet
    ws.send("40" + auth)
    answer = ws.recv()
    return ws, answer if isinstance(answer, str) else answer.decode()


def flood(url: str, run_id: str, subscribes: int) -> websocket.WebSocket:
    ws, answer = raw_socket(url, json.dumps({"token": TOKEN}))
    assert answer.startswith("40{"), answer
    packet = json.dumps(["subscribe", {"run_id": run_id, "after": 0}])
    for i in range(subscribes):
        ws.send(f"42{i}{packet}")  # with an ack id, as a client waiting for acks would
    return ws  # and never read again


def healthz_ms(url: str, timeout: float = 60) -> float:
    """How long one /healthz took to answer (or to fail), in ms."""
    started = time.perf_counter()
    try:
        requests.get(url + "/healthz", timeout=timeout)
    except requests.RequestException:
        pass
    return (time.perf_counter() - started) * 1000


def sample_health(url: str, seconds: float, pid: int) -> tuple[list[float], float]:
    latencies, peak = [], 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        latencies.append(healthz_ms(url))
        peak = max(peak, rss_mib(pid))
        time.sleep(0.1)
    return latencies, peak


ANONYMOUS = {
    "surrogate": '{"token":"\\ud800"}',
    "int": '{"token":123}',
    "list": '{"token":["x"]}',
    "empty": '{"token":""}',
    "none": "",
    "1MB": '{"token":"' + "x" * (1 << 20) + '"}',
}


def anonymous_connects(url: str) -> dict[str, str]:
    answers = {}
    for name, auth in ANONYMOUS.items():
        try:
            ws, answer = raw_socket(url, auth)
            if answer.startswith("40"):
                answers[name] = f"ACCEPTED: {answer[:60]}"
            else:
                answers[name] = "refused" if answer.startswith("44") else f"refused (closed: {answer[:20]!r})"
            ws.close()
        except (websocket.WebSocketException, OSError) as exc:
            answers[name] = f"refused ({type(exc).__name__})"
    return answers


def malformed_flood(url: str, seconds: float, log: Path) -> dict[str, object]:
    """Anonymous ``4X`` frames on one WebSocket for ``seconds``, /healthz sampled beside."""
    ws = websocket.create_connection(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=10)
    ws.recv()
    logged_before = log.stat().st_size
    sent, cut_off = 0, False
    stop = threading.Event()
    health: list[float] = []

    def sampler() -> None:
        while not stop.is_set():
            health.append(healthz_ms(url, timeout=30))
            stop.wait(0.1)

    thread = threading.Thread(target=sampler)
    thread.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.send("4X")
            sent += 1
    except (websocket.WebSocketException, OSError):
        cut_off = True
    time.sleep(2)
    stop.set()
    thread.join()
    ws.close()
    return {
        "frames_sent": sent,
        "client_cut_off": cut_off,
        "healthz_ms_p50": round(statistics.median(health), 1),
        "healthz_ms_max": round(max(health), 1),
        "log_bytes": log.stat().st_size - logged_before,
    }


def half_open(url: str, count: int) -> dict[str, object]:
    """``count`` connections that send the start of a request and stop; /healthz meanwhile."""
    host, port = url.removeprefix("http://").split(":")
    held, refused = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((host, int(port)), timeout=2)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        except OSError:
            refused += 1  # the server's queue of connections to accept is full
    time.sleep(1)
    answers: list[str] = []
    for _ in range(5):
        started = time.perf_counter()
        try:
            status = str(requests.get(url + "/healthz", timeout=10).status_code)
        except requests.RequestException as exc:
            status = type(exc).__name__
        answers.append(f"{status} in {(time.perf_counter() - started) * 1000:.0f} ms")
    for s in held:
        s.close()
    return {"connections_held": len(held), "could_not_connect": refused, "healthz": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribes", type=int, default=2000)
    parser.add_argument("--events", type=int, default=1020)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--web-tree", type=Path, default=ROOT)
    parser.add_argument("--burst-seconds", type=float, default=10)
    parser.add_argument("--half-open", type=int, default=1100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    redis_proc, redis_url = start_redis(tmp / "redis", persist=False)
    env = {**os.environ, "REDIS_URL": redis_url, "RESULTS_DIR": str(tmp / "results"), "API_TOKEN": TOKEN}
    web, url = start_web(args.web_tree, env, tmp / "web.log")
    try:
        run_id = requests.post(url + "/api/runs", json={"name": "flooded"}, headers=AUTH, timeout=10).json()["id"]
        writer = EventWriter(redis.Redis.from_url(redis_url), env["RESULTS_DIR"], run_id)
        for step in range(1, args.events):
            writer.append(
                EventType.PROGRESS, epoch=1, step=step, steps_per_epoch=args.events, losses=[0.5] * 10, images_per_sec=1e3
            )
        writer.close(timeout=30)
        time.sleep(2)
        before = rss_mib(web.pid)
        quiet, _ = sample_health(url, 2, web.pid)
        ws = flood(url, run_id, args.subscribes)
        threading.Event().wait(0.5)
        latencies, peak = sample_health(url, args.seconds, web.pid)
        after = rss_mib(web.pid)
        try:
            ws.settimeout(5)
            while ws.recv():
                pass
            dropped = True
        except websocket.WebSocketTimeoutException:
            dropped = False  # still connected: it read what was waiting, then nothing came
        except (websocket.WebSocketException, OSError):
            dropped = True
        result = {
            "web_tree": str(args.web_tree),
            "subscribes": args.subscribes,
            "run_events": args.events,
            "rss_mib_before": round(before, 1),
            "rss_mib_peak": round(peak, 1),
            "rss_mib_after": round(after, 1),
            "rss_growth_mib": round(peak - before, 1),
            "healthz_ms_quiet_p50": round(statistics.median(quiet), 1),
            "healthz_ms_p50": round(statistics.median(latencies), 1),
            "healthz_ms_max": round(max(latencies), 1),
            "healthz_samples": len(latencies),
            "healthz_samples_over_100ms": sum(1 for x in latencies if x > 100),
            "client_cut_off": dropped,
            "anonymous_connects": anonymous_connects(url),
            "malformed_packets": malformed_flood(url, args.burst_seconds, tmp / "web.log"),
            "half_sent_requests": half_open(url, args.half_open),
        }
        print(json.dumps(result))
    finally:
        web.terminate()
        redis_proc.stop()


if __name__ == "__main__":
    main()
