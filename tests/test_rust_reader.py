"""The Rust JSON reader (JSON Lines and the records of JSON arrays) against the Python
reference reader (ASSAY_PYTHON_READER=1):
the same rows, quarantine entries, counts and ids, on the shipped samples in their upstream
layout and on files made to hit every path that goes back to Python."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

import assay
from assay.io import rust_lines

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared" / "data"


def read_both(monkeypatch, path, format, **options):
    """(rows, quarantine, rows_read) from the Rust reader and from the reference reader."""
    out = []
    for python in ("0", "1"):
        monkeypatch.setenv("ASSAY_PYTHON_READER", python)
        reader = assay.read(str(path), format=format, **options)
        table = reader.read_all()
        quarantine = sorted(reader.quarantined, key=lambda q: (q["file"], q["record"] if q["record"] is not None else -1, q["error"]))
        out.append((table.to_pylist(), quarantine, reader.rows_read, reader.quarantined_count))
    return out


def assert_same(monkeypatch, path, format, **options):
    rust, reference = read_both(monkeypatch, path, format, **options)
    assert rust[0] == reference[0]
    assert rust[1] == reference[1]
    assert rust[2:] == reference[2:]
    return rust


def test_the_rust_reader_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_PYTHON_READER", "0")
    assert rust_lines.uses_rust_reader("alpaca", domain_field=None, coerce_scalars=False)
    assert not rust_lines.uses_rust_reader("alpaca", domain_field="url", coerce_scalars=False)
    assert not rust_lines.uses_rust_reader("gaokao", domain_field=None, coerce_scalars=False)
    calls = []
    real = assay._core.JsonLinesAdapter

    class Spy:
        def __init__(self, *args):
            self._inner = real(*args)

        def adapt(self, *args):
            calls.append(args[1:])
            return self._inner.adapt(*args)

    monkeypatch.setattr(assay._core, "JsonLinesAdapter", Spy)
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert assay.read(str(path), format="text").read_all().num_rows == 2
    assert calls == [(1, 0)]


@pytest.mark.parametrize("path, format, options", [
    (SAMPLES / "belle" / "eval_set.json", "belle", {"source": "belle-eval"}),
    (SAMPLES / "web" / "reuters_sample.jsonl.gz", "text", {"text_field": ["title", "body"], "id_field": "newid", "domain": "reuters.com"}),
    (SAMPLES / "web" / "cc_fixtures.jsonl.gz", "text", {}),
    (SAMPLES / "langid" / "lingua_sentences_3000.jsonl.gz", "text", {}),
    (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", "alpaca", {}),  # no top-level instruction/output: all quarantined
    (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", "text", {"text_field": "instruction"}),
    (SAMPLES / "belle" / "zh_seed_tasks.json", "sharegpt", {}),
    (SAMPLES / "flan_cot" / "aqua_train.json", "alpaca", {}),  # JSON arrays, pretty-printed
    (SAMPLES / "flan_cot" / "*.json", "alpaca", {"source": "flan-cot"}),
])
def test_samples_read_the_same(monkeypatch, path, format, options):
    rows, quarantine, read, quarantined = assert_same(monkeypatch, path, format, **options)
    assert read + quarantined > 0


@pytest.mark.skipif(not (SHARED / "web" / "reuters21578.jsonl.gz").exists(), reason="needs ../shared/data")
def test_all_of_reuters_reads_the_same(monkeypatch):
    rows, _, read, _ = assert_same(monkeypatch, SHARED / "web" / "reuters21578.jsonl.gz", "text",
                                   text_field=["title", "body"], id_field="newid")
    assert read == 21578


def test_every_path_back_to_python(tmp_path, monkeypatch):
    lines = [
        '\ufeff{"id": 1, "text": "first, after a byte order mark"}',
        '{"id": 2, "text": "a float elsewhere", "score": 0.5}',
        '{"id": 3, "text": "big int", "n": 123456789012345678901234567890}',
        '{"id": 3, "text": "a duplicate id"}',
        '   ',
        'not json at all',
        '{"id": 4, "text": "bad \\ud800 surrogate"}',
        '{"id": 5, "text": 7}',
        '[1, 2]',
        '{"id": 6}',
        '{"id": 7, "text": "escapes \\u00e9\\t\\"q\\" \\ud83d\\ude00", "meta": {"b": [true, null, -0], "a": "\\u0001"}}',
        '{"id": 8, "text": "crlf"}\r',
        '{"id": "", "text": "an empty id"}',
        '{"id": true, "text": "a boolean id"}',
        '{"id": [1], "text": "a list id"}',
        '{"id": 9, "text": "' + "x" * 300 + '"}',
        '{"id": 10, "text": "deep", "d": ' + "[" * 600 + "]" * 600 + "}",
        '{"id": 11, "text": "dup keys", "text": "the last one wins", "k": 1, "k": 2}',
        '{"id": 12, "text": "raw \x01 control"}',
        '{"text": "no id"}',
        '',
        '{"text": "last line without a newline"}',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(("\n".join(lines)).encode())
    rows, quarantine, read, quarantined = assert_same(monkeypatch, path, "text", max_record_bytes=200)
    errors = [q["error"].split(":")[0] for q in quarantine]
    assert "record_too_large" in errors and any(e.startswith("duplicate id") for e in errors)
    assert any(e.startswith("invalid JSON") for e in errors)
    # a gzipped copy, read in chunks smaller than the file, and a file of one huge line
    gz = tmp_path / "mixed.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    monkeypatch.setattr(rust_lines, "CHUNK_BYTES", 64)
    assert_same(monkeypatch, gz, "text", max_record_bytes=200)
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"text": "a"}\n{"text": "' + "y" * 5000 + '"}\n{"text": "b"}\n{"text": "' + "z" * 5000 + '"}')
    rows, quarantine, read, _ = assert_same(monkeypatch, huge, "text", max_record_bytes=1000)
    assert read == 2 and [q["size"] for q in quarantine] == [5012, 5012]


def test_formats_read_the_same(tmp_path, monkeypatch):
    records = {
        "alpaca": [{"instruction": "I", "input": "", "output": "O", "extra": [1, {"z": 1, "a": None}]},
                   {"instruction": "I2", "input": "in", "output": "O2"}, {"instruction": "no output"},
                   {"instruction": "I3", "input": None, "output": "O3", "id": 5}],
        "belle": [{"question": "Q", "std_answer": "A", "class": "c"}, {"question": "Q"}],
        "sharegpt": [
            {"conversations": [{"from": "human", "value": "hi"}, {"from": "GPT", "value": "yo"}], "system": "S"},
            {"messages": [{"role": "user", "content": "a"}, {"role": "Assistant", "content": ""}], "id": "m1"},
            {"messages": [{"role": "Ünïcode", "content": "x"}]},
            {"messages": [{"role": "user", "content": ["a list"]}]},
            {"messages": []}, {"conversations": "no list"}, {"neither": 1},
            {"conversations": [{"from": "human", "value": "c"}], "messages": [{"role": "user", "content": "m"}]},
        ],
    }
    for format, rs in records.items():
        path = tmp_path / f"{format}.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rs) + "\n")
        rows, quarantine, read, quarantined = assert_same(monkeypatch, path, format)
        assert read > 0 and quarantined > 0


def test_batches_are_bounded_and_ids_unique_across_files(tmp_path, monkeypatch):
    for k in range(3):
        (tmp_path / f"part{k}.jsonl").write_text("".join(f'{{"id": {i % 7}, "text": "row {i}"}}\n' for i in range(50)))
    monkeypatch.setenv("ASSAY_PYTHON_READER", "0")
    reader = assay.read(str(tmp_path / "*.jsonl"), format="text", batch_rows=4)
    batches = list(reader)
    assert max(b.num_rows for b in batches) <= 4
    assert pa.Table.from_batches(batches).num_rows == 7 and reader.quarantined_count == 143
    assert_same(monkeypatch, tmp_path / "*.jsonl", "text", batch_rows=4)


@pytest.mark.parametrize("compress, suffix", [(gzip.compress, ".jsonl.gz"), (None, ".jsonl.zst")])
def test_damaged_files_keep_the_same_rows(tmp_path, monkeypatch, compress, suffix):
    data = (SAMPLES / "belle" / "eval_set.json").read_bytes()
    if compress is None:
        import zstandard

        compress = zstandard.ZstdCompressor().compress
    packed = compress(data)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(packed[: len(packed) // 2])
    rows, quarantine, read, _ = assert_same(monkeypatch, path, "belle")
    # gzip reports the damage; a cut zstd stream just ends, inside a line
    assert 50 < read < 1000 and quarantine[-1]["error"].startswith(("file unreadable", "invalid"))


def test_json_arrays_read_the_same(tmp_path, monkeypatch):
    items = [
        {"id": 1, "text": "first"},
        {"id": 2, "text": "a float", "score": 0.5},
        {"id": 2, "text": "a duplicate id"},
        [1, 2],
        "a string item",
        {"id": 3, "text": 7},
        {"id": 4, "text": "x" * 300},
        {"id": 5, "text": "escapes \u00e9\t\"q\" \U0001f600", "meta": {"b": [True, None, 0], "a": "\u0001"}},
        {"text": "no id"},
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items, indent=2, ensure_ascii=False))
    calls = []
    real = assay._core.JsonLinesAdapter

    class Spy:
        def __init__(self, *args):
            self._inner = real(*args)

        def adapt_records(self, pieces, index):
            calls.append((len(pieces), index))
            return self._inner.adapt_records(pieces, index)

    monkeypatch.setattr(assay._core, "JsonLinesAdapter", Spy)
    rows, quarantine, read, quarantined = assert_same(monkeypatch, path, "text", max_record_bytes=200)
    assert calls == [(len(items), 0)]  # the items went through the Rust adapter
    errors = [q["error"].split(":")[0] for q in quarantine]
    assert read == 4 and errors.count("record_too_large") == 1 and any(e.startswith("duplicate id") for e in errors)
    assert any(e.startswith("expected a JSON object") for e in errors)
    # in pieces smaller than the items; two arrays and concatenated objects; cut short
    monkeypatch.setattr("assay.io.readers.READ_BYTES", 16)
    assert_same(monkeypatch, path, "text", max_record_bytes=200)
    two = tmp_path / "two.json"
    two.write_text(json.dumps(items[:3]) + "\n" + json.dumps(items[5:]))
    assert_same(monkeypatch, two, "text", max_record_bytes=200)
    objects = tmp_path / "objects.json"
    objects.write_text("".join(json.dumps(item, indent=1) for item in items if isinstance(item, dict)))
    assert_same(monkeypatch, objects, "text", max_record_bytes=200)
    cut = tmp_path / "cut.json"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    rows, quarantine, _, _ = assert_same(monkeypatch, cut, "text")
    assert "the file ends inside a value" in quarantine[-1]["error"] or "unreadable" in quarantine[-1]["error"]
