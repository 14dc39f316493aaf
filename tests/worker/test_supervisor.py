"""One trainer per GPU: the plan from WORKER_GPUS / WORKER_TRAINERS, and a real
supervisor that starts pinned, named trainers and restarts one that dies."""

from __future__ import annotations

import json
import os
import signal

import pytest

from shared import keys
from tests import processes
from worker.supervisor import PlanError, plan


def test_a_gpu_list_gives_one_pinned_trainer_per_gpu():
    slots = plan({"WORKER_NAME": "box", "WORKER_GPUS": "0,2"})
    assert [s.name for s in slots] == ["box-gpu0", "box-gpu2"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "2"]
    assert all(s.env["TRAINBOARD_DEVICE"] == "cuda" for s in slots)


def test_all_gpus_by_default_and_cpu_boxes_keep_one_plain_trainer():
    assert [s.name for s in plan({"WORKER_NAME": "b"}, gpus=4)] == [f"b-gpu{i}" for i in range(4)]
    assert [s.name for s in plan({"WORKER_NAME": "b", "WORKER_GPUS": "all"}, gpus=2)] == ["b-gpu0", "b-gpu1"]
    only = plan({"WORKER_NAME": "b"}, gpus=0)
    assert len(only) == 1 and only[0].name == "b" and only[0].env == {}, "today's single worker"
    assert plan({"WORKER_NAME": "b", "TRAINBOARD_DEVICE": "cuda:1"}, gpus=4)[0].env == {}, "one named device is one trainer"


def test_n_cpu_trainers_share_the_cores():
    slots = plan({"WORKER_NAME": "c", "WORKER_TRAINERS": "3"}, gpus=0)
    assert [s.name for s in slots] == ["c-1", "c-2", "c-3"]
    assert all(s.env["TRAINBOARD_DEVICE"] == "cpu" and int(s.env["OMP_NUM_THREADS"]) >= 1 for s in slots)


@pytest.mark.parametrize(
    "env",
    [
        {"WORKER_GPUS": "0,0"},
        {"WORKER_GPUS": "x"},
        {"WORKER_GPUS": "-1"},
        {"WORKER_TRAINERS": "0"},
        {"WORKER_TRAINERS": "many"},
    ],
)
def test_bad_plans_are_refused_with_the_variable_named(env):
    with pytest.raises(PlanError, match="WORKER_"):
        plan(env, gpus=2)


def heartbeats(r) -> dict[str, dict]:
    out = {}
    for name in r.smembers(keys.WORKERS):
        raw = r.get(keys.worker_heartbeat(name.decode()))
        if raw:
            out[name.decode().split("@")[0]] = json.loads(raw)  # Celery node name: <name>@<host>
    return out


@pytest.mark.integration
def test_the_supervisor_starts_pinned_trainers_and_restarts_one_that_dies(tmp_path, dataset):
    redis_proc, url = processes.start_redis(tmp_path / "redis", persist=False)
    import redis

    r = redis.Redis.from_url(url)
    env = processes.stack_env(
        url,
        tmp_path / "results",
        dataset,
        # Pinned and named as on a 2-GPU box, trained on this CPU.
        WORKER_GPUS="0,1",
        TRAINBOARD_DEVICE="cpu",
    )
    supervisor = processes.Proc(
        "supervisor", [processes.sys.executable, "-m", "worker"], {**env, "WORKER_NAME": "box"}, tmp_path
    ).start()
    try:
        processes.wait_for(lambda: set(heartbeats(r)) == {"box-gpu0", "box-gpu1"}, 90, "two trainers")
        beats = heartbeats(r)
        assert {b["gpu_index"] for b in beats.values()} == {0, 1}
        assert len({b["pid"] for b in beats.values()}) == 2 and supervisor.popen.pid not in {
            b["pid"] for b in beats.values()
        }, "each trainer is its own process"
        victim = beats["box-gpu1"]["pid"]
        os.kill(victim, signal.SIGKILL)  # the trainer dies; the supervisor lives on
        processes.wait_for(
            lambda: heartbeats(r).get("box-gpu1", {}).get("pid") not in (None, victim), 90, "box-gpu1 restarted"
        )
        assert heartbeats(r)["box-gpu0"]["pid"] == beats["box-gpu0"]["pid"], "the other kept going"
        assert supervisor.alive()
        supervisor.signal(signal.SIGTERM)
        supervisor.popen.wait(60)
        processes.wait_for(lambda: not heartbeats(r), 30, "trainers gone after SIGTERM")
    finally:
        supervisor.stop()
        redis_proc.stop()
