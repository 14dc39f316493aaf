"""The artifact store: where a run's files go, whatever box trained it.

Checkpoints, final weights (``.pth``, ``.npz``), sample sprites, ``test_samples.json``
and ``training_log.json`` are written by a worker into its own scratch folder, then
put here; the web tier lists and serves them from here, and a run resumed on another
box reads its checkpoint from here. History (events, series, run records) is not
here: the web tier's recorder keeps it (see web.history.recorder).

``ARTIFACTS_URL`` picks the store:

* ``file:///path`` — a folder every process sees (the default: ``RESULTS_DIR``, so
  one machine or a shared volume works exactly as before);
* ``s3://bucket[/prefix]`` — any S3-compatible store (AWS S3, SeaweedFS, MinIO, R2,
  GCS's S3 interface) with the standard AWS variables: ``AWS_ENDPOINT_URL_S3`` or
  ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_DEFAULT_REGION``.

The S3 client is boto3: AWS's own SDK, maintained with the service, it reads those
variables itself (service-specific endpoints included) and is thread-safe, which the
worker's training and heartbeat threads need. fsspec/s3fs adds an async layer we do
not use; obstore is young and would be the only Rust wheel in the worker.

Files are small (a checkpoint is a few MB) and written whole: one PUT each, atomic
on every S3 implementation; the file store writes to a temporary name and renames.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from shared import layout
from shared.retry import attempts

#: Bytes per chunk when a download is streamed through the web tier.
CHUNK = 256 * 1024


class ArtifactError(RuntimeError):
    """The store could not be reached or refused the operation."""


class ArtifactStore(Protocol):
    #: Where the store is, as ARTIFACTS_URL says (credentials never included).
    url: str

    def put_file(self, run_id: str, name: str, path: Path) -> None: ...

    def fetch(self, run_id: str, name: str, dest: Path) -> bool:
        """Copy the artifact to ``dest`` (atomically); False when it does not exist."""
        ...

    def list(self, run_id: str) -> list[dict[str, Any]]: ...

    def open(self, run_id: str, name: str) -> tuple[Iterator[bytes], int] | None:
        """The artifact as chunks and its size, or None when it does not exist."""
        ...

    def local_path(self, run_id: str, name: str) -> Path | None:
        """The artifact's path when the store is a local folder (served directly)."""
        ...

    def delete(self, run_id: str, name: str) -> None:
        """Remove the artifact (nothing when it does not exist)."""
        ...


