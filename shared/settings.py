"""One settings object, read from the environment in one place.

Both tiers call :func:`load_settings` at start; a bad value stops the process
with a message naming the variable instead of failing later in a request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

from shared.notify_targets import TargetPolicy


class SettingsError(ValueError):
    """A configuration variable has a value the program cannot use."""


@dataclass(frozen=True)
class Settings:
    #: Broker, event streams and run records all live in this Redis.
    redis_url: str = "redis://localhost:6379/0"
    #: The results volume: one folder per run (see shared.layout).
    results_dir: str = "./results"
    #: torchvision's MNIST layout (DATA_DIR/MNIST/raw/...); downloaded when missing.
    data_dir: str = "./data"
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    #: Events kept per run in its Redis stream (≈ 8 minutes at 10 events/s); older ones
    #: are read from events.jsonl through its index.
    stream_maxlen: int = 5000
    #: Seconds a finished run's stream stays in Redis before it expires (the volume keeps
    #: the log), so Redis memory follows the active runs, not history.
    stream_retention_seconds: float = 600.0
    #: Most events one Socket.IO subscribe replays; a client further behind is told so in
    #: the ack and fills in from the series and event pages.
    replay_limit: int = 2000
    #: Outgoing Socket.IO packets a client may have waiting before the server drops it (it
    #: reconnects and resubscribes from its last seq): a client that stops reading cannot
    #: make the server buffer without bound.
    client_queue_limit: int = 5000
    #: Seconds a running run's lease lives without a heartbeat before it counts as lost.
    lease_seconds: float = 15.0
    #: How many times a lost run is resumed on another worker before it is failed.
    max_restarts: int = 3
    #: Socket.IO CORS origins; empty means same origin only.
    cors_origins: tuple[str, ...] = ()
    #: Device a worker trains on: "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    #: When set, submitting, cancelling, downloading and subscribing need this token. A web
    #: tier listening beyond loopback without one makes one (see web.access).
    api_token: str | None = None
    #: Opt-out of that generated token, for trusted networks only (ALLOW_OPEN_ACCESS=true).
    allow_open_access: bool = False
    #: Most runs waiting in the queue at once (queued or resuming); more are refused (429).
    max_queued_runs: int = 100
    #: Submissions one client may make per minute; more are refused (429).
    submit_rate_per_minute: int = 30
    #: A run still training after this many seconds is stopped and marked failed.
    max_run_seconds: float = 24 * 3600.0
    #: Gets a JSON POST (Slack-compatible "text") whenever a run or a sweep ends; runs and
    #: sweeps may name their own with notify_url.
    notify_url: str | None = None
    #: The page's address as users reach it, for links in notifications.
    public_url: str = "http://localhost:8000"
    #: Where runs' files go (shared.artifacts): file:///path or s3://bucket[/prefix];
    #: unset means RESULTS_DIR itself.
    artifacts_url: str | None = None
    #: Let notices go to loopback, private and link-local addresses (an internal receiver).
    notify_allow_private: bool = False
    #: Hosts that may receive notices whatever they resolve to (lower case).
    notify_allowed_hosts: frozenset[str] = frozenset()
    #: Epoch states (``state-epoch-NNN.pt``) a run keeps in the artifact store for forks:
    #: the newest KEEP_CHECKPOINTS epochs (default 100: every epoch of the longest run) ...
    keep_checkpoints: int = 100
    #: ... within CHECKPOINT_BUDGET_MB per run, the oldest pruned first (an Adam run's state
    #: is about 4.8 MB, so 512 MB keeps every epoch of a 100-epoch run). 0 keeps none.
    checkpoint_budget_mb: float = 512.0
    #: The recorder's CPU niceness (0-19): it is throughput work with a second of slack, the
    #: relay beside it is latency work, so on a busy web box the relay goes first.
    recorder_nice: int = 10
    #: Whether ``python -m web`` starts (and supervises) a recorder beside the server;
    #: off when a recorder runs elsewhere (RECORDER=off).
    recorder: bool = True
    #: /healthz says "degraded" when an event sent to Redis has waited longer than this
    #: (seconds) to be recorded: history is not being written.
    recorder_max_lag: float = 30.0
    #: Bytes a Socket.IO client may have waiting before it is dropped (with
    #: CLIENT_QUEUE_LIMIT packets): a client that stops reading cannot grow the server.
    client_queue_bytes: int = 16 * 1024 * 1024
    #: Runs one Socket.IO client may follow at once (a repeated subscribe replaces).
    max_subscriptions: int = 64
    #: Accept WebSocket compression (permessage-deflate) when a browser offers it. Off: each
    #: client has its own deflate context, so every event is compressed once per client —
    #: most of the relay's CPU with hundreds of browsers (web.wsgi_layers).
    ws_compression: bool = False

    def notify_policy(self) -> TargetPolicy:
        """Where notices a *user* named may go (shared.notify_targets). The operator's
        own NOTIFY_URL is configuration, not input, and is not held to it."""
        return TargetPolicy(self.notify_allow_private, self.notify_allowed_hosts)


def _number(name: str, default: float | None, low: float, high: float, kind: type[int] | type[float] = int) -> Any:
    """``kind(os.environ[name])`` within [low, high], or ``default`` when unset."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _int(name: str, default: int, low: int, high: int) -> int:
    return int(_number(name, default, low, high, int))


