"""Readers and format adapters, on the real samples shipped in samples/."""
import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

import assay
from assay.io import IdRegistry
from assay.io.formats import adapt, guess_format, RecordContext
from assay.schema import RECORD_SCHEMA

from conftest import SAMPLES


def _compress(src: Path, dst: Path, how: str) -> Path:
    data = src.read_bytes()
    if how == "gz":
        dst.write_bytes(gzip.compress(data))
    elif how == "zst":
        dst.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        dst.write_bytes(data)
    return dst


BELLE_EVAL = SAMPLES / "belle" / "eval_set.json"
SHARED_BELLE_EVAL = SAMPLES.parent.parent / "shared" / "data" / "instruct" / "belle_eval_zh" / "eval_set.json"


def test_belle_eval_set_json_is_json_lines_and_reads_every_row():
    # BELLE publishes its eval set as JSON Lines in a .json file, without a final newline.
    data = BELLE_EVAL.read_bytes()
    assert data.count(b"\n") == 999 and not data.endswith(b"\n")
    reader = assay.read(BELLE_EVAL, format="belle", source="belle-eval")
    table = reader.read_all()
    assert (table.num_rows, reader.quarantined_count) == (1000, 0)
    lines = data.decode("utf-8").splitlines()
    assert table.column("instruction").to_pylist() == [json.loads(line)["question"] for line in lines]
    assert table.column("id")[999].as_py() == "belle-eval:eval_set.json:999"


@pytest.mark.skipif(not SHARED_BELLE_EVAL.is_file(), reason="../shared/data is not here")
def test_the_published_belle_eval_set_reads_every_row():
    reader = assay.read(SHARED_BELLE_EVAL, format="belle", source="belle-eval")
    assert (reader.read_all().num_rows, reader.quarantined_count) == (1000, 0)


def _layouts() -> dict[str, tuple[bytes, str, int]]:
    """Real records in each JSON layout: (bytes, format, rows); the BELLE ones are the same 40 records."""
    belle = [json.loads(line) for line in BELLE_EVAL.read_text(encoding="utf-8").splitlines()[:40]]
    aqua = (SAMPLES / "flan_cot" / "aqua_train.json").read_bytes()
    gaokao = (SAMPLES / "gaokao" / "Objective_Questions" / "2010-2022_Math_II_MCQs.json").read_bytes()
    return {
        "lines": (b"\n".join(json.dumps(r, ensure_ascii=False).encode() for r in belle) + b"\n", "belle", 40),
        "crlf-lines": (b"\r\n".join(json.dumps(r, ensure_ascii=False).encode() for r in belle), "belle", 40),
        "array": (aqua, "alpaca", 100),
        "one-object": (gaokao, "gaokao", 60),
        "one-object-per-line": (json.dumps(json.loads(gaokao), ensure_ascii=False).encode() + b"\n", "gaokao", 60),
        "concatenated": (b"".join(json.dumps(r, ensure_ascii=False, indent=2).encode() for r in belle), "belle", 40),
        "pretty-objects": (b"\n".join(json.dumps(r, ensure_ascii=False, indent=1).encode() for r in belle), "belle", 40),
    }


@pytest.mark.parametrize("how", ["plain", "gz", "zst"])
@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".ndjson"])
@pytest.mark.parametrize("layout", ["lines", "crlf-lines", "array", "one-object", "one-object-per-line",
                                    "concatenated", "pretty-objects"])
def test_json_layout_is_decided_by_content_not_name(tmp_path, layout, suffix, how):
    data, fmt, rows = _layouts()[layout]
    plain = tmp_path / f"data{suffix}"
    plain.write_bytes(data)
    path = _compress(plain, tmp_path / (plain.name + ("" if how == "plain" else f".{how}")), how)
    reader = assay.read(path, format=fmt, source="s")
    table = reader.read_all()
    assert (table.num_rows, reader.quarantined_count) == (rows, 0)
    if fmt == "belle":  # every layout gives the rows of the original JSON Lines
        reference = assay.read(BELLE_EVAL, format="belle", source="s").read_all().slice(0, rows)
        assert table.drop_columns(["id"]).equals(reference.drop_columns(["id"]))
    else:
        original = {"alpaca": SAMPLES / "flan_cot" / "aqua_train.json",
                    "gaokao": SAMPLES / "gaokao" / "Objective_Questions" / "2010-2022_Math_II_MCQs.json"}[fmt]
        reference = assay.read(original, format=fmt, source="s").read_all()
        assert table.drop_columns(["id"]).equals(reference.drop_columns(["id"]))


