"""assay's kernels as Polars expressions, for eager and lazy queries.

Each function takes an expression (or a column name) of texts and returns an expression:
a struct of the columns the matching :mod:`assay` function gives (``unnest`` it to get
them as columns), or for :func:`minhash` an ``Array`` of the signature::

    df.lazy().with_columns(assay.polars.langid(pl.col("text")).alias("lid")).unnest("lid")
    df.filter(assay.polars.filters("text", ["gopher_quality"]).struct.field("keep"))

>>> import polars as pl, assay
>>> df = pl.DataFrame({"text": ["这是一个中文句子。", "This is an English sentence."]})
>>> df.lazy().select(assay.polars.langid("text").struct.field("lang")).collect()["lang"].to_list()
['zh', 'en']

How it runs: ``Expr.map_batches`` hands the column to the Rust kernels through the Arrow
C stream interface, without copying, and the kernels run on all Rust threads with the GIL
released. The result type is declared, so a lazy query knows its schema before it runs,
and the per-row expressions are marked elementwise, so Polars' streaming engine may feed
them the column in pieces; the dedup expressions see the whole column (a row's result
depends on the rows before it). This is not a compiled expression plugin (``pyo3-polars``):
a plugin is built against one Polars release's ABI and pyo3-polars brings its own pyo3
(0.29 for pyo3-polars 0.28), while assay's extension is built on pyo3 0.30 with
pyo3-arrow; ``map_batches`` keeps assay working with whichever Polars (>= 1.10) it is
installed next to. The price is one Python call per batch, which is nothing next to the
kernels' work on a batch of texts.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["exact_duplicates", "filters", "langid", "minhash", "near_duplicates", "quality_signals",
           "text_stats"]


def _expr(texts: pl.Expr | str) -> pl.Expr:
    return pl.col(texts) if isinstance(texts, str) else texts


def _struct(compute: Callable[[pl.Series], pa.Table]) -> tuple[Callable[[pl.Series], pl.Series], pl.DataType]:
    """A batch function giving ``compute``'s table as one struct Series, and its dtype
    (from a run on no rows, so that a lazy query knows it before it runs)."""

    def run(series: pl.Series) -> pl.Series:
        return pl.DataFrame(pl.from_arrow(compute(series))).to_struct(series.name)

    return run, run(pl.Series("", [], dtype=pl.String)).dtype


def _per_row(texts: pl.Expr | str, compute: Callable[[pl.Series], pa.Table]) -> pl.Expr:
    run, dtype = _struct(compute)
    return _expr(texts).map_batches(run, return_dtype=dtype, is_elementwise=True)


def text_stats(texts: pl.Expr | str) -> pl.Expr:
    """A struct of :func:`assay.text_stats`'s columns (``chars``, ``words``, ...).

    >>> import polars as pl
    >>> pl.DataFrame({"t": ["你好 world"]}).select(text_stats("t").struct.field("words")).item()
    3
    """
    from assay.stats import text_stats as stats

    return _per_row(texts, stats)


def langid(texts: pl.Expr | str, *, model: Any = None, k: int = 1) -> pl.Expr:
    """A struct of :func:`assay.langid`'s columns: ``lang``, ``lang_score`` (and ``langs``,
    ``scores`` when ``k > 1``)."""
    from assay.langid import langid as lid

    return _per_row(texts, lambda series: lid(series, model=model, k=k))


def quality_signals(texts: pl.Expr | str, *, language: str = "en") -> pl.Expr:
    """A struct of :func:`assay.quality_signals`'s measures (what the filters decide on)."""
    from assay.quality import quality_signals as signals

    return _per_row(texts, lambda series: signals(series, language=language))


def filters(texts: pl.Expr | str, names: Sequence[str | tuple[str, dict]], *, language: str = "en") -> pl.Expr:
    """A struct of ``keep`` and ``reason`` (the first failing filter's, null when kept), as
    :func:`assay.apply_filters` decides.

    >>> import polars as pl
    >>> story = "The quick brown fox jumps over the lazy dog near the river bank. " * 5
    >>> df = pl.DataFrame({"text": ["word " * 3, story + "It was a sunny day and the children played."]})
    >>> df.select(filters("text", ["gopher_quality"]).struct.field("reason"))["reason"].to_list()
    ['gopher_short_doc', None]
    """
    from assay.quality import apply_filters

    specs = list(names)
    return _per_row(texts, lambda series: apply_filters(series, specs, language=language))


def minhash(texts: pl.Expr | str, *, num_perm: int = 128, seed: int = 1, scheme: str = "affine32",
            ngram: int = 5, unit: str = "auto") -> pl.Expr:
    """Each row's MinHash signature as an ``Array`` of ``num_perm`` values, equal to
    :func:`assay.minhash` (datasketch's ``hashvalues``).

    >>> import polars as pl
    >>> pl.DataFrame({"t": ["hello world"]}).select(minhash("t", num_perm=4)).to_series().dtype
    Array(UInt32, shape=(4,))
    """
    from assay.dedup import minhash as signatures

    dtype = pl.Array(pl.UInt32 if scheme == "affine32" else pl.UInt64, num_perm)

    def run(series: pl.Series) -> pl.Series:
        values = signatures(series, num_perm=num_perm, seed=seed, scheme=scheme, ngram=ngram, unit=unit)
        return pl.Series(series.name, np.ascontiguousarray(values), dtype=dtype)

    return _expr(texts).map_batches(run, return_dtype=dtype, is_elementwise=True)


def _whole_column(texts: pl.Expr | str, compute: Callable[[pl.Series], pa.Table]) -> pl.Expr:
    run, dtype = _struct(compute)
    return _expr(texts).map_batches(run, return_dtype=dtype, is_elementwise=False)


def near_duplicates(texts: pl.Expr | str, *, threshold: float = 0.8, keep: str = "first", **options: Any) -> pl.Expr:
    """A struct of ``cluster_id``, ``cluster_size`` and ``is_duplicate`` over the whole column,
    as :func:`assay.near_duplicates` (``keep``: ``first`` or ``longest``; ``options``: its
    other parameters). Keep a row with ``~expr.struct.field("is_duplicate")``.

    >>> import polars as pl
    >>> df = pl.DataFrame({"text": ["a b c d e f g h i j", "A b c d e f g h i j!", "other"]})
    >>> df.filter(~near_duplicates("text").struct.field("is_duplicate"))["text"].to_list()
    ['a b c d e f g h i j', 'other']
    """
    from assay.dedup import near_duplicates as near

    return _whole_column(texts, lambda series: near(series, threshold=threshold, keep=keep, **options))


def exact_duplicates(texts: pl.Expr | str, *, normalize: bool = True, keep: str = "first") -> pl.Expr:
    """A struct of ``cluster_id``, ``cluster_size`` and ``is_duplicate`` over the whole column,
    as :func:`assay.exact_duplicates` on that one key column."""
    from assay.dedup import exact_duplicates as exact

    return _whole_column(texts, lambda series: exact(series, normalize=normalize, keep=keep))
