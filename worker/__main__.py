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

from shared.settings import Settings, settings_or_exit


def run_trainer(name: str, argv: list[str], settings: Settings) -> None:
    from worker.celery_app import app

    app.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "1",
            "--loglevel",
            settings.log_level,
            "-n",
            f"{name}@%h",
            *argv,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = settings_or_exit()
    name = settings.worker_name or f"worker-{os.getpid()}"
    if os.environ.get("TRAINBOARD_SUPERVISED"):  # set by worker.supervisor for its trainers
        run_trainer(name, argv, settings)
        return
    from worker.supervisor import PlanError, Supervisor, plan

    try:
        slots = plan({**os.environ, "WORKER_NAME": name})
    except PlanError as exc:
        raise SystemExit(f"worker: {exc}") from None
    if len(slots) == 1 and not slots[0].env:
        run_trainer(name, argv, settings)  # one device: no supervisor process in between
        return
    logging.getLogger().handlers[0].setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/supervisor] %(message)s"))
    raise SystemExit(Supervisor(slots, argv).run())


if __name__ == "__main__":
    main()