def _float(name: str, default: float, low: float, high: float) -> float:
    return float(_number(name, default, low, high, float))


def with_password(redis_url: str, password: str | None) -> str:
    """REDIS_URL, with REDIS_PASSWORD put in when the URL carries none (compose passes the
    password on its own, so it stays optional there)."""
    parts = urlparse(redis_url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")
    if not password or parts.password or parts.scheme == "unix":
        return redis_url
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.netloc}").geturl()


def _url(name: str) -> str | None:
    raw = os.environ.get(name) or None
    if raw is not None and urlparse(raw).scheme not in ("http", "https"):
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def _artifacts_url(name: str) -> str | None:
    raw = os.environ.get(name) or None
    if raw is None:
        return None
    parts = urlparse(raw)
    if parts.scheme == "s3" and parts.netloc:
        return raw.rstrip("/")
    if parts.scheme == "file" and parts.path and parts.netloc in ("", "localhost"):
        return raw
    raise SettingsError(f"{name} must be file:///path or s3://bucket[/prefix], got {raw!r}")


def _hosts(name: str, default: frozenset[str]) -> frozenset[str]:
    """A comma-separated list of host names, lower case, without a trailing dot."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return frozenset(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def settings_or_exit() -> Settings:
    """For entry points: log to stderr as every Trainboard process does, and stop with a
    message naming the variable when a setting is bad."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return load_settings()
    except SettingsError as exc:
        raise SystemExit(f"configuration error: {exc}") from None


def load_settings() -> Settings:
    """Read and validate every variable; raise SettingsError on the first bad one."""
    d = Settings()
    redis_url = with_password(os.environ.get("REDIS_URL") or d.redis_url, os.environ.get("REDIS_PASSWORD") or None)
    device = os.environ.get("TRAINBOARD_DEVICE") or d.device
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise SettingsError(f"TRAINBOARD_DEVICE must be auto, cpu, cuda or cuda:N, got {device!r}")
    origins = tuple(o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip())
    return Settings(
        redis_url=redis_url,
        results_dir=os.environ.get("RESULTS_DIR") or d.results_dir,
        data_dir=os.environ.get("DATA_DIR") or d.data_dir,
        web_host=os.environ.get("WEB_HOST") or d.web_host,
        web_port=_int("WEB_PORT", d.web_port, 1, 65535),
        stream_maxlen=_int("STREAM_MAXLEN", d.stream_maxlen, 100, 10_000_000),
        stream_retention_seconds=_float("STREAM_RETENTION_SECONDS", d.stream_retention_seconds, 1.0, 30 * 24 * 3600.0),
        replay_limit=_int("REPLAY_LIMIT", d.replay_limit, 10, 100_000),
        client_queue_limit=_int("CLIENT_QUEUE_LIMIT", d.client_queue_limit, 100, 10_000_000),
        lease_seconds=_float("LEASE_SECONDS", d.lease_seconds, 1.0, 3600.0),
        max_restarts=_int("MAX_RESTARTS", d.max_restarts, 0, 100),
        cors_origins=origins,
        device=device,
        api_token=os.environ.get("API_TOKEN") or None,
        allow_open_access=_bool("ALLOW_OPEN_ACCESS", d.allow_open_access),
        max_queued_runs=_int("MAX_QUEUED_RUNS", d.max_queued_runs, 1, 1_000_000),
        submit_rate_per_minute=_int("SUBMIT_RATE_PER_MINUTE", d.submit_rate_per_minute, 1, 1_000_000),
        max_run_seconds=_float("MAX_RUN_SECONDS", d.max_run_seconds, 1.0, 365 * 24 * 3600.0),
        notify_url=_url("NOTIFY_URL"),
        public_url=(os.environ.get("PUBLIC_URL") or d.public_url).rstrip("/"),
        artifacts_url=_artifacts_url("ARTIFACTS_URL"),
        notify_allow_private=_bool("NOTIFY_ALLOW_PRIVATE", d.notify_allow_private),
        notify_allowed_hosts=_hosts("NOTIFY_ALLOWED_HOSTS", d.notify_allowed_hosts),
        keep_checkpoints=_int("KEEP_CHECKPOINTS", d.keep_checkpoints, 0, 100_000),
        recorder_nice=_int("RECORDER_NICE", d.recorder_nice, 0, 19),
        recorder=_bool("RECORDER", d.recorder),
        recorder_max_lag=_float("RECORDER_MAX_LAG", d.recorder_max_lag, 1.0, 24 * 3600.0),
        client_queue_bytes=_int("CLIENT_QUEUE_BYTES", d.client_queue_bytes, 64 * 1024, 2**40),
        max_subscriptions=_int("MAX_SUBSCRIPTIONS", d.max_subscriptions, 1, 100_000),
        ws_compression=_bool("WS_COMPRESSION", d.ws_compression),
        checkpoint_budget_mb=_float("CHECKPOINT_BUDGET_MB", d.checkpoint_budget_mb, 0.0, 10_000_000.0),
    )
