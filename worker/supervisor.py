"""One trainer per GPU: the worker container's supervisor.

Docker gives every replica of ``--scale worker=N`` the same GPU 0 (compose has no
per-replica device assignment: docker/compose#11863), so a worker container reserves
all GPUs of its box and this supervisor runs one trainer process per GPU, each
pinned with ``CUDA_VISIBLE_DEVICES`` (so it sees its GPU as ``cuda:0``) and named
apart (``<WORKER_NAME>-gpu<i>``), each with its own Celery node and heartbeat. With
``WORKER_TRAINERS=N`` it runs N CPU trainers instead (threads shared out evenly).

A trainer that exits is started again under the same name after a backoff
(shared.retry.Backoff); the run it had is resumed from its checkpoint, by it or by
another worker, as for any lost worker. SIGTERM/SIGINT go to every trainer (Celery's
warm shutdown: a training run is handed off at once), then the supervisor exits.

The supervisor never imports torch or touches CUDA: it counts GPUs through NVML
when ``WORKER_GPUS=all`` and starts trainers as fresh processes (no fork into CUDA).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from shared.retry import Backoff
from shared.settings import SettingsError, load_settings

log = logging.getLogger("worker.supervisor")

#: A trainer that ran this long before exiting is restarted without waiting.
HEALTHY_SECONDS = 60.0


@dataclass(frozen=True)
class Slot:
    """One trainer: its name and the environment that pins it."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


class PlanError(ValueError):
    """WORKER_GPUS or WORKER_TRAINERS has a value the supervisor cannot use."""


def count_gpus() -> int:
    """GPUs on this box without initialising CUDA (NVML), 0 when there is no driver."""
    try:
        import pynvml  # nvidia-ml-py, installed with the worker extra

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no library, no driver, no GPU: a CPU box
        return 0


def plan(env: dict[str, str], gpus: int | None = None) -> list[Slot]:
    """The trainers this box runs, from ``WORKER_GPUS`` (``all``, or indices such as
    ``0,2``) and ``WORKER_TRAINERS`` (CPU trainers, default 1).

    ``WORKER_GPUS`` unset means ``all`` when the box has GPUs. ``TRAINBOARD_DEVICE=cpu``
    keeps the pinning and names but trains on the CPU (tests, CPU-only debugging)."""
    try:
        settings = load_settings(env)
    except SettingsError as exc:
        raise PlanError(str(exc)) from None
    base = settings.worker_name or f"worker-{os.getpid()}"
    gpus_setting, trainers, device_setting = settings.worker_gpus, settings.worker_trainers, settings.device
    asked_for_trainers = bool((env.get("WORKER_TRAINERS") or "").strip())
    if gpus_setting is None and (asked_for_trainers or device_setting.startswith("cuda:") or device_setting == "cpu"):
        indices = []  # asked for CPU trainers, or for one named device: no GPU fan-out
    elif gpus_setting in (None, "all"):
        indices = list(range(count_gpus() if gpus is None else gpus))
    elif gpus_setting == "none":
        indices = []
    else:
        indices = [int(part) for part in gpus_setting.split(",")]
    if indices:
        device = "cpu" if device_setting == "cpu" else "cuda"
        return [
            Slot(
                f"{base}-gpu{i}",
                {"CUDA_VISIBLE_DEVICES": str(i), "TRAINBOARD_GPU_INDEX": str(i), "TRAINBOARD_DEVICE": device},
            )
            for i in indices
        ]
    if trainers == 1:
        return [Slot(base)]
    threads = str(max(1, (os.cpu_count() or 1) // trainers))
    return [Slot(f"{base}-{i}", {"TRAINBOARD_DEVICE": "cpu", "OMP_NUM_THREADS": threads}) for i in range(1, trainers + 1)]


@dataclass
class _Trainer:
    slot: Slot
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    backoff: Backoff = field(default_factory=Backoff)


class Supervisor:
    def __init__(self, slots: list[Slot], argv: list[str], env: dict[str, str] | None = None):
        self.trainers = [_Trainer(s) for s in slots]
        self.argv = argv
        self.env = dict(os.environ if env is None else env)
        self.stopping = False

    def start(self, trainer: _Trainer) -> None:
        env = {**self.env, **trainer.slot.env, "WORKER_NAME": trainer.slot.name, "TRAINBOARD_SUPERVISED": "1"}
        trainer.proc = subprocess.Popen([sys.executable, "-m", "worker", *self.argv], env=env)
        trainer.started = time.monotonic()
        log.info(
            "trainer %s started (pid %d%s)",
            trainer.slot.name,
            trainer.proc.pid,
            f", GPU {trainer.slot.env['CUDA_VISIBLE_DEVICES']}" if "CUDA_VISIBLE_DEVICES" in trainer.slot.env else "",
        )

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for trainer in self.trainers:
            if trainer.proc is not None and trainer.proc.poll() is None:
                trainer.proc.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for trainer in self.trainers:
            self.start(trainer)
        while not self.stopping:
            now = time.monotonic()
            for trainer in self.trainers:
                if trainer.proc is None:
                    if now >= trainer.restart_at and not self.stopping:
                        self.start(trainer)
                    continue
                code = trainer.proc.poll()
                if code is None:
                    continue
                if now - trainer.started >= HEALTHY_SECONDS:
                    trainer.backoff.reset()
                delay = trainer.backoff.next()
                trainer.proc, trainer.restart_at = None, now + delay
                trainer.restarts += 1
                log.warning(
                    "trainer %s exited with %s; restarting it in %.1f s (restart %d)",
                    trainer.slot.name,
                    code,
                    delay,
                    trainer.restarts,
                )
            time.sleep(0.2)
        for trainer in self.trainers:
            if trainer.proc is not None:
                trainer.proc.wait()
        return 0
