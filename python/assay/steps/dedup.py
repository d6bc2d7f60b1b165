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

from assay import _core
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
    scheme: Literal["affine32", "xxh3"] = "affine32"
    """``affine32``: datasketch's signatures (SHA-1 of each shingle); ``xxh3``: XXH3 of each
    shingle, the same permutations, several times faster, not datasketch-compatible."""
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


DECISION_SCHEMA = pa.schema([(ROW_KEY, pa.int64()), ("cluster_id", pa.int64()), ("cluster_size", pa.int64()),
                             ("is_duplicate", pa.bool_())])
"""A global step's decisions for the rows of one group: what :meth:`_IndexedDedupStep.apply`
scatters back into a batch."""


class _IndexedDedupStep(Step):
    """What both dedup steps share: an index carried across batches (and saved for ``--resume``).

    For a distributed executor the decision is split in three parts that give what the
    streaming index gives: :meth:`group_keys` (a map phase: what puts two rows in one
    group), :meth:`decide` (one group, in row-key order: the step's own index on those
    rows alone) and :meth:`apply` (the decisions back into a batch). Rows in different
    groups never affect each other's fate, so the groups may be decided anywhere.
    """

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

    def group_index(self) -> ExactDedupIndex | DedupIndex:  # pragma: no cover - abstract
        """A fresh index of the step's kind over the tables :meth:`decide` receives."""
        raise NotImplementedError

    def decide(self, rows: pa.Table) -> pa.Table:
        """Decisions (:data:`DECISION_SCHEMA`) for the rows of one or more whole groups
        (``row_key`` and the step's key: ``key`` for exact_dedup, ``text`` for near_dedup),
        by a fresh index fed in row-key order."""
        rows = rows.sort_by(ROW_KEY)
        result = self.group_index().add(rows, row_keys=rows.column(ROW_KEY))
        return pa.table([rows.column(ROW_KEY), result.column("cluster_id"), result.column("cluster_size"),
                         result.column("is_duplicate")], schema=DECISION_SCHEMA)

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table) -> pa.RecordBatch:
        """``batch`` as this step leaves it, given the decisions of its groups: pending rows
        absent from ``decisions`` are alone in their group (their own survivor, size 1)."""
        pending = _pending(batch)
        keys = batch.filter(pending).column(ROW_KEY)
        decisions = decisions.combine_chunks()
        found = pc.index_in(keys, decisions.column(ROW_KEY).combine_chunks())
        hit = pc.is_valid(found)
        index = pc.fill_null(found, 0)

        def looked_up(name: str, default: pa.Array) -> pa.Array:
            if decisions.num_rows == 0:
                return default
            return pc.if_else(hit, pc.take(decisions.column(name), index), default)

        result = pa.table({
            "cluster_id": looked_up("cluster_id", keys),
            "cluster_size": looked_up("cluster_size", pa.array(np.ones(len(keys), dtype=np.int64))),
            "is_duplicate": looked_up("is_duplicate", pa.array(np.zeros(len(keys), dtype=bool))),
        })
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

    def group_index(self) -> ExactDedupIndex:
        # the 128-bit key, written out: equal keys are equal strings
        return ExactDedupIndex(columns=["key"], normalize=False)

    def group_keys(self, batch: pa.RecordBatch) -> pa.Table:
        """``row_key``, ``group`` (the high half of the row's 128-bit key) and ``key`` (the
        whole key in hex) of each pending row that has a key; rows without one are never
        duplicates and are left out."""
        rows = batch.filter(_pending(batch))
        keys = self.keys(rows)
        high, low, has_key = _core.exact_key_hashes([keys.column(i).combine_chunks() for i in range(keys.num_columns)],
                                                    self.params.normalize)
        hexed = [f"{h:016x}{l:016x}" for h, l in zip(high[has_key].tolist(), low[has_key].tolist())]
        return pa.table({ROW_KEY: rows.column(ROW_KEY).filter(pa.array(has_key)),
                         "group": pa.array(high[has_key].view(np.int64)), "key": pa.array(hexed, pa.string())})

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
            if self.index.config["scheme"] != p.scheme:
                raise ValueError(f"near_dedup: the index in {p.load_index} was built with scheme "
                                 f"{self.index.config['scheme']!r}; set scheme: {self.index.config['scheme']} "
                                 f"(this step has {p.scheme!r})")
        else:
            self.index = DedupIndex(
                threshold=p.threshold, num_perm=p.num_perm, bands=p.bands, rows=p.rows,
                ngram=p.ngram, unit=p.unit, verify=p.verify, seed=p.seed, scheme=p.scheme,
            )

    def _load_index(self, path: Path) -> DedupIndex:
        return DedupIndex.load(path)

    def group_index(self) -> DedupIndex:
        if self.params.load_index:
            raise ValueError("near_dedup: load_index runs on the local engine only (the loaded index is one "
                             "process's state)")
        config = self.index.config
        return DedupIndex(**{k: config[k] for k in ("threshold", "num_perm", "bands", "rows", "ngram", "unit",
                                                    "verify", "seed", "scheme")})

    def group_keys(self, batch: pa.RecordBatch) -> pa.Table:
        """One row per (pending row, band): ``row_key`` and ``bucket``, the band and the
        32-bit fingerprint under which the index's band table files the band's key (two
        rows are candidates exactly when they share a bucket). Rows without shingles are
        never duplicates and are left out."""
        rows = batch.filter(_pending(batch))
        texts = self.keys(rows).column("text")
        flat, has_keys = self.index._index.band_keys(texts)
        bands = self.index.config["bands"]
        keys = flat.reshape(-1, bands)[has_keys]
        fingerprint = np.maximum(keys >> np.uint64(32), np.uint64(1))
        bucket = (np.arange(bands, dtype=np.uint64)[None, :] << np.uint64(32)) | fingerprint
        row_keys = rows.column(ROW_KEY).to_numpy()[has_keys]
        return pa.table({ROW_KEY: np.repeat(row_keys, bands), "bucket": bucket.reshape(-1).view(np.int64)})

    def finish(self) -> None:
        """Save the index when ``save_index`` is set (the runner calls this once the run is over)."""
        if self.params.save_index:
            self.index.save(self.params.save_index)
