"""Entry point of the web process: ``python -m web`` (what ``make web`` runs).

The async server is chosen here and only here (ASYNC_MODE: eventlet by default,
gevent or threading also work), and monkey-patching happens before any other
import so Redis sockets cooperate with the server's green threads.
"""

import os

ASYNC_MODE = os.environ.setdefault("ASYNC_MODE", "eventlet")
if ASYNC_MODE == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import dataclasses  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

from shared.settings import Settings, settings_or_exit  # noqa: E402


def server_limits(settings: Settings) -> dict[str, Any]:
    """How many connections the server takes at once, and how long one may stay silent:
    eventlet's default is 1,024 and forever, so 1,024 half-sent requests took it down."""
    if ASYNC_MODE == "eventlet":
        return {"max_size": settings.max_connections, "socket_timeout": settings.socket_timeout}
    if ASYNC_MODE == "gevent":
        return {"spawn": settings.max_connections}
    return {}


def main() -> None:
    settings = settings_or_exit()
    from web import services
    from web.access import with_token
    from web.app import create_app, socketio, start_services
    from web.history.supervisor import RecorderSupervisor

    app = create_app(with_token(settings))
    # The recorder (web.history.recorder) runs as a supervised child unless RECORDER=off (one
    # runs elsewhere). Several web processes each start one; their lease lets exactly
    # one record. It exits when this process does.
    recorder = RecorderSupervisor(socketio, services.of(app).redis) if settings.recorder else None
    if recorder is not None:
        services.install(app, dataclasses.replace(services.of(app), recorder=recorder))
        recorder.start()
    start_services(app)
    logging.getLogger("web").info("serving on http://%s:%d (%s)", settings.web_host, settings.web_port, ASYNC_MODE)
    try:
        socketio.run(
            app,
            host=settings.web_host,
            port=settings.web_port,
            log_output=False,
            allow_unsafe_werkzeug=ASYNC_MODE == "threading",
            **server_limits(settings),
        )
    finally:
        if recorder is not None:
            recorder.stop()


if __name__ == "__main__":
    main()
