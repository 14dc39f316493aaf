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

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, cast

import redis

from shared import keys, retry
from shared.lifecycle import Status
from shared.metrics import BEST_ACCURACY, best_accuracy
from shared.notify_targets import TargetPolicy, TargetRefused, mask_url, split_target, vetted_connection
from shared.retry import Backoff
from shared.settings import Settings
from shared.sweep_store import SweepStore, summarize

log = logging.getLogger(__name__)

ATTEMPTS = 6
#: How often a notifier looks for notices left behind by dead workers.
ORPHAN_CHECK_SECONDS = 30.0
TIMEOUT = 5.0


#: Redirects followed at most; each target is checked like the first (safe_opener).
MAX_REDIRECTS = 3


def safe_opener(policy: TargetPolicy) -> urllib.request.OpenerDirector:
    """An opener that connects only to vetted addresses (shared.notify_targets), at the
    first URL and at every redirect, and ignores proxy variables (a proxy would be
    asked for the URL, and the address rule would check the proxy instead)."""
    connect = vetted_connection(policy)

    class _Http(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect  # type: ignore[assignment]

    class _Https(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect  # type: ignore[assignment]

    class _HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_Http, req)

    class _HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_Https, req)

    class _Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(
            self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> urllib.request.Request | None:
            split_target(newurl)  # http(s) only; the address is vetted when it connects
            if code in (307, 308):  # urllib refuses these for a POST; they keep method and body
                return urllib.request.Request(
                    newurl, data=req.data, headers=dict(req.header_items()), method=req.get_method(), unverifiable=True
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _HttpHandler, _HttpsHandler, _Redirects)


def post_json(url: str, body: dict[str, Any], policy: TargetPolicy, tries: int = ATTEMPTS) -> bool:
    """POST ``body``; retried with backoff on errors and 5xx; True when it was accepted.
    A target the address rule refuses is never retried. Logs show the URL masked."""
    data = json.dumps(body).encode()
    shown = mask_url(url)
    opener = safe_opener(policy)
    for attempt in retry.attempts(tries):
        try:
            request = urllib.request.Request(
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "trainboard-notifier"},
            )
            with opener.open(request, timeout=TIMEOUT) as response:
                if response.status < 300:
                    return True
        except TargetRefused as exc:
            log.warning("notification to %s refused: %s", shown, exc)
            return False
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                log.warning("notification to %s refused: HTTP %d", shown, exc.code)
                return False
            problem: str = f"HTTP {exc.code}"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TargetRefused):
                log.warning("notification to %s refused: %s", shown, exc.reason)
                return False
            problem = str(exc.reason)
        except (OSError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = "unexpected status"
        if attempt < tries:
            log.warning("notification to %s failed (%s); retry %d of %d", shown, problem, attempt, tries - 1)
    log.error("gave up notifying %s after %d tries", shown, tries)
    return False


def run_notice(run: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    best = best_accuracy(run)
    link = f"{public_url}/#run={run['id']}"
    text = f"Trainboard: run “{run['name']}” {run['status']}"
    text += f" — best test accuracy {best:.2%}" if best is not None else ""
    text += f" — {run['error']}" if run.get("error") and run["status"] == Status.FAILED else ""
    return {
        "text": f"{text} — {link}",
        "event": "run_finished",
        "run": {
            "id": run["id"],
            "name": run["name"],
            "status": run["status"],
            BEST_ACCURACY: best,
            "error": run.get("error"),
            "sweep_id": run.get("sweep_id"),
            "url": link,
        },
    }


def sweep_notice(summary: dict[str, Any], public_url: str) -> dict[str, Any]:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
    link = f"{public_url}/#sweep={summary['id']}"
    best = summary.get(BEST_ACCURACY)
    text = f"Trainboard: sweep “{summary['name']}” finished ({counts})"
    text += f" — best test accuracy {best:.2%}" if best is not None else ""
    return {
        "text": f"{text} — {link}",
        "event": "sweep_finished",
        "sweep": {
            "id": summary["id"],
            "name": summary["name"],
            "counts": summary["counts"],
            "best_run_id": summary.get("best_run_id"),
            BEST_ACCURACY: best,
            "url": link,
        },
    }


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
                item = cast(bytes | None, self.r.blmove(keys.NOTIFICATIONS, self.sending, 2, "LEFT", "RIGHT"))
                backoff.reset()
                if item is not None:
                    try:
                        notice = json.loads(item)
                        if "sweep_id" in notice:  # a search its conductor has just marked done
                            self.handle_sweep(notice["sweep_id"])
                        else:
                            self.handle(notice["run_id"])
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
        alive = {
            n.decode()
            for n in cast(set[bytes], self.r.smembers(keys.WORKERS))
            if self.r.exists(keys.worker_heartbeat(n.decode()))
        }
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
        for url, policy in self._targets(run["spec"].get("notify_url")):
            post_json(url, run_notice(run, public), policy)
        if run.get("sweep_id"):
            self.handle_sweep(run["sweep_id"])

    def handle_sweep(self, sweep_id: str) -> None:
        """The sweep's notice, once, when it has finished (a search: when its conductor
        marked it done, after its last run ended)."""
        sweep = self.sweeps.get(sweep_id)
        if sweep is None:
            return
        public = self.settings.public_url
        summary = summarize(sweep, self.sweeps.run_records(sweep))
        if summary["finished"] and self.r.set(keys.sweep_notified(sweep["id"]), "1", nx=True, ex=30 * 24 * 3600):
            for url, policy in self._targets(sweep.get("notify_url")):
                post_json(url, sweep_notice(summary, public), policy)

    def stop(self) -> None:
        self._stop_event.set()

    def _targets(self, user_url: str | None) -> list[tuple[str, TargetPolicy]]:
        """Where a notice goes, each with the rule it is held to: the operator's
        NOTIFY_URL is configuration (trusted), a run's or sweep's URL is user input
        (checked again here, at send time: DNS can change after submit)."""
        targets = []
        if self.settings.notify_url:
            targets.append((self.settings.notify_url, TRUSTED))
        if user_url and user_url != self.settings.notify_url:
            targets.append((user_url, self.settings.notify_policy()))
        return targets


#: The rule for the operator's own NOTIFY_URL: any address.
TRUSTED = TargetPolicy(allow_private=True)
