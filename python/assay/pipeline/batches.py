"""Running steps over one batch, as every executor does: split off removed rows, count.

A step marks rows for removal in ``reason``; :func:`split_removed` takes them out of the
stream, and :class:`StepRunner` applies a list of steps in order, counting rows in and out,
time and removals by reason per step (:class:`assay.manifest.StepCounts`).
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from assay.manifest import StepCounts
from assay.steps import REASON, Step

__all__ = ["StepRunner", "split_removed"]


def split_removed(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    """``(kept, removed)``: rows with a null ``reason`` (without that column) and the others
    (with it; None when there are none).

    >>> kept, removed = split_removed(pa.record_batch({"text": ["a", "b"], "reason": [None, "short"]}))
    >>> kept.column_names, removed.column("text").to_pylist()
    (['text'], ['b'])
    """
    if REASON not in batch.schema.names:
        return batch, None
    reason = batch.column(REASON)
    if reason.null_count == batch.num_rows:
        return batch.drop_columns([REASON]), None
    kept_mask = pc.is_null(reason)
    kept = batch.filter(kept_mask).drop_columns([REASON])
    removed = batch.filter(pc.invert(kept_mask))
    return kept, removed


class StepRunner:
    """Applies the steps to a batch and splits off removed rows, counting as it goes."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def counters(self) -> list[StepCounts]:
        """Fresh counts, one per step."""
        return [StepCounts(step=s.name, columns=list(s.adds())) for s in self.steps]

    def __call__(self, batch: pa.RecordBatch, counters: list[StepCounts],
                 on_removed: Callable[[int, pa.RecordBatch], None]) -> pa.RecordBatch:
        """The kept rows of ``batch`` after every step; ``on_removed(step_index, rows)``
        receives each step's removed rows (with their ``reason``)."""
        for index, (step, counter) in enumerate(zip(self.steps, counters)):
            if batch.num_rows == 0:
                break
            counter.rows_in += batch.num_rows
            s0 = time.perf_counter()
            batch, removed = split_removed(step(batch))
            counter.seconds += time.perf_counter() - s0
            if removed is not None:
                for reason, n in Counter(removed.column(REASON).to_pylist()).items():
                    counter.removed[reason] = counter.removed.get(reason, 0) + n
                on_removed(index, removed)
            counter.rows_out += batch.num_rows
        return batch
