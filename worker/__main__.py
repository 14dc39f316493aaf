"""Entry point of a worker process: ``python -m worker [celery worker options]``.

The one command line every launcher uses (``make worker``, scripts/run_local.sh,
the worker image, the tests): one run at a time on the threads pool, so no child
process forks after CUDA starts and the heartbeat thread keeps the worker visible
while it trains. ``WORKER_NAME`` names it (default ``worker-<pid>``); extra
arguments go to ``celery worker`` unchanged.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from worker.celery_app import app

    name = os.environ.get("WORKER_NAME") or f"worker-{os.getpid()}"
    app.worker_main(["worker", "--pool", "threads", "--concurrency", "1",
                     "--loglevel", os.environ.get("LOG_LEVEL", "INFO"), "-n", f"{name}@%h",
                     *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
