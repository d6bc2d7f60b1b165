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

__all__ = ["BadRecord", "RawRecord", "iter_csv", "iter_json", "text_stream"]

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


def _line_records(lines: Iterator[tuple[int, bytes]], items_path: str) -> Iterator[RawRecord | BadRecord]:
    """Records of newline-delimited JSON: one value per line, blank lines skipped."""
    index = 0
    path = [] if items_path == "item" else items_path.split(".")
    for line_no, line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            error = _utf8_error(stripped) or f"invalid JSON: {exc}"
            yield BadRecord(index, line_no, error, _raw_text(stripped))
            index += 1
            continue
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


def iter_json(stream: BinaryIO, items_path: str = "item") -> Iterator[RawRecord | BadRecord]:
    """Records of a JSON or JSON Lines stream; the layout comes from the content, not the
    file name (BELLE's ``eval_set.json`` is JSON Lines, and so are many Hugging Face files):

    - a top-level array: its items, streamed (a file of several arrays gives them all);
    - one object per line (JSON Lines): each line, with its line number; a bad line is a
      :class:`BadRecord` and the lines after it are read as usual;
    - one object, or several concatenated objects spread over lines: each, streamed.

    With ``items_path`` (an ijson prefix such as ``example.item``) the records are the
    items found there in each top-level value. A leading UTF-8 BOM is skipped.

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
    try:
        first = _first_byte(buffered)
        if not first:
            return
        prefix = items_path
        if first != b"[":
            head = _head_lines(buffered, 2)
            if first != b"{" or _line_delimited([line.strip() for line in head if line.strip()]):
                for record in _line_records(_numbered(head, buffered), items_path):
                    line_no, index = record.line or line_no, (record.index or 0) + 1
                    yield record
                return
            buffered = io.BufferedReader(_Prepended(b"".join(head), buffered))
            prefix = "" if items_path == "item" else items_path
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


def _head_lines(stream: io.BufferedReader, filled: int) -> list[bytes]:
    """Lines from the start of ``stream`` up to and including the ``filled``-th non-blank one."""
    head: list[bytes] = []
    while sum(1 for line in head if line.strip()) < filled:
        line = stream.readline()
        if not line:
            break
        head.append(line)
    return head


def _line_delimited(first_lines: list[bytes]) -> bool:
    """One value per line: the first line, or (when it is damaged) the second, is a complete
    JSON value by itself; the lines of a pretty-printed object are not."""
    return bool(first_lines) and (_parses_alone(first_lines[0], object_only=False) or (
        len(first_lines) > 1 and _parses_alone(first_lines[1], object_only=True)))


def _numbered(head: list[bytes], rest: BinaryIO) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(head, 1)
    yield from enumerate(rest, len(head) + 1)


def iter_csv(stream: BinaryIO, delimiter: str = ",") -> Iterator[RawRecord | BadRecord]:
    """Rows of a CSV/TSV stream with a header line, as dicts of strings.

    >>> import io
    >>> [r.value for r in iter_csv(io.BytesIO(b"text,n\\nhello,1\\n"))]
    [{'text': 'hello', 'n': '1'}]
    """
    text = io.TextIOWrapper(text_stream(stream), encoding="utf-8", errors="surrogateescape", newline="")
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
