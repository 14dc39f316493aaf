"""The Flask app factory and the Socket.IO extension.

Async-mode agnostic: only Flask-SocketIO's ``start_background_task`` and
``sleep`` are used in the web tier; the entry point (``python -m web``) picks
eventlet or gevent and monkey-patches before anything else is imported.
"""
from __future__ import annotations

import logging
import os

import redis
from celery import Celery
from flask import Flask
from flask_socketio import SocketIO

from shared.runs import RunStore
from shared.settings import Settings, load_settings

socketio = SocketIO()

#: Largest request body accepted (a run spec is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024


def make_celery_client(redis_url: str) -> Celery:
    """A producer-only Celery app: the web tier enqueues by task name, never imports torch."""
    client = Celery("trainboard-web", broker=redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       task_ignore_result=True, broker_connection_retry_on_startup=True,
                       broker_transport_options={"visibility_timeout": 7 * 24 * 3600})
    return client


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # "//etc/passwd" in an artifact name must reach the validator, not be redirected.
    app.url_map.merge_slashes = False
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["trainboard.settings"] = settings
    r = redis.Redis.from_url(settings.redis_url, health_check_interval=30,
                             socket_connect_timeout=5, socket_timeout=10)
    app.extensions["trainboard.redis"] = r
    app.extensions["trainboard.store"] = RunStore(r, settings.results_dir)
    app.extensions["trainboard.celery"] = make_celery_client(settings.redis_url)

    from web import sockets
    from web.api import api
    from web.backpressure import BufferGuard
    from web.pages import pages
    from web.relay import Relay

    app.register_blueprint(api)
    app.register_blueprint(pages)
    relay = Relay(socketio, r, settings)
    app.extensions["trainboard.relay"] = relay
    sockets.register(socketio, relay)
    socketio.init_app(
        app,
        async_mode=os.environ.get("ASYNC_MODE") or None,
        # Same origin only unless CORS_ORIGINS lists others.
        cors_allowed_origins=list(settings.cors_origins) or None,
    )
    try:
        restored = app.extensions["trainboard.store"].restore_all()
        if restored:
            logging.getLogger(__name__).info("re-indexed %d run(s) from %s", restored,
                                             settings.results_dir)
    except redis.RedisError as exc:
        logging.getLogger(__name__).warning("could not re-index runs at start: %s", exc)
    relay.start()
    BufferGuard(socketio, settings.client_queue_limit).start()
    return app
