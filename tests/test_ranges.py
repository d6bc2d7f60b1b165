"""Large JSON Lines files read as byte ranges: the same rows, ids, quarantine entries and
numbering as reading each file whole, whatever the range size, with either reader; and
in a pipeline, the same output on both engines."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from assay.io import IdRegistry, RecordReader
from assay.io.files import InputFile, open_binary
from assay.io.ranges import byte_ranges, count_lines, numbered, splittable

from conftest import SAMPLES

LIMIT = 300


def _awkward(path: Path, tag: str = "") -> Path:
    """JSON Lines with everything a cut can land in: blank and white-space lines, CRLF, bad
    JSON, a record over the size limit, a float (read by the Python reader), a repeated id,
    records without an id (generated from the record index), non-ASCII text."""
    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        articles = [json.loads(line) for line in f][:40]
    lines = []
    for i, a in enumerate(articles):
        record = {"id": f"{tag}{a['newid']}" if tag else a["newid"], "text": (a.get("title") or "") + " " + (a.get("body") or "")[:150]}
        if i % 7 == 3:
            del record["id"]
        if i % 11 == 5:
            record["score"] = 0.5
        lines.append(json.dumps(record, ensure_ascii=i % 2 == 0))
        if i % 9 == 2:
            lines.append("")
        if i % 13 == 4:
            lines.append("   \t")
        if i == 10:
            lines.append("{not json")
        if i == 20:
            lines.append(json.dumps({"id": "big", "text": "x" * (LIMIT + 50)}))
        if i == 30:
            lines.append(json.dumps({"id": f"{tag}{articles[0]['newid']}" if tag else articles[0]["newid"], "text": "the same id again"}))
    path.write_bytes(("\r\n".join(lines[:10]) + "\r\n" + "\n".join(lines[10:])).encode())  # no final newline
    return path


def _read(files: list[InputFile]) -> tuple[list[dict], list[dict], int]:
    reader = RecordReader("unused", "text", source="s", files=files, ids=IdRegistry(), max_record_bytes=LIMIT)
    rows = reader.read_all().to_pylist()
    return rows, reader.quarantined, reader.rows_read


@pytest.mark.parametrize("python_reader", ["0", "1"])
def test_ranges_read_as_the_whole_file(tmp_path, monkeypatch, python_reader):
    monkeypatch.setenv("ASSAY_PYTHON_READER", python_reader)
    path = _awkward(tmp_path / "a.jsonl")
    whole = InputFile(path, "a.jsonl")
    rows, quarantine, read = _read([whole])
    assert len(quarantine) == 3 and read > 30  # bad JSON, too large, the repeated id
    assert splittable(whole, LIMIT)
    size = path.stat().st_size
    for split in (1, 7, 64, 333, 2048, size - 1):
        ranges = byte_ranges(whole, split, LIMIT)
        assert len(ranges) == -(-size // split)
        ranges = numbered(ranges, [count_lines(r, LIMIT) for r in ranges])
        assert _read(ranges) == (rows, quarantine, read), f"split_bytes={split}"
        # the ranges' bytes are the file's, each line once
        pieces = []
        for r in ranges:
            stream, _ = open_binary(r.path, r.span)
            with stream:
                pieces.append(stream.read())
        assert b"".join(pieces) == path.read_bytes()


def test_only_json_lines_from_the_first_byte_are_cut(tmp_path):
    cases = {
        "lines.jsonl": b'{"text": "a"}\n{"text": "b"}\n',
        "array.json": b'[{"text": "a"},\n{"text": "b"}]\n',
        "pretty.json": b'{\n  "text": "a"\n}\n{\n  "text": "b"\n}\n',
        "leading-blank.jsonl": b'\n{"text": "a"}\n{"text": "b"}\n',
        "table.csv": b"text\na\nb\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert [name for name in cases if splittable(InputFile(tmp_path / name, name))] == ["lines.jsonl"]
    with gzip.open(tmp_path / "lines.jsonl.gz", "wb") as f:
        f.write(cases["lines.jsonl"] * 100)
    packed = InputFile(tmp_path / "lines.jsonl.gz", "lines.jsonl.gz")
    assert byte_ranges(packed, 16) == [packed]
    whole = InputFile(tmp_path / "pretty.json", "pretty.json")
    assert byte_ranges(whole, 4) == [whole]


def _pipeline(tmp_path: Path, split_bytes: int) -> Path:
    folder = tmp_path / "in"
    if not folder.exists():
        folder.mkdir()
        _awkward(folder / "a.jsonl")
        _awkward(folder / "b.jsonl", "b-")  # the same texts: exact duplicates of a's
    path = tmp_path / f"split-{split_bytes}.yaml"
    path.write_text(f"""
name: split
inputs:
  - {{path: "{folder}/*.jsonl", format: text, source: s, max_record_bytes: {LIMIT}, split_bytes: {split_bytes}}}
steps:
  - exact_dedup: {{}}
  - near_dedup: {{threshold: 0.8}}
  - text_stats: {{}}
output: {{dir: "{tmp_path}/out", shard_rows: 40}}
""")
    return path


def test_a_pipeline_over_ranges_keeps_the_rows_of_whole_files(tmp_path):
    import polars as pl

    from assay.pipeline import run_pipeline

    whole = run_pipeline(_pipeline(tmp_path, 0), output_dir=tmp_path / "whole")
    split = run_pipeline(_pipeline(tmp_path, 500), output_dir=tmp_path / "split")
    assert whole.rows_in == split.rows_in and whole.rows_out == split.rows_out and whole.removed == split.removed
    assert split.quarantined == whole.quarantined == 6 and split.removed["exact_duplicate"] > 30
    columns = ["id", "text", "source"]
    assert pl.read_parquet(tmp_path / "whole" / "data").select(columns).equals(
        pl.read_parquet(tmp_path / "split" / "data").select(columns))
    q = [pl.read_ndjson(tmp_path / d / "quarantine" / "quarantine.jsonl") for d in ("whole", "split")]
    assert q[0].equals(q[1])
