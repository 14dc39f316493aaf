"""Every setting, declared once: variable, type, default, bounds and help in one table.

Each field of :class:`Settings` is a row (:func:`setting`): :func:`load_settings`
reads and checks the environment from it, ``docs/configuration.md``'s table is
generated from it (``python -m shared.settings --write-docs`` puts it there; a test keeps the two
equal), and the deployment tests check compose and ``.env.example`` against it.
Adding a setting is one field here.

Both tiers call :func:`load_settings` at start; a bad value stops the process with a
message naming the variable instead of failing later in a request.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import quote, urlparse

from shared.notify_targets import TargetPolicy


class SettingsError(ValueError):
    """A configuration variable has a value the program cannot use."""


#: A parser for one variable's text: (variable, raw text) -> value, or SettingsError.
Parse = Callable[[str, str], Any]


def setting(  # noqa: PLR0913 — a table row: every argument after help is keyword-only
    default: Any,
    help: str,
    *,
    env: str | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    parse: Parse | None = None,
    shown: str | None = None,
    secret: bool = False,
) -> Any:
    """One row of the table. ``env`` defaults to the field's name in upper case; ``low``
    and ``high`` bound numbers; ``choices`` lists the values a text may take; ``parse``
    reads anything else; ``shown`` is the default as the docs print it."""
    meta = {"help": help, "env": env, "low": low, "high": high, "choices": choices, "parse": parse, "shown": shown}
    return field(default=default, metadata=meta, repr=not secret)


# -- parsers for what is not a plain number, flag or text ------------------------------
def _redis_url(name: str, raw: str) -> str:
    if urlparse(raw).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL, got {raw!r}")
    return raw


def _device(name: str, raw: str) -> str:
    if not (raw in ("auto", "cpu", "cuda") or raw.startswith("cuda:")):
        raise SettingsError(f"{name} must be auto, cpu, cuda or cuda:N, got {raw!r}")
    return raw


def _origins(name: str, raw: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def _http_url(name: str, raw: str) -> str:
    if urlparse(raw).scheme not in ("http", "https"):
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _base_url(name: str, raw: str) -> str:
    """An http(s) address that paths are appended to: without its trailing slash."""
    return _http_url(name, raw).rstrip("/")


def _artifacts_url(name: str, raw: str) -> str:
    parts = urlparse(raw)
    if parts.scheme == "s3" and parts.netloc:
        return raw.rstrip("/")
    if parts.scheme == "file" and parts.path and parts.netloc in ("", "localhost"):
        return raw
    raise SettingsError(f"{name} must be file:///path or s3://bucket[/prefix], got {raw!r}")


def _hosts(name: str, raw: str) -> frozenset[str]:
    """A comma-separated list of host names, lower case, without a trailing dot."""
    return frozenset(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())


def _gpus(name: str, raw: str) -> str:
    """``all``, ``none`` or distinct GPU indices such as ``0,2`` (worker.supervisor)."""
    text = raw.strip().lower()
    if text in ("all", "none", "cpu"):
        return "none" if text == "cpu" else text
    try:
        indices = [int(i) for i in text.split(",") if i.strip()]
    except ValueError:
        raise SettingsError(f"{name} must be all, none or GPU indices such as 0,2; got {raw!r}") from None
    if not indices or len(set(indices)) != len(indices) or min(indices) < 0:
        raise SettingsError(f"{name} must list distinct GPU indices, got {raw!r}")
    return ",".join(map(str, indices))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


@dataclass(frozen=True)
class Settings:
    # -- where things are -------------------------------------------------------------
    redis_url: str = setting(
        "redis://localhost:6379/0", "broker, event streams, run records (`rediss://` for TLS)", parse=_redis_url
    )
    redis_password: str | None = setting(
        None, "put into `REDIS_URL` when the URL has no password (compose passes it this way)", secret=True
    )
    results_dir: str = setting(
        "./results",
        "web tier: its history (events, series, run records, sweeps); worker: private scratch (spool, files "
        "before they go to the store)",
    )
    artifacts_url: str | None = setting(
        None,
        "where runs' files go: `file:///path` or `s3://bucket[/prefix]` "
        "(see [architecture](architecture.md#workers-anywhere))",
        parse=_artifacts_url,
        shown="*(RESULTS_DIR)*",
    )
    data_dir: str = setting("./data", "MNIST in torchvision's layout; downloaded when missing")
    # -- the web tier -----------------------------------------------------------------
    web_host: str = setting("127.0.0.1", "the address the web tier listens on")
    web_port: int = setting(8000, "the port the web tier listens on", low=1, high=65535)
    async_mode: str | None = setting(
        None,
        "the web server: `eventlet` or `gevent` (`pip install '.[gevent]'`; tested like eventlet), or `threading` for "
        "debugging",
        choices=("eventlet", "gevent", "threading"),
        shown="`eventlet`",
    )
    public_url: str = setting(
        "http://localhost:8000", "the page's address as users reach it, for links in notices", parse=_base_url
    )
    recorder: bool = setting(
        True,
        "`false`: `python -m web` starts no recorder beside it (one runs elsewhere: `python -m web.history.recorder`); "
        "`true`: it supervises one, restarted when it exits",
    )
    recorder_max_lag: float = setting(
        30.0,
        "`/healthz` says `degraded` when an event in Redis has waited longer than this many seconds to be recorded",
        low=1.0,
        high=24 * 3600.0,
    )
    recorder_nice: int = setting(
        10,
        "the recorder's CPU niceness (0–19): on a busy web box the relay's latency goes first, the recorder has a "
        "second of slack",
        low=0,
        high=19,
    )
    # -- history and the live stream ----------------------------------------------------
    stream_maxlen: int = setting(
        5000,
        "events kept per active run in Redis (≈ 8 minutes at 10 events/s; older ones are read from the recorded "
        "`events.jsonl` through its index)",
        low=100,
        high=10_000_000,
    )
    stream_retention_seconds: float = setting(
        600.0,
        "a finished run's stream expires this long after its last event; the web side keeps the log",
        low=1.0,
        high=30 * 24 * 3600.0,
    )
    replay_limit: int = setting(
        2000,
        "most events one Socket.IO `subscribe` replays (the newest ones); a client further behind is told so in "
        "the ack and fills in from the series and event pages",
        low=10,
        high=100_000,
    )
    client_queue_limit: int = setting(
        5000,
        "Socket.IO packets waiting for one client before it is disconnected (it is not reading; it reconnects "
        "and resubscribes from its last seq)",
        low=100,
        high=10_000_000,
    )
    client_queue_bytes: int = setting(
        16 * 1024 * 1024,
        "bytes waiting for one client before it is disconnected (whichever bound comes first)",
        low=64 * 1024,
        high=2**40,
    )
    clients_queue_bytes: int = setting(
        256 * 1024 * 1024,
        "bytes waiting for all Socket.IO clients together: past it, the clients with the most waiting are "
        "disconnected first (many slow clients, each under its own bound)",
        low=1024 * 1024,
        high=2**44,
    )
    max_subscriptions: int = setting(
        64, "runs one Socket.IO connection may follow at once (a repeated `subscribe` replaces)", low=1, high=100_000
    )
    ws_compression: bool = setting(
        False,
        "`true`: accept WebSocket compression (permessage-deflate) when a browser offers it — less bandwidth, but "
        "every event is compressed once per client (most of the relay's CPU with hundreds of browsers; see "
        "[benchmarks](benchmarks.md))",
    )
    max_connections: int = setting(
        10_000,
        "connections the web server serves at once (eventlet's pool; gevent's too); more wait to be accepted",
        low=16,
        high=1_000_000,
    )
    socket_timeout: float = setting(
        75.0,
        "seconds a connection may send nothing before it is closed (a half-sent request; live pages answer "
        "Engine.IO's ping every 25 s); eventlet only",
        low=50.0,
        high=24 * 3600.0,
    )
    cors_origins: tuple[str, ...] = setting(
        (), "comma-separated origins allowed to open Socket.IO", parse=_origins, shown="*(same origin only)*"
    )
    # -- access and limits --------------------------------------------------------------
    api_token: str | None = setting(
        None,
        "when set, every `/api/*` route (reads too) and Socket.IO need it, except `/healthz`, `/api/openapi.json` "
        "and `/api/docs`; listening beyond loopback without one generates one (below)",
        secret=True,
    )
    allow_open_access: bool = setting(False, "`true`: listen beyond loopback with no token at all (trusted networks only)")
    max_queued_runs: int = setting(
        100, "runs waiting at once (queued or resuming); more submissions get 429", low=1, high=1_000_000
    )
    submit_rate_per_minute: int = setting(
        30, "submissions per client address in any 60 s; more get 429 with `Retry-After`", low=1, high=1_000_000
    )
    max_run_seconds: float = setting(
        24 * 3600.0,
        "a run training longer than this is stopped (checkpoint kept) and failed",
        low=1.0,
        high=365 * 24 * 3600.0,
    )
    # -- runs that outlive their worker -------------------------------------------------
    lease_seconds: float = setting(
        15.0, "a running run whose worker has not renewed its lease this long is lost", low=1.0, high=3600.0
    )
    max_restarts: int = setting(3, "how often a lost run is resumed before it fails", low=0, high=100)
    stranded_task_seconds: float = setting(
        30.0,
        "a waiting run seen beside an idle worker that could take it, twice this long apart, has lost its task "
        "message (Redis lost it): it is sent again (a duplicate is harmless)",
        low=1.0,
        high=3600.0,
    )
    keep_checkpoints: int = setting(
        100,
        "epoch states (`state-epoch-NNN.pt`, what a fork starts from) a run keeps in the artifact store: the newest "
        "N; `0` keeps none",
        low=0,
        high=100_000,
    )
    checkpoint_budget_mb: float = setting(
        512.0,
        "… within this many MB per run, the oldest pruned first (an Adam run's state is about 4.8 MB, so 512 keeps "
        "every epoch of a 100-epoch run); `0` keeps none",
        low=0.0,
        high=10_000_000.0,
    )
    # -- workers --------------------------------------------------------------------------
    device: str = setting(
        "auto",
        "a worker's device: `auto` (CUDA if present), `cpu`, `cuda`, `cuda:N` (one named device: no per-GPU fan-out)",
        env="TRAINBOARD_DEVICE",
        parse=_device,
    )
    worker_name: str | None = setting(None, "a worker's name (its trainers add `-gpuN` or `-N`)", shown="`worker-<pid>`")
    worker_gpus: str | None = setting(
        None,
        "GPUs a worker runs one pinned trainer each on: `all`, `none`, or indices such as `0,2`",
        parse=_gpus,
        shown="`all`",
    )
    worker_trainers: int = setting(1, "CPU trainers one worker runs (each its own process and Celery node)", low=1, high=256)
    gpu_index: int | None = setting(
        None,
        "set by a worker's supervisor for each trainer it pins to a GPU (shown on the page); not for users",
        env="TRAINBOARD_GPU_INDEX",
        low=0,
        high=1024,
    )
    log_level: str = setting("INFO", "how much the processes log: DEBUG, INFO, WARNING, ERROR", parse=_log_level)
    # -- notices --------------------------------------------------------------------------
    notify_url: str | None = setting(
        None,
        "gets a JSON POST (Slack-compatible `text`) whenever a run or a sweep ends; runs and sweeps may name their "
        "own with `notify_url`",
        parse=_http_url,
    )
    notify_allow_private: bool = setting(
        False, "`true`: runs' and sweeps' `notify_url` may name loopback, private and link-local addresses"
    )
    notify_allowed_hosts: frozenset[str] = setting(
        frozenset(), "comma-separated hosts a `notify_url` may name whatever they resolve to", parse=_hosts
    )

    def notify_policy(self) -> TargetPolicy:
        """Where notices a *user* named may go (shared.notify_targets). The operator's
        own NOTIFY_URL is configuration, not input, and is not held to it."""
        return TargetPolicy(self.notify_allow_private, self.notify_allowed_hosts)


#: Variables read by libraries, not by Trainboard's own code: documented beside the table.
LIBRARY_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`",
        "*(AWS)*",
        "an S3-compatible store's address (SeaweedFS, MinIO, R2, …)",
    ),
    (
        "`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`",
        "*(none)*, `us-east-1`",
        "the store's credentials and region (boto3's standard variables)",
    ),
)


def env_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("env") or f.name.upper())


def table() -> tuple[dataclasses.Field[Any], ...]:
    """The rows, in order."""
    return dataclasses.fields(Settings)


def _types() -> dict[str, Any]:
    return get_type_hints(Settings)


def _read(f: dataclasses.Field[Any], kind: Any, name: str, raw: str) -> Any:
    meta = f.metadata
    if meta["parse"] is not None:
        return meta["parse"](name, raw)
    if kind is bool:
        text = raw.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    number = int if kind in (int, int | None) else float if kind in (float, float | None) else None
    if number is not None:
        try:
            value = number(raw)
        except ValueError:
            raise SettingsError(f"{name} must be {'an integer' if number is int else 'a number'}, got {raw!r}") from None
        low, high = meta["low"], meta["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value}")
        return value
    if meta["choices"] and raw not in meta["choices"]:
        raise SettingsError(f"{name} must be one of {', '.join(meta['choices'])}, got {raw!r}")
    return raw


def with_password(redis_url: str, password: str | None) -> str:
    """REDIS_URL, with REDIS_PASSWORD put in when the URL carries none (compose passes the
    password on its own, so it stays optional there)."""
    parts = urlparse(redis_url)
    if not password or parts.password or parts.scheme == "unix":
        return redis_url
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.netloc}").geturl()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every variable of the table; raise SettingsError on the first bad
    one. An unset or empty variable takes the default."""
    environ = os.environ if environ is None else environ
    kinds = _types()
    values: dict[str, Any] = {}
    for f in table():
        name = env_name(f)
        raw = environ.get(name)
        if raw is not None and raw.strip() != "":
            values[f.name] = _read(f, kinds[f.name], name, raw)
    loaded = Settings(**values)
    return dataclasses.replace(loaded, redis_url=with_password(loaded.redis_url, loaded.redis_password))


