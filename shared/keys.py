"""Every Redis key and channel name Trainboard uses, built here and nowhere else."""

from __future__ import annotations

from typing import Any

PREFIX = "trainboard"

#: Sorted set of run ids scored by creation time (newest first = ZREVRANGE).
RUNS_INDEX = f"{PREFIX}:runs"
#: Sorted set of waiting (queued or resuming) run ids scored by priority, then queued_at
#: (shared.runs.waiting_score): queue position is a rank, the queue cap a size. Kept by
#: RunStore's transitions and the admission script (web.admission).
WAITING_RUNS = f"{PREFIX}:waiting"
#: Pub/sub channel carrying run records (masked: shared.redaction) whenever a run changes.
RUN_UPDATES_CHANNEL = f"{PREFIX}:run-updates"
#: Pub/sub pattern matching every run's event channel.
RUN_EVENTS_PATTERN = f"{PREFIX}:run:*:events"
#: Set of worker names; each one's heartbeat (worker_heartbeat) expires when it stops.
WORKERS = f"{PREFIX}:workers"
# -- the reconciler (shared.reconciler), run by any live process ---------------------
#: Held by the one process whose reconciler pass runs now (released at its end).
RECONCILER_LOCK = f"{PREFIX}:reconciler:lock"
#: When the current Redis data began (epoch seconds, set if missing): no run is judged
#: lost before live workers had a lease period to take their leases back.
RECONCILER_EPOCH = f"{PREFIX}:reconciler:epoch"
#: Hash run id -> when it was first seen waiting beside an idle worker (lost messages).
RECONCILER_SUSPECTS = f"{PREFIX}:reconciler:stranded"
#: Set once the web side rebuilt every index from the records (absent: Redis lost its data).
RECORDS_RESTORED = f"{PREFIX}:reconciler:records-restored"

#: Celery queues: every worker consumes ANY; workers with a GPU also consume GPU, so a
#: run that asks for a GPU is never taken by a CPU worker.
QUEUE_ANY = "trainboard.any"
QUEUE_GPU = "trainboard.gpu"


def queue_for(spec: dict[str, Any]) -> str:
    return QUEUE_GPU if spec.get("accelerator") == "gpu" else QUEUE_ANY


#: Celery task names, so the web tier can enqueue without importing the worker.
TRAIN_TASK = "trainboard.train_run"


#: Sorted set of sweep ids scored by creation time.
SWEEPS_INDEX = f"{PREFIX}:sweeps"
#: List of pending notifications (JSON {"run_id"}), pushed when a run ends, sent by workers.
NOTIFICATIONS = f"{PREFIX}:notifications"


def sweep_record(sweep_id: str) -> str:
    """JSON sweep record: its description and the ids of its runs."""
    return f"{PREFIX}:sweep:{sweep_id}"


#: Set of the ids of searches still proposing runs (web.conductor's work list; rebuilt
#: from the volume's sweep files after Redis loses its data).
ACTIVE_SEARCHES = f"{PREFIX}:searches:active"


def sweep_conductor(sweep_id: str) -> str:
    """Held (with an expiry) by the one web process conducting this search right now."""
    return f"{PREFIX}:sweep:{sweep_id}:conductor"


def notifications_sending(worker: str) -> str:
    """Notices one worker has taken and not yet sent; moved back if that worker dies."""
    return f"{PREFIX}:notifications:sending:{worker}"


#: SCAN pattern of every worker's notices-being-sent list.
NOTIFICATIONS_SENDING_PATTERN = f"{PREFIX}:notifications:sending:*"


def worker_from_sending(key: str) -> str:
    return key[len(f"{PREFIX}:notifications:sending:") :]


def sweep_notified(sweep_id: str) -> str:
    """Set once when a finished sweep's notice has been queued, so it is sent once."""
    return f"{PREFIX}:sweep:{sweep_id}:notified"


def runs_with_status(status: str) -> str:
    """Sorted set of the run ids in one status, scored by creation time (run list filter)."""
    return f"{PREFIX}:runs:{status}"


def run_record(run_id: str) -> str:
    """JSON run record (see shared.runs for the fields)."""
    return f"{PREFIX}:run:{run_id}"


def run_stream(run_id: str) -> str:
    """Redis Stream of events; entry id is '<seq>-0' so a seq range is an id range."""
    return f"{PREFIX}:run:{run_id}:stream"


def run_channel(run_id: str) -> str:
    """Pub/sub channel on which each event is published after it is appended."""
    return f"{PREFIX}:run:{run_id}:events"


def run_id_from_channel(channel: str) -> str:
    return channel[len(f"{PREFIX}:run:") : -len(":events")]


def run_cancel(run_id: str) -> str:
    """Set when a user cancels; the training loop polls it."""
    return f"{PREFIX}:run:{run_id}:cancel"


def run_lease(run_id: str) -> str:
    """Expiring key held by the worker running the run; its absence means lost."""
    return f"{PREFIX}:run:{run_id}:lease"


def worker_heartbeat(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def submit_window(client: str) -> str:
    """Sorted set of one client's submission times in the last minute (rate limiting)."""
    return f"{PREFIX}:submits:{client}"


# -- the recorder (web.history.recorder) and the workers' spools (worker.spool) ------------------
#: Runs whose streams the recorder follows: every event writer adds its run as it sends.
RECORDING = f"{PREFIX}:recording"
#: Who records now: exactly one recorder holds this lease however many web processes run.
RECORDER_LEASE = f"{PREFIX}:recorder:lease"
#: Set by the recorder; its absence means Redis lost its data (restore from the web side).
RECORDER_SENTINEL = f"{PREFIX}:recorder:sentinel"
#: The recorder's figures (lag percentiles, events recorded), refreshed every few seconds.
RECORDER_STATS = f"{PREFIX}:recorder:stats"


def run_recorded(run_id: str) -> str:
    """The last seq the web side's history holds (the recorder's high-water mark); kept
    RECORDED_TTL_SECONDS after the run ends, so Redis holds it for active runs only."""
    return f"{PREFIX}:run:{run_id}:recorded"


RECORDED_TTL_SECONDS = 7 * 24 * 3600


def run_backfill(run_id: str) -> str:
    """Stream of events a worker sends again from its spool (the recorder missed them)."""
    return f"{PREFIX}:run:{run_id}:backfill"
