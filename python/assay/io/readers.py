"""Raw record streams: JSONL, JSON arrays, CSV/TSV and Parquet, one record at a time.

Readers never stop at a bad record: a line that is not valid JSON, not UTF-8, or
not an object comes out as a :class:`BadRecord` with its line and error, and the
good records around it come out as usual. A file that cannot be read past some
point (truncated gzip, a JSON array broken in the middle, a corrupt Parquet file)
gives one ``BadRecord`` for the unreadable rest.
"""
from __future__ import annotations

import csv
import io
import re
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

import ijson
import orjson

__all__ = ["BadRecord", "RawRecord", "iter_csv", "iter_json", "iter_jsonl"]

# Errors raised by decompressors and file reads when a file ends early or is damaged.
STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, OSError)
try:  # zstandard's error type, when installed
    import zstandard

    STREAM_ERRORS += (zstandard.ZstdError,)
except ImportError:  # pragma: no cover
    pass

_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class RawRecord:
    """One parsed input record. ``index`` counts records in the file from 0."""

    index: int
    line: int | None
    value: Any


@dataclass(frozen=True)
class BadRecord:
    """An input record that could not be read, kept for ``quarantine/``."""

    index: int | None
    line: int | None
    error: str
    raw: str | None = None


def _raw_text(data: bytes, limit: int = 1 << 20) -> str:
    """The bytes as text for the quarantine file; invalid UTF-8 is escaped, not lost."""
    text = data[:limit].decode("utf-8", errors="backslashreplace")
    return text if len(data) <= limit else text + f"... [{len(data) - limit} more bytes]"


def _utf8_error(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start} of the line"
    return None


def iter_jsonl(stream: BinaryIO) -> Iterator[RawRecord | BadRecord]:
    """Records of a JSON Lines stream; blank lines are skipped.

    >>> import io
    >>> [type(r).__name__ for r in iter_jsonl(io.BytesIO(b'{"a": 1}\\nnot json\\n'))]
    ['RawRecord', 'BadRecord']
    """
    index = 0
    line_no = 0
    try:
        for line_no, line in enumerate(stream, 1):
            stripped = line.strip()
            if not stripped:
                continue
            try:
                value = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                error = _utf8_error(stripped) or f"invalid JSON: {exc}"
                yield BadRecord(index, line_no, error, _raw_text(stripped))
            else:
                if isinstance(value, dict):
                    yield RawRecord(index, line_no, value)
                else:
                    kind = type(value).__name__
                    yield BadRecord(index, line_no, f"expected a JSON object, got {kind}", _raw_text(stripped))
            index += 1
    except STREAM_ERRORS as exc:
        yield BadRecord(index, line_no + 1, f"file unreadable after line {line_no}: {exc}")


def _first_byte(stream: io.BufferedReader) -> bytes:
    while True:
        head = stream.peek(64)
        if not head:
            return b""
        stripped = head.lstrip()
        if stripped:
            return stripped[:1]
        stream.read(len(head))


def iter_json(stream: BinaryIO, items_path: str = "item") -> Iterator[RawRecord | BadRecord]:
    """Records of a JSON file, streamed: the items of a top-level array, or the one
    top-level object; with ``items_path`` (an ijson prefix such as ``example.item``)
    the items found there.

    >>> import io
    >>> [r.value for r in iter_json(io.BytesIO(b'[{"a": 1}, {"a": 2}]'))]
    [{'a': 1}, {'a': 2}]
    """
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    index = 0
    try:
        first = _first_byte(buffered)
        if first == b"{" and items_path == "item":
            prefix = ""
        elif first in (b"[", b"{"):
            prefix = items_path
        elif not first:
            return
        else:
            yield BadRecord(0, 1, f"expected a JSON array or object, file starts with {first!r}")
            return
        for value in ijson.items(buffered, prefix, use_float=True):
            if isinstance(value, dict):
                yield RawRecord(index, None, value)
            else:
                yield BadRecord(index, None, f"expected a JSON object, got {type(value).__name__}",
                                orjson.dumps(value).decode())
            index += 1
    except (ijson.JSONError, UnicodeDecodeError, *STREAM_ERRORS) as exc:
        yield BadRecord(index, None, f"invalid JSON after record {index}: {exc}; the rest of the file is unreadable")


def iter_csv(stream: BinaryIO, delimiter: str = ",") -> Iterator[RawRecord | BadRecord]:
    """Rows of a CSV/TSV stream with a header line, as dicts of strings.

    >>> import io
    >>> [r.value for r in iter_csv(io.BytesIO(b"text,n\\nhello,1\\n"))]
    [{'text': 'hello', 'n': '1'}]
    """
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    index = 0
    try:
        header = next(reader, None)
        if header is None:
            return
        if any(_SURROGATE.search(h) for h in header):
            yield BadRecord(None, 1, "invalid UTF-8 in the header line; the file is unreadable")
            return
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield BadRecord(index, line, f"invalid CSV: {exc}")
                index += 1
                continue
            raw = delimiter.join(row)
            if any(_SURROGATE.search(field) for field in row):
                yield BadRecord(index, line, "invalid UTF-8", raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            elif len(row) != len(header):
                yield BadRecord(index, line, f"expected {len(header)} fields, got {len(row)}", raw)
            else:
                yield RawRecord(index, line, dict(zip(header, row)))
            index += 1
    except STREAM_ERRORS as exc:
        yield BadRecord(index, None, f"file unreadable after record {index}: {exc}")
