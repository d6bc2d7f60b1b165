"""Hugging Face datasets as input: the same results as the equivalent pyarrow table."""
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
    with pytest.raises(TypeError, match="IterableDataset is read batch by batch"):
        assay.text_stats(ds.to_iterable_dataset())
    stats = ds.with_format("arrow").map(assay.hf.text_stats, batched=True)
    assert stats.with_format("arrow")[:].select(["chars", "words"]).equals(assay.text_stats(rows).select(["chars", "words"]))
    reasons = ds.map(assay.hf.filters(["instruction"]), batched=True)["reason"]
    assert list(reasons) == assay.apply_filters(rows, ["instruction"]).column("reason").to_pylist()


def test_the_notebook_example_runs(tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(sys, "argv", ["hf_datasets.py"])
    runpy.run_path(str(SAMPLES.parent / "examples" / "hf_datasets.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "1000 rows" in out and "kept " in out and "first streamed row: zh" in out
