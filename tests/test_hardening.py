"""Hostile and unlucky inputs: records over the size limit, scalars where strings belong,
terminal escapes in records, random and mutated files (hypothesis)."""
import gzip
import json
import os
import subprocess
import sys

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import assay
from assay.io.readers import iter_csv, iter_json

from conftest import ROOT, SAMPLES

SCALE = int(os.environ.get("ASSAY_FUZZ_SCALE", "1"))
"""Multiplies the examples each property runs (``ASSAY_FUZZ_SCALE=100`` for a long fuzz)."""

ROW = {"question": "What is the capital of France?", "std_answer": "Paris is the capital of France."}


def _line(record: dict) -> bytes:
    return orjson.dumps(record) + b"\n"


def _big(size: int) -> dict:
    return {"question": "big", "std_answer": "a" * size}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_json_lines_record_over_the_limit_is_skipped_and_reading_goes_on(tmp_path, suffix):
    body = _line(ROW) + _line(_big(3_000_000)) + _line(ROW) + _line(_big(10)) + _line(ROW)
    path = tmp_path / f"in{suffix}"
    path.write_bytes(gzip.compress(body) if suffix.endswith("gz") else
                     zstandard.ZstdCompressor().compress(body) if suffix.endswith("zst") else body)
    reader = assay.RecordReader(path, "belle", source="b", max_record_bytes=1_000_000)
    assert reader.read_all().num_rows == 4
    (bad,) = reader.quarantined
    assert (bad["line"], bad["record"], bad["raw"]) == (2, 1, None)
    assert bad["size"] == len(_line(_big(3_000_000))) - 1
    assert bad["error"].startswith("record_too_large: the record has 3,000,0")
    assert reader.rows_read + reader.quarantined_count == 5


def test_a_json_array_item_over_the_limit_is_skipped(tmp_path):
    items = [ROW, {"instruction": "x", "output": "y" * 2_000_000}, {"instruction": "a", "output": "b"}]
    items[0] = {"instruction": ROW["question"], "output": ROW["std_answer"]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(items, indent=2))
    reader = assay.RecordReader(path, "alpaca", source="a", max_record_bytes=1_000_000)
    assert reader.read_all().column("instruction").to_pylist() == [ROW["question"], "a"]
    (bad,) = reader.quarantined
    assert bad["record"] == 1 and bad["size"] > 2_000_000 and bad["error"].startswith("record_too_large")


