"""The reaper: waiting runs whose task message is gone are sent again (real Redis)."""

from shared.runs import RunStore, new_record
from shared.spec import validate_spec


def test_waiting_runs_beside_an_idle_worker_are_sent_again_on_their_own_queue(r, tmp_path):
    import json

    from shared import keys
    from shared.settings import Settings
    from worker.reaper import MISSING_MESSAGE_SECONDS, requeue_stranded

    store = RunStore(r, str(tmp_path))
    cpu_run, gpu_run = new_record(validate_spec({})), new_record(validate_spec({"accelerator": "gpu"}))
    for record in (cpu_run, gpu_run):
        store.create(record)

    def worker(name, device, current_run):
        r.sadd(keys.WORKERS, name)
        r.set(keys.worker_heartbeat(name), json.dumps({"name": name, "device": device, "current_run": current_run}))

    worker("busy", "cpu", "f" * 32)
    enqueued, suspects = [], {}
    settings = Settings(results_dir=str(tmp_path))
    enqueue = lambda run_id, spec: enqueued.append((run_id, keys.queue_for(spec)))  # noqa: E731
    later = 1000.0 + MISSING_MESSAGE_SECONDS
    assert requeue_stranded(r, settings, enqueue, suspects, now=1000.0) == []
    assert requeue_stranded(r, settings, enqueue, suspects, now=later) == [], "waiting while every worker is busy is normal"
    worker("idle-cpu", "cpu", None)
    assert requeue_stranded(r, settings, enqueue, suspects, now=2000.0) == [], "one look is not enough"
    assert requeue_stranded(r, settings, enqueue, suspects, now=2000.0 + MISSING_MESSAGE_SECONDS) == [cpu_run["id"]]
    assert enqueued == [(cpu_run["id"], keys.QUEUE_ANY)], "a CPU worker cannot take the GPU run"
