"""Raw record streams: JSONL, JSON arrays, CSV/TSV and Parquet, one record at a time.

Readers never stop at a bad record: a line that is not valid JSON, not UTF-8, or
not an object comes out as a :class:`BadRecord` with its line and error, and the
good records around it come out as usual. A file that cannot be read past some
point (truncated gzip, a JSON array cut short, a corrupt Parquet file) gives one
``BadRecord`` for the unreadable rest.

A record longer than ``max_record_bytes`` (a JSON Lines or CSV line, an item of a JSON
array, a top-level JSON value) is skipped while streaming, never held whole, and comes
out as a ``BadRecord`` whose error starts with ``record_too_large`` and whose ``size`` is
its length in bytes; reading goes on at the next record. JSON arrays and concatenated
values are cut into records by the Rust splitter (:class:`assay._core.JsonSplitter`), each
parsed by orjson here (or, given a ``records_reader``, parsed and adapted in Rust, see
:mod:`assay.io.rust_lines`); records found under an ``items_path`` of a format (a nested
prefix) are read by ijson, without the limit.
"""
from __future__ import annotations

import csv
import io
import re
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator

import ijson
import orjson

__all__ = ["MAX_RECORD_BYTES", "BadRecord", "RawRecord", "iter_csv", "iter_json", "line_records", "text_stream"]

MAX_RECORD_BYTES = 64 << 20
"""Default longest record (bytes) read; a longer one is quarantined as ``record_too_large``."""

READ_BYTES = 1 << 20

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
    size: int | None = None
    """Bytes of a record that was too large to read (``record_too_large``)."""


def too_large(index: int | None, line: int | None, size: int, limit: int) -> BadRecord:
    """The :class:`BadRecord` of a record skipped for its size."""
    return BadRecord(index, line, f"record_too_large: the record has {size:,} bytes, over max_record_bytes "
                                  f"({limit:,}); skipped without reading it", None, size)


def bounded_lines(stream: BinaryIO, limit: int) -> Iterator[bytes | int]:
    """The lines of ``stream`` (with their newline), each at most ``limit`` bytes before it;
    a longer line is read past in 1 MiB pieces and comes out as its length (an int).

    >>> import io
    >>> list(bounded_lines(io.BytesIO(b"ab\\n" + b"x" * 10 + b"\\ncd"), 4))
    [b'ab\\n', 10, b'cd']
    """
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(READ_BYTES)
            if not line:
                break
            size += len(line)
        yield size - (1 if line.endswith(b"\n") else 0)


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


UTF8_BOM = b"\xef\xbb\xbf"


def text_stream(stream: BinaryIO) -> io.BufferedReader:
    """``stream`` buffered, past a leading UTF-8 byte order mark (which Windows tools and
    some exports write and JSON/CSV parsers refuse)."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    if buffered.peek(len(UTF8_BOM))[: len(UTF8_BOM)] == UTF8_BOM:
        buffered.read(len(UTF8_BOM))
    return buffered


class _Prepended(io.RawIOBase):
    """``head`` bytes followed by the rest of ``stream``: lets the layout check read ahead."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._stream.readinto(buffer)  # type: ignore[attr-defined]


def _items_at(value: Any, path: list[str]) -> Iterator[Any]:
    """The values at an ijson-style prefix (``example.item``) inside one parsed value."""
    if not path:
        yield value
    elif path[0] == "item":
        if isinstance(value, list):
            for item in value:
                yield from _items_at(item, path[1:])
    elif isinstance(value, dict) and path[0] in value:
        yield from _items_at(value[path[0]], path[1:])


def _parses_alone(line: bytes, *, object_only: bool) -> bool:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) or not object_only


def _line_records(lines: Iterator[tuple[int, bytes | int]], items_path: str,
                  limit: int, index: int = 0) -> Iterator[RawRecord | BadRecord]:
    """Records of newline-delimited JSON: one value per line, blank lines skipped; the first
    is record ``index``."""
    path = [] if items_path == "item" else items_path.split(".")
    for line_no, line in lines:
        if isinstance(line, int):
            yield too_large(index, line_no, line, limit)
            index += 1
            continue
        stripped = line.strip()
        if not stripped:
            continue
        for record in line_records(index, line_no, stripped, path):
            yield record
            index += 1


def line_records(index: int, line_no: int, stripped: bytes, path: list[str]) -> Iterator[RawRecord | BadRecord]:
    """The records of one non-blank JSON Lines line (one, or the items at ``path``), the first
    being record ``index``: the reference the Rust reader hands its declined lines to."""
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        error = _utf8_error(stripped) or f"invalid JSON: {exc}"
        yield BadRecord(index, line_no, error, _raw_text(stripped))
        return
    for item in _items_at(value, path):
        if isinstance(item, dict):
            yield RawRecord(index, line_no, item)
        else:
            yield BadRecord(index, line_no, f"expected a JSON object, got {type(item).__name__}",
                            _raw_text(stripped) if item is value else orjson.dumps(item).decode())
        index += 1


