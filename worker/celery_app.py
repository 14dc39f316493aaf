"""The Celery app of the worker process.

JSON-only messages; late acknowledgement so a task whose worker dies is not
silently forgotten by the broker (the run's lease and the reconciler resume it
sooner; a redelivered duplicate finds the run claimed and exits). One run at a
time per worker: start workers with ``--pool threads --concurrency 1`` (what
``make worker`` does) so no child process forks after CUDA is initialised and the
heartbeat thread keeps the worker visible while it trains. The task and the worker's
life-cycle signals live in worker.tasks (imported by the worker through ``include``),
so this module imports nothing of the worker's.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup

from shared import keys
from shared.connections import CELERY_CONFIG
from shared.settings import load_settings

settings = load_settings()

app = Celery("trainboard", broker=settings.redis_url, include=["worker.tasks"])
app.conf.update(CELERY_CONFIG, task_default_queue=keys.QUEUE_ANY)


@celeryd_after_setup.connect
def _consume_gpu_queue(sender: Any, instance: Any, **_kwargs: Any) -> None:
    """Workers that train on a GPU also take runs that require one."""
    from worker.context import pick_device

    if pick_device(settings.device).type == "cuda":
        instance.app.amqp.queues.select_add(keys.QUEUE_GPU)


logging.getLogger("worker").setLevel(logging.INFO)
logging.getLogger("shared").setLevel(logging.INFO)
