import unicodedata

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import assay

TEXTS = ["你好 world", "", None, "line one\nline two\n", "١٢٣ abc É", "  \t\n", "日本語のテキストです。カタカナ"]


def _python_reference(text: str) -> dict:
    """The character-class definitions, written independently with unicodedata."""
    n = len(text)
    ratio = lambda k: k / n if n else 0.0  # noqa: E731
    return {
        "chars": n,
        "bytes": len(text.encode("utf-8")),
        "alpha_ratio": ratio(sum(unicodedata.category(c).startswith("L") for c in text)),
        "digit_ratio": ratio(sum(unicodedata.category(c) == "Nd" for c in text)),
        "whitespace_ratio": ratio(sum(c.isspace() and c not in "\x1c\x1d\x1e\x1f" for c in text)),
    }


def test_mixed_script_example():
    row = assay.text_stats(["你好 world"]).to_pylist()[0]
    assert row == {
        "chars": 8, "bytes": 12, "words": 3, "lines": 1, "cjk_ratio": 0.25,
        "alpha_ratio": 0.875, "digit_ratio": 0.0, "whitespace_ratio": 0.125,
    }


def test_null_text_gives_null_stats():
    rows = assay.text_stats(["a", None]).to_pylist()
    assert rows[1] == {k: None for k in rows[0]}
    assert assay.text_stats([None, None]).num_rows == 2


def test_same_result_for_every_input_type():
    expected = assay.text_stats(TEXTS)
    table = pa.table({"text": TEXTS, "other": list(range(len(TEXTS)))})
    inputs = [
        pa.array(TEXTS),
        pa.array(TEXTS, type=pa.large_string()),
        pa.array(TEXTS, type=pa.string_view()),
        pa.chunked_array([TEXTS[:3], TEXTS[3:]]),
        table,
        table.to_batches()[0],
        pl.Series(TEXTS),
        pl.DataFrame({"text": TEXTS}),
        pl.DataFrame({"text": TEXTS}).lazy(),
        pd.Series(TEXTS),
        pd.DataFrame({"text": TEXTS}),
    ]
    for data in inputs:
        got = assay.text_stats(data)
        assert got.to_pylist() == expected.to_pylist(), type(data)


def test_column_argument_and_errors():
    table = pa.table({"body": ["x y"]})
    assert assay.text_stats(table, column="body").column("words").to_pylist() == [2]
    with pytest.raises(KeyError, match="column 'text' not found"):
        assay.text_stats(table)
    with pytest.raises(ValueError, match="needs a string column, got Arrow type Int64"):
        assay.text_stats(pa.table({"text": [1, 2]}))
    with pytest.raises(TypeError, match="single str"):
        assay.text_stats("not a list")
    with pytest.raises(TypeError, match="item 1 is int"):
        assay.text_stats(["ok", 3])


def test_character_classes_match_unicodedata(sample_texts):
    got = assay.text_stats(sample_texts).to_pylist()
    for text, row in zip(sample_texts, got):
        ref = _python_reference(text)
        for key, value in ref.items():
            assert row[key] == pytest.approx(value), (key, text[:80])


def test_words_count_each_ideograph():
    rows = assay.text_stats(["我爱北京天安门", "Hello, world! It's 3.14.", "한국어 문장입니다"]).to_pylist()
    assert [r["words"] for r in rows] == [7, 4, 2]


THREADS_SCRIPT = """
import hashlib, sys, pyarrow as pa, assay
texts = [f"doc {i} 文{i} " * (i % 7) for i in range(20_000)]
out = assay.text_stats(pa.chunked_array([texts[:7000], texts[7000:]]))
sink = pa.BufferOutputStream()
with pa.ipc.new_stream(sink, out.schema) as writer:
    writer.write_table(out)
print(assay.thread_count(), hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest())
"""


def test_chunks_follow_input_and_threads_give_same_answer():
    texts = [f"doc {i} 文{i} " * (i % 7) for i in range(20_000)]
    chunked = pa.chunked_array([texts[:7000], texts[7000:]])
    out = assay.text_stats(chunked)
    assert [len(b) for b in out.to_batches()] == [7000, 13000]
    assert np.array_equal(out.column("chars").to_numpy(), np.array([len(t) for t in texts]))
    # The pool is sized once per process: compare fresh processes on 1, 2 and 4 threads.
    import os
    import subprocess
    import sys

    results = set()
    for threads in (1, 2, 4):
        env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
        line = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], env=env, capture_output=True, text=True,
                              check=True).stdout.split()
        assert line[0] == str(threads)
        results.add(line[1])
    assert len(results) == 1


def test_panic_becomes_python_exception():
    with pytest.raises(assay.RustPanic, match="boom from a worker"):
        assay._core._panic_for_tests("boom from a worker")
    assert isinstance(assay.RustPanic("x"), RuntimeError)
    # The interpreter and the pool still work afterwards.
    assert assay.text_stats(["still alive"]).column("words").to_pylist() == [2]
