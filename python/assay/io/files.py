"""Finding input files and opening them, compressed or not."""
from __future__ import annotations

import glob
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterator

import pyarrow as pa

__all__ = ["InputFile", "MemoryInput", "expand_inputs", "file_type", "open_binary"]

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
FILE_TYPES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
}


@dataclass(frozen=True)
class InputFile:
    """One file matched by an input path or glob, local or on a store (see :mod:`assay.storage`).

    ``name`` is the path relative to the glob's fixed prefix (for a single file, its
    file name): it is what record ids use, so they do not depend on the working
    directory or the bucket. ``known_size``: the size the listing gave (no request later).
    """

    path: Path
    name: str
    known_size: int | None = None
    span: tuple[int, int] | None = None
    """Read only the lines that start in these bytes ``[start, end)`` of a JSON Lines file
    (:func:`byte_ranges`); None: the whole file."""
    numbering: tuple[int, int] = (1, 0)
    """The line number and the record index of the span's first line (what the lines
    before it count, :func:`count_lines`)."""

    @property
    def size(self) -> int:
        if self.span is not None:
            return self.span[1] - self.span[0]
        return self.known_size if self.known_size is not None else self.path.stat().st_size


@dataclass(frozen=True, eq=False)
class MemoryInput:
    """Rows handed over from Python instead of a file (``run_pipeline(..., inputs=...)``): a
    ``datasets.Dataset`` or ``IterableDataset``, a pyarrow / polars / pandas table or a
    ``pyarrow.RecordBatchReader``. Read batch by batch; ``name`` stands in for the file
    name in generated ids (``source:name:row``) and quarantine entries.
    """

    data: Any
    name: str

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(f"<python:{self.name}>")

    @property
    def size(self) -> int:
        """Arrow bytes of in-memory data (0 for a stream, whose size is unknown)."""
        from assay._data import _to_arrow_table_like, is_stream, library_of

        if is_stream(self.data):
            return 0
        if library_of(self.data) == "datasets":
            return int(self.data.data.nbytes)
        return int(_to_arrow_table_like(self.data).nbytes)

    def batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The data's record batches, at most ``batch_rows`` rows each (an active
        select/filter of a ``Dataset`` applied)."""
        from assay._data import _to_arrow_table_like, is_stream, library_of, stream_batches

        if is_stream(self.data) or library_of(self.data) == "datasets":
            tables = stream_batches(self.data, batch_rows)  # a Dataset's batches come the same way
        else:
            table = _to_arrow_table_like(self.data)
            if table is None:
                raise TypeError(f"input {self.name!r}: expected a datasets.Dataset/IterableDataset, a pyarrow, "
                                f"polars or pandas table or a pyarrow.RecordBatchReader, got {type(self.data).__name__}")
            tables = iter([table])
        for table in tables:
            yield from (table.to_batches(max_chunksize=batch_rows) if isinstance(table, pa.Table) else [table])


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(pattern: str | os.PathLike[str], base_dir: Path | None = None,
                  storage: Any = None) -> list[InputFile]:
    """The files an input path or glob names, sorted, with their stable names.

    Relative patterns are taken from ``base_dir`` (default: the working directory).
    ``**`` matches folders recursively. A pattern that matches nothing is an error. A URL
    (``s3://bucket/web/**/*.jsonl.gz``) is listed on its store, once (``storage``: its
    :class:`~assay.storage.StorageConfig`).

    >>> [f.name for f in expand_inputs("samples/flan_cot/*.json")][:2]
    ['aqua_train.json', 'creak_train.json']
    """
    from assay.storage import is_remote, location

    where = location(pattern, storage) if not isinstance(pattern, Path) or is_remote(pattern) else pattern
    if is_remote(where):
        return _expand_remote(where, str(pattern))
    pattern = os.fspath(where)  # a file:// URL as its path
    full = pattern if os.path.isabs(pattern) or base_dir is None else str(base_dir / pattern)
    if not glob.has_magic(full):
        path = Path(full)
        if not path.is_file():
            raise FileNotFoundError(f"input file not found: {pattern}")
        return [InputFile(path, path.name)]
    root = _glob_root(full)
    matches = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    if not matches:
        raise FileNotFoundError(f"no file matches the input pattern {pattern!r}")
    return [InputFile(Path(p), Path(p).relative_to(root).as_posix()) for p in matches]


def _expand_remote(where: Any, pattern: str) -> list[InputFile]:
    from assay.storage import storage_errors

    fs = where.fs
    with storage_errors(pattern):
        if not glob.has_magic(where.path):
            info = fs.info(where.path) if fs.exists(where.path) else None
            if info is None or info.get("type") != "file":
                raise FileNotFoundError(f"input file not found: {pattern}")
            return [InputFile(where, where.name, int(info["size"]))]
        fixed = []
        for part in where.path.split("/"):
            if glob.has_magic(part):
                break
            fixed.append(part)
        root = "/".join(fixed)
        found = fs.glob(where.path, detail=True)
        matches = sorted((name, info) for name, info in found.items() if info.get("type") == "file")
        if not matches:
            fs.ls(where.path.split("/")[0])  # a glob in a missing bucket matches nothing: say which it is
    if not matches:
        raise FileNotFoundError(f"no file matches the input pattern {pattern!r}")
    base = type(where)(f"{where.protocol}://{root}", **where.storage_options)
    return [InputFile(base / name[len(root):].lstrip("/"), name[len(root):].lstrip("/"), int(info["size"]))
            for name, info in matches]


def split_suffixes(path: Path) -> tuple[str, str | None]:
    """(file type, compression) from a file name such as ``x.jsonl.zst``."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    kind = FILE_TYPES.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise ValueError(
            f"cannot tell the file type of {path.name!r}: expected one of "
            f"{sorted(FILE_TYPES)} optionally followed by {sorted(COMPRESSIONS)}"
        )
    return kind, compression