@pytest.mark.parametrize("layout", ["lines", "array", "one-object", "concatenated"])
def test_a_utf8_bom_is_skipped_in_json(tmp_path, layout):
    data, fmt, rows = _layouts()[layout]
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + data)
    reader = assay.read(path, format=fmt, source="s")
    assert (reader.read_all().num_rows, reader.quarantined_count) == (rows, 0)


def test_a_utf8_bom_is_skipped_in_csv_and_tsv(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,text\r\n1,你好\r\n2,\"two\r\nlines\"\r\n".encode("utf-8"))
    reader = assay.read(path, format="text", source="csv")
    table = reader.read_all()
    assert reader.quarantined_count == 0
    assert table.column("id").to_pylist() == ["1", "2"]  # the header's first field is "id", not "\ufeffid"
    assert table.column("text").to_pylist() == ["你好", "two\r\nlines"]
    tsv = tmp_path / "bom.tsv.zst"
    tsv.write_bytes(zstandard.ZstdCompressor().compress("\ufefftext\r\nabc\r\n".encode("utf-8")))
    assert assay.read(tsv, format="text", source="t").read_all().column("text").to_pylist() == ["abc"]


def test_a_damaged_first_line_does_not_hide_the_json_lines_after_it(tmp_path):
    path = tmp_path / "first-bad.json"
    good = BELLE_EVAL.read_text(encoding="utf-8").splitlines()[:5]
    path.write_text('{"question": "cut off\n' + "\n".join(good) + "\n", encoding="utf-8")
    reader = assay.read(path, format="belle", source="b")
    assert reader.read_all().num_rows == 5
    (bad,) = reader.quarantined
    assert bad["line"] == 1 and bad["error"].startswith("invalid JSON")


@pytest.mark.parametrize("how", ["plain", "gz", "zst"])
def test_jsonl_plain_gz_zst_read_the_same(tmp_path, how):
    src = BELLE_EVAL
    path = _compress(src, tmp_path / ("belle.jsonl" + ("" if how == "plain" else f".{how}")), how)
    table = assay.read(path, format="belle", source="belle-eval").read_all()
    assert table.schema == RECORD_SCHEMA
    assert table.num_rows == 1000
    first = json.loads(src.read_text(encoding="utf-8").splitlines()[0])
    row = table.slice(0, 1).to_pylist()[0]
    assert row["instruction"] == first["question"] and row["output"] == first["std_answer"]
    assert json.loads(row["meta"]) == {"class": first["class"]}
    assert row["id"] == f"belle-eval:{path.name}:0"


@pytest.mark.parametrize("how", ["plain", "gz", "zst"])
def test_json_array_plain_gz_zst(tmp_path, how):
    src = SAMPLES / "flan_cot" / "aqua_train.json"
    path = _compress(src, tmp_path / ("aqua.json" + ("" if how == "plain" else f".{how}")), how)
    table = assay.read(path, format="alpaca", source="flan-cot").read_all()
    records = json.loads(src.read_text(encoding="utf-8"))
    assert table.num_rows == len(records)
    assert table.column("output").to_pylist() == [r["output"] for r in records]
    assert table.column("input").to_pylist() == [r["input"] or None for r in records]


def test_glob_reads_files_in_sorted_order_with_relative_names():
    reader = assay.read(str(SAMPLES / "gaokao" / "**" / "*.json"), format="gaokao", source="gaokao")
    table = reader.read_all()
    assert [f.name for f in reader.files] == [
        "Objective_Questions/2010-2022_Math_II_MCQs.json",
        "Subjective_Questions/2010-2022_Math_I_Fill-in-the-Blank.json",
    ]
    assert table.num_rows == 100
    ids = table.column("id").to_pylist()
    assert ids[0] == "gaokao:Objective_Questions/2010-2022_Math_II_MCQs.json:0"
    assert len(set(ids)) == 100
    meta = json.loads(table.column("meta")[0].as_py())
    assert meta["keywords"] == "2010-2022_Math_II_MCQs" and meta["answer"] == ["D"]
    assert table.column("output")[0].as_py().endswith("答案：D")


