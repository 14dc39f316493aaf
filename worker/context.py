"""What a worker process knows while it trains: settings, Redis, its name, device, leases,
and the artifact store its runs' files go to."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis
import torch

from shared.artifacts import ArtifactStore, store_for
from shared.connections import Enqueue
from shared.runs import RunStore
from shared.settings import Settings
from worker.leases import LeaseKeeper
from worker.training import precision_for


@dataclass
class WorkerContext:
    settings: Settings
    r: redis.Redis
    name: str
    device: torch.device
    leases: LeaseKeeper
    #: Puts a run back on its queue (used to hand runs on when this worker shuts down).
    enqueue: Enqueue | None = None
    #: Set on a warm shutdown: running runs checkpoint-resume elsewhere instead of finishing here.
    shutting_down: threading.Event = field(default_factory=threading.Event)
    #: Where runs' files go (ARTIFACTS_URL); RESULTS_DIR is this worker's scratch.
    artifacts: ArtifactStore = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.artifacts is None:
            self.artifacts = store_for(self.settings.artifacts_url, self.settings.results_dir)

    @property
    def store(self) -> RunStore:
        return RunStore(self.r, self.settings.results_dir)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def pick_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def training_path(device: torch.device, spec: dict[str, Any]) -> str:
    """Which code path trains the run, for the run record (benchmarks compare these)."""
    optimizer = spec.get("optimizer", "adam")
    if device.type == "cuda":
        precision = precision_for(device)
        amp = {"bf16": "bf16 autocast", "fp16": "fp16 autocast + grad scaler"}.get(precision, "fp32")
        return f"cuda: data on device, {amp}, channels_last, fused {optimizer}, eager"
    return f"cpu: data in memory, fp32, foreach {optimizer}, eager"