def _first_byte(stream: io.BufferedReader) -> bytes:
    while True:
        head = stream.peek(64)
        if not head:
            return b""
        stripped = head.lstrip()
        if stripped:
            return stripped[:1]
        stream.read(len(head))


def iter_json(stream: BinaryIO, items_path: str = "item",
              max_record_bytes: int = MAX_RECORD_BYTES,
              lines_reader: Callable[..., Iterator[Any]] | None = None,
              records_reader: Callable[..., Iterator[Any]] | None = None,
              lines_from: tuple[int, int] | None = None,
              ) -> Iterator[RawRecord | BadRecord]:
    """Records of a JSON or JSON Lines stream; the layout comes from the content, not the
    file name (BELLE's ``eval_set.json`` is JSON Lines, and so are many Hugging Face files):

    - a top-level array: its items, streamed (a file of several arrays gives them all);
    - one object per line (JSON Lines): each line, with its line number; a bad line is a
      :class:`BadRecord` and the lines after it are read as usual;
    - one object, or several concatenated objects spread over lines: each, streamed.

    With ``items_path`` (an ijson prefix such as ``example.item``) the records are the
    items found there in each top-level value. A leading UTF-8 BOM is skipped.
    ``lines_reader``: reads a JSON Lines stream instead of the line loop here, given the
    head lines already read and the stream (the Rust reader, see ``assay.io.rust_lines``);
    what it yields comes out as it is (each item with ``line`` and ``index`` attributes).
    ``records_reader``: likewise for the records of arrays and concatenated values, given
    each list of records the splitter cut, the index of the first and a function that
    reads one of them here (see ``assay.io.rust_lines.rust_records_reader``).
    ``lines_from``: the stream is the rest of a JSON Lines file from the start of a line:
    read as lines, the first being (line number, record index) ``lines_from``.

    >>> import io
    >>> [r.value for r in iter_json(io.BytesIO(b'[{"a": 1}, {"a": 2}]'))]
    [{'a': 1}, {'a': 2}]
    >>> [(r.line, r.value) for r in iter_json(io.BytesIO(b'{"a": 1}\\n{"a": 2}'))]
    [(1, {'a': 1}), (2, {'a': 2})]
    >>> [type(r).__name__ for r in iter_json(io.BytesIO(b'{"a": 1}\\nnot json\\n'))]
    ['RawRecord', 'BadRecord']
    """
    buffered = text_stream(stream)
    index = 0
    line_no = 0

    def json_lines(head: list[bytes | int], first_line: int, first_index: int, rust: bool) -> Iterator[Any]:
        """The records of the lines from here on (``head``: those already read), the first
        being line ``first_line`` and record ``first_index``."""
        if rust:
            return lines_reader(head, buffered, first_line, first_index)  # type: ignore[misc]
        lines = _numbered(head, bounded_lines(buffered, max_record_bytes), first_line)
        return _line_records(lines, items_path, max_record_bytes, first_index)

    try:
        records = None
        if lines_from is not None:
            line_no, index = lines_from[0] - 1, lines_from[1]
            records = json_lines([], *lines_from, rust=lines_reader is not None)
        else:
            first = _first_byte(buffered)
            if not first:
                return
            prefix = items_path
            if first != b"[":
                head = _head_lines(buffered, 2, max_record_bytes)
                oversized = any(isinstance(line, int) for line in head)
                if first != b"{" or oversized or _line_delimited([line.strip() for line in head if line.strip()]):
                    records = json_lines(head, 1, 0, rust=lines_reader is not None and not oversized)
                else:
                    buffered = io.BufferedReader(_Prepended(b"".join(head), buffered))  # type: ignore[arg-type]
                    prefix = "" if items_path == "item" else items_path
        if records is not None:  # JSON Lines
            for record in records:
                line_no, index = record.line or line_no, (record.index or 0) + 1
                yield record
            return
        if prefix in ("", "item"):
            yield from _split_records(buffered, max_record_bytes, records_reader)
            return
        for value in ijson.items(buffered, prefix, use_float=True, multiple_values=True):
            if isinstance(value, dict):
                yield RawRecord(index, None, value)
            else:
                yield BadRecord(index, None, f"expected a JSON object, got {type(value).__name__}",
                                orjson.dumps(value).decode())
            index += 1
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        yield BadRecord(index, None, f"invalid JSON after record {index}: {exc}; the rest of the file is unreadable")
    except STREAM_ERRORS as exc:
        where = f"line {line_no}" if line_no else f"record {index}"
        yield BadRecord(index, line_no + 1 if line_no else None, f"file unreadable after {where}: {exc}")


