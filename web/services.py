"""The web tier's services, built once by create_app and reached through one typed
accessor (instead of string keys in ``app.extensions`` looked up in each module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import redis
from celery import Celery
from flask import Flask, current_app
from flask_socketio import SocketIO

from shared.artifacts import ArtifactStore
from shared.runs import RunStore
from shared.settings import Settings
from shared.sweep_store import SweepStore

if TYPE_CHECKING:
    from web.history.supervisor import RecorderSupervisor
    from web.relay import Relay

KEY = "trainboard"


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    runs: RunStore
    sweeps: SweepStore
    artifacts: ArtifactStore
    #: Producer-only Celery app: enqueues by task name, never imports torch.
    celery: Celery
    #: Redis → Socket.IO (started by start_services, not by create_app).
    relay: Relay
    #: The Socket.IO server; its ``sleep`` yields to other green threads in any async mode.
    socketio: SocketIO
    #: The recorder child this process supervises (``python -m web``), if any.
    recorder: RecorderSupervisor | None = None


def install(app: Flask, services: Services) -> None:
    app.extensions[KEY] = services


def services() -> Services:
    """The current app's services (inside a request or an app context)."""
    return cast(Services, current_app.extensions[KEY])


def of(app: Flask) -> Services:
    return cast(Services, app.extensions[KEY])
