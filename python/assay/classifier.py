"""fastText text classifiers: train one with the official package, run it with assay.

Training uses the official ``fasttext`` Python package (an optional dependency:
``pip install fasttext-numpy2-wheel`` on Python 3.11 with NumPy 2, or ``fasttext``);
prediction never needs it: :class:`assay.FastTextModel` runs the saved model in Rust.

Building a quality classifier (curated vs. noisy instruction data)
-------------------------------------------------------------------
1. Put examples of the data you want (e.g. human-written, curated instructions such
   as LIMA / COIG-CQIA style data) under one label and examples of what you do not
   want (machine-generated noise, scraped boilerplate, broken or truncated answers)
   under another, in one table with a ``text`` and a ``label`` column.
2. Train, holding out a part for evaluation::

       model = assay.train_classifier(train, output="quality.bin",
                                      epoch=25, wordNgrams=2, verbose=0)
       labels, _ = model.predict(list(heldout["text"]))

3. Use it in a pipeline: the ``classify`` step adds ``label``/``score`` columns and
   removes what the keep rules reject::

       - classify:
           model: quality.bin
           keep: [curated]
           min_score: 0.5

A runnable version with the samples shipped in the repo is
``examples/quality_classifier.py``.
"""
from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from assay._data import _to_arrow_table_like, per_batch
from assay.fasttext_model import LABEL_PREFIX, FastTextModel, ModelLike, load_model

__all__ = ["classify", "train_classifier"]

_NO_FASTTEXT = (
    "train_classifier needs the optional `fasttext` package (the official fastText "
    "bindings), which is not installed. Install it with `pip install fasttext-numpy2-wheel` "
    "(Python 3.11 / NumPy 2) or `pip install fasttext`. Prediction does not need it."
)


def _label_token(value: Any) -> str:
    label = str(value).strip()
    if not label:
        raise ValueError("a label is empty")
    label = "_".join(label.split())
    return label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label


def _training_lines(table: pa.Table, text: str, label: str) -> list[str]:
    for name in (text, label):
        if name not in table.schema.names:
            raise KeyError(f"column {name!r} not found; the data has columns {table.schema.names}")
    lines = []
    for text_value, label_value in zip(table.column(text).to_pylist(), table.column(label).to_pylist()):
        if text_value is None or label_value is None:
            continue
        labels = label_value if isinstance(label_value, (list, tuple)) else [label_value]
        if not labels:
            continue
        tokens = " ".join(_label_token(v) for v in labels)
        lines.append(f"{tokens} {' '.join(str(text_value).split())}")
    if not lines:
        raise ValueError("no row has both a text and a label")
    return lines


def train_classifier(
    data: Any,
    *,
    text: str = "text",
    label: str = "label",
    output: str | os.PathLike,
    quantize: bool | dict[str, Any] = False,
    **fasttext_args: Any,
) -> FastTextModel:
    """Train a fastText supervised classifier and save it to ``output``.

    ``data`` is a table (pyarrow, polars or pandas) with a ``text`` column and a
    ``label`` column (a string, or a list of strings for several labels per row; the
    ``__label__`` prefix is added when missing). Whitespace, newlines included, is
    collapsed to single spaces, as fastText reads one example per line. Extra keyword
    arguments go to ``fasttext.train_supervised`` (``epoch``, ``lr``, ``wordNgrams``,
    ``dim``, ``loss``, ``minn``/``maxn``, ``verbose``...). ``quantize=True`` (or a dict of
    ``quantize`` arguments, e.g. ``{"cutoff": 10000, "retrain": True}``) writes a
    compressed ``.ftz``. Returns the saved model loaded as :class:`assay.FastTextModel`.

    Needs the optional ``fasttext`` package (``pip install fasttext-numpy2-wheel``).
    Training runs in a child process (retried up to 3 times when fastText stops with
    ``Encountered NaN``, which the 0.9.2 package does at random on small data sets).

    Example: tell human-written Chinese questions (BELLE) from English seed tasks
    (Alpaca), with the samples shipped in the repository:

    >>> import assay, json, os, tempfile, pyarrow as pa
    >>> from pathlib import Path
    >>> samples = Path(assay.__file__).resolve().parents[2] / "samples"
    >>> zh = [json.loads(l)["question"] for l in open(samples / "belle" / "eval_set.json", encoding="utf-8")]
    >>> en = [json.loads(l)["instruction"] for l in open(samples / "seed_tasks" / "alpaca_seed_tasks.jsonl")]
    >>> rows = pa.table({"text": zh + en, "label": ["belle"] * len(zh) + ["alpaca"] * len(en)})
    >>> path = os.path.join(tempfile.mkdtemp(), "source.bin")
    >>> model = assay.train_classifier(rows, output=path, epoch=10, verbose=0)
    >>> model.predict("请写一首关于春天的诗。")[0]
    ('__label__belle',)
    """
    try:
        import fasttext  # noqa: F401  (checked here, used in a child process)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_NO_FASTTEXT) from err
    table = _to_arrow_table_like(data)
    if table is None:
        raise TypeError(
            "train_classifier needs a table (pyarrow Table, polars or pandas DataFrame) "
            f"with {text!r} and {label!r} columns, got {type(data).__name__}"
        )
    lines = _training_lines(table, text, label)
    # The 0.9.2 wheel initialises only the first `thread` of ten blocks of the input
    # matrix at random; with fewer than 10 threads small models often diverge to NaN.
    fasttext_args = {"thread": 10, **fasttext_args}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    quantize_args = (dict(quantize) if isinstance(quantize, dict) else {}) if quantize else None
    with tempfile.TemporaryDirectory(prefix="assay-train-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        # Each attempt runs in a fresh process: the official 0.9.2 package sometimes
        # stops with "Encountered NaN" when it trains again in a process that has
        # trained before (state left behind in the C++ library).
        context = multiprocessing.get_context("spawn")
        for attempt in range(_ATTEMPTS):
            with context.Pool(1) as pool:
                try:
                    pool.apply(_train_in_child, (train_file, str(output), fasttext_args, quantize_args))
                    break
                except RuntimeError as err:
                    if "NaN" not in str(err) or attempt == _ATTEMPTS - 1:
                        raise RuntimeError(
                            f"fastText training failed: {err} (try a lower lr, or more data)"
                        ) from err
    return FastTextModel(output)


_ATTEMPTS = 3


def _train_in_child(
    train_file: str, output: str, fasttext_args: dict[str, Any], quantize_args: dict[str, Any] | None
) -> None:
    import fasttext

    model = fasttext.train_supervised(input=train_file, **fasttext_args)
    if quantize_args is not None:
        quantize_args.setdefault("input", train_file)
        model.quantize(**quantize_args)
    model.save_model(output)


@per_batch
def classify(
    data: Any,
    model: ModelLike,
    *,
    column: str = "text",
    k: int = 1,
    threshold: float = 0.0,
) -> pa.Table:
    """Run any fastText classifier over a text column (in Rust, on all threads).

    Returns ``label`` (without ``__label__``) and ``score`` of the best label, plus
    ``labels``/``scores`` lists when ``k > 1``. Newlines are read as spaces.

    >>> import assay
    >>> assay.classify(["bonjour à tous"], assay.LID176_PATH).column("label").to_pylist()
    ['fr']
    """
    return load_model(model).predict_table(data, column=column, k=k, threshold=threshold)