def test_seed_tasks_one_row_per_instance():
    table = assay.read(SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", format="seed_tasks", source="s").read_all()
    expected = sum(len(json.loads(l)["instances"]) for l in (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl").read_text().splitlines())
    assert table.num_rows == expected
    assert table.column("id")[0].as_py() == "seed_task_0:0"
    assert json.loads(table.column("meta")[0].as_py()) == {"is_classification": False, "name": "breakfast_suggestion"}


def test_sharegpt_and_openai_messages(tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [
        {"id": "c1", "conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "你好！"}], "lang": "zh"},
        {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    table = assay.read(path, format="sharegpt", source="chat").read_all()
    got = table.to_pylist()
    assert got[0]["kind"] == "chat" and got[0]["id"] == "c1"
    assert got[0]["messages"] == [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]
    assert got[0]["meta"] == '{"lang":"zh"}'
    assert got[1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert got[1]["text"] == "Be brief.\n\nHi\n\nHello"


def test_text_format_with_field_list_and_domain_field(tmp_path):
    table = assay.read(SAMPLES / "web" / "reuters_sample.jsonl.gz", format="text", source="reuters",
                       text_field=["title", "body"]).read_all()
    assert table.num_rows == 400
    assert table.column("text")[0].as_py().startswith("BAHIA COCOA REVIEW\n\nShowers continued")
    meta = json.loads(table.column("meta")[0].as_py())
    assert "title" not in meta and "body" not in meta and meta["newid"] == 1
    path = tmp_path / "web.jsonl"
    path.write_text(json.dumps({"text": "x", "url": "https://www.example.org/a/b?c=1"}) + "\n")
    row = assay.read(path, format="text", source="web", domain_field="url").read_all().to_pylist()[0]
    assert row["domain"] == "www.example.org"


def test_csv_and_tsv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('id,text,score\n1,"hello, world",0.5\n2,"line1\nline2",0.9\n3,too,many,fields\n')
    reader = assay.read(path, format="text", source="csv")
    table = reader.read_all()
    assert table.column("text").to_pylist() == ["hello, world", "line1\nline2"]
    assert table.column("id").to_pylist() == ["1", "2"]
    assert reader.quarantined_count == 1
    bad = reader.quarantined[0]
    assert bad["line"] == 5 and "expected 3 fields, got 4" in bad["error"]
    tsv = tmp_path / "data.tsv.gz"
    tsv.write_bytes(gzip.compress(b"text\tlabel\nabc\tx\n"))
    assert assay.read(tsv, format="text", source="t").read_all().column("text").to_pylist() == ["abc"]


def test_parquet_in_schema_roundtrip_and_extra_columns(tmp_path):
    table = assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all()
    pq.write_table(table, tmp_path / "a.parquet")
    again = assay.read(tmp_path / "a.parquet", format="parquet", source="ignored").read_all()
    assert again.equals(table)
    pq.write_table(table.append_column("score", pa.array(range(table.num_rows))), tmp_path / "b.parquet")
    extra = assay.read(tmp_path / "b.parquet", format="assay", source="ignored").read_all()
    assert json.loads(extra.column("meta")[7].as_py())["score"] == 7
    # Other formats read Parquet too.
    pq.write_table(pa.table({"instruction": ["i"], "output": ["o"], "x": [1]}), tmp_path / "c.parquet")
    row = assay.read(tmp_path / "c.parquet", format="alpaca", source="p").read_all().to_pylist()[0]
    assert (row["instruction"], row["output"], row["meta"]) == ("i", "o", '{"x":1}')


def test_malformed_lines_are_quarantined_and_good_rows_kept(tmp_path):
    path = tmp_path / "broken.jsonl"
    lines = [
        b'{"question": "q1", "std_answer": "a1"}',
        b'{"question": "q2", "std_answer": ',  # broken JSON
        b'{"question": "q3\xff\xfe", "std_answer": "a3"}',  # invalid UTF-8
        b"",
        b'[1, 2]',  # not an object
        b'{"question": "q6"}',  # missing field
        b'{"question": 7, "std_answer": "a"}',  # wrong type
        b'{"question": "q8", "std_answer": "a8"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    reader = assay.read(path, format="belle", source="b")
    table = reader.read_all()
    assert table.column("instruction").to_pylist() == ["q1", "q8"]
    errors = {q["line"]: q["error"] for q in reader.quarantined}
    assert set(errors) == {2, 3, 5, 6, 7}
    assert errors[2].startswith("invalid JSON")
    assert errors[3] == "invalid UTF-8 at byte 16 of the line"
    assert errors[5] == "expected a JSON object, got list"
    assert errors[6] == "missing field 'std_answer'"
    assert errors[7] == "field 'question' must be a string, got int"
    assert all(q["file"] == path.as_posix() for q in reader.quarantined)
    assert "\\xff\\xfe" in reader.quarantined[1]["raw"]
    assert reader.rows_read + reader.quarantined_count == 7


def test_duplicate_ids_are_quarantined_within_a_source(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        '{"id": "x1", "question": "q1", "std_answer": "a1"}\n'
        '{"id": 7, "question": "q2", "std_answer": "a2"}\n'
        '{"id": "x1", "question": "q3", "std_answer": "a3"}\n'
        '{"question": "q4", "std_answer": "a4"}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "7", "question": "q5", "std_answer": "a5"}\n', encoding="utf-8")
    reader = assay.read(tmp_path / "*.jsonl", format="belle", source="b")
    table = reader.read_all()
    assert table.column("id").to_pylist() == ["x1", "7", "b:a.jsonl:3"]  # generated ids are not checked
    assert [(q["file"].rsplit("/", 1)[1], q["line"]) for q in reader.quarantined] == [("a.jsonl", 3), ("b.jsonl", 1)]
    assert reader.quarantined[0]["error"] == (
        "duplicate id 'x1': an earlier record of source 'b' has it (ids must be unique within a source)")
    assert '"q3"' in reader.quarantined[0]["raw"]
    assert reader.rows_read + reader.quarantined_count == 5
    # The same id in another source is not a duplicate; the check can be turned off.
    ids = IdRegistry()
    for source in ("b", "c"):
        assert assay.read(tmp_path / "b.jsonl", format="belle", source=source, ids=ids).read_all().num_rows == 1
    assert assay.read(tmp_path / "a.jsonl", format="belle", source="b", ids=False).read_all().num_rows == 4


def test_duplicate_ids_in_assay_parquet_name_their_row(tmp_path):
    rows = assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all().slice(0, 3)
    doubled = pa.concat_tables([rows, rows.slice(1, 1)])
    pq.write_table(doubled, tmp_path / "d.parquet")
    reader = assay.read(tmp_path / "d.parquet", format="assay")
    assert reader.read_all().num_rows == 3
    (bad,) = reader.quarantined
    assert bad["record"] == 3 and "duplicate id 'b:eval_set.json:1'" in bad["error"]


def test_id_registry_save_and_load(tmp_path):
    ids = IdRegistry()
    ids.seen_before(["s", "s"], ["a", "b"])
    ids.save(tmp_path / "ids.bin")
    again = IdRegistry.load(tmp_path / "ids.bin")
    assert len(again) == 2 and again.seen_before(["s", "t", "s"], ["b", "b", "c"]).tolist() == [True, False, False]


def test_truncated_gzip_keeps_rows_before_the_damage(tmp_path):
    data = gzip.compress((SAMPLES / "belle" / "eval_set.json").read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    reader = assay.read(path, format="belle", source="b")
    table = reader.read_all()
    assert 50 < table.num_rows < 1000
    assert reader.quarantined_count == 1
    assert "file unreadable after line" in reader.quarantined[0]["error"]


def test_broken_json_array_quarantines_the_rest(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"instruction": "a", "output": "b"}, {"instruction": "c", "outp')
    reader = assay.read(path, format="alpaca", source="x")
    assert reader.read_all().num_rows == 1
    assert reader.quarantined[0]["record"] == 1 and "rest of the file is unreadable" in reader.quarantined[0]["error"]


def test_corrupt_parquet_is_quarantined(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    reader = assay.read(path, format="assay", source="x")
    assert reader.read_all().num_rows == 0
    assert "corrupt Parquet" in reader.quarantined[0]["error"]


def test_ids_are_stable_across_runs_and_working_directories(tmp_path, monkeypatch):
    first = assay.read(SAMPLES / "flan_cot" / "*.json", format="alpaca", source="f").read_all().column("id")
    copy = tmp_path / "elsewhere"
    shutil.copytree(SAMPLES / "flan_cot", copy)
    monkeypatch.chdir(tmp_path)
    second = assay.read("elsewhere/*.json", format="alpaca", source="f").read_all().column("id")
    assert first.equals(second)


def test_batches_are_bounded(tmp_path):
    reader = assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b", batch_rows=64)
    sizes = [b.num_rows for b in reader]
    assert max(sizes) <= 64 and sum(sizes) == 1000


def test_errors_for_unknown_format_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'alpacca'"):
        assay.read(SAMPLES / "belle" / "eval_set.json", format="alpacca")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        assay.read(str(tmp_path / "*.jsonl"), format="belle")
    with pytest.raises(ValueError, match="cannot tell the file type"):
        (tmp_path / "x.txt").write_text("hi")
        assay.read(tmp_path / "x.txt", format="text")


def test_guess_format_on_samples():
    assert guess_format(json.loads((SAMPLES / "belle" / "eval_set.json").read_text().splitlines()[0])) == "belle"
    assert guess_format(json.loads((SAMPLES / "belle" / "zh_seed_tasks.json").read_text().splitlines()[0])) == "seed_tasks"
    assert guess_format({"conversations": []}) == "sharegpt"
    assert guess_format({"foo": 1}) is None


def test_every_kind_has_a_text_rendering():
    ctx = RecordContext(source="s", file="f", index=0)
    for fmt, record in [
        ("alpaca", {"instruction": "I", "input": "", "output": "O"}),
        ("sharegpt", {"messages": [{"role": "user", "content": "U"}]}),
        ("text", {"text": "T"}),
    ]:
        row = adapt(fmt, record, ctx)[0]
        assert row["text"] and row["kind"] in ("instruction", "chat", "text")


def test_nul_bytes_big_documents_and_empty_text(tmp_path):
    big = "长文档 " * (50 * 1024 * 1024 // 10)  # about 50 MB of UTF-8
    lines = [
        json.dumps({"text": "escaped NUL \u0000 inside a string is valid JSON"}).encode(),
        b'{"text": "raw NUL \x00 byte"}',
        json.dumps({"text": ""}).encode(),
        json.dumps({"text": big}, ensure_ascii=False).encode(),
    ]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\n".join(lines))
    reader = assay.read(path, format="text", source="odd")
    table = reader.read_all()
    assert table.num_rows == 3 and reader.quarantined_count == 1
    assert reader.quarantined[0]["line"] == 2 and "invalid JSON" in reader.quarantined[0]["error"]
    stats = assay.text_stats(table).to_pylist()
    assert stats[0]["chars"] == len("escaped NUL \u0000 inside a string is valid JSON")
    assert stats[1]["chars"] == 0 and stats[1]["words"] == 0
    assert stats[2]["chars"] == len(big) and stats[2]["words"] == 3 * (50 * 1024 * 1024 // 10)


def test_upsampled_copies_in_assembled_shards_are_not_duplicate_ids(tmp_path):
    # An assembled output (weight 2.0: two copies of each row, same id, copy 0 and 1) read back.
    rows = assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all().slice(0, 20)
    doubled = pa.concat_tables([rows.append_column("copy", pa.array([k] * 20, pa.int32())) for k in (0, 1)])
    pq.write_table(doubled, tmp_path / "part-00000.parquet")
    reader = assay.read(tmp_path / "part-00000.parquet", format="assay")
    assert (reader.read_all().num_rows, reader.quarantined_count) == (40, 0)
    # a field named "copy" in other formats is data, not a copy number
    (tmp_path / "c.jsonl").write_text('{"id": "x", "text": "a", "copy": 1}\n{"id": "x", "text": "b", "copy": 2}\n')
    reader = assay.read(tmp_path / "c.jsonl", format="text", source="t")
    assert (reader.read_all().num_rows, reader.quarantined_count) == (1, 1)
