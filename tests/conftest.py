"""Shared fixtures: a generated MNIST-format dataset and a real running stack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
import requests

from tests import processes
from tests.synthetic_mnist import make_dataset

REQUIRED_BINARIES = ("redis-server",)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """3,000 training and 500 test images of rendered digits in torchvision's layout."""
    return make_dataset(tmp_path_factory.mktemp("data"), train=3000, test=500)


class Stack:
    """redis-server + N Celery workers + the web tier, as separate real processes."""

    def __init__(self, root: Path, dataset: Path, **env: str):
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (make test installs it)")
        self.root = root
        self.results = root / "results"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.redis_proc, self.redis_url = processes.start_redis(root / "redis")
        self.r = redis.Redis.from_url(self.redis_url)
        self.env = processes.stack_env(self.redis_url, self.results, dataset, **env)
        self.workers: list[processes.Proc] = []
        self.webs: list[processes.Proc] = []
        self.url = ""

    def add_worker(self, name: str, wait: bool = True, **env: str) -> processes.Proc:
        """One more worker; ``env`` overrides the stack's (e.g. its own RESULTS_DIR: a box
        that shares no disk with the web tier)."""
        proc = processes.start_worker(name, {**self.env, **env}, self.logs)
        self.workers.append(proc)
        if wait:
            processes.wait_worker_ready(self.r, name)
        return proc

    def start_web(self, port: int | None = None, host: str = "127.0.0.1", **env: str) -> str:
        proc, self.url = processes.start_web({**self.env, **env}, self.logs, port, host)
        self.webs.append(proc)
        return self.url

    # -- REST helpers (with the stack's API_TOKEN, if it has one) --------------
    @property
    def auth(self) -> dict[str, str]:
        token = self.env.get("API_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def submit(self, **spec) -> dict:
        response = requests.post(self.url + "/api/runs", json=spec, headers=self.auth, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def run(self, run_id: str) -> dict:
        return requests.get(f"{self.url}/api/runs/{run_id}", headers=self.auth, timeout=10).json()

    def events(self, run_id: str, after: int = 0) -> list[dict]:
        response = requests.get(
            f"{self.url}/api/runs/{run_id}/events", params={"after": after}, headers=self.auth, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["events"]

    def wait_status(self, run_id: str, statuses, timeout: float = 120) -> dict:
        statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
        return processes.wait_for(
            lambda: (r := self.run(run_id))["status"] in statuses and r,
            timeout,
            f"run {run_id} to reach {statuses}",
            interval=0.2,
        )

    def wait_series(self, run_id: str, seq: int, timeout: float = 30) -> None:
        """Series trail the live stream by the recorder's lag (p99 ~0.3 s): a client that
        saw event ``seq`` live waits for the series to reach it, as a script would
        (docs/api.md)."""
        url = f"{self.url}/api/runs/{run_id}/series/test_accuracy"
        processes.wait_for(
            lambda: requests.get(url, headers=self.auth, timeout=10).json()["last_seq"] >= seq,
            timeout,
            f"the series of {run_id} to reach event {seq}",
        )

    def stop(self) -> None:
        """The stack's teardown, once its test is over: web processes told at once and
        waited for, workers SIGKILLed (a warm Celery shutdown costs ~2.5 s each and no
        test reads anything after teardown; the tests of a graceful stop stop their worker
        themselves), Redis last."""
        for proc in self.webs:
            proc.terminate()
        for proc in self.workers:
            proc.kill()
        for proc in self.webs:
            proc.wait_stopped()
        self.redis_proc.stop()

    def logs_text(self) -> str:
        procs = self.webs + self.workers + [self.redis_proc]
        return "\n".join(f"----- {p.name} -----\n{p.tail()}" for p in procs)


@pytest.fixture
def make_stack(tmp_path, dataset, request):
    stacks: list[Stack] = []

    def factory(workers: int = 1, web: bool = True, **env: str) -> Stack:
        stack = Stack(tmp_path / f"stack{len(stacks)}", dataset, **env)
        stacks.append(stack)
        for i in range(workers):
            stack.add_worker(f"w{i + 1}", wait=False)
        if web:
            stack.start_web()
        for i in range(workers):
            processes.wait_worker_ready(stack.r, f"w{i + 1}")
        return stack

    yield factory
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for stack in stacks:
        if failed:
            print(stack.logs_text())
        stack.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    proc, url = processes.start_redis(tmp_path_factory.mktemp("redis"), persist=False)
    yield url
    proc.stop()


@pytest.fixture
def r(redis_server) -> redis.Redis:
    """A real Redis with an empty database for each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    return client
