"""`make compose-test`: the real images, started with `docker compose` as a user would.

1. The head alone, with no .env: builds the images, starts redis + SeaweedFS + web +
   two CPU workers (docker-compose.cpu.yml, ``--scale worker=2``), submits runs
   through the published port with the token the web tier generated and logged,
   follows one over Socket.IO to ``succeeded`` while the web container is restarted
   mid-run (no event lost), checks that both workers trained, that the run's files
   are in the artifact store and its history on the web side, and that the published
   API refuses cross-site and token-less requests.
2. Several boxes: the head again with docker-compose.head.yml (which refuses to start
   without credentials: checked first), its own workers scaled to 0, and a second
   compose project from docker-compose.worker.yml that shares no volume or network
   with the head and reaches it only through the published Redis and S3 ports; a run
   trains there to the end and its files and history are served by the head.

Tears everything down. Prints each step's duration. Needs a Docker engine with
compose v2; on machines without a registry run docker/standins/build.sh first
(`make compose-test` does).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.processes import free_port, wait_for  # noqa: E402
from tests.socket_client import RunWatcher  # noqa: E402

PROJECT = "trainboard-compose-test"
BOX_PROJECT = "trainboard-compose-test-box2"
FILES = ["-f", "docker-compose.yml", "-f", "docker-compose.cpu.yml"]
HEAD_FILES = [*FILES, "-f", "docker-compose.head.yml"]
BOX_FILES = ["-f", "docker-compose.worker.yml", "-f", "docker-compose.cpu.yml"]
started = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)


def compose(
    *args: str, check: bool = True, capture: bool = False, env=None, project: str = PROJECT, files: list[str] = FILES
) -> str:
    result = subprocess.run(
        ["docker", "compose", "-p", project, *files, *args],
        cwd=ROOT,
        env=env,
        check=check,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def healthy(service: str, env) -> bool:
    rows = [
        json.loads(line) for line in compose("ps", "--format", "json", service, capture=True, env=env).splitlines() if line
    ]
    return bool(rows) and all(r.get("Health") in ("healthy", "") and r["State"] == "running" for r in rows)


def main() -> int:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "REDIS_PASSWORD")}
    env["WEB_PUBLISH"] = str(port)
    if (ROOT / ".env").exists():
        raise SystemExit("compose-test starts from no .env; move yours aside first")
    data = Path(os.environ.get("COMPOSE_TEST_DATA", ROOT.parent / "shared" / "datasets"))
    if not (data / "MNIST" / "raw").is_dir():
        from tests.synthetic_mnist import make_dataset

        data = make_dataset(Path("/tmp/trainboard-compose-data"), train=3000, test=500)
    url = f"http://127.0.0.1:{port}"
    # docker-compose.worker.yml will not even parse without these: values for tearing down.
    box_teardown = {**env, "HEAD": "-", "REDIS_PASSWORD": "-", "S3_ACCESS_KEY": "-", "S3_SECRET_KEY": "-"}
    try:
        step("building the web and worker images")
        compose("build", "-q", env=env)
        step("copying MNIST into the data volume")
        copy_mnist(data, env)
        step("docker compose up -d --scale worker=2 (no .env)")
        compose("up", "-d", "--scale", "worker=2", env=env)
        wait_for(lambda: healthy("redis", env) and healthy("web", env), 120, "healthy services")
        step("redis and web healthy")
        logs = compose("logs", "web", capture=True, env=env)
        found = re.search(r"\?token=(\S+)", logs)
        assert found, "the web log names the page URL with its token"
        token = found.group(1)
        auth = {"Authorization": f"Bearer {token}"}
        assert requests.post(url + "/api/runs", json={}, timeout=10).status_code == 401
        assert requests.get(url + "/api/runs", timeout=10).status_code == 401, "reads are guarded"
        evil = requests.post(url + "/api/runs", json={}, timeout=10, headers={**auth, "Origin": "http://evil.example"})
        assert evil.status_code == 403, evil.text
        wait_for(
            lambda: len(requests.get(url + "/api/workers", headers=auth, timeout=5).json()["workers"]) == 2,
            120,
            "two workers",
        )
        step("token read from the web log; unsafe requests refused; two workers alive")
        spec: dict[str, Any] = {"epochs": 3, "batch_size": 64, "train_samples": 3000, "name": "compose"}
        runs = [requests.post(url + "/api/runs", json=spec, headers=auth, timeout=10).json() for _ in range(2)]
        watcher = RunWatcher(url, runs[0]["id"], token=token).start()
        watcher.wait_for(lambda e: e["type"] == "progress", timeout=300)
        step("training; restarting the web container mid-run")
        compose("restart", "web", env=env)
        wait_for(lambda: healthy("web", env), 120, "web healthy again")
        events = watcher.wait_done(timeout=600)
        watcher.close()
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "gap-free"
        assert events[-1]["status"] == "succeeded", events[-1]
        step(f"run followed to succeeded across the restart ({len(events)} events, no gap)")
        records = [
            wait_for(
                lambda r=r: (
                    (x := requests.get(f"{url}/api/runs/{r['id']}", headers=auth, timeout=5).json())["status"] == "succeeded"
                    and x
                ),
                600,
                "second run",
            )
            for r in runs
        ]
        workers = {rec["worker"] for rec in records}
        assert len(workers) == 2, f"both workers trained: {workers}"
        files = {
            a["name"]
            for a in requests.get(f"{url}/api/runs/{runs[0]['id']}/artifacts", headers=auth, timeout=5).json()["artifacts"]
        }
        assert {
            "run.json",
            "events.jsonl",
            "checkpoint.pt",
            "mnist_cnn.pth",
            "training_log.json",
            "test_samples.json",
        } <= files, files
        listing = compose("exec", "-T", "web", "ls", f"/results/{runs[0]['id']}", capture=True, env=env)
        assert "events.jsonl" in listing and "series" in listing, "history on the web side"
        assert "mnist_cnn.pth" not in listing, "files in the artifact store, not the web's volume"
        step(f"both runs succeeded on {sorted(workers)}; history on the web, files in SeaweedFS")
        several_boxes(env, url, data)
        return 0
    except Exception:
        compose("logs", "--tail", "60", check=False, env=env)
        compose("logs", "--tail", "60", check=False, env=box_teardown, project=BOX_PROJECT, files=BOX_FILES)
        raise
    finally:
        compose("down", "-v", "--remove-orphans", check=False, env=box_teardown, project=BOX_PROJECT, files=BOX_FILES)
        compose("down", "-v", "--remove-orphans", check=False, env=env)
        step("torn down")


def copy_mnist(data: Path, env, project: str = PROJECT, files: list[str] = FILES) -> None:
    compose(
        "run",
        "--rm",
        "--no-deps",
        "-v",
        f"{data.resolve()}:/src:ro",
        "--entrypoint",
        "sh",
        "worker",
        "-c",
        "mkdir -p /data/MNIST/raw && cp /src/MNIST/raw/* /data/MNIST/raw/",
        env=env,
        project=project,
        files=files,
    )


def several_boxes(env: dict[str, str], url: str, data: Path) -> None:
    """The head publishes Redis and the store with credentials; a second compose project
    (no shared volume or network) trains a run through the published ports."""
    refused = subprocess.run(
        ["docker", "compose", "-p", PROJECT + "-nocreds", *HEAD_FILES, "run", "--rm", "--no-deps", "seaweedfs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    subprocess.run(
        ["docker", "compose", "-p", PROJECT + "-nocreds", *HEAD_FILES, "down", "-v"], cwd=ROOT, env=env, capture_output=True
    )
    assert refused.returncode != 0 and "S3_ACCESS_KEY" in refused.stderr + refused.stdout, refused
    step("the head's published store refuses to start without credentials")
    redis_port, s3_port = free_port(), free_port()
    # Published on the Docker bridge's gateway address: what host.docker.internal names
    # inside the second project's containers, and not on the machine's other interfaces.
    gateway = subprocess.run(
        ["docker", "network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"],
        check=True,
        text=True,
        capture_output=True,
    ).stdout.strip()
    secrets = {
        "REDIS_PASSWORD": "compose-redis-pw",
        "S3_ACCESS_KEY": "compose-test-key",
        "S3_SECRET_KEY": "compose-test-secret",
        "REDIS_PUBLISH": str(redis_port),
        "S3_PUBLISH": str(s3_port),
        "REDIS_BIND": gateway,
        "S3_BIND": gateway,
    }
    head_env = {**env, **secrets}
    compose("up", "-d", "--scale", "worker=0", env=head_env, files=HEAD_FILES)
    wait_for(
        lambda: healthy("redis", head_env) and healthy("web", head_env) and healthy("seaweedfs", head_env),
        180,
        "the head healthy with published ports",
    )
    logs = compose("logs", "web", capture=True, env=head_env)
    token = re.findall(r"\?token=(\S+)", logs)[-1]
    auth = {"Authorization": f"Bearer {token}"}
    step("head up again with Redis and SeaweedFS published (password and key), no local workers")
    box_env = {**env, **secrets, "HEAD": "host.docker.internal", "WORKER_NAME": "box2"}
    compose("build", "-q", env=box_env, project=BOX_PROJECT, files=BOX_FILES)
    copy_mnist(data, box_env, BOX_PROJECT, BOX_FILES)
    compose("up", "-d", env=box_env, project=BOX_PROJECT, files=BOX_FILES)
    wait_for(
        lambda: any(
            w["name"].startswith("box2")
            for w in requests.get(url + "/api/workers", headers=auth, timeout=5).json()["workers"]
        ),
        180,
        "the second box's worker",
    )
    step("a worker of a second compose project joined through the published ports")
    spec: dict[str, Any] = {"epochs": 2, "batch_size": 64, "train_samples": 3000, "name": "far away"}
    run = requests.post(url + "/api/runs", json=spec, headers=auth, timeout=10).json()
    record = wait_for(
        lambda: (
            (x := requests.get(f"{url}/api/runs/{run['id']}", headers=auth, timeout=5).json())["status"]
            in ("succeeded", "failed")
            and x
        ),
        600,
        "the far run",
    )
    assert record["status"] == "succeeded" and record["worker"].startswith("box2"), record
    events = wait_for(
        lambda: (
            (e := requests.get(f"{url}/api/runs/{run['id']}/events", headers=auth, timeout=5).json()["events"])
            and e[-1].get("status") == "succeeded"
            and e
        ),
        60,
        "the far run's history",
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "gap-free"
    weights = requests.get(f"{url}/api/runs/{run['id']}/artifacts/mnist_cnn.pth", headers=auth, timeout=30)
    assert weights.status_code == 200 and len(weights.content) > 1000
    listing = compose("exec", "-T", "web", "ls", f"/results/{run['id']}", capture=True, env=head_env)
    assert "events.jsonl" in listing, "the head's recorder wrote its history"
    step(
        f"the far run succeeded on {record['worker']} ({len(events)} events, no gap); "
        "its weights came from the head's store through the API"
    )


if __name__ == "__main__":
    sys.exit(main())