def file_type(path: Path) -> str:
    """``jsonl``, ``json``, ``parquet``, ``csv`` or ``tsv``, from the file name.

    >>> file_type(Path("a/b.jsonl.gz"))
    'jsonl'
    """
    return split_suffixes(path)[0]


class _CountingReader(io.RawIOBase):
    """Wraps the on-disk file so progress can report compressed bytes consumed."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        self.consumed += n or 0
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _LineSpan(io.RawIOBase):
    """The lines of a seekable file that start in bytes ``[start, end)``: from the first line
    start at or after ``start`` through the newline of the line that ``end`` falls in. The
    spans of consecutive ranges cover a file's lines once each, in order."""

    def __init__(self, raw: BinaryIO, start: int, end: int) -> None:
        self._raw, self._end = raw, end
        self._position, self._done = start, False
        if start > 0:  # past the line that started before the range (its range reads it)
            raw.seek(start - 1)
            while not self._done:
                chunk = raw.read(1 << 16)
                cut = chunk.find(b"\n")
                if cut >= 0:
                    self._position += cut
                    raw.seek(self._position)
                    break
                self._position += len(chunk)
                self._done = not chunk
        self._done = self._done or self._position >= end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._done:
            return 0
        chunk = self._raw.read(len(buffer))
        if not chunk:
            self._done = True
            return 0
        last = self._end - 1 - self._position  # where the range's last byte is in this chunk
        if last < len(chunk):
            cut = chunk.find(b"\n", max(last, 0))
            if cut >= 0:
                chunk, self._done = chunk[:cut + 1], True
        buffer[:len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: Path, span: tuple[int, int] | None = None) -> tuple[BinaryIO, _CountingReader]:
    """Open ``path`` for streaming reads, decompressing ``.gz`` / ``.zst``; with ``span``
    (an uncompressed file), only the lines that start in those bytes.

    Returns the decompressed stream and the counter of on-disk bytes read so far.
    """
    from assay.storage import open_file

    _, compression = split_suffixes(path)
    raw_file = open_file(path, "rb")
    if span is not None:
        if compression is not None:
            raise ValueError(f"{path}: a compressed file is read whole, not by byte range")
        raw_file = _LineSpan(raw_file, *span)  # type: ignore[assignment]
    counter = _CountingReader(raw_file)
    raw: BinaryIO = io.BufferedReader(counter, buffer_size=1 << 20)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb"), counter  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(stream, buffer_size=1 << 20), counter  # type: ignore[arg-type]
    return raw, counter