def test_a_csv_line_over_the_limit_is_skipped(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,n\nhello,1\n" + "x" * 500_000 + ",2\nworld,3\n")
    reader = assay.RecordReader(path, "text", source="c", max_record_bytes=100_000)
    assert reader.read_all().column("text").to_pylist() == ["hello", "world"]
    assert reader.quarantined[0]["line"] == 3 and reader.quarantined[0]["size"] == 500_002


def test_fields_up_to_the_limit_are_read_in_csv(tmp_path):
    """csv's own field limit (128 KiB) no longer cuts records shorter than max_record_bytes."""
    path = tmp_path / "in.csv"
    path.write_text("text,n\n" + "y" * 300_000 + ",1\n")
    assert assay.RecordReader(path, "text", source="c").read_all().column("text").to_pylist() == ["y" * 300_000]


def test_skipping_a_huge_record_keeps_memory_bounded(tmp_path):
    """A 2 MB .jsonl.gz whose second line is a 400 MB record: quarantined, peak RSS < 512 MB
    (benchmarks/bench_hostile.py runs the 2 GB case)."""
    path = tmp_path / "hostile.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_line(ROW))
        f.write(b'{"question": "big", "std_answer": "')
        block = b"a" * (1 << 20)
        for _ in range(400):
            f.write(block)
        f.write(b'"}\n')
        f.write(_line(ROW))
    assert path.stat().st_size < 3_000_000
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f'name: hostile\ninputs:\n  - {{path: "{path}", format: belle, source: b}}\n'
                        f'steps:\n  - text_stats: {{}}\noutput: {{dir: "{tmp_path / "out"}"}}\n')
    # The run's own peak, read by the process itself from /proc (VmHWM: its address space
    # only). ru_maxrss would not do: Linux carries the high-water mark of the forked copy of
    # this (large) test process across exec into the child's ru_maxrss.
    script = ("import sys\nfrom assay.cli import main\n"
              f"sys.argv = ['assay', 'run', {str(pipeline)!r}, '--no-progress']\n"
              "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
              "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
              "print('peak', hwm)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    peak_mib = int(run.stdout.split("peak")[-1]) / 1024
    assert peak_mib < 512, f"peak RSS {peak_mib:.0f} MiB"
    manifest = assay.Manifest.load(tmp_path / "out")
    assert (manifest.rows_out, manifest.quarantined) == (2, 1)
    (bad,) = [orjson.loads(line) for line in (tmp_path / "out" / "quarantine" / "quarantine.jsonl").open("rb")]
    assert bad["size"] == 400 * (1 << 20) + len('{"question": "big", "std_answer": ""}')


def test_scalars_where_strings_belong_are_strict_unless_coerced(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(_line({"instruction": "Add", "input": 5, "output": True}) + _line({"instruction": "x", "output": "y"}))
    strict = assay.RecordReader(path, "alpaca", source="a")
    assert strict.read_all().num_rows == 1
    assert strict.quarantined[0]["error"] == "field 'input' must be a string, got int"
    coerced = assay.RecordReader(path, "alpaca", source="a", coerce_scalars=True)
    table = coerced.read_all()
    assert table.column("input").to_pylist() == ["5", None] and table.column("output").to_pylist() == ["true", "y"]
    assert coerced.coerced == 2 and coerced.quarantined_count == 0
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f'name: c\ninputs:\n  - {{path: "{path}", format: alpaca, source: a, coerce_scalars: true}}\n'
                        f'output: {{dir: "{tmp_path / "out"}"}}\n')
    manifest = assay.run_pipeline(pipeline)
    assert (manifest.coerced, manifest.sources["a"].coerced, manifest.rows_out) == (2, 2, 2)


def test_records_cannot_write_escapes_to_the_terminal(tmp_path):
    path = tmp_path / "in.jsonl"
    evil = "\x1b[2J\x1b]0;owned\x07"
    path.write_bytes(_line({"id": evil, **ROW}) + _line({"id": evil, **ROW}))
    run = subprocess.run([sys.executable, "-m", "assay.cli", "inspect", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "duplicate id" in run.stdout and "\\x1b[2J" in run.stdout
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    bad = tmp_path / "p.yaml"
    # YAML's "\e" is ESC: a path whose name holds an escape sequence
    bad.write_text(f"name: x\ninputs:\n  - {{path: \"{tmp_path}/\\e[31mmissing.jsonl\", format: belle, source: b}}\n"
                   f"output: {{dir: \"{tmp_path / 'o'}\"}}\n")
    run = subprocess.run([sys.executable, "-m", "assay.cli", "run", str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "\x1b" not in run.stderr and "\\x1b[31mmissing" in run.stderr


# ---------------------------------------------------------------------------------------
# Property-based: every line or item is read or quarantined, nothing escapes

LIMIT = 200
KINDS = {
    "good": lambda: _line(ROW),
    "broken": lambda: b'{"question": "q", "std_answer": \n',
    "not_utf8": lambda: b'{"question": "q\xff", "std_answer": "a"}\n',
    "not_object": lambda: b"[1, 2]\n",
    "missing_field": lambda: _line({"question": "q"}),
    "too_large": lambda: _line(_big(LIMIT * 2)),
    "blank": lambda: b"   \n",
}


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), max_size=25), compress=st.booleans())
def test_every_json_line_is_read_or_quarantined(tmp_path, kinds, compress):
    # the layout is told from the start of the file (iter_json): JSON Lines when the first line
    # is a whole JSON object (an array there makes it a JSON array file)
    assume([k for k in kinds if k != "blank"][:1] in (["good"], ["missing_field"]))
    body = b"".join(KINDS[k]() for k in kinds)
    path = tmp_path / ("in.jsonl.gz" if compress else "in.jsonl")
    path.write_bytes(gzip.compress(body) if compress else body)
    reader = assay.RecordReader(path, "belle", source="b", max_record_bytes=LIMIT, ids=False)
    table = reader.read_all()
    records = [k for k in kinds if k != "blank"]
    assert reader.rows_read == table.num_rows == records.count("good")
    assert reader.quarantined_count == len(records) - records.count("good")
    too_large = [q["line"] for q in reader.quarantined if q["error"].startswith("record_too_large")]
    assert too_large == [i + 1 for i, k in enumerate(kinds) if k == "too_large"]


@settings(max_examples=60 * SCALE, deadline=None)
@given(items=st.lists(st.one_of(
    st.fixed_dictionaries({"instruction": st.text(max_size=30), "output": st.text(min_size=1, max_size=30)}),
    st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.just({"instruction": "big", "output": "z" * (LIMIT * 2)})), max_size=15),
    indent=st.sampled_from([None, 1, 4]))
def test_every_json_array_item_is_read_or_quarantined(items, indent):
    import io

    text = json.dumps(items, indent=indent, ensure_ascii=False).encode()
    records = list(iter_json(io.BytesIO(text), max_record_bytes=LIMIT))
    assert len(records) == len(items)
    for record, item in zip(records, items):
        size = len(json.dumps(item, indent=indent, ensure_ascii=False).encode())
        if isinstance(item, dict) and size <= LIMIT:
            assert record.value == item
        elif size > LIMIT and indent is None:
            assert record.error.startswith("record_too_large")
        else:
            assert type(record).__name__ == "BadRecord"


@settings(max_examples=150 * SCALE, deadline=None)
@given(data=st.binary(max_size=3000), kind=st.sampled_from(["json", "csv"]))
def test_random_bytes_never_raise(data, kind):
    import io

    records = list(iter_json(io.BytesIO(data), max_record_bytes=LIMIT) if kind == "json"
                   else iter_csv(io.BytesIO(data), max_record_bytes=LIMIT))
    assert all(type(r).__name__ in ("RawRecord", "BadRecord") for r in records)


REAL = (SAMPLES / "belle" / "eval_set.json").read_bytes()[:20_000]


@settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, len(REAL) - 1), st.integers(0, 40), st.binary(max_size=8)),
                     min_size=1, max_size=6),
       fmt=st.sampled_from(["belle", "text"]))
def test_mutated_real_files_balance_through_a_pipeline(tmp_path, cuts, fmt):
    data = bytearray(REAL)
    for at, length, insert in cuts:  # delete a run of bytes and insert others: a damaged download
        data[at:at + length] = insert
    path = tmp_path / "in.json"
    path.write_bytes(bytes(data))
    pipeline = tmp_path / "p.yaml"
    text_field = ", text_field: question" if fmt == "text" else ""
    pipeline.write_text(f'name: m\ninputs:\n  - {{path: "{path}", format: {fmt}, source: b{text_field}}}\n'
                        f'steps:\n  - text_stats: {{}}\n  - exact_dedup: {{}}\n'
                        f'output: {{dir: "{tmp_path / "out"}"}}\n')
    manifest = assay.run_pipeline(pipeline)
    assert manifest.balances()
    assert manifest.rows_in >= 1
