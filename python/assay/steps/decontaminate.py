"""``decontaminate``: rows holding evaluation items, dropped or cut (:mod:`assay.contamination`).

The index is built once, when the pipeline is loaded, from ``eval`` (built-in sets by name:
``gaokao-bench``, ``belle-eval``; paths of ``{"id", "text"}`` JSON Lines; or
``{path, format, source, fields}`` in any format assay reads) and/or loaded from ``index``
(a file :meth:`ContaminationIndex.save` wrote). Every row's ``text`` is checked; the step
adds ``contam_ngrams``, ``contam_fraction`` and ``contam_eval_id``.

A row is contaminated when its ``contam_fraction`` is at least ``min_fraction``.

- ``action: drop`` (the default) removes the contaminated rows, with reason ``contaminated``;
  the rejects keep ``contam_eval_id``.
- ``action: redact`` cuts, from those rows, every matched n-gram and ``margin`` tokens either
  side out of each text field (as lm-eval-harness's Janitor cuts its 13-grams) and adds
  ``contam_cut``, the fraction of the row's ``text`` cut (0 for the other rows); a row losing
  more than ``max_cut`` of it is removed as ``contaminated``.
- ``action: tag`` only adds the columns (filter on them later with ``select``).
"""
from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from assay.contamination import ContaminationIndex, EvalSet, contamination, redact_contamination
from assay.steps import Step, StepParams, mark_removed, register, set_column
from assay.steps.normalize import map_text_fields


class DecontaminateParams(StepParams):
    eval: list[str | EvalSet] = []
    """Eval sets: built-in names, paths (``format: text``), or ``{path, format, source, fields}``."""
    index: str | None = None
    """A saved index (local path or bucket URL), used with or instead of ``eval``."""
    ngram: int = Field(13, ge=1, le=64)
    unit: Literal["auto", "word"] = "auto"
    min_fraction: float = Field(0.5, gt=0.0, le=1.0)
    """The share of one eval item's n-grams a row must hold to be contaminated."""
    action: Literal["drop", "redact", "tag"] = "drop"
    margin: int | None = Field(None, ge=0)
    """``redact``: tokens cut on each side of a matched n-gram; ``ngram`` by default (an edit
    inside a copied item breaks up to ``ngram`` n-grams, and this closes the gap)."""
    max_cut: float = Field(0.5, ge=0.0, le=1.0)
    """``redact``: a row losing more than this share of its text is removed instead."""

    @model_validator(mode="after")
    def _has_eval(self) -> DecontaminateParams:
        if not self.eval and self.index is None:
            raise ValueError("decontaminate needs eval sets (eval: [...]) or a saved index (index: path)")
        return self


def _merged_index(params: DecontaminateParams) -> ContaminationIndex:
    if params.index is not None and not params.eval:
        index = ContaminationIndex.load(params.index)
        if (index.ngram, index.unit) != (params.ngram, params.unit):
            raise ValueError(f"index {params.index} was built with ngram={index.ngram}, unit={index.unit!r}; "
                             f"the step says ngram={params.ngram}, unit={params.unit!r}")
        return index
    if params.index is not None:
        raise ValueError("give either eval sets or a saved index, not both (build one index of all "
                         "the sets with assay.ContaminationIndex.build and save it)")
    return ContaminationIndex.build(list(params.eval), ngram=params.ngram, unit=params.unit)


@register
class DecontaminateStep(Step):
    """Checks every row against the n-grams of evaluation items and drops, cuts or tags it.

    >>> import pyarrow as pa
    >>> step = DecontaminateStep(eval=["belle-eval"])
    >>> item = "请你写出一个可以生成五个不同随机数的 Python 程序。"  # the first BELLE eval question
    >>> out = step(pa.record_batch({"text": [item, "一段与评测无关的训练文本，讲的是如何烤面包。"]}))
    >>> out.column("reason").to_pylist(), out.column("contam_eval_id").to_pylist()
    (['contaminated', None], ['belle-eval:eval_set.json:0', None])
    """

    name = "decontaminate"
    Params = DecontaminateParams

    def __init__(self, params: StepParams | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.index = _merged_index(self.params)

    def adds(self) -> tuple[str, ...]:
        found = ("contam_ngrams", "contam_fraction", "contam_eval_id")
        return found + ("contam_cut",) if self.params.action == "redact" else found

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        hits = contamination(batch.column("text"), self.index)
        for name in ("contam_ngrams", "contam_fraction", "contam_eval_id"):
            batch = set_column(batch, name, hits.column(name).combine_chunks())
        if p.action == "drop":
            batch = mark_removed(batch, pc.greater_equal(batch.column("contam_fraction"), p.min_fraction),
                                 "contaminated")
        elif p.action == "redact":
            flagged = pc.greater_equal(batch.column("contam_fraction"), p.min_fraction)
            batch = map_text_fields(batch, lambda values, rows: self._cut(values, pc.take(flagged, rows)),
                                    skip=("text",), with_rows=True)
            text = batch.column("text")
            redacted = redact_contamination(_only(text, flagged), self.index, margin=p.margin)
            cut_text = redacted.column("text").combine_chunks().cast(text.type)
            batch = set_column(batch, "text", pc.if_else(flagged, cut_text, text))
            cut_share = pc.if_else(flagged, redacted.column("contam_cut").combine_chunks(), 0.0)
            batch = set_column(batch, "contam_cut", cut_share)
            batch = mark_removed(batch, pc.greater(cut_share, p.max_cut), "contaminated")
        return batch

    def _cut(self, values: pa.Array, flagged: pa.Array) -> pa.Array:
        cut = redact_contamination(_only(values, flagged), self.index, margin=self.params.margin)
        return pc.if_else(flagged, cut.column("text").combine_chunks().cast(values.type), values)


def _only(values: pa.Array, flagged: pa.Array) -> pa.Array:
    """``values`` where ``flagged``, else null (so the kernel skips the other rows)."""
    return pc.if_else(flagged, values, pa.scalar(None, values.type))
