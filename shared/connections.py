"""How every process talks to Redis and Celery, written once.

``redis_client`` is the one Redis client factory (the web tier, workers, benchmarks):
health checks on idle connections, bounded connect and read timeouts, and redis-py's
own ``Retry`` with capped exponential backoff for a dropped connection, so a
command survives a Redis restart of a few seconds without any caller writing a loop.

``CELERY_CONFIG`` is the one Celery configuration, shared by the worker's app and
the web tier's producer-only client (which enqueues by task name and never imports
the worker or torch).
"""

from __future__ import annotations

from typing import Any, Protocol

import redis
from celery import Celery
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared import keys
from shared.spec import PRIORITY_ORDER

#: Broker priority of each run priority: its queue order spread over Kombu's steps.
BROKER_PRIORITY = {name: order * 3 for name, order in PRIORITY_ORDER.items()}
#: A run handed on (its worker died or stopped) goes one step ahead of the runs of its
#: priority that never started: it was running, and it continues before new work starts.
RESUMED_AHEAD = 1
PRIORITY_STEPS = sorted(set(BROKER_PRIORITY.values()) | {max(0, p - RESUMED_AHEAD) for p in BROKER_PRIORITY.values()})

#: JSON only; late acknowledgement so a task whose worker dies is not silently
#: forgotten (the lease and reaper resume the run sooner; a redelivered duplicate finds
#: the run claimed and exits); one run at a time per worker; a visibility timeout longer
#: than any run, because the lease, not the broker, decides when a run is lost.
CELERY_CONFIG: dict[str, Any] = {
    "task_serializer": "json",
    "accept_content": ["json"],
    "result_serializer": "json",
    "task_ignore_result": True,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    # Priority lists per queue, read highest first (Redis transport: step 0 is highest).
    "broker_transport_options": {
        "visibility_timeout": 7 * 24 * 3600,
        "queue_order_strategy": "priority",
        "priority_steps": PRIORITY_STEPS,
    },
    "broker_connection_retry_on_startup": True,
    "broker_connection_max_retries": None,
    "worker_send_task_events": False,
}


class Enqueue(Protocol):
    """Sends a run's task message (send_run with the process's Celery app bound)."""

    def __call__(self, run_id: str, spec: dict[str, Any], resumed: bool = False) -> None: ...


def send_run(celery: Celery, run_id: str, spec: dict[str, Any], resumed: bool = False) -> None:
    """Enqueue the task of ``run_id`` by name, on its queue, at its priority (``resumed``:
    one step ahead of the runs of that priority that never started)."""
    priority = BROKER_PRIORITY[spec.get("priority") or "normal"]
    celery.send_task(
        keys.TRAIN_TASK,
        args=[run_id],
        queue=keys.queue_for(spec),
        priority=max(0, priority - RESUMED_AHEAD) if resumed else priority,
    )


def redis_client(url: str, socket_timeout: float = 10.0) -> redis.Redis:
    """A Redis client as every Trainboard process uses one."""
    return redis.Redis.from_url(
        url,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
