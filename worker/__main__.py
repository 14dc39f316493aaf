"""Entry point of a worker: ``python -m worker [celery worker options]``.

The one command line every launcher uses (``make worker``, scripts/run_local.sh,
the worker image, the tests). On a box with one device (or none) it *is* the
trainer: one run at a time on the threads pool, so no child process forks after
CUDA starts and the heartbeat thread keeps the worker visible while it trains.
With several GPUs (``WORKER_GPUS``, ``all`` by default) or ``WORKER_TRAINERS=N``
it supervises one pinned trainer per GPU (or N CPU trainers): see
worker.supervisor. ``WORKER_NAME`` names it (default ``worker-<pid>``); extra
arguments go to ``celery worker`` unchanged.
"""

from __future__ import annotations

import logging
import os
import sys


def run_trainer(name: str, argv: list[str]) -> None:
    from worker.celery_app import app

    app.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "1",
            "--loglevel",
            os.environ.get("LOG_LEVEL", "INFO"),
            "-n",
            f"{name}@%h",
            *argv,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    name = os.environ.get("WORKER_NAME") or f"worker-{os.getpid()}"
    if os.environ.get("TRAINBOARD_SUPERVISED"):
        run_trainer(name, argv)
        return
    from worker.supervisor import PlanError, Supervisor, plan

    try:
        slots = plan({**os.environ, "WORKER_NAME": name})
    except PlanError as exc:
        raise SystemExit(f"worker: {exc}") from None
    if len(slots) == 1 and not slots[0].env:
        run_trainer(name, argv)  # one device: no supervisor process in between
        return
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="[%(asctime)s: %(levelname)s/supervisor] %(message)s"
    )
    raise SystemExit(Supervisor(slots, argv).run())


if __name__ == "__main__":
    main()
