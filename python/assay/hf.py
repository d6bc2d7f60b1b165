"""assay's kernels inside Hugging Face ``datasets``: functions for ``Dataset.map(batched=True)``.

Every function of :mod:`assay` that takes data also takes a ``datasets.Dataset`` directly
(its Arrow table, zero-copy; an active ``select``/``filter`` is applied) and a
``datasets.IterableDataset``, which it reads batch by batch and never holds whole (a
per-row result is then a ``pyarrow.RecordBatchReader``; see :mod:`assay._data`).
``assay.run_pipeline(config, inputs={source: ds})`` runs a pipeline on a Dataset.

To add assay's columns to a dataset, map these functions over it (a Dataset or an
IterableDataset alike). Each takes a batch (the dict of lists that ``map`` passes, or a
``pyarrow.Table`` under ``with_format("arrow")``) and returns the new columns::

    ds = ds.map(assay.hf.langid, batched=True)                     # lang, lang_score, ...
    ds = ds.map(assay.hf.text_stats, batched=True)                 # chars, words, ...
    ds = ds.map(assay.hf.filters(["gopher_quality"]), batched=True)  # reason (null: kept)
    ds = ds.filter(lambda batch: [r is None for r in batch["reason"]], batched=True)

>>> import datasets, assay
>>> ds = datasets.Dataset.from_dict({"text": ["这是一个中文句子。", "This is an English sentence."]})
>>> list(ds.map(assay.hf.langid, batched=True)["lang"])
['zh', 'en']
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pyarrow as pa

__all__ = ["filters", "langid", "text_stats"]


def _table(batch: Any) -> pa.Table:
    if isinstance(batch, (pa.Table, pa.RecordBatch)):
        return batch
    if isinstance(getattr(batch, "pa_table", None), pa.Table):  # datasets' LazyBatch: its Arrow rows, zero-copy
        return batch.pa_table
    if isinstance(batch, Mapping):
        return pa.table(dict(batch))
    raise TypeError(f"expected the batch that Dataset.map(batched=True) passes (a dict or a pyarrow.Table), "
                    f"got {type(batch).__name__}")


def _columns(result: pa.Table, batch: Any) -> Any:
    """The new columns in the batch's own form (a table for an Arrow batch, else a dict of lists)."""
    return result if isinstance(batch, (pa.Table, pa.RecordBatch)) else result.to_pydict()


def langid(batch: Any, column: str = "text") -> Any:
    """The language columns of :func:`assay.langid_rows` (the ``langid`` step's rules)."""
    from assay.content_langid import langid_rows

    return _columns(langid_rows(_table(batch), column=column), batch)


def text_stats(batch: Any, column: str = "text") -> Any:
    """The columns of :func:`assay.text_stats`."""
    from assay.stats import text_stats as stats

    return _columns(stats(_table(batch), column=column), batch)


@dataclass(frozen=True)
class _Filters:
    names: tuple
    column: str
    language: str

    def __call__(self, batch: Any) -> Any:
        from assay.quality import apply_filters

        reasons = apply_filters(_table(batch), list(self.names), column=self.column, language=self.language)
        return _columns(reasons.select(["reason"]), batch)


def filters(names: Sequence[str | tuple[str, dict]], *, column: str = "text",
            language: str = "auto") -> Callable[[Any], Any]:
    """A function for ``map`` that adds ``reason`` from :func:`assay.apply_filters` (null: kept).
    It pickles, so ``datasets`` can fingerprint and cache the map."""
    return _Filters(tuple(names), column, language)
