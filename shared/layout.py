"""The results volume: where each run's files live, and how they are written.

Every file is written to a temporary name in the same folder and renamed, so a
reader (the web tier, a user's script, a resumed worker) never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUN_JSON = "run.json"
EVENTS_JSONL = "events.jsonl"
#: seq -> byte offset of its line in events.jsonl (int64 each); see shared.eventfile.
EVENTS_INDEX = "events.idx"
#: Dense numeric curves of the run, appended as it trains; see web.history.series.
SERIES_DIR = "series"
CHECKPOINT = "checkpoint.pt"
FINAL_WEIGHTS = "mnist_cnn.pth"
#: The final weights as plain NumPy arrays, so the web tier can run the model without torch.
FINAL_WEIGHTS_NPZ = "mnist_cnn.npz"
TRAINING_LOG = "training_log.json"
TEST_SAMPLES = "test_samples.json"
#: The network's layers, shapes, parameters and MACs (worker.model_summary).
MODEL_SUMMARY = "model.json"
#: Per-epoch weight/gradient histograms and first-layer filters (worker.layer_watch).
LAYER_STATS = "layers.json"


def epoch_state(epoch: int) -> str:
    """A copy of the checkpoint as it was after ``epoch``: what a fork starts from."""
    return f"state-epoch-{epoch:03d}.pt"


_EPOCH_STATE = re.compile(r"state-epoch-(\d{3,})\.pt")


def epoch_of_state(name: str) -> int | None:
    """The epoch an epoch-state file name holds, or None for any other name."""
    match = _EPOCH_STATE.fullmatch(name)
    return int(match.group(1)) if match else None


#: Sweep records live beside the run folders: RESULTS_DIR/sweeps/<sweep id>.json.
SWEEPS_DIR = "sweeps"


def sweep_file(results_dir: str | os.PathLike[str], sweep_id: str) -> Path:
    if not is_run_id(sweep_id):
        raise ValueError(f"not a sweep id: {sweep_id!r}")
    return Path(results_dir) / SWEEPS_DIR / f"{sweep_id}.json"


def samples_sprite(epoch: int) -> str:
    """One PNG per epoch holding the sample and mistake images side by side (28 px tiles)."""
    return f"samples-epoch-{epoch:03d}.png"


#: A run's (and a sweep's) id: uuid4 hex. The one spelling: OpenAPI and the records use it.
RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
_RUN_ID = re.compile(RUN_ID_PATTERN.strip("^$"))


def is_run_id(value: object) -> bool:
    """Run ids are uuid4 hex; anything else never reaches a path or a key."""
    return isinstance(value, str) and bool(_RUN_ID.fullmatch(value))


def run_dir(results_dir: str | os.PathLike[str], run_id: str) -> Path:
    if not is_run_id(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    return Path(results_dir) / run_id


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False, durable: bool = True) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync, then rename.

    ``durable=False`` skips the fsync (readers still never see half a file): for files
    rebuilt from another after a crash, where an fsync per write would cost more than
    the rebuild is worth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, data: Any, durable: bool = True) -> None:
    atomic_write(path, lambda f: json.dump(data, f, separators=(",", ":")), durable=durable)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def list_artifacts(folder: Path) -> list[dict[str, Any]]:
    """Regular files directly in the run folder (no temporaries, no links)."""
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_file():
            continue
        st = entry.stat()
        out.append({"name": entry.name, "size": st.st_size, "modified": st.st_mtime})
    return out


def resolve_name(name: object) -> str | None:
    """``name`` when it is a plain artifact name (no separators, dot files or NULs)."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 255
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\x00" in name
    ):
        return None
    return name


def resolve_artifact(folder: Path, name: str) -> Path | None:
    """The file ``name`` inside ``folder``, or None for anything that could escape it.

    Only plain names are accepted: no separators, no dot files, no links, and the
    resolved path must still be a direct child of the run folder.
    """
    if resolve_name(name) is None:
        return None
    candidate = folder / name
    if candidate.is_symlink() or not candidate.is_file():
        return None
    if candidate.resolve().parent != folder.resolve():
        return None
    return candidate
