"""What a worker's machine is doing, for its heartbeat: CPU, memory and, on CUDA, the GPU.

GPU utilisation and memory come from NVML (``nvidia-ml-py``) when it is installed;
without it, from torch's own counters (memory this process holds; utilisation unknown).
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import torch


class LoadSampler:
    def __init__(self, device: torch.device):
        self.device = device
        self._last = (time.monotonic(), _cpu_seconds())
        self._nvml = _nvml_handle(device)

    def sample(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), _cpu_seconds()
        wall = max(now - self._last[0], 1e-6)
        load: dict[str, Any] = {
            "cpu_percent": round(100 * (cpu - self._last[1]) / wall, 1),
            "memory_mb": round(_rss_bytes() / 2**20, 1),
        }
        self._last = (now, cpu)
        if self.device.type == "cuda":
            load.update(self._gpu())
        return load

    def _gpu(self) -> dict[str, Any]:
        if self._nvml is not None:
            import pynvml

            util = pynvml.nvmlDeviceGetUtilizationRates(self._nvml)
            mem = pynvml.nvmlDeviceGetMemoryInfo(self._nvml)
            return {
                "gpu_util_percent": util.gpu,
                "gpu_memory_mb": round(mem.used / 2**20, 1),
                "gpu_memory_total_mb": round(mem.total / 2**20, 1),
            }
        props = torch.cuda.get_device_properties(self.device)
        return {
            "gpu_util_percent": None,
            "gpu_memory_mb": round(torch.cuda.memory_reserved(self.device) / 2**20, 1),
            "gpu_memory_total_mb": round(props.total_memory / 2**20, 1),
        }


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> int:
    """Resident memory now (Linux /proc), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _nvml_handle(device: torch.device) -> Any:
    if device.type != "cuda":
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
    except Exception:  # not installed, or no driver access: torch's counters instead
        return None


def peak_gpu_memory_mb(device: torch.device) -> float | None:
    """Most GPU memory this process allocated since the last reset (one run's peak)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
