"""Turn whatever the caller passes into the Arrow column a Rust kernel reads.

Every public function that takes data accepts the same inputs and gives the same
result for each: a ``pyarrow.Table`` / ``RecordBatch`` / ``Array`` / ``ChunkedArray``,
a ``polars.DataFrame`` / ``Series`` (or ``LazyFrame``, collected), a Hugging Face
``datasets.Dataset`` (its Arrow table, with an active select/filter applied), a ``pandas``
frame or series, any object exporting ``__arrow_c_stream__`` / ``__arrow_c_array__``
(the Arrow PyCapsule interface), or a plain ``list`` of ``str`` / ``None``.
Arrow data is handed to Rust without copying.

Streams, a ``datasets.IterableDataset`` or a ``pyarrow.RecordBatchReader``, are read batch
by batch and never held whole: a function whose result has one row per input row then
returns a ``pyarrow.RecordBatchReader`` of its results, batch for batch (:func:`per_batch`;
``minhash`` an iterator of arrays), and the dedup functions return their whole
(small: ids and cluster numbers) result table.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, TypeVar

import pyarrow as pa

__all__ = ["STREAM_BATCH_ROWS", "column_of", "is_stream", "library_of", "per_batch", "row_ids_of", "stream_batches"]

STREAM_BATCH_ROWS = 8192
"""Rows per batch read from a ``datasets.IterableDataset``."""

F = TypeVar("F", bound=Callable[..., Any])


def library_of(data: Any) -> str:
    """The top-level package that defines ``data``'s type (``polars``, ``datasets``, ...), so that
    a check for a library's types does not import that library.

    >>> library_of(pa.table({"a": [1]}))
    'pyarrow'
    """
    return type(data).__module__.split(".")[0]


def is_stream(data: Any) -> bool:
    """True for data read batch by batch: a ``datasets.IterableDataset`` or a
    ``pyarrow.RecordBatchReader``.

    >>> is_stream(pa.table({"text": ["a"]})), is_stream(pa.RecordBatchReader.from_batches(pa.schema([]), []))
    (False, True)
    """
    if isinstance(data, pa.RecordBatchReader):
        return True
    if library_of(data) == "datasets":
        import datasets

        return isinstance(data, datasets.IterableDataset)
    return False


def stream_batches(data: Any, batch_rows: int | None = None) -> Iterator[pa.Table | pa.RecordBatch]:
    """The Arrow batches of a stream (see :func:`is_stream`), in order; an ``IterableDataset``
    in batches of ``batch_rows`` (default :data:`STREAM_BATCH_ROWS`).

    >>> reader = pa.RecordBatchReader.from_batches(pa.schema([("text", pa.string())]),
    ...                                            [pa.record_batch({"text": ["a", "b"]})])
    >>> [b.num_rows for b in stream_batches(reader)]
    [2]
    """
    if isinstance(data, pa.RecordBatchReader):
        yield from data
        return
    # datasets' Arrow format hands over its own tables: no Python rows are built.
    yield from data.with_format("arrow").iter(batch_size=batch_rows or STREAM_BATCH_ROWS)


def _empty_batch(data: Any, column: str) -> pa.Table:
    """A batch of no rows shaped like the stream's (to give an empty stream's result a schema)."""
    if isinstance(data, pa.RecordBatchReader):
        return data.schema.empty_table()
    features = getattr(data, "features", None)
    if features is not None:
        return features.arrow_schema.empty_table()
    return pa.table({column: pa.array([], pa.string())})


def per_batch(function: F) -> F:
    """Let a function whose result has one row per input row take a stream: it is applied
    batch by batch and returns a ``pyarrow.RecordBatchReader`` of its results (an
    iterator of results when they are not tables); other data goes straight through.

    >>> @per_batch
    ... def lengths(data, column="text"):
    ...     return pa.table({"n": pa.compute.utf8_length(column_of(data, column))})
    >>> reader = pa.RecordBatchReader.from_batches(pa.schema([("text", pa.string())]),
    ...     [pa.record_batch({"text": ["ab"]}), pa.record_batch({"text": ["c"]})])
    >>> lengths(reader).read_all().column("n").to_pylist()
    [2, 1]
    """

    @functools.wraps(function)
    def wrapper(data: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_stream(data):
            return function(data, *args, **kwargs)
        results = (function(batch, *args, **kwargs) for batch in stream_batches(data))
        first = next(results, None)
        if first is None:
            first = function(_empty_batch(data, kwargs.get("column", "text")), *args, **kwargs)
        if not isinstance(first, (pa.Table, pa.RecordBatch)):
            return _chain(first, results)
        return pa.RecordBatchReader.from_batches(first.schema, _record_batches(first, results))

    return wrapper  # type: ignore[return-value]


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _record_batches(first: pa.Table | pa.RecordBatch, rest: Iterator[pa.Table]) -> Iterator[pa.RecordBatch]:
    for table in _chain(first, rest):
        # One result batch per input batch (a kernel gives a chunk per input chunk).
        yield from (table.combine_chunks().to_batches() if isinstance(table, pa.Table) else [table])


def _to_arrow_table_like(data: Any) -> pa.Table | pa.RecordBatch | None:
    """Return data as a pyarrow Table/RecordBatch when it is table-shaped, else None."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    module = library_of(data)
    if module == "polars":
        import polars as pl

        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        if isinstance(data, pl.DataFrame):
            return data.to_arrow()
        return None
    if module == "datasets":
        import datasets

        if isinstance(data, datasets.Dataset):
            # The Arrow table underneath, zero-copy; an active select/filter/shuffle (an
            # indices mapping) is applied, as iterating the Dataset would.
            return data.with_format("arrow")[:]
        if isinstance(data, datasets.IterableDataset):
            raise TypeError("a datasets.IterableDataset is read batch by batch: this function takes "
                            "in-memory data only; map it with ds.map(assay.hf.<function>, batched=True)")
        return None
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
        return None
    if hasattr(data, "__arrow_c_stream__") and not hasattr(data, "__arrow_c_array__"):
        # A stream of record batches (e.g. a DuckDB relation, an arro3 table).
        try:
            table = pa.table(data)
        except (TypeError, pa.ArrowInvalid):
            return None
        return table
    return None


