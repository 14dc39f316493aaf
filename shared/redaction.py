"""Secrets a user stores are write-only: every record leaves the system masked.

A run's or sweep's ``notify_url`` is used by the notifier (which reads the stored
record) and by nothing else; whatever answers a client or lands in a downloadable
file (REST records, ``run_update`` on Socket.IO, ``run.json``, ``training_log.json``,
checkpoints, exports and the CLI built on them) goes through these functions, as
GitHub and GitLab never show a webhook secret again after it is set. Which fields
are secret is said once, in the spec's field table (``Field.secret``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.notify_targets import mask_url
from shared.spec import FIELDS

#: The spec fields (and sweep fields of the same name) that hold secrets.
SECRET_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.secret)


def public_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every secret field masked (scheme and host kept, so a user can
    still tell which receiver is set)."""
    return {k: mask_url(v) if k in SECRET_FIELDS else v for k, v in spec.items()}


def public_run(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "spec": public_spec(record["spec"])} if "spec" in record else dict(record)


def public_sweep(sweep: dict[str, Any]) -> dict[str, Any]:
    """A sweep (or its summary) with its own secret fields, its base spec and any runs
    it carries masked."""
    out = public_spec(sweep)
    if isinstance(out.get("base"), dict):
        out["base"] = public_spec(out["base"])
    if isinstance(out.get("runs"), list):
        out["runs"] = [public_run(r) for r in out["runs"]]
    return out
