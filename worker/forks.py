"""Epoch states, and runs that start from another run's epoch (fork and continue).

After every epoch a worker copies its checkpoint to ``state-epoch-NNN.pt`` in the
artifact store (bounded by KEEP_CHECKPOINTS and CHECKPOINT_BUDGET_MB, oldest pruned
first). A forked run's record names ``parent_run_id`` and ``forked_from_epoch``; its
worker starts from that state instead of from scratch, with the fork's spec applied:

* model weights and RNG state: always the parent's;
* optimizer state (Adam's moments, SGD's momentum): the parent's when the optimizer is
  the same, with the child's ``lr``; fresh when the fork changes the optimizer;
* the LR schedule: the parent's scheduler state when nothing that shapes it changed,
  else the child's schedule built for its own spec and advanced to the fork point, so
  the child's learning rate is what it would have been had it run so from the start.

Same spec, no overrides: the child's next epoch is bit-for-bit the parent's (tested).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared import layout
from shared.artifacts import ArtifactError, ArtifactStore, fetch_retrying
from worker import checkpoints, training

log = logging.getLogger(__name__)

#: Spec fields that shape the learning-rate schedule's state.
SCHEDULE_FIELDS = ("schedule", "lr", "epochs", "batch_size", "train_samples")


@dataclass(frozen=True)
class ForkPoint:
    parent_run_id: str
    epoch: int


def fork_of(record: Mapping[str, Any]) -> ForkPoint | None:
    parent, epoch = record.get("parent_run_id"), record.get("forked_from_epoch")
    if isinstance(parent, str) and layout.is_run_id(parent) and isinstance(epoch, int):
        return ForkPoint(parent, epoch)
    return None


class ForkError(RuntimeError):
    """The state a fork starts from is not in the store (pruned or never written)."""


def restore_fork(
    state: dict[str, Any], spec: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int
) -> Any:
    """Start ``model`` and ``optimizer`` (fresh, built for the child's ``spec``) from a
    parent's epoch ``state`` (the rules in the module docstring); returns the child's
    scheduler (None without a schedule)."""
    parent = state["spec"]
    model.load_state_dict(state["model"])
    same_optimizer = parent.get("optimizer") == spec["optimizer"]
    own = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    unchanged = all(parent.get(f) == spec[f] for f in SCHEDULE_FIELDS)
    if same_optimizer and unchanged:
        # The parent's own run, continued: its hyperparameters (scheduled lr, momentum) too.
        # The scheduler is built before the state is loaded, as on a resume.
        scheduler = training.build_scheduler(optimizer, spec["schedule"], spec["lr"], spec["epochs"], steps)
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
    else:
        if same_optimizer:  # the moments carry over; the hyperparameters are the child's
            optimizer.load_state_dict(state["optimizer"])
            for group, values in zip(optimizer.param_groups, own):
                group.update(values)
        scheduler = training.build_scheduler(optimizer, spec["schedule"], spec["lr"], spec["epochs"], steps)
        if scheduler is not None:
            with warnings.catch_warnings():  # stepped without optimizer steps, on purpose
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(state["epoch"] * steps):
                    scheduler.step()
    checkpoints.restore_rng(state)
    return scheduler


def load_fork_state(store: ArtifactStore, fork: ForkPoint, dest: Path, device: torch.device) -> dict[str, Any]:
    name = layout.epoch_state(fork.epoch)
    if not fetch_retrying(store, fork.parent_run_id, name, dest):
        raise ForkError(
            f"epoch {fork.epoch}'s state of run {fork.parent_run_id} is no longer "
            f"in the artifact store (pruned: KEEP_CHECKPOINTS / CHECKPOINT_BUDGET_MB)"
        )
    try:
        return checkpoints.load_checkpoint(dest, device)
    finally:
        dest.unlink(missing_ok=True)


def keep_epoch_state(store: ArtifactStore, run_id: str, checkpoint: Path, epoch: int, keep: int, budget_mb: float) -> None:
    """Put the just-written checkpoint in the store as epoch ``epoch``'s state, then prune
    the oldest states beyond ``keep`` or ``budget_mb`` (the newest always stays)."""
    if keep <= 0 or budget_mb <= 0:
        return
    store.put_file(run_id, layout.epoch_state(epoch), checkpoint)
    states = sorted(
        ((e, a) for a in store.list(run_id) if (e := layout.epoch_of_state(a["name"])) is not None), reverse=True
    )
    total = 0
    for i, (_epoch, artifact) in enumerate(states):
        total += artifact["size"]
        if i > 0 and (i >= keep or total > budget_mb * 1024 * 1024):
            try:
                store.delete(run_id, artifact["name"])
            except ArtifactError as exc:  # kept one more epoch; pruned next time
                log.warning("run %s: could not prune %s: %s", run_id, artifact["name"], exc)
