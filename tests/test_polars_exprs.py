"""assay.polars expressions: eager, lazy and streaming queries give the pyarrow path's results."""
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import assay

from conftest import SAMPLES


@pytest.fixture(scope="module")
def texts() -> pl.DataFrame:
    """Real Chinese and English instruction texts and English news, with a null."""
    rows = pa.concat_tables([
        assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all().slice(0, 200),
        assay.read(str(SAMPLES / "flan_cot" / "*.json"), format="alpaca", source="f").read_all(),
        assay.read(SAMPLES / "web" / "reuters_sample.jsonl.gz", format="text", text_field=["title", "body"],
                   source="r").read_all(),
    ]).select(["text"])
    texts = rows.column("text").to_pylist()
    texts[7] = None
    texts[12] = texts[3]  # an exact copy
    return pl.DataFrame({"text": texts, "n": np.arange(len(texts))})


CASES = {
    "text_stats": (lambda: assay.polars.text_stats("text"), lambda t: assay.text_stats(t)),
    "langid": (lambda: assay.polars.langid(pl.col("text")), lambda t: assay.langid(t)),
    "langid k=2": (lambda: assay.polars.langid("text", k=2), lambda t: assay.langid(t, k=2)),
    "quality_signals": (lambda: assay.polars.quality_signals("text"), lambda t: assay.quality_signals(t)),
    "filters": (lambda: assay.polars.filters("text", ["gopher_repetition", "gopher_quality"], language="en"),
                lambda t: assay.apply_filters(t, ["gopher_repetition", "gopher_quality"], language="en")),
    "near_duplicates": (lambda: assay.polars.near_duplicates("text", threshold=0.7),
                        lambda t: assay.near_duplicates(t, threshold=0.7)),
    "near_duplicates longest": (lambda: assay.polars.near_duplicates("text", keep="longest"),
                                lambda t: assay.near_duplicates(t, keep="longest")),
    "exact_duplicates": (lambda: assay.polars.exact_duplicates("text"), lambda t: assay.exact_duplicates(t)),
}


def _as_table(struct: pl.Series) -> pa.Table:
    return struct.struct.unnest().to_arrow()


@pytest.mark.parametrize("name", list(CASES))
def test_an_expression_gives_what_the_function_gives(texts, name):
    expression, function = CASES[name]
    expected = pl.from_arrow(function(texts.to_arrow())).to_arrow()
    eager = texts.select(expression().alias("out"))["out"]
    assert _as_table(eager).equals(expected)
    query = texts.lazy().with_columns(expression().alias("out"))
    assert query.collect_schema()["out"] == eager.dtype  # declared before it runs
    lazy = query.filter(pl.col("n") >= 0).collect()["out"]
    assert _as_table(lazy).equals(expected)


@pytest.mark.parametrize("name", ["text_stats", "filters", "near_duplicates"])
def test_the_streaming_engine_gives_the_same(texts, name):
    expression, function = CASES[name]
    expected = pl.from_arrow(function(texts.to_arrow())).to_arrow()
    streamed = texts.lazy().select(expression().alias("out")).collect(engine="streaming")["out"]
    assert _as_table(streamed).equals(expected)


def test_minhash_is_the_signature_matrix(texts):
    signatures = texts.lazy().select(assay.polars.minhash("text", num_perm=32).alias("sig")).collect()["sig"]
    assert signatures.dtype == pl.Array(pl.UInt32, 32)
    assert np.array_equal(signatures.to_numpy(), assay.minhash(texts["text"].to_arrow(), num_perm=32))
    legacy = texts.head(5).select(assay.polars.minhash("text", num_perm=8, scheme="legacy"))["text"]
    assert np.array_equal(legacy.to_numpy(), assay.minhash(texts.head(5)["text"].to_list(), num_perm=8, scheme="legacy"))


def test_a_query_filters_on_the_expressions(texts):
    kept = (texts.lazy()
            .filter(~assay.polars.exact_duplicates("text").struct.field("is_duplicate"))
            .with_columns(assay.polars.langid("text").alias("lid")).unnest("lid")
            .filter(pl.col("lang") == "zh")
            .collect())
    langs = assay.langid(texts["text"].to_arrow()).column("lang").to_pylist()
    duplicate = assay.exact_duplicates(texts["text"].to_arrow()).column("is_duplicate").to_pylist()
    assert kept["n"].to_list() == [i for i, (lang, dup) in enumerate(zip(langs, duplicate)) if lang == "zh" and not dup]
    assert 12 not in kept["n"].to_list() and 3 in kept["n"].to_list()


def test_the_notebook_example_runs(monkeypatch, capsys):
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["polars_queries.py"])
    runpy.run_path(str(SAMPLES.parent / "examples" / "polars_queries.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "rows kept of" in out and "lang" in out
