"""Pipeline steps: each a small function from an Arrow batch to an Arrow batch.

A step receives a ``pyarrow.RecordBatch`` in the record schema (plus the columns
earlier steps added) and returns a batch with the same rows in the same order. It
may add columns ("tag once") and may mark rows for removal by filling the string
column ``reason`` (null = kept). The runner moves marked rows to ``rejects/`` and
counts them by reason ("filter many times"). Because a step is only batch -> batch,
the same object runs in the local engine and inside Ray Data's ``map_batches``.

To add a step: subclass :class:`Step`, give it a unique ``name`` and a pydantic
``Params`` model (``extra="forbid"`` so an unknown key is an error), and decorate
it with :func:`register`; declare the columns it adds in :meth:`Step.adds`. A step
registered for a test only goes away again with :func:`unregister` (or
``with registered(MyStep): ...``).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

__all__ = ["REASON", "ROW_KEY", "STEPS", "Step", "StepParams", "mark_removed", "register", "registered", "unregister"]

REASON = "reason"

ROW_KEY = "row_key"
"""The engine's name for each row: ``(unit number << 40) | row number``, where unit
numbers count the work units of a run in order (inputs in config order, each input's files
sorted, a JSON Lines file over the input's ``split_bytes`` one unit per byte range) and row
numbers count the rows one unit yields. Sorting by it is the run's input order on any
executor and partitioning; dedup steps name a cluster by its survivor's row key
(``cluster_id``). Shards keep the column."""

ROW_KEY_FILE_SHIFT = 40


class StepParams(BaseModel):
    """Base for step parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Step:
    """One pipeline step. Subclasses set ``name`` and ``Params`` and implement ``__call__``.

    ``kind`` says how an executor may run it. A ``"map"`` step (the default) looks at one
    batch at a time and keeps nothing across batches: any executor may run it on any
    partition of the rows. A ``"global"`` step (dedup) decides a row from the rows before
    it in row-key order (:data:`ROW_KEY`) and nothing after it: the local engine streams
    the batches to it in that order; a distributed executor needs its keyed shuffle.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StepParams]] = StepParams
    kind: ClassVar[str] = "map"

    def __init__(self, params: StepParams | None = None, **kwargs: Any) -> None:
        self.params = params if params is not None else self.Params(**kwargs)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:  # pragma: no cover - abstract
        raise NotImplementedError

    def adds(self) -> tuple[str, ...]:
        """The columns this step adds to every batch (besides ``reason``); the manifest lists
        them per step and the report reads them. Steps that only filter or rewrite add none."""
        return ()

    def save_state(self, folder: Path) -> None:
        """Persist what the step carries across batches (e.g. a dedup index) for ``--resume``.

        Stateless steps keep the default, which writes nothing."""

    def load_state(self, folder: Path) -> None:
        """Restore what :meth:`save_state` wrote (called before resuming a run)."""

    def finish(self) -> None:
        """Called once after the last batch of a run (e.g. to write a saved index)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


STEPS: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    """Class decorator that makes a step available to YAML pipelines under ``cls.name``."""
    if cls.name in STEPS and STEPS[cls.name] is not cls:
        raise ValueError(f"two steps are named {cls.name!r}")
    STEPS[cls.name] = cls
    return cls


def unregister(cls: type[Step]) -> None:
    """Remove a step that :func:`register` added (test-only steps must not outlive their test)."""
    if STEPS.get(cls.name) is cls:
        del STEPS[cls.name]


@contextmanager
def registered(*classes: type[Step]) -> Iterator[None]:
    """Register steps for the duration of a ``with`` block.

    >>> class Nothing(Step):
    ...     name = "_nothing"
    ...     def __call__(self, batch):
    ...         return batch
    >>> with registered(Nothing):
    ...     "_nothing" in STEPS
    True
    >>> "_nothing" in STEPS
    False
    """
    for cls in classes:
        register(cls)
    try:
        yield
    finally:
        for cls in classes:
            unregister(cls)


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """Return ``batch`` with column ``name`` set to ``values`` (replaced or appended)."""
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.set_column(index, name, values)
    return batch.append_column(name, values)


def mark_removed(batch: pa.RecordBatch, remove: pa.Array, reason: str | pa.Array) -> pa.RecordBatch:
    """Set ``reason`` on rows where ``remove`` is true and that are not removed already.

    ``reason`` is one string for all removed rows or a string array per row.

    >>> import pyarrow as pa
    >>> b = pa.record_batch({"text": ["a", "b"]})
    >>> mark_removed(b, pa.array([False, True]), "too_short").column("reason").to_pylist()
    [None, 'too_short']
    """
    import pyarrow.compute as pc

    current = (
        batch.column(REASON)
        if REASON in batch.schema.names
        else pa.nulls(batch.num_rows, pa.string())
    )
    new = reason if isinstance(reason, pa.Array) else pa.scalar(reason, pa.string())
    remove = pc.fill_null(remove, False)
    updated = pc.if_else(pc.and_(remove, pc.is_null(current)), new, current)
    return set_column(batch, REASON, updated)


# Importing the step modules registers them.
from assay.steps import normalize as _normalize  # noqa: E402,F401
from assay.steps import text_stats as _text_stats  # noqa: E402,F401
from assay.steps import dedup as _dedup  # noqa: E402,F401
from assay.steps import langid as _langid  # noqa: E402,F401
from assay.steps import filter as _filter  # noqa: E402,F401
from assay.steps import pii as _pii  # noqa: E402,F401
from assay.steps import decontaminate as _decontaminate  # noqa: E402,F401
from assay.steps import score as _score  # noqa: E402,F401
