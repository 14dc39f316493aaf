"""Shared fixtures: a generated MNIST-format dataset and a real running stack."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
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


def start_stack(root: Path, dataset: Path, workers: int, web: bool, **env: str) -> Stack:
    """A stack with ``workers`` workers (started together, then waited for) and the web tier."""
    stack = Stack(root, dataset, **env)
    try:
        for i in range(workers):
            stack.add_worker(f"w{i + 1}", wait=False)
        if web:
            stack.start_web()
        for i in range(workers):
            processes.wait_worker_ready(stack.r, f"w{i + 1}")
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture
def make_stack(tmp_path, dataset, request):
    """A new stack for each call, stopped after the test (its logs printed if it failed)."""
    stacks: list[Stack] = []

    def factory(workers: int = 1, web: bool = True, **env: str) -> Stack:
        stacks.append(start_stack(tmp_path / f"stack{len(stacks)}", dataset, workers, web, **env))
        return stacks[-1]

    yield factory
    for stack in stacks:
        if failed(request):
            print(stack.logs_text())
        stack.stop()


def failed(request) -> bool:
    return getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed


class SharedStack:
    """One stack for the tests of a module that only add runs and wait for them (a worker
    starts in ~2 s of CPU and the web tier in ~1 s; the suite starts ~170 of them). A test
    that uses it must leave it as it found it: every run and sweep ended, the recorder caught
    up, the web tier healthy, every worker alive and idle. That is checked after each test:
    one that leaves it otherwise fails in its teardown, and the next test gets a new stack,
    so a disturbance the check can see is reported where it happened. A test that stops a
    worker, restarts Redis or needs other settings makes its own stack (``make_stack``)."""

    def __init__(self, factory, workers: int, env: dict[str, str]):
        self.factory, self.workers, self.env = factory, workers, env
        self.stack: Stack | None = None
        self.starts = 0

    def get(self) -> Stack:
        if self.stack is None:
            self.stack = self.factory(self.starts, self.workers, **self.env)
            self.starts += 1
        return self.stack

    def idle_problems(self, timeout: float = 30) -> list[str]:
        """What keeps the stack from being idle, after waiting up to ``timeout`` (a worker
        holds its run until the recorder has its last event, up to 10 s, and says it is
        idle at its next heartbeat; a cancel lands within a second or two)."""
        from shared import keys
        from shared.lifecycle import TERMINAL

        stack = self.stack
        assert stack is not None
        problems: list[str] = []

        def idle() -> bool:
            problems.clear()
            problems.extend(f"{p.name} is not running" for p in stack.webs + stack.workers if not p.alive())
            runs = requests.get(f"{stack.url}/api/runs", params={"limit": 500}, headers=stack.auth, timeout=10).json()
            busy = [r for r in runs["runs"] if r["status"] not in TERMINAL]
            problems.extend(f"run {r.get('name') or r['id']} is {r['status']}" for r in busy)
            sweeps = requests.get(f"{stack.url}/api/sweeps", headers=stack.auth, timeout=10).json()["sweeps"]
            problems.extend(f"sweep {s.get('name') or s['id']} has not finished" for s in sweeps if not s["finished"])
            if recording := stack.r.scard(keys.RECORDING):
                problems.append(f"the recorder still follows {recording} run(s)")
            health = requests.get(f"{stack.url}/healthz", headers=stack.auth, timeout=10)
            if health.status_code != 200 or health.json()["status"] != "ok":
                problems.append(f"/healthz says {health.text.strip()}")
            live = {w["name"]: w for w in requests.get(f"{stack.url}/api/workers", timeout=10).json()["workers"]}
            for proc in stack.workers:
                beat = next((w for name, w in live.items() if name.startswith(proc.name + "@")), None)
                if beat is None:
                    problems.append(f"worker {proc.name} has no heartbeat")
                elif beat.get("current_run"):
                    problems.append(f"worker {proc.name} is still running {beat['current_run']}")
            return not problems

        try:
            processes.wait_for(idle, timeout, "the shared stack to be idle", interval=0.25)
        except TimeoutError:
            return problems or ["the stack did not answer"]
        return []

    def check_after(self, request, last: bool) -> None:
        """After a test: a failed test's stack is not trusted again; a passed one must be
        idle; after the module's last test that uses it, it is stopped (so it does not
        idle beside the module's other tests)."""
        assert self.stack is not None
        problems = [] if failed(request) else self.idle_problems()
        if problems or failed(request):
            print(self.stack.logs_text())
        if problems or failed(request) or last:
            self.stack.stop()
            self.stack = None  # the next test starts a fresh one
        assert not problems, f"this test left the shared stack busy or broken: {problems}"

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop()


@pytest.fixture(scope="module")
def shared_stacks(tmp_path_factory, dataset, request):
    """The module's SharedStack: ``SHARED_STACK = {"workers": 1, **env}`` in the test module
    (one worker and default settings if it says nothing)."""
    options = dict(getattr(request.module, "SHARED_STACK", {}))
    workers = int(options.pop("workers", 1))
    root = tmp_path_factory.mktemp("shared")
    shared = SharedStack(lambda n, w, **env: start_stack(root / f"stack{n}", dataset, w, True, **env), workers, options)
    yield shared
    shared.close()


@pytest.fixture
def stack(shared_stacks, request) -> Iterator[Stack]:
    """The module's shared stack, checked idle after the test (see SharedStack)."""
    yield shared_stacks.get()
    items = request.session.items
    after = items[items.index(request.node) + 1 :] if request.node in items else []
    last = not any(getattr(i, "module", None) is request.module and "stack" in getattr(i, "fixturenames", ()) for i in after)
    shared_stacks.check_after(request, last)


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
