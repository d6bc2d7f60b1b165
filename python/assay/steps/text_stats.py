"""``text_stats``: add the per-document statistics as columns."""
from __future__ import annotations

import pyarrow as pa

from assay.stats import TEXT_STATS_COLUMNS, text_stats
from assay.steps import Step, StepParams, register, set_column


class TextStatsParams(StepParams):
    column: str = "text"
    """The text column to measure."""


@register
class TextStatsStep(Step):
    """Adds ``chars``, ``bytes``, ``words``, ``lines`` and the character-class ratios."""

    name = "text_stats"
    Params = TextStatsParams

    def adds(self) -> tuple[str, ...]:
        return TEXT_STATS_COLUMNS

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        stats = text_stats(batch, column=self.params.column)
        for name in stats.schema.names:
            batch = set_column(batch, name, stats.column(name).combine_chunks())
        return batch