def _split_records(stream: BinaryIO, limit: int,
                   records_reader: Callable[..., Iterator[Any]] | None = None) -> Iterator[Any]:
    """The records of JSON arrays and concatenated values, cut by the Rust splitter (and
    adapted by ``records_reader`` when given, see :func:`iter_json`)."""
    from assay._core import JsonSplitter

    splitter = JsonSplitter(limit)
    index = 0

    def records(pieces: list[bytes | int], last: bool) -> Iterator[Any]:
        if records_reader is None:
            for i, piece in enumerate(pieces, index):
                yield record(i, piece, last)
        else:
            yield from records_reader(pieces, index, lambda i, piece: record(i, piece, last))

    def record(index: int, piece: bytes | int, last: bool) -> RawRecord | BadRecord:
        if isinstance(piece, int):
            return too_large(index, None, piece, limit)
        try:
            value = orjson.loads(piece)
        except orjson.JSONDecodeError as exc:
            if last:  # the text ended inside this value
                return BadRecord(index, None, f"invalid JSON after record {index}: the file ends inside a value "
                                              f"({exc}); the rest of the file is unreadable", _raw_text(piece))
            return BadRecord(index, None, _utf8_error(piece) or f"invalid JSON: {exc}", _raw_text(piece))
        if isinstance(value, dict):
            return RawRecord(index, None, value)
        return BadRecord(index, None, f"expected a JSON object, got {type(value).__name__}", _raw_text(piece))

    while True:
        chunk = stream.read(READ_BYTES)
        if not chunk:
            break
        pieces = splitter.feed(chunk)
        yield from records(pieces, False)
        index += len(pieces)
    yield from records(splitter.finish(), True)


def _head_lines(stream: io.BufferedReader, filled: int, limit: int) -> list[bytes | int]:
    """Lines from the start of ``stream`` up to and including the ``filled``-th non-blank
    one (a line over ``limit`` bytes as its length, see :func:`bounded_lines`)."""
    head: list[bytes | int] = []
    lines = bounded_lines(stream, limit)
    while sum(1 for line in head if isinstance(line, int) or line.strip()) < filled:
        line = next(lines, None)
        if line is None:
            break
        head.append(line)
    return head


def _line_delimited(first_lines: list[bytes]) -> bool:
    """One value per line: the first line, or (when it is damaged) the second, is a complete
    JSON value by itself; the lines of a pretty-printed object are not."""
    return bool(first_lines) and (_parses_alone(first_lines[0], object_only=False) or (
        len(first_lines) > 1 and _parses_alone(first_lines[1], object_only=True)))


def _numbered(head: list[bytes | int], rest: Iterator[bytes | int],
              first: int = 1) -> Iterator[tuple[int, bytes | int]]:
    yield from enumerate(head, first)
    yield from enumerate(rest, first + len(head))


_LONE_CR = re.compile(r"(?<=\r)(?!\n)(?=.)", re.S)
_TOO_LARGE = "\ue000assay:record_too_large"  # stands in for a skipped line (a private-use character)


def _csv_lines(stream: BinaryIO, limit: int, sizes: list[int]) -> Iterator[str]:
    for line in bounded_lines(text_stream(stream), limit):
        if isinstance(line, int):
            sizes.append(line)
            yield _TOO_LARGE + "\n"
        else:
            # a lone "\r" ends a line too (old Mac files), as in universal-newline reading
            yield from _LONE_CR.split(line.decode("utf-8", errors="surrogateescape"))


def iter_csv(stream: BinaryIO, delimiter: str = ",",
             max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[RawRecord | BadRecord]:
    """Rows of a CSV/TSV stream with a header line, as dicts of strings.

    >>> import io
    >>> [r.value for r in iter_csv(io.BytesIO(b"text,n\\nhello,1\\n"))]
    [{'text': 'hello', 'n': '1'}]
    """
    sizes: list[int] = []
    if csv.field_size_limit() < max_record_bytes:  # a field may be as long as a record
        csv.field_size_limit(max_record_bytes)
    reader = csv.reader(_csv_lines(stream, max_record_bytes, sizes), delimiter=delimiter)
    index = 0
    try:
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield BadRecord(None, 1, f"invalid CSV header line: {exc}; the file is unreadable")
            return
        if header is None:
            return
        if header == [_TOO_LARGE]:
            size = sizes.pop(0)
            yield BadRecord(None, 1, f"record_too_large: the header line has {size:,} bytes, over max_record_bytes "
                                     f"({max_record_bytes:,}); the file is unreadable", None, size)
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
            if row == [_TOO_LARGE]:
                yield too_large(index, line, sizes.pop(0), max_record_bytes)
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
