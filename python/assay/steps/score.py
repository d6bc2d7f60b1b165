"""``score``: indicator columns for data selection (:mod:`assay.selection`).

``score: {indicators: [len_response, mtld, ppl, ifd], model: smollm2-135m-instruct}`` adds one
column per indicator and ``score_reason`` (why a row has nulls). Rows are scored batch by batch,
so ``knn_k`` (which compares each row with the whole pool) is not a step indicator: compute it
on the shards with :func:`assay.indicators`. The model loads once per process, on the GPU when
there is one.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field, field_validator

from assay.selection.indicators import INDICATORS, indicators
from assay.selection.models import DEFAULT_SCORING_MODEL
from assay.steps import Step, StepParams, register, set_column


class ScoreParams(StepParams):
    indicators: list[str] = ["len_prompt", "len_response", "mtld"]
    model: str = DEFAULT_SCORING_MODEL
    """The scoring model: a packaged name, a .gguf file, a model folder or an assay checkpoint."""
    template: str = "chatml"
    """How rows are rendered for the model (the trainer's ``data.template`` values)."""
    reward_model: str | None = None
    max_length: int = Field(2048, gt=0)
    batch_size: int = Field(8, gt=0)
    device: str = "auto"

    @field_validator("indicators")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(INDICATORS))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; expected some of {list(INDICATORS)}")
        if "knn_k" in value:
            raise ValueError("knn_k compares each row with the whole pool, not one batch: compute it on the "
                             "shards with assay.indicators(...)")
        return value


@register
class ScoreStep(Step):
    """Adds indicator columns (removes nothing).

    >>> import pyarrow as pa
    >>> batch = pa.record_batch({"kind": ["instruction"], "instruction": ["Hi"], "output": ["Hello there, friend."],
    ...                          "text": ["Hi\\n\\nHello there, friend."]})
    >>> ScoreStep(indicators=["mtld"])(batch).column("mtld").to_pylist()
    [3.0]
    """

    name = "score"
    Params = ScoreParams

    def adds(self) -> tuple[str, ...]:
        names: list[str] = []
        for name in dict.fromkeys(self.params.indicators):
            names.append(name)
            if name in ("len_prompt", "len_response"):
                names.append(f"{name}_chars")
        return (*names, "score_reason")

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        scored = indicators(pa.Table.from_batches([batch]), p.indicators, model=p.model, template=p.template,
                            reward_model=p.reward_model, max_length=p.max_length, batch_size=p.batch_size,
                            device=p.device)
        for name in self.adds():
            column: Any = scored.column(name).combine_chunks()
            if name in ("len_prompt", "len_response", "len_prompt_chars", "len_response_chars"):
                column = column.cast(pa.int64())
            elif name == "score_reason":
                column = column.cast(pa.string())
            else:
                column = column.cast(pa.float64())
            batch = set_column(batch, name, column)
        return batch
