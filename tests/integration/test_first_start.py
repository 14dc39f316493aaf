"""A fresh clone where `make web` and `make worker` start at the same moment — with a
half-made venv left behind by an interrupted earlier attempt — comes up by itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest
import redis
import requests

from shared import keys
from tests.processes import ROOT, free_port, start_redis, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.fresh_clone]


def test_concurrent_make_web_and_make_worker_on_a_fresh_clone(tmp_path, dataset):
    if shutil.which("git") is None or shutil.which("flock") is None:
        pytest.fail("git and flock are needed (util-linux)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv" / "bin").mkdir(parents=True)  # what a killed `python -m venv` leaves
    redis_proc, redis_url = start_redis(tmp_path / "redis", persist=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    env.update(
        REDIS_URL=redis_url,
        RESULTS_DIR=str(tmp_path / "results"),
        DATA_DIR=str(dataset),
        WEB_PORT=str(port),
        TRAINBOARD_DEVICE="cpu",
        WORKER_NAME="fresh",
    )
    logs = {name: open(tmp_path / f"make-{name}.log", "wb") for name in ("web", "worker")}
    procs = {
        name: subprocess.Popen(
            ["make", name], cwd=clone, env=env, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True
        )
        for name in ("web", "worker")
    }
    try:
        r = redis.Redis.from_url(redis_url)

        def up() -> bool:
            healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
            return healthy and any(n.startswith(b"fresh") for n in r.smembers(keys.WORKERS))

        def up_or_failed() -> bool:
            if any(proc.poll() is not None for proc in procs.values()):
                return True  # a make that exits has failed: both serve forever
            try:
                return up()
            except (requests.RequestException, redis.RedisError):
                return False

        wait_for(up_or_failed, 900, "make web and make worker to serve")
        for name, proc in procs.items():
            assert proc.poll() is None, (
                f"make {name} exited {proc.returncode}:\n" + (tmp_path / f"make-{name}.log").read_text()[-3000:]
            )
        text = "".join((tmp_path / f"make-{n}.log").read_text() for n in procs)
        assert "incomplete; making it again" in text, "the half-made venv was repaired"
        assert "Traceback" not in text
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
        redis_proc.stop()
