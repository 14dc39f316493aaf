"""Tells the outside world when runs and sweeps end: a JSON POST to NOTIFY_URL and to a
run's or sweep's own ``notify_url``.

Every terminal status change pushes ``{"run_id"}`` onto a Redis list in the same
transaction (shared.runs); each worker runs this thread, which takes notices off that
list and posts them with capped exponential backoff (six tries, ~30 s), never on the
training thread. When the last run of a sweep ends, the sweep's notice goes out too,
once (a Redis SET NX decides which worker sends it). Delivery is at least once: a
worker moves a notice to its own "sending" list while it sends it (BLMOVE), and a
notice left there by a worker that died goes back on the queue for another worker,
so a crash can repeat a notice but not lose one. The body is Slack-compatible (a
``text`` field) and carries the details as JSON:

    {"text": "Trainboard: run “lr 0.003” succeeded — best test accuracy 98.91% — http://…/#run=…",
     "event": "run_finished", "run": {"id", "name", "status", "best_test_accuracy", "error",
     "sweep_id", "url"}}
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any, cast

import redis

from shared import keys
from shared.retry import Backoff
from shared.settings import Settings
from shared.sweep_store import SweepStore, summarize

log = logging.getLogger(__name__)

ATTEMPTS = 6
#: How often a notifier looks for notices left behind by dead workers.
ORPHAN_CHECK_SECONDS = 30.0
TIMEOUT = 5.0


def post_json(url: str, body: dict[str, Any], attempts: int = ATTEMPTS) -> bool:
    """POST ``body``; retried with backoff on errors and 5xx; True when it was accepted."""
    data = json.dumps(body).encode()
    backoff = Backoff()
    for attempt in range(1, attempts + 1):
        try:
            request = urllib.request.Request(url, data=data, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "User-Agent": "trainboard-notifier"})
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                if response.status < 300:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                log.warning("notification to %s refused: HTTP %d", url, exc.code)
                return False
            problem: str = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = "unexpected status"
        if attempt < attempts:
            delay = backoff.next()
            log.warning("notification to %s failed (%s); retry %d in %.1fs", url, problem, attempt, delay)
            time.sleep(delay)
    log.error("gave up notifying %s after %d tries", url, attempts)
    return False


def run_notice(run: dict[str, Any], public_url: str) -> dict[str, Any]:
    best = run.get("metrics", {}).get("best_test_accuracy")
    link = f"{public_url}/#run={run['id']}"
    text = f"Trainboard: run “{run['name']}” {run['status']}"
    text += f" — best test accuracy {best:.2%}" if best is not None else ""
    text += f" — {run['error']}" if run.get("error") and run["status"] == "failed" else ""
    return {"text": f"{text} — {link}", "event": "run_finished",
            "run": {"id": run["id"], "name": run["name"], "status": run["status"],
                    "best_test_accuracy": best, "error": run.get("error"),
                    "sweep_id": run.get("sweep_id"), "url": link}}


def sweep_notice(summary: dict[str, Any], public_url: str) -> dict[str, Any]:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
    link = f"{public_url}/#sweep={summary['id']}"
    best = summary.get("best_test_accuracy")
    text = f"Trainboard: sweep “{summary['name']}” finished ({counts})"
    text += f" — best test accuracy {best:.2%}" if best is not None else ""
    return {"text": f"{text} — {link}", "event": "sweep_finished",
            "sweep": {"id": summary["id"], "name": summary["name"], "counts": summary["counts"],
                      "best_run_id": summary.get("best_run_id"), "best_test_accuracy": best,
                      "url": link}}


class Notifier(threading.Thread):
    def __init__(self, r: redis.Redis, settings: Settings, worker: str):
        super().__init__(name="trainboard-notifier", daemon=True)
        self.r, self.settings = r, settings
        self.sending = keys.notifications_sending(worker)
        self.sweeps = SweepStore(r, settings.results_dir)
        self._stop_event = threading.Event()
        self._started_clean = False

    def run(self) -> None:
        backoff = Backoff()
        last_sweep = -ORPHAN_CHECK_SECONDS
        while not self._stop_event.is_set():
            try:
                if time.monotonic() - last_sweep >= ORPHAN_CHECK_SECONDS:
                    self.requeue_orphaned()  # not every 2 s: it scans the sending lists
                    last_sweep = time.monotonic()
                item = cast(bytes | None, self.r.blmove(keys.NOTIFICATIONS, self.sending, 2,
                                                        "LEFT", "RIGHT"))
                backoff.reset()
                if item is not None:
                    try:
                        self.handle(json.loads(item)["run_id"])
                    finally:
                        self.r.lrem(self.sending, 1, item.decode())
            except redis.RedisError as exc:
                delay = backoff.next()
                log.warning("notifier: Redis unavailable (%s); retrying in %.1fs", exc, delay)
                self._stop_event.wait(delay)
            except Exception:
                log.exception("notifier: could not handle a notice")

    def requeue_orphaned(self) -> None:
        """Put back the notices of workers that died while sending them (this worker's
        own leftovers too, from before a restart under the same name)."""
        alive = {n.decode() for n in cast(set[bytes], self.r.smembers(keys.WORKERS))
                 if self.r.exists(keys.worker_heartbeat(n.decode()))}
        for raw in self.r.scan_iter(match=keys.NOTIFICATIONS_SENDING_PATTERN, count=100):
            key = raw.decode()
            if key != self.sending and keys.worker_from_sending(key) in alive:
                continue
            if key == self.sending and self._started_clean:
                continue
            while self.r.lmove(key, keys.NOTIFICATIONS, "RIGHT", "LEFT") is not None:
                pass
        self._started_clean = True

    def handle(self, run_id: str) -> None:
        run = self.sweeps.runs.get(run_id)
        if run is None:
            return
        public = self.settings.public_url
        for url in _targets(self.settings.notify_url, run["spec"].get("notify_url")):
            post_json(url, run_notice(run, public))
        sweep = self.sweeps.get(run["sweep_id"]) if run.get("sweep_id") else None
        if sweep is None:
            return
        summary = summarize(sweep, self.sweeps.run_records(sweep))
        if summary["finished"] and self.r.set(keys.sweep_notified(sweep["id"]), "1", nx=True,
                                              ex=30 * 24 * 3600):
            for url in _targets(self.settings.notify_url, sweep.get("notify_url")):
                post_json(url, sweep_notice(summary, public))

    def stop(self) -> None:
        self._stop_event.set()


def _targets(*urls: str | None) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u))
