"""Writing a run's output folder: shards, rejects, quarantine, and their bookkeeping."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from assay.storage import HashingWriter, make_dirs, open_file

__all__ = ["QuarantineWriter", "ShardWriter", "sha256_of"]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardWriter:
    """Writes batches into ``<dir>/part-00000.parquet``, ``part-00001.parquet``...
    rolling over every ``shard_rows`` rows. Shard boundaries depend only on row
    counts, so the same rows always give the same shards."""

    def __init__(self, directory: Path, *, shard_rows: int, row_group_rows: int,
                 compression: str, prefix: str = "part",
                 observe: Callable[[pa.RecordBatch], None] | None = None) -> None:
        self.directory = directory
        self.shard_rows = shard_rows
        self.row_group_rows = min(row_group_rows, shard_rows)
        self.compression = None if compression == "none" else compression
        self.prefix = prefix
        self.observe = observe
        self.shards: list[dict[str, Any]] = []
        self.schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None
        self._sink: HashingWriter | None = None
        self._path: Path | None = None
        self._rows_in_shard = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.shards) + self._rows_in_shard + self._pending_rows

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self.schema is None:
            self.schema = batch.schema
        elif batch.schema != self.schema:
            batch = batch.select(self.schema.names).cast(self.schema)
        if self.observe is not None:
            self.observe(batch)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        # Row groups are cut at fixed row counts so the bytes do not depend on batch sizes.
        while self._pending_rows >= self._next_group_rows():
            self._write_group(self._next_group_rows())

    def _next_group_rows(self) -> int:
        return min(self.row_group_rows, self.shard_rows - self._rows_in_shard)

    def _write_group(self, rows: int) -> None:
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        group, rest = table.slice(0, rows), table.slice(rows)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows
        if self._writer is None:
            make_dirs(self.directory)
            self._path = self.directory / f"{self.prefix}-{len(self.shards):05d}.parquet"
            # Hashed as written: no second read (on a store, no second download); on a store
            # the shard appears only when it is closed complete.
            self._sink = HashingWriter(open_file(self._path, "wb"))
            self._writer = pq.ParquetWriter(self._sink, self.schema, compression=self.compression)
        self._writer.write_table(group, row_group_size=rows)
        self._rows_in_shard += rows
        if self._rows_in_shard >= self.shard_rows:
            self._close_shard()

    def _close_shard(self) -> None:
        assert self._writer is not None and self._path is not None and self._sink is not None
        self._writer.close()
        self._sink.close()
        self.shards.append({"path": self._path.name, "rows": self._rows_in_shard,
                            "bytes": self._sink.bytes, "sha256": self._sink.sha256})
        self._writer, self._sink, self._path, self._rows_in_shard = None, None, None, 0

    def close(self) -> list[dict[str, Any]]:
        """Flush what is pending and return one ``{path, rows, bytes, sha256}`` per shard."""
        if self._pending_rows:
            self._write_group(self._pending_rows)
        if self._writer is not None:
            self._close_shard()
        return self.shards


class QuarantineWriter:
    """Appends malformed input records, one JSON object per line, to ``quarantine/``."""

    def __init__(self, directory: Path, name: str = "quarantine.jsonl") -> None:
        self.path = directory / name
        self.count = 0
        self._file = None

    def __call__(self, record: dict[str, Any]) -> None:
        if self._file is None:
            make_dirs(self.path.parent)
            self._file = open_file(self.path, "wb")
        self._file.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