def settings_or_exit() -> Settings:
    """For entry points: log to stderr as every Trainboard process does, and stop with a
    message naming the variable when a setting is bad."""
    import logging

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def _shown_default(f: dataclasses.Field[Any]) -> str:
    if f.metadata["shown"]:
        return str(f.metadata["shown"])
    value = f.default
    if value is None or value == () or value == frozenset():
        return "*(none)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def markdown_table() -> str:
    """docs/configuration.md's table, generated from the rows (tests/shared/test_settings.py
    keeps the file equal to it)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for f in table():
        lines.append(f"| `{env_name(f)}` | {_shown_default(f)} | {f.metadata['help']} |")
    lines.extend(f"| {name} | {default} | {meaning} |" for name, default, meaning in LIBRARY_VARIABLES)
    return "\n".join(lines)


def write_docs(path: Path) -> bool:
    """Put the table into ``path`` in place of the one there (the lines from its header to
    the first line that is not a table row); True if the file changed."""
    lines = path.read_text().split("\n")
    start = lines.index("| variable | default | meaning |")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    text = "\n".join([*lines[:start], markdown_table(), *lines[end:]])
    changed = text != path.read_text()
    path.write_text(text)
    return changed


DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        print(markdown_table())
    elif sys.argv[1:] == ["--write-docs"]:
        print(f"{DOCS}: {'updated' if write_docs(DOCS) else 'already up to date'}")
    else:
        raise SystemExit("usage: python -m shared.settings --markdown | --write-docs")
