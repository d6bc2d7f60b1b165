"""Hugging Face datasets as input: the same results as the equivalent pyarrow table."""
import numpy as np
import pyarrow as pa
import pytest

import assay

from conftest import SAMPLES

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    """Real Chinese and English instruction rows in the record schema."""
    return pa.concat_tables([
        assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all().slice(0, 300),
        assay.read(str(SAMPLES / "flan_cot" / "*.json"), format="alpaca", source="f").read_all(),
    ])


CALLS = {
    "text_stats": lambda d: assay.text_stats(d),
    "langid": lambda d: assay.langid(d),
    "langid_rows": lambda d: assay.langid_rows(d),
    "minhash": lambda d: pa.table({"sig": assay.minhash(d, num_perm=16).tolist()}),
    "near_duplicates": lambda d: assay.near_duplicates(d, threshold=0.7),
    "exact_duplicates": lambda d: assay.exact_duplicates(d, columns=["instruction", "input"]),
    "apply_filters": lambda d: assay.apply_filters(d, ["instruction", "gopher_repetition"], language="auto"),
    "quality_signals": lambda d: assay.quality_signals(d, language="en"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_dataset_gives_what_its_arrow_table_gives(rows, name):
    ds = datasets.Dataset(pa.Table.from_batches(rows.to_batches()))  # the same Arrow data, no copy
    assert CALLS[name](ds).equals(CALLS[name](rows))


@pytest.mark.parametrize("name", ["text_stats", "langid_rows", "near_duplicates", "apply_filters"])
def test_an_active_filter_or_shuffle_is_respected(rows, name):
    ds = datasets.Dataset(rows).shuffle(seed=3).filter(lambda r: r["source"] == "f" or len(r["text"]) > 120)
    assert ds._indices is not None  # an indices mapping, not a new table
    expected = pa.Table.from_pylist(ds.to_list(), schema=rows.schema)
    assert CALLS[name](ds).equals(CALLS[name](expected))


def test_map_helpers_stream_an_iterable_dataset(rows):
    ds = datasets.Dataset(rows)
    eager = assay.langid_rows(rows).column("lang").to_pylist()
    assert list(ds.map(assay.hf.langid, batched=True, batch_size=64)["lang"]) == eager
    streamed = ds.to_iterable_dataset(num_shards=2).map(assay.hf.langid, batched=True, batch_size=64)
    assert [r["lang"] for r in streamed] == eager
    stats = ds.with_format("arrow").map(assay.hf.text_stats, batched=True)
    assert stats.with_format("arrow")[:].select(["chars", "words"]).equals(assay.text_stats(rows).select(["chars", "words"]))
    reasons = ds.map(assay.hf.filters(["instruction"]), batched=True)["reason"]
    assert list(reasons) == assay.apply_filters(rows, ["instruction"]).column("reason").to_pylist()


def _whole(result):
    """A streamed result as one table (a RecordBatchReader's batches, or minhash's arrays)."""
    if isinstance(result, pa.RecordBatchReader):
        return result.read_all()
    if isinstance(result, pa.Table):
        return result
    return pa.table({"sig": np.concatenate(list(result)).tolist()})


@pytest.mark.parametrize("name", list(CALLS))
def test_an_iterable_dataset_gives_what_its_arrow_table_gives(rows, name, monkeypatch):
    monkeypatch.setattr(assay._data, "STREAM_BATCH_ROWS", 97)  # many batches, not a multiple of anything
    stream = datasets.Dataset(rows).to_iterable_dataset(num_shards=3)
    call = CALLS[name] if name != "minhash" else (lambda d: assay.minhash(d, num_perm=16))
    result = call(stream)
    expected = CALLS[name](rows)
    assert _whole(result).equals(expected)
    if name in ("near_duplicates", "exact_duplicates"):
        assert isinstance(result, pa.Table)  # the whole (small) dedup table
    elif name != "minhash":
        assert isinstance(result, pa.RecordBatchReader)


def test_a_stream_is_read_as_its_results_are_read(monkeypatch):
    """Results come batch by batch while the source is still being read: never held whole."""
    monkeypatch.setattr(assay._data, "STREAM_BATCH_ROWS", 10)
    produced = []

    def rows():
        for i in range(1000):
            produced.append(i)
            yield {"text": f"row number {i} of a long stream"}

    reader = assay.text_stats(datasets.IterableDataset.from_generator(rows))
    first = next(iter(reader))
    assert first.num_rows == 10 and len(produced) < 100
    assert sum(b.num_rows for b in reader) == 990 and len(produced) == 1000


def test_a_record_batch_reader_streams_too(rows):
    reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(max_chunksize=50))
    assert assay.langid_rows(reader).read_all().equals(assay.langid_rows(rows))
    reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(max_chunksize=50))
    assert assay.near_duplicates(reader, threshold=0.7).equals(assay.near_duplicates(rows, threshold=0.7))


def test_an_empty_stream_gives_an_empty_result_with_its_columns(rows):
    empty = datasets.Dataset(rows).to_iterable_dataset().filter(lambda row: False)
    assert assay.text_stats(empty).read_all().schema.equals(assay.text_stats(rows).schema)
    assert assay.near_duplicates(empty).num_rows == 0


def test_a_keep_policy_over_the_whole_data_is_refused_on_a_stream(rows):
    with pytest.raises(ValueError, match="a stream cannot revisit"):
        assay.near_duplicates(datasets.Dataset(rows).to_iterable_dataset(), keep="longest")


def test_the_notebook_example_runs(tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(sys, "argv", ["hf_datasets.py"])
    runpy.run_path(str(SAMPLES.parent / "examples" / "hf_datasets.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "1000 rows" in out and "kept " in out and "first streamed row: zh" in out
    assert "first result batch: 1000 rows" in out and "balances: True" in out
