"""Turn whatever the caller passes into the Arrow column a Rust kernel reads.

Every public function that takes data accepts the same inputs and gives the same
result for each: a ``pyarrow.Table`` / ``RecordBatch`` / ``Array`` / ``ChunkedArray``,
a ``polars.DataFrame`` / ``Series`` (or ``LazyFrame``, collected), a Hugging Face
``datasets.Dataset`` (its Arrow table, with an active select/filter applied), a ``pandas``
frame or series, any object exporting ``__arrow_c_stream__`` / ``__arrow_c_array__``
(the Arrow PyCapsule interface), or a plain ``list`` of ``str`` / ``None``.
Arrow data is handed to Rust without copying.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["column_of", "row_ids_of"]


def _to_arrow_table_like(data: Any) -> pa.Table | pa.RecordBatch | None:
    """Return data as a pyarrow Table/RecordBatch when it is table-shaped, else None."""
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    module = type(data).__module__.split(".")[0]
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
            raise TypeError("a datasets.IterableDataset is read batch by batch: use "
                            "ds.map(assay.hf.<function>, batched=True) (see assay.hf)")
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
        bad = next((i for i, v in enumerate(data) if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            raise TypeError(
                f"a list input must hold str or None; item {bad} is {type(data[bad]).__name__}"
            )
        return pa.array(data, type=pa.large_string())
    table = _to_arrow_table_like(data)
    if table is not None:
        if column not in table.schema.names:
            raise KeyError(
                f"column {column!r} not found; the data has columns {table.schema.names}"
            )
        return table.column(column)
    if type(data).__module__.split(".")[0] == "pandas":
        return pa.Array.from_pandas(data)
    if hasattr(data, "__arrow_c_array__") or hasattr(data, "__arrow_c_stream__"):
        return data
    raise TypeError(
        "expected a pyarrow Table/RecordBatch/Array/ChunkedArray, a polars DataFrame/Series, "
        f"a pandas DataFrame/Series or a list of str, got {type(data).__name__}"
    )


def row_ids_of(data: Any) -> pa.ChunkedArray | None:
    """The ``id`` column of table-shaped ``data`` when it has one, else None."""
    table = _to_arrow_table_like(data)
    if table is not None and "id" in table.schema.names:
        column = table.column("id")
        return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    return None
