"""The Celery app of the worker process.

JSON-only messages; late acknowledgement so a task whose worker dies is not
silently forgotten by the broker (the run's lease and the reaper resume it
sooner; a redelivered duplicate finds the run claimed and exits). One run at a
time per worker: start workers with ``--pool threads --concurrency 1`` (what
``make worker`` does) so no child process forks after CUDA is initialised and the
heartbeat thread keeps the worker visible while it trains.
"""
from __future__ import annotations

import logging

from celery import Celery
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown, worker_shutting_down

from shared import keys
from shared.settings import load_settings

settings = load_settings()

app = Celery("trainboard", broker=settings.redis_url, include=["worker.tasks"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # Longer than any run: the lease, not the broker, decides when a run is lost.
    broker_transport_options={"visibility_timeout": 7 * 24 * 3600},
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    worker_send_task_events=False,
    task_default_queue=keys.QUEUE_ANY,
)


@celeryd_after_setup.connect
def _consume_gpu_queue(sender, instance, **_kwargs) -> None:
    """Workers that train on a GPU also take runs that require one."""
    from worker.context import pick_device

    if pick_device(settings.device).type == "cuda":
        instance.app.amqp.queues.select_add(keys.QUEUE_GPU)


@worker_ready.connect
def _start_presence(sender, **_kwargs) -> None:
    from worker.tasks import start_worker

    start_worker(sender.hostname)


@worker_shutting_down.connect
def _hand_runs_on(**_kwargs) -> None:
    from worker.tasks import request_handoff

    request_handoff()


@worker_shutdown.connect
def _stop_presence(**_kwargs) -> None:
    from worker.tasks import stop_worker

    stop_worker()


logging.getLogger("worker").setLevel(logging.INFO)
logging.getLogger("shared").setLevel(logging.INFO)
