"""``exact_dedup`` and ``near_dedup``: remove duplicates across the whole run.

Each step object keeps its index for the life of the run, so a row is compared with
every row of earlier batches. Only rows not yet removed (``reason`` null) are indexed;
duplicates get reason ``exact_duplicate`` / ``near_duplicate``. Every indexed row gets
``cluster_id`` (int64: the survivor's number among the rows this step has indexed,
counted from 0 across batches, or from the end of a loaded index); rows removed earlier
keep the ``cluster_id`` they had.
"""
from __future__ import annotations

from pathlib import Path

from typing import ClassVar, Literal, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.dedup import DedupIndex, ExactDedupIndex, key_text
from assay.steps import REASON, Step, StepParams, mark_removed, register, set_column

Key = Literal["text", "prompt", "prompt_response", "messages"]


class ExactDedupParams(StepParams):
    key: Key = "text"
    """What makes two rows the same: ``text``, ``prompt`` (instruction + input),
    ``prompt_response`` (+ output) or ``messages``; rows lacking the key's fields use text."""
    column: Optional[str] = None
    """Key on this column instead of ``key``."""
    normalize: bool = True
    """NFKC, lowercase, fold punctuation and white space before hashing."""


class NearDedupParams(StepParams):
    key: Key = "text"
    column: Optional[str] = None
    threshold: float = 0.8
    num_perm: Optional[int] = None
    bands: Optional[int] = None
    rows: Optional[int] = None
    ngram: int = 5
    unit: Literal["word", "char", "auto"] = "auto"
    verify: bool = True
    seed: int = 1
    load_index: Optional[str] = None
    """Start from an index saved by an earlier run: new rows are also deduplicated against it."""
    save_index: Optional[str] = None
    """Save the index here when the run finishes (``finish()``)."""


def _pending(batch: pa.RecordBatch) -> pa.Array:
    if REASON not in batch.schema.names:
        return pa.array(np.ones(batch.num_rows, dtype=bool))
    return pc.is_null(batch.column(REASON))


def _key_batch(batch: pa.RecordBatch, key: str, column: str | None) -> pa.Table:
    texts = batch.column(column) if column is not None else key_text(batch, key)
    return pa.table({"text": texts})


def _apply(batch: pa.RecordBatch, pending: pa.Array, result: pa.Table, reason: str) -> pa.RecordBatch:
    """Scatter the pending rows' results back into the batch."""
    pending_np = pending.to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(pending_np)
    cluster_id = np.full(batch.num_rows, -1, dtype=np.int64)
    if "cluster_id" in batch.schema.names:
        previous = batch.column("cluster_id").cast(pa.int64())
        cluster_id = pc.fill_null(previous, -1).to_numpy(zero_copy_only=False).copy()
        had = pc.is_valid(previous).to_numpy(zero_copy_only=False)
    else:
        had = np.zeros(batch.num_rows, dtype=bool)
    duplicate = np.zeros(batch.num_rows, dtype=bool)
    cluster_id[positions] = result.column("cluster_id").to_numpy()
    duplicate[positions] = result.column("is_duplicate").to_numpy(zero_copy_only=False)
    valid = had.copy()
    valid[positions] = True
    batch = set_column(batch, "cluster_id", pa.array(cluster_id, pa.int64(), mask=~valid))
    return mark_removed(batch, pa.array(duplicate), reason)


class _IndexedDedupStep(Step):
    """What both dedup steps share: an index carried across batches (and saved for ``--resume``)."""

    reason: ClassVar[str]
    index_file: ClassVar[str]
    index: ExactDedupIndex | DedupIndex

    def _load_index(self, path: Path) -> ExactDedupIndex | DedupIndex:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        pending = _pending(batch)
        keys = _key_batch(batch.filter(pending), self.params.key, self.params.column)
        result = self.index.add(keys)
        return _apply(batch, pending, result, self.reason)

    def save_state(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.index.save(folder / self.index_file)

    def load_state(self, folder: Path) -> None:
        self.index = self._load_index(folder / self.index_file)


@register
class ExactDedupStep(_IndexedDedupStep):
    """Removes rows whose (normalized) key was seen before in the run (reason ``exact_duplicate``)."""

    name = "exact_dedup"
    Params = ExactDedupParams
    reason = "exact_duplicate"
    index_file = "exact.idx"

    def __init__(self, params: StepParams | None = None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.index = ExactDedupIndex(normalize=self.params.normalize)

    def _load_index(self, path: Path) -> ExactDedupIndex:
        return ExactDedupIndex.load(path, normalize=self.params.normalize)


@register
class NearDedupStep(_IndexedDedupStep):
    """Removes near-duplicates of rows seen before in the run (MinHash LSH, reason ``near_duplicate``)."""

    name = "near_dedup"
    Params = NearDedupParams
    reason = "near_duplicate"
    index_file = "near.idx"

    def __init__(self, params: StepParams | None = None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        p = self.params
        if p.load_index:
            self.index = DedupIndex.load(p.load_index)
        else:
            self.index = DedupIndex(
                threshold=p.threshold, num_perm=p.num_perm, bands=p.bands, rows=p.rows,
                ngram=p.ngram, unit=p.unit, verify=p.verify, seed=p.seed,
            )

    def _load_index(self, path: Path) -> DedupIndex:
        return DedupIndex.load(path)

    def finish(self) -> None:
        """Save the index when ``save_index`` is set (the runner calls this once the run is over)."""
        if self.params.save_index:
            self.index.save(self.params.save_index)