class FileStore:
    """Artifacts in ``root/<run_id>/<name>``: the results volume's layout."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def _path(self, run_id: str, name: str) -> Path:
        return layout.run_dir(self.root, run_id) / name

    def put_file(self, run_id: str, name: str, path: Path) -> None:
        target = self._path(run_id, name)
        if target.exists() and target.resolve() == Path(path).resolve():
            return  # the worker's scratch folder is the store (one machine, shared volume)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as src:
            layout.atomic_write(target, lambda f: shutil.copyfileobj(src, f), binary=True)

    def fetch(self, run_id: str, name: str, dest: Path) -> bool:
        source = self.local_path(run_id, name)
        if source is None:
            return False
        if dest.exists() and dest.resolve() == source.resolve():
            return True
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as src:
            layout.atomic_write(dest, lambda f: shutil.copyfileobj(src, f), binary=True)
        return True

    def list(self, run_id: str) -> list[dict[str, Any]]:
        return layout.list_artifacts(layout.run_dir(self.root, run_id))

    def open(self, run_id: str, name: str) -> tuple[Iterator[bytes], int] | None:
        path = self.local_path(run_id, name)
        if path is None:
            return None

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while block := f.read(CHUNK):
                    yield block

        return chunks(), path.stat().st_size

    def local_path(self, run_id: str, name: str) -> Path | None:
        return layout.resolve_artifact(layout.run_dir(self.root, run_id), name)

    def delete(self, run_id: str, name: str) -> None:
        path = self.local_path(run_id, name)
        if path is not None:
            path.unlink(missing_ok=True)


class S3Store:
    """Artifacts under ``s3://bucket/prefix/<run_id>/<name>``."""

    def __init__(self, bucket: str, prefix: str = ""):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client: Any = None
        self._bucket_checked = False

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            config = Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                # Self-hosted stores (SeaweedFS, MinIO) answer on one host name.
                s3={"addressing_style": "path"} if endpoint else {},
            )
            self._client = boto3.client("s3", config=config, region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
        return self._client

    def key(self, run_id: str, name: str = "") -> str:
        if not layout.is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return "/".join(p for p in (self.prefix, run_id, name) if p)

    def _errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (a fresh SeaweedFS); once per process."""
        if self._bucket_checked:
            return
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise ArtifactError(f"{self.url}: {exc}") from exc
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as create_exc:
                code = create_exc.response.get("Error", {}).get("Code")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise ArtifactError(f"{self.url}: cannot create the bucket: {create_exc}") from create_exc
        self._bucket_checked = True

    def put_file(self, run_id: str, name: str, path: Path) -> None:
        try:
            self.ensure_bucket()
            with open(path, "rb") as body:
                self.client.put_object(Bucket=self.bucket, Key=self.key(run_id, name), Body=body)
        except self._errors() as exc:
            raise ArtifactError(f"could not store {name} of run {run_id} in {self.url}: {exc}") from exc

    def _get(self, run_id: str, name: str) -> Any | None:
        from botocore.exceptions import ClientError

        if layout.resolve_name(name) is None:
            return None
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(run_id, name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise ArtifactError(f"could not read {name} of run {run_id} from {self.url}: {exc}") from exc
        except self._errors() as exc:
            raise ArtifactError(f"could not read {name} of run {run_id} from {self.url}: {exc}") from exc

    def fetch(self, run_id: str, name: str, dest: Path) -> bool:
        answer = self._get(run_id, name)
        if answer is None:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        body = answer["Body"]
        layout.atomic_write(dest, lambda f: shutil.copyfileobj(body, f, CHUNK), binary=True)
        return True

    def list(self, run_id: str) -> list[dict[str, Any]]:
        prefix = self.key(run_id) + "/"
        out = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    if "/" not in name and not name.startswith("."):
                        out.append({"name": name, "size": obj["Size"], "modified": obj["LastModified"].timestamp()})
        except self._errors() as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                return []
            raise ArtifactError(f"could not list run {run_id} in {self.url}: {exc}") from exc
        return sorted(out, key=lambda a: a["name"])

    def open(self, run_id: str, name: str) -> tuple[Iterator[bytes], int] | None:
        answer = self._get(run_id, name)
        if answer is None:
            return None
        return answer["Body"].iter_chunks(CHUNK), int(answer["ContentLength"])

    def local_path(self, run_id: str, name: str) -> Path | None:
        return None

    def delete(self, run_id: str, name: str) -> None:
        if layout.resolve_name(name) is None:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(run_id, name))
        except self._errors() as exc:
            raise ArtifactError(f"could not delete {name} of run {run_id} in {self.url}: {exc}") from exc


def epoch_states(store: ArtifactStore, run_id: str) -> list[int]:
    """The epochs whose state (``state-epoch-NNN.pt``) the store holds: where a fork of
    ``run_id`` can start. Oldest first."""
    return sorted(e for a in store.list(run_id) if (e := layout.epoch_of_state(a["name"])) is not None)


def read_json(store: ArtifactStore, run_id: str, name: str) -> Any | None:
    """A JSON artifact, parsed; None when it does not exist (or is not JSON)."""
    import json

    found = store.open(run_id, name)
    if found is None:
        return None
    chunks, _ = found
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return None


def store_for(url: str | None, results_dir: str) -> ArtifactStore:
    """The store ``ARTIFACTS_URL`` names (the results folder when unset)."""
    if not url:
        return FileStore(results_dir)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"ARTIFACTS_URL: a file:// URL names a local path, got {url!r}")
        return FileStore(parts.path)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"ARTIFACTS_URL: s3:// needs a bucket, got {url!r}")
        return S3Store(parts.netloc, parts.path)
    raise ValueError(f"ARTIFACTS_URL must be a file:// or s3:// URL, got {url!r}")


#: Tries to read one artifact before a run gives up on the store (0.5 + 1 + 2 + 4 + 8 s of
#: backoff between them): a store that blinks under load must not fail a run at its start.
FETCH_ATTEMPTS = 6


def fetch_retrying(
    store: ArtifactStore, run_id: str, name: str, dest: Path, tries: int = FETCH_ATTEMPTS, sleep: Any = None
) -> bool:
    """``store.fetch`` with backoff on ArtifactError (the store unreachable); the last
    error is raised. False, at once, when the artifact does not exist."""
    for attempt in attempts(tries, sleep=sleep) if sleep else attempts(tries):
        try:
            return store.fetch(run_id, name, dest)
        except ArtifactError:
            if attempt == tries:
                raise
    return False
