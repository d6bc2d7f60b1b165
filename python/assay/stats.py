"""Per-document text statistics (the ``text_stats`` kernel)."""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from assay import _core
from assay._data import column_of, per_batch

__all__ = ["TEXT_STATS_COLUMNS", "text_stats"]

TEXT_STATS_COLUMNS = ("chars", "bytes", "words", "lines", "cjk_ratio", "alpha_ratio", "digit_ratio",
                      "whitespace_ratio")
"""The columns of :func:`text_stats`, in order."""


@per_batch
def text_stats(data: Any, column: str = "text") -> pa.Table:
    """Per-row statistics of a text column, computed in Rust on all threads.

    Columns: ``chars``, ``bytes``, ``words`` (Unicode UAX #29 words; every CJK
    ideograph counts as one word), ``lines``, ``cjk_ratio``, ``alpha_ratio``,
    ``digit_ratio``, ``whitespace_ratio`` (int64 counts, float64 ratios over code
    points). Null text gives null stats; the empty text gives zeros.

    ``data``: a pyarrow Table/RecordBatch/Array/ChunkedArray, a polars
    DataFrame/Series, a ``datasets.Dataset``, a pandas DataFrame/Series or a list of str;
    for a stream (``datasets.IterableDataset``, ``pyarrow.RecordBatchReader``) the result
    is a ``pyarrow.RecordBatchReader``, one batch per input batch.

    >>> import assay
    >>> assay.text_stats(["你好 world"]).to_pylist()[0]["words"]
    3
    """
    return _core.text_stats(column_of(data, column))
