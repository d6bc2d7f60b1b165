"""JSON Lines, and the records of JSON arrays, read by the Rust core: lines (or the records
the JSON splitter cut) parsed and adapted to the record schema in
``assay._core.JsonLinesAdapter``, in parallel over the lines of each chunk.

The Python readers stay the reference. A line the Rust reader does not handle exactly as
they do (invalid JSON, a float anywhere in the record, a record its format rejects, ...)
is read by :func:`assay.io.readers.line_records` and adapted by
:func:`assay.io.formats.adapt`, so the rows, quarantine entries, line numbers and record
indices are those of the Python reader (tests compare the two on every sample). Formats
``text``, ``alpaca``, ``belle`` and ``sharegpt`` are read this way unless the input sets
``domain_field`` or ``coerce_scalars``; ``ASSAY_PYTHON_READER=1`` turns it off.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator

import numpy as np
import pyarrow as pa

from assay.io.readers import READ_BYTES, BadRecord, RawRecord, line_records, too_large

__all__ = ["RUST_FORMATS", "AdaptedRows", "rust_lines_reader", "rust_records_reader", "uses_rust_reader"]

RUST_FORMATS = frozenset({"text", "alpaca", "belle", "sharegpt"})
CHUNK_BYTES = 4 * READ_BYTES
"""Bytes read per call into Rust (the lines of a chunk are adapted in parallel)."""


def uses_rust_reader(format: str, *, domain_field: str | None, coerce_scalars: bool) -> bool:
    """Whether JSON Lines of this input are read by the Rust core."""
    return (format in RUST_FORMATS and domain_field is None and not coerce_scalars
            and os.environ.get("ASSAY_PYTHON_READER", "") in ("", "0"))


@dataclass(frozen=True)
class AdaptedRows:
    """Rows the Rust reader adapted from consecutive records of one file: a record-schema
    batch and, per row, its record index, line number, whether it carries its own id and its
    line's bytes in ``data`` (to quarantine a duplicate id with its record)."""

    batch: pa.RecordBatch
    indices: np.ndarray
    # line numbers; 0 for the records of JSON arrays, which have none
    lines: np.ndarray
    own_id: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    data: bytes

    @property
    def line(self) -> int | None:
        return int(self.lines[-1]) or None

    @property
    def index(self) -> int:
        return int(self.indices[-1])

    def slice(self, start: int, stop: int) -> "AdaptedRows":
        return AdaptedRows(self.batch.slice(start, stop - start), self.indices[start:stop], self.lines[start:stop],
                           self.own_id[start:stop], self.starts[start:stop], self.ends[start:stop], self.data)

    def raw(self, row: int) -> bytes:
        return self.data[int(self.starts[row]):int(self.ends[row])]


def rust_lines_reader(adapter: Any, limit: int) -> Callable[..., Iterator[AdaptedRows | RawRecord | BadRecord]]:
    """A ``lines_reader`` for :func:`assay.io.readers.iter_json`: reads the stream's lines in
    chunks of complete lines and adapts each chunk in Rust (``adapter``, a
    ``JsonLinesAdapter``); a line longer than ``limit`` is read past without being held. Its
    lines are numbered from ``line_no`` and its records from ``index``."""

    def read(head: list[bytes | int], stream: io.BufferedReader, line_no: int = 1,
             index: int = 0) -> Iterator[AdaptedRows | RawRecord | BadRecord]:
        # Bytes read and not yet adapted: ``pieces`` then ``tail``, ``pending`` bytes in all.
        pieces: list[bytes] = [h for h in head if isinstance(h, bytes)]
        pending = sum(map(len, pieces))
        while True:
            try:
                # what the buffer holds, refilled by one raw read of the buffer's size when empty:
                # the reads of the line-by-line reader, so a damaged stream loses what it loses
                piece = stream.peek(1)
                stream.read(len(piece))
            except BaseException:
                data = b"".join(pieces)
                cut = data.rfind(b"\n") + 1
                if cut:  # the complete lines before the damage, as the line-by-line reader gives them
                    yield from _adapt(adapter, data[:cut], line_no, index, limit)
                raise
            if piece:
                pieces.append(piece)
                pending += len(piece)
                if pending < CHUNK_BYTES and pending <= limit:
                    continue
                data = b"".join(pieces)
                cut = data.rfind(b"\n") + 1
                if not cut:
                    if len(data) > limit:  # one line over the limit: read past it
                        size, rest = _skip_line(stream, len(data))
                        yield too_large(index, line_no, size, limit)
                        line_no, index, pieces, pending = line_no + 1, index + 1, [rest], len(rest)
                    else:
                        pieces = [data]
                    continue
                data, rest = data[:cut], data[cut:]
                pieces, pending = [rest], len(rest)
            else:
                data, pieces = b"".join(pieces), []
            if data:
                n_lines, n_records = yield from _adapt(adapter, data, line_no, index, limit)
                line_no, index = line_no + n_lines, index + n_records
            if not piece:
                return

    return read


def _skip_line(stream: io.BufferedReader, size: int) -> tuple[int, bytes]:
    """Read past the rest of a line already ``size`` bytes long: its whole size, and the bytes after it."""
    while True:
        chunk = stream.read(READ_BYTES)
        if not chunk:
            return size, b""
        cut = chunk.find(b"\n")
        if cut >= 0:
            return size + cut, chunk[cut + 1:]
        size += len(chunk)


def _adapt(adapter: Any, data: bytes, line_no: int, index: int,
           limit: int) -> Generator[AdaptedRows | RawRecord | BadRecord, None, tuple[int, int]]:
    """The rows and records of the complete lines ``data``, in order; returns the numbers of
    lines and records they held."""
    out = adapter.adapt(data, line_no, index)
    yield from _rows_and_events(out, data, limit, lambda index, line, raw: line_records(index, line, raw, []))
    return out[-2], out[-1]


def rust_records_reader(adapter: Any, limit: int) -> Callable[
        [list[bytes | int], int, Callable[[int, bytes], RawRecord | BadRecord]],
        Iterator[AdaptedRows | RawRecord | BadRecord]]:
    """A ``records_reader`` for :func:`assay.io.readers.iter_json`: adapts in Rust the records
    the JSON splitter cut (``bytes``, or the ``int`` size of one over the limit), the first
    being record ``index``; a record the Rust reader leaves goes to ``read_one(index, raw)``."""

    def read(pieces: list[bytes | int], index: int,
             read_one: Callable[[int, bytes], RawRecord | BadRecord]) -> Iterator[AdaptedRows | RawRecord | BadRecord]:
        if pieces:
            out, data = adapter.adapt_records(pieces, index)
            yield from _rows_and_events(out, data, limit, lambda index, line, raw: [read_one(index, raw)])

    return read


def _rows_and_events(out: Any, data: bytes, limit: int,
                     read_python: Callable[[int, int, bytes], Any]) -> Iterator[AdaptedRows | RawRecord | BadRecord]:
    """The adapted rows of one Rust call, in order with the records it left to Python
    (``read_python(index, line, raw)``) and those over the size limit."""
    batch, indices, lines, own_id, starts, ends, events = out[:7]
    rows = AdaptedRows(batch, indices, lines, own_id, starts, ends, data)
    done = 0
    for before, kind, record_index, record_line, a, b in events:
        if before > done:
            yield rows.slice(done, before)
            done = before
        if kind == "too_large":
            yield too_large(record_index, record_line or None, a, limit)
        else:
            yield from read_python(record_index, record_line, data[a:b])
    if batch.num_rows > done:
        yield rows.slice(done, batch.num_rows)
