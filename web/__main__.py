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

import logging  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from shared.settings import settings_or_exit  # noqa: E402


def start_recorder() -> subprocess.Popen[bytes] | None:
    """The recorder (web.recorder) as a child process beside the server, unless
    RECORDER=off (a recorder runs elsewhere). Several web processes each start one;
    their lease lets exactly one record. It exits when this process does."""
    if os.environ.get("RECORDER", "on").strip().lower() in ("off", "false", "0", "no"):
        return None
    env = {**os.environ, "TRAINBOARD_RECORDER_PARENT": str(os.getpid())}
    return subprocess.Popen([sys.executable, "-m", "web.recorder"], env=env)


def main() -> None:
    settings = settings_or_exit()
    from web.access import with_token
    from web.app import create_app, socketio, start_services

    app = create_app(with_token(settings))
    recorder = start_recorder()
    start_services(app)
    logging.getLogger("web").info("serving on http://%s:%d (%s)", settings.web_host, settings.web_port, ASYNC_MODE)
    try:
        socketio.run(
            app,
            host=settings.web_host,
            port=settings.web_port,
            log_output=False,
            allow_unsafe_werkzeug=ASYNC_MODE == "threading",
        )
    finally:
        if recorder is not None:
            recorder.terminate()


if __name__ == "__main__":
    main()
