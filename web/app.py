"""The Flask app factory and the Socket.IO extension.

Async-mode agnostic: only Flask-SocketIO's ``start_background_task`` and
``sleep`` are used in the web tier; the entry point (``python -m web``) picks
eventlet or gevent and monkey-patches before anything else is imported.
"""

from __future__ import annotations

import logging

import redis
from celery import Celery
from flask import Flask
from flask_socketio import SocketIO

from shared.artifacts import store_for
from shared.connections import CELERY_CONFIG, redis_client
from shared.runs import RunStore
from shared.settings import Settings, load_settings
from shared.sweep_store import SweepStore
from web import errors, services, sockets, wsgi_layers
from web.backpressure import BufferGuard

log = logging.getLogger(__name__)
socketio = SocketIO()

#: Largest request body accepted (a run spec is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024


def make_celery_client(redis_url: str) -> Celery:
    """A producer-only Celery app: the web tier enqueues by task name, never imports torch."""
    client = Celery("trainboard-web", broker=redis_url)
    client.conf.update(CELERY_CONFIG)
    return client


def create_app(settings: Settings | None = None) -> Flask:
    """The app, wired and inert: nothing runs until :func:`start_services` (the entry
    point calls it), so tests and tools can build an app without background work."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # "//etc/passwd" in an artifact name must reach the validator, not be redirected.
    app.url_map.merge_slashes = False
    app.config["JSON_SORT_KEYS"] = False
    r = redis_client(settings.redis_url)
    from web.access import refuse_unsafe
    from web.api import api
    from web.auth import guard
    from web.forks_api import forks_api
    from web.model_api import model_api
    from web.openapi import openapi_doc
    from web.pages import pages
    from web.relay import Relay
    from web.sweeps_api import sweeps_api

    relay = Relay(socketio, r, settings)
    services.install(
        app,
        services.Services(
            settings=settings,
            redis=r,
            runs=RunStore(r, settings.results_dir),
            sweeps=SweepStore(r, settings.results_dir),
            artifacts=store_for(settings.artifacts_url, settings.results_dir),
            celery=make_celery_client(settings.redis_url),
            relay=relay,
            socketio=socketio,
        ),
    )

    # One guard and one error path for the whole app, before any blueprint's routes.
    errors.register(app)
    app.before_request(guard)
    app.before_request(refuse_unsafe)
    app.register_blueprint(api)
    app.register_blueprint(sweeps_api)
    app.register_blueprint(model_api)
    app.register_blueprint(forks_api)
    app.register_blueprint(openapi_doc)
    app.register_blueprint(pages)
    sockets.register(socketio, relay)
    socketio.init_app(
        app,
        async_mode=settings.async_mode,
        # Same origin only unless CORS_ORIGINS lists others.
        cors_allowed_origins=list(settings.cors_origins) or None,
    )
    sockets.drop_malformed(socketio)
    # Outside Socket.IO's own layer, so both see every request (web.wsgi_layers).
    app.wsgi_app = wsgi_layers.ChunkedBodies(app.wsgi_app)  # type: ignore[method-assign,assignment]
    if not settings.ws_compression:
        app.wsgi_app = wsgi_layers.NoWebSocketCompression(app.wsgi_app)  # type: ignore[method-assign,assignment]
    return app


def start_services(app: Flask) -> None:
    """What a serving web process runs beside its requests: re-index runs the volume
    has and Redis lacks, the Redis → Socket.IO relay, the client-buffer guard, the
    reconciler and the searches' conductor."""
    from web import conductor, reconciling
    from web.background import BackgroundLoop
    from web.services import of

    wired = of(app)
    settings = wired.settings
    try:
        restored = wired.runs.restore_all()
        if restored:
            log.info("re-indexed %d run(s) from %s", restored, settings.results_dir)
    except redis.RedisError as exc:
        log.warning("could not re-index runs at start: %s", exc)
    wired.relay.start()
    BufferGuard(socketio, settings).start()
    reconciler = reconciling.reconciler_for(wired)
    BackgroundLoop(socketio, reconciler.run_once, reconciling.INTERVAL_SECONDS, "reconciler").start()
    searches = conductor.Conductor(app, pause=lambda: socketio.sleep(0))
    BackgroundLoop(socketio, searches.run_once, conductor.INTERVAL_SECONDS, "conductor").start()
