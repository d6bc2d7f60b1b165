"""``exact_dedup`` and ``near_dedup``: remove duplicates across the whole run.

Both are global steps (:attr:`assay.steps.Step.kind`). Each step object keeps its index
for the life of the run, so a row is compared with every row of earlier batches; the first
row of a cluster in row-key order survives. Only rows not yet removed (``reason`` null)
are indexed; duplicates get reason ``exact_duplicate`` / ``near_duplicate``. Every indexed
row gets ``cluster_id`` (int64: the survivor's ``row_key`` when the batch has that column,
as in a pipeline; else the survivor's number among the rows this step has indexed,
counted from 0 across batches, or from the end of a loaded index) and ``cluster_size``
(the cluster's size when the row joined it: 1 for a survivor, so the largest value in
a step's rejects for a ``cluster_id`` is that cluster's final size, which is what the
report draws); rows removed earlier keep the values they had.
"""
from __future__ import annotations

from pathlib import Path

from typing import ClassVar, Literal, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from assay.dedup import KEY_FIELDS, DedupIndex, ExactDedupIndex, key_columns, key_text
from assay.steps import REASON, ROW_KEY, Step, StepParams, mark_removed, register, set_column

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
    threshold: float = Field(0.8, ge=0.0, le=1.0)
    """Estimated Jaccard similarity at which two rows are near duplicates."""
    num_perm: Optional[int] = Field(None, ge=1)
    bands: Optional[int] = Field(None, ge=1)
    rows: Optional[int] = Field(None, ge=1)
    ngram: int = Field(5, ge=1)
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


def _exact_key_batch(batch: pa.RecordBatch, key: str, column: str | None) -> pa.Table:
    """The key fields as separate columns ``k0, k1, ...``: the Rust key frames each one."""
    fields = [batch.column(column)] if column is not None else key_columns(batch, key)
    return pa.table({f"k{i}": f for i, f in enumerate(fields)})


CLUSTER_COLUMNS = ("cluster_id", "cluster_size")


def _apply(batch: pa.RecordBatch, pending: pa.Array, result: pa.Table, reason: str) -> pa.RecordBatch:
    """Scatter the pending rows' results back into the batch; other rows keep what they had."""
    positions = np.flatnonzero(pending.to_numpy(zero_copy_only=False))
    for name in CLUSTER_COLUMNS:
        values = np.full(batch.num_rows, -1, dtype=np.int64)
        valid = np.zeros(batch.num_rows, dtype=bool)
        if name in batch.schema.names:
            previous = batch.column(name).cast(pa.int64())
            values = pc.fill_null(previous, -1).to_numpy(zero_copy_only=False).copy()
            valid = pc.is_valid(previous).to_numpy(zero_copy_only=False).copy()
        values[positions] = result.column(name).to_numpy()
        valid[positions] = True
        batch = set_column(batch, name, pa.array(values, pa.int64(), mask=~valid))
    duplicate = np.zeros(batch.num_rows, dtype=bool)
    duplicate[positions] = result.column("is_duplicate").to_numpy(zero_copy_only=False)
    return mark_removed(batch, pa.array(duplicate), reason)


class _IndexedDedupStep(Step):
    """What both dedup steps share: an index carried across batches (and saved for ``--resume``)."""

    kind = "global"
    reason: ClassVar[str]
    index_file: ClassVar[str]
    index: ExactDedupIndex | DedupIndex

    def adds(self) -> tuple[str, ...]:
        return CLUSTER_COLUMNS

    def _load_index(self, path: Path) -> ExactDedupIndex | DedupIndex:  # pragma: no cover - abstract
        raise NotImplementedError

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        return _key_batch(batch, self.params.key, self.params.column)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        pending = _pending(batch)
        rows = batch.filter(pending)
        row_keys = rows.column(ROW_KEY) if ROW_KEY in rows.schema.names else None
        result = self.index.add(self.keys(rows), row_keys=row_keys)
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
        self.index = ExactDedupIndex(columns=self._columns(), normalize=self.params.normalize)

    def _columns(self) -> list[str]:
        fields = 1 if self.params.column is not None else len(KEY_FIELDS[self.params.key])
        return [f"k{i}" for i in range(fields)]

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        return _exact_key_batch(batch, self.params.key, self.params.column)

    def _load_index(self, path: Path) -> ExactDedupIndex:
        return ExactDedupIndex.load(path, columns=self._columns(), normalize=self.params.normalize)


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
