"""Language identification with fastText's ``lid.176`` (or any fastText language model)."""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from assay._data import per_batch
from assay.fasttext_model import ModelLike, load_model

__all__ = ["langid"]


@per_batch
def langid(data: Any, *, column: str = "text", model: ModelLike = None, k: int = 1) -> pa.Table:
    """Identify the language of every row, in Rust on all threads.

    Returns a table with ``lang`` (the label without ``__label__``, e.g. ``zh``) and
    ``lang_score`` (its probability, float64); with ``k > 1`` also ``langs`` and
    ``scores``, the k best. Newlines are read as spaces (as datatrove does); null text
    gives nulls. ``model=None`` uses the bundled ``lid.176.ftz`` (fastText, CC BY-SA
    3.0, Facebook AI Research); a path or a :class:`assay.FastTextModel` uses that
    model. The predictions are those of the official fastText package.

    ``data``: a pyarrow Table/RecordBatch/Array/ChunkedArray, a polars
    DataFrame/Series, a ``datasets.Dataset``, a pandas DataFrame/Series or a list of str;
    for a stream (``datasets.IterableDataset``, ``pyarrow.RecordBatchReader``) the result
    is a ``pyarrow.RecordBatchReader``, one batch per input batch.

    >>> import assay
    >>> assay.langid(["这是一个句子。", "This is a sentence."]).column("lang").to_pylist()
    ['zh', 'en']
    >>> assay.langid(["Das ist gut"], k=2).column("langs").to_pylist()[0][0]
    'de'
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    table = load_model(model).predict_table(data, column=column, k=k, lists=k > 1)
    names = {"label": "lang", "score": "lang_score", "labels": "langs", "scores": "scores"}
    return table.rename_columns([names[n] for n in table.column_names])