def single_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous ``pyarrow.Array`` (chunks are concatenated).

    >>> single_array(pa.chunked_array([["a"], ["b"]])).to_pylist()
    ['a', 'b']
    """
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def column_of(data: Any, column: str = "text") -> Any:
    """Return the string column ``column`` of ``data`` as an Arrow-exporting object.

    Tables and frames give their column ``column``; arrays, series and lists are the
    column themselves (``column`` is then ignored).

    >>> column_of(["a", None]).to_pylist()
    ['a', None]
    >>> import pyarrow as pa
    >>> column_of(pa.table({"text": ["x"]})).to_pylist()
    ['x']
    """
    if isinstance(data, str):
        raise TypeError("expected a column of texts, got a single str; wrap it in a list: [text]")
    if isinstance(data, (list, tuple)):
        # pyarrow checks the types as it copies; the item is looked for only on failure
        try:
            return pa.array(data, type=pa.large_string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            bad = next((i for i, v in enumerate(data) if v is not None and not isinstance(v, str)), None)
            if bad is None:
                raise
            raise TypeError(
                f"a list input must hold str or None; item {bad} is {type(data[bad]).__name__}"
            ) from None
    table = _to_arrow_table_like(data)
    if table is not None:
        if column not in table.schema.names:
            raise KeyError(
                f"column {column!r} not found; the data has columns {table.schema.names}"
            )
        return table.column(column)
    if library_of(data) == "pandas":
        return pa.Array.from_pandas(data)
    if hasattr(data, "__arrow_c_array__") or hasattr(data, "__arrow_c_stream__"):
        return data
    raise TypeError(
        "expected a pyarrow Table/RecordBatch/Array/ChunkedArray, a polars DataFrame/Series, a "
        f"datasets.Dataset, a pandas DataFrame/Series or a list of str, got {type(data).__name__}"
    )


def row_ids_of(data: Any) -> pa.ChunkedArray | None:
    """The ``id`` column of table-shaped ``data`` when it has one, else None."""
    table = _to_arrow_table_like(data)
    if table is not None and "id" in table.schema.names:
        column = table.column("id")
        return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    return None
