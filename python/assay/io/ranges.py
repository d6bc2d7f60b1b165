"""Large JSON Lines files read as several byte ranges, each a work unit of its own.

A file over ``split_bytes`` is cut at every multiple of ``split_bytes``; a range holds the
lines that *start* in its bytes (:class:`assay.io.files.InputFile` ``span``), so the ranges
cover every line once, in order, whatever their lengths. Reading a range needs the line
number and record index it starts at, so that quarantine entries and generated ids
(``source:file:record``) are those of reading the file whole: :func:`count_lines` counts
each range's lines and records (in Rust, at memory speed, by any executor) and
:func:`numbered` turns the counts into each range's starting numbers.

Only files that read as JSON Lines from their first byte are cut (an uncompressed
``.jsonl`` / ``.json`` whose first line is a JSON object by itself, one record a line);
arrays, pretty-printed objects, CSV and compressed files are read whole.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
>>> _ = path.write_bytes(b'{"text": "one"}\\n\\n{"text": "two"}\\n{"text": "three"}\\n')
>>> ranges = byte_ranges(InputFile(path, "a.jsonl"), split_bytes=20)
>>> [r.span for r in ranges]
[(0, 20), (20, 40), (40, 51)]
>>> counts = [count_lines(r) for r in ranges]  # the last range: no line starts in it
>>> counts, [r.numbering for r in numbered(ranges, counts)]
([(3, 2), (1, 1), (0, 0)], [(1, 0), (4, 2), (5, 3)])
"""
from __future__ import annotations

import dataclasses

from assay.io.files import InputFile, open_binary, split_suffixes
from assay.io.readers import MAX_RECORD_BYTES, _head_lines, _line_delimited, text_stream

__all__ = ["byte_ranges", "count_lines", "numbered"]

SPLIT_BYTES = 256 << 20
"""Default bytes per range of a large JSON Lines file (``inputs[].split_bytes``)."""


def splittable(file: InputFile, max_record_bytes: int = MAX_RECORD_BYTES) -> bool:
    """Whether ``file`` reads as JSON Lines from its first byte, one record a line."""
    kind, compression = split_suffixes(file.path)
    if kind not in ("json", "jsonl") or compression is not None:
        return False
    stream, _ = open_binary(file.path)
    with stream:
        buffered = text_stream(stream)
        if buffered.peek(1)[:1] != b"{":  # leading blank lines or an array: read whole, as today
            return False
        head = _head_lines(buffered, 2, max_record_bytes)
        if any(isinstance(line, int) for line in head):
            return False
        return _line_delimited([line.strip() for line in head if isinstance(line, bytes) and line.strip()])


def byte_ranges(file: InputFile, split_bytes: int = SPLIT_BYTES,
                max_record_bytes: int = MAX_RECORD_BYTES) -> list[InputFile]:
    """``file`` as ranges of ``split_bytes`` (one range, the file itself, when it is smaller
    or not :func:`splittable`); the ranges' ``numbering`` is left to :func:`numbered`."""
    size = file.size
    if split_bytes <= 0 or size <= split_bytes or not splittable(file, max_record_bytes):
        return [file]
    return [dataclasses.replace(file, known_size=size, span=(start, min(start + split_bytes, size)))
            for start in range(0, size, split_bytes)]


def count_lines(file: InputFile, max_record_bytes: int = MAX_RECORD_BYTES) -> tuple[int, int]:
    """The lines and records of one range (a record: a line not blank, or over the limit),
    as the JSON Lines reader numbers them."""
    from assay._core import LineCounter

    counter = LineCounter(max_record_bytes)
    stream, _ = open_binary(file.path, file.span)
    with stream:
        while chunk := stream.read(1 << 22):
            counter.feed(chunk)
    return counter.finish()


def numbered(ranges: list[InputFile], counts: list[tuple[int, int]]) -> list[InputFile]:
    """The ranges of one file with the line number and record index each starts at, from
    the ``(lines, records)`` of every range (:func:`count_lines`)."""
    line, record, out = 1, 0, []
    for file, (lines, records) in zip(ranges, counts):
        out.append(dataclasses.replace(file, numbering=(line, record)))
        line, record = line + lines, record + records
    return out
