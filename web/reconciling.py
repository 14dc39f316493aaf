"""The web tier runs the reconciler (shared.reconciler) too: runs are handed on even
when no worker is alive, and after Redis loses its data the web side — the only one
holding the records (``run.json``, ``sweeps/``) — rebuilds every index from them.

A background task every ``INTERVAL_SECONDS``; async-mode agnostic (Flask-SocketIO's
``start_background_task`` and ``sleep`` only). Redis outages back off with a cap.
"""

from __future__ import annotations

import logging
import os
import socket
from functools import partial

from shared.connections import send_run
from shared.reconciler import Reconciler
from web.services import Services

log = logging.getLogger(__name__)

#: Seconds between two passes (a worker's heartbeat runs one every 2 s as well).
INTERVAL_SECONDS = 2.0


def reconciler_for(wired: Services) -> Reconciler:
    """The web side's reconciler: it enqueues through the producer-only Celery app and
    restores from the web side's records; its own status events are held in memory
    until Redis takes them (the web side keeps no spool)."""
    return Reconciler(
        wired.redis,
        wired.settings,
        partial(send_run, wired.celery),
        me=f"web:{socket.gethostname()}:{os.getpid()}",
        restore=lambda: (wired.runs.restore_all(), wired.sweeps.restore_all()),
    )
