"""assay.langid / assay.classify, the langid and classify steps, and train_classifier."""
from __future__ import annotations

import builtins
import gzip
import json
import pickle
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import assay
from assay.steps import STEPS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "langid" / "lingua_sentences_3000.jsonl.gz"


@pytest.fixture(scope="module")
def lingua() -> pa.Table:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return pa.Table.from_pylist(rows)


def test_bundled_model_and_attribution():
    assert assay.LID176_PATH.stat().st_size == 938_013
    notice = (assay.LID176_PATH.parent / "NOTICE.md").read_text()
    assert "CC BY-SA 3.0" in notice and "Facebook AI Research" in notice


def test_langid_accuracy_on_sample(lingua):
    out = assay.langid(lingua)
    assert out.column_names == ["lang", "lang_score"]
    assert out.schema.field("lang_score").type == pa.float64()
    predicted = out.column("lang").to_pylist()
    expected = [("no" if lang == "nb" else lang) for lang in lingua.column("lang").to_pylist()]
    accuracy = sum(p == e for p, e in zip(predicted, expected)) / len(expected)
    # lid.176 on these short web sentences: about 0.8 (see benchmarks/README.md).
    assert accuracy > 0.75, accuracy


def test_langid_inputs_agree(sample_texts):
    texts = sample_texts[:100] + [None, "", "two\nlines here"]
    expected = assay.langid(texts)
    assert expected.column("lang").to_pylist()[100] is None
    assert expected.column("lang").to_pylist()[101] == "en"  # the empty line is only `</s>`
    table = pa.table({"text": texts, "other": list(range(len(texts)))})
    for data in [table, table.to_batches()[0], pa.array(texts), pa.chunked_array([texts[:50], texts[50:]]),
                 pl.from_arrow(table), pl.Series(texts), table.to_pandas(), pd.Series(texts)]:
        assert assay.langid(data).equals(expected), type(data)
    assert assay.langid(table.rename_columns(["body", "other"]), column="body").equals(expected)


def test_langid_k_and_model_argument():
    texts = ["Hallo Welt", None]
    out = assay.langid(texts, k=3, model=assay.LID176_PATH)
    assert out.column_names == ["lang", "lang_score", "langs", "scores"]
    assert out.column("langs").to_pylist()[0][0] == "de" and len(out.column("scores").to_pylist()[0]) == 3
    assert out.column("langs").to_pylist()[1] is None
    same = assay.langid(texts, k=3, model=assay.FastTextModel(assay.LID176_PATH))
    assert same.equals(out)
    with pytest.raises(ValueError):
        assay.langid(texts, k=0)


def test_langid_step_rules():
    batch = pa.record_batch({"text": [
        "这是一个很好的中文句子，我们今天去公园散步。",
        "This is a perfectly ordinary English sentence about the weather.",
        "Ceci est une phrase française tout à fait ordinaire.",
        None,
    ]})
    out = STEPS["langid"](keep=["zh", "en"])(batch)
    assert out.column("lang").to_pylist()[:3] == ["zh", "en", "fr"]
    assert out.column("reason").to_pylist() == [None, None, "language", "language"]
    # Removed rows keep their tags.
    assert out.column("lang_score").to_pylist()[2] > 0.5
    # A per-language threshold above the English score removes English only.
    en_score = out.column("lang_score").to_pylist()[1]
    out = STEPS["langid"](thresholds={"en": min(1.0, en_score + 0.01)})(batch)
    assert out.column("reason").to_pylist() == [None, "language", None, None]
    out = STEPS["langid"](min_score=1.01, thresholds={"zh": 0.1})(batch)
    assert out.column("reason").to_pylist() == [None, "language", "language", "language"]
    # Tagging only: nothing removed.
    out = STEPS["langid"]()(batch)
    assert out.column("reason").to_pylist() == [None] * 4
    with pytest.raises(ValueError):
        STEPS["langid"](keep=["zh"], unknown=1)


def test_steps_pickle_and_keep_earlier_reasons():
    step = STEPS["langid"](keep=["en"])
    clone = pickle.loads(pickle.dumps(step))
    batch = pa.record_batch({"text": ["Guten Tag", "Good day to you all"], "reason": ["too_short", None]})
    out = clone(batch)
    assert out.column("reason").to_pylist() == ["too_short", None]


@pytest.fixture(scope="module")
def source_model(tmp_path_factory) -> Path:
    """A classifier trained by train_classifier: BELLE (zh) questions vs Alpaca seed tasks."""
    pytest.importorskip("fasttext")
    samples = ROOT / "samples"
    zh = [json.loads(line)["question"] for line in open(samples / "belle" / "eval_set.json", encoding="utf-8")]
    en = [json.loads(line)["instruction"] for line in open(samples / "seed_tasks" / "alpaca_seed_tasks.jsonl")]
    rows = pa.table({"text": zh + en + [None], "label": ["belle"] * len(zh) + ["alpaca"] * len(en) + ["x"]})
    path = tmp_path_factory.mktemp("clf") / "source.ftz"
    model = assay.train_classifier(rows, output=path, epoch=10, verbose=0, quantize={"cutoff": 5_000})
    assert model.quantized and sorted(model.labels) == ["__label__alpaca", "__label__belle"]
    return path


def test_train_classifier_and_classify(source_model):
    import fasttext

    texts = ["请写一首关于春天的诗。", "Write a poem about spring.", "Explain \nphotosynthesis.", None]
    out = assay.classify(texts, source_model)
    assert out.column("label").to_pylist()[:2] == ["belle", "alpaca"]
    assert out.column("label").to_pylist()[3] is None
    official = fasttext.load_model(str(source_model))
    labels, probs = official.predict([t.replace("\n", " ") for t in texts[:3]])
    assert out.column("label").to_pylist()[:3] == [row[0].removeprefix("__label__") for row in labels]
    assert out.column("score").to_pylist()[:3] == [float(p[0]) for p in probs]


def test_classify_step(source_model):
    batch = pa.record_batch({"text": ["请写一首关于春天的诗。", "Write a poem about spring."]})
    step = STEPS["classify"](model=str(source_model), keep=["belle"], label_column="src",
                             score_column="src_score", reason="not_belle")
    out = step(batch)
    assert out.column("src").to_pylist() == ["belle", "alpaca"]
    assert out.column("reason").to_pylist() == [None, "not_belle"]
    assert out.schema.field("src_score").type == pa.float64()


def test_train_classifier_multilabel_and_errors(tmp_path):
    pytest.importorskip("fasttext")
    with pytest.raises(KeyError):
        assay.train_classifier(pa.table({"text": ["a"]}), output=tmp_path / "m.bin")
    with pytest.raises(TypeError):
        assay.train_classifier(["a", "b"], output=tmp_path / "m.bin")


def test_train_classifier_without_fasttext(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "fasttext":
            raise ImportError("No module named 'fasttext'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install fasttext-numpy2-wheel"):
        assay.train_classifier(pa.table({"text": ["a"], "label": ["b"]}), output=tmp_path / "m.bin")
