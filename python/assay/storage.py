"""Where bytes live: local paths, and object stores behind a URL (``s3://``, ``gs://``,
``az://``/``abfs://``, ``file://`` and any other installed fsspec protocol).

:func:`location` turns what a user writes into a path object: a ``pathlib.Path`` for a
local path (as fast as ever), or a ``upath.UPath`` (universal-pathlib over fsspec) for a
URL, carrying its storage options, so that everything joined onto it (``out / "data"``)
reaches the same store with the same settings. Readers, writers, staging and the trainer
go through the few helpers here for what ``pathlib`` alone does not do on a store
(atomic writes, removing a tree, Parquet files, files for the Rust kernels).

S3 and S3-compatible stores (MinIO, Ceph, R2) take the standard ``AWS_*`` environment
(``AWS_ENDPOINT_URL`` included) and profiles, plus the pipeline's ``storage:`` section
(:class:`StorageConfig`). Credentials are never read, printed or written by assay itself:
the store's client library finds them.

>>> location("out/run")
PosixPath('out/run')
>>> location("file:///tmp/run")
PosixPath('/tmp/run')
>>> is_remote(location("s3://bucket/prefix")), is_remote(location("out/run"))
(True, False)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Iterator

from pydantic import BaseModel, ConfigDict

from assay.errors import AssayError

__all__ = ["StorageConfig", "StorageError", "HashingWriter", "is_remote", "local_copy", "location", "make_dirs", "open_file",
           "parquet_file", "remove_tree", "storage_errors", "upload_from", "write_atomic"]

CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
MAX_ATTEMPTS = 3
"""S3 requests: seconds to connect and to wait for data, and tries per request (botocore's
standard retry mode, with backoff): an unreachable endpoint fails in well under a minute."""

BLOCK_BYTES = 8 << 20
"""Read-ahead and upload part size on a store: one request per 8 MiB streamed."""


class StorageConfig(BaseModel):
    """The ``storage:`` section of a pipeline: how to reach an object store.

    ``endpoint_url``/``region``/``profile`` for S3-compatible stores (else ``AWS_ENDPOINT_URL``,
    ``AWS_REGION``/``AWS_DEFAULT_REGION`` and ``AWS_PROFILE`` apply), ``anon`` for public
    buckets without credentials, ``shared_local`` to say that a local output path is on a
    file system every Ray node mounts (NFS)."""

    model_config = ConfigDict(extra="forbid")
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    anon: bool = False
    shared_local: bool = False


class StorageError(AssayError, OSError):
    """An object store that cannot be used: a missing bucket, denied access, an
    unreachable endpoint. The message starts with the URL."""


def _protocol(text: str) -> str | None:
    return text.split("://", 1)[0].lower() if "://" in text else None


def _options(protocol: str, storage: StorageConfig | None) -> dict[str, Any]:
    storage = storage or StorageConfig()
    if protocol in ("s3", "s3a"):
        options: dict[str, Any] = {
            "config_kwargs": {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": READ_TIMEOUT_S,
                              "retries": {"max_attempts": MAX_ATTEMPTS, "mode": "standard"}},
            "default_block_size": BLOCK_BYTES,
        }
        if storage.endpoint_url:
            options["endpoint_url"] = storage.endpoint_url
        if storage.region:
            options["client_kwargs"] = {"region_name": storage.region}
        if storage.profile:
            options["profile"] = storage.profile
        if storage.anon:
            options["anon"] = True
        return options
    if protocol in ("gs", "gcs") and storage.anon:
        return {"token": "anon"}
    if protocol in ("az", "abfs", "abfss", "adl") and storage.anon:
        return {"anon": True}
    return {}


def location(path: str | os.PathLike[str], storage: StorageConfig | None = None) -> Path:
    """The path object for ``path``: a ``pathlib.Path`` when it is local (``file://`` too),
    else a ``UPath`` with the store's options from ``storage``."""
    if isinstance(path, PurePath) and not is_remote(path):
        return Path(path)
    if is_remote(path):
        return path  # type: ignore[return-value]
    text = os.fspath(path)
    protocol = _protocol(text)
    if protocol in (None, "file", "local"):
        return Path(text.split("://", 1)[1] if protocol else text)
    try:
        from upath import UPath
    except ImportError:  # pragma: no cover - a dependency
        raise StorageError(f"{text}: object storage needs universal-pathlib (pip install 'assay[s3]')") from None
    try:
        return UPath(text, **_options(protocol, storage))
    except (ImportError, ValueError) as exc:
        raise StorageError(f"{text}: {protocol}:// needs its fsspec package ({exc})") from None


def is_remote(path: Any) -> bool:
    """True for a path on an object store (a ``UPath`` that is not local)."""
    return type(path).__module__.startswith("upath") and getattr(path, "protocol", "") not in ("", "file", "local")


def open_file(path: Path, mode: str = "rb") -> BinaryIO:
    """``open`` for both kinds: a store's file streams in :data:`BLOCK_BYTES` requests, and a
    file written to it appears only when closed complete."""
    if is_remote(path):
        return path.fs.open(path.path, mode, block_size=BLOCK_BYTES)  # type: ignore[attr-defined]
    return open(path, mode)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` locally; nothing on a store, whose folders are key prefixes (and where a
    mkdir could create a missing bucket instead of reporting it)."""
    if not is_remote(path):
        path.mkdir(parents=True, exist_ok=True)


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` so that readers see the old file or the new one, never a part: a
    rename locally, one PUT on a store."""
    if is_remote(path):
        path.write_bytes(payload)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def remove_tree(path: Path) -> None:
    """Remove a folder (or file) and everything under it; nothing if it is not there."""
    if is_remote(path):
        with contextlib.suppress(FileNotFoundError):
            path.fs.rm(path.path, recursive=True)  # type: ignore[attr-defined]
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def parquet_file(path: Path) -> Any:
    """A ``pyarrow.parquet.ParquetFile``; on a store its footer and column chunks are read
    with range requests."""
    import pyarrow.parquet as pq

    if is_remote(path):
        return pq.ParquetFile(path.fs.open(path.path, "rb", block_size=BLOCK_BYTES))  # type: ignore[attr-defined]
    return pq.ParquetFile(path)


@contextlib.contextmanager
def local_copy(path: Path) -> Iterator[Path]:
    """A local path holding what ``path`` holds (a file or a folder), for code that reads
    local files only (the Rust index loaders); downloaded from a store, removed after."""
    if not is_remote(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="assay-") as tmp:
        target = Path(tmp) / path.name
        path.fs.get(path.path, str(target), recursive=path.is_dir())  # type: ignore[attr-defined]
        yield target


@contextlib.contextmanager
def upload_from(path: Path) -> Iterator[Path]:
    """A local folder to write into; on a store its files are uploaded to ``path`` when the
    block ends (the Rust index writers write local files only)."""
    if not is_remote(path):
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="assay-") as tmp:
        yield Path(tmp)
        for file in sorted(Path(tmp).rglob("*")):
            if file.is_file():
                target = path / file.relative_to(tmp).as_posix()
                path.fs.put_file(str(file), target.path)  # type: ignore[attr-defined]


class HashingWriter:
    """A binary file wrapper that counts and hashes (sha256) what goes through it, so that a
    shard's size and digest need no second read (on a store, a second download)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._digest.update(view)
        self.bytes += view.nbytes
        self._raw.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            self.closed = True

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def _reason(exc: BaseException) -> str | None:
    """What went wrong with a store, in words; None when ``exc`` is not about a store."""
    name = type(exc).__name__
    text = str(exc)
    module = type(exc).__module__
    if module.startswith(("botocore", "aiobotocore", "aiohttp")):
        if "Could not connect" in text or "Connect" in name or "Timeout" in name:
            return f"cannot reach the endpoint ({text}); tried {MAX_ATTEMPTS} times"
        if "NoCredentials" in name or "credentials" in text.lower():
            return "no credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or anon: true)"
        return text.splitlines()[0] if text else name
    if isinstance(exc, FileNotFoundError) and "bucket does not exist" in text:
        return "the bucket does not exist"
    if isinstance(exc, PermissionError):
        return (f"access denied ({text or name}): check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "AWS_PROFILE) and the bucket's permissions")
    if isinstance(exc, OSError) and ("Connect" in name or "Connect" in text or "timed out" in text):
        return f"cannot reach the endpoint ({text})"
    return None


@contextlib.contextmanager
def storage_errors(where: Any) -> Iterator[None]:
    """Turn a store's failure inside the block into one :class:`StorageError` line that
    starts with ``where`` (a URL); local paths and other errors pass through."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        reason = _reason(exc) if (is_remote(where) or _protocol(str(where)) not in (None, "file", "local")) else None
        if reason is None:
            raise
        raise StorageError(f"{where}: {reason}") from None
