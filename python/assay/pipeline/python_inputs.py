"""Inputs handed over from Python: ``run_pipeline(config, inputs={"source": data})``.

A pipeline input whose ``source`` is a key of ``inputs`` reads that object instead of
files (its ``path`` may then be left out of the YAML): a ``datasets.Dataset`` (zero-copy,
an active select/filter applied) or ``IterableDataset`` (streamed, never held whole), a
pyarrow / polars / pandas table or a ``pyarrow.RecordBatchReader``. The input's
``format`` adapts its rows as it adapts a file's records, and the accounting, quarantine
and id check are the same. In the manifest's copy of the config the input's path reads
``python:<kind>:<fingerprint>`` (``datasets``' own fingerprint, or a hash of the Arrow
buffers), so a ``resume`` with other data is refused. A stream cannot be fingerprinted
without reading it: it cannot resume.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from assay._data import _to_arrow_table_like, is_stream, library_of
from assay.io.files import MemoryInput
from assay.pipeline.config import PipelineConfig, PipelineError

__all__ = ["attach_python_inputs", "data_fingerprint"]


def _kind(data: Any) -> str:
    return type(data).__name__


def data_fingerprint(data: Any) -> str | None:
    """What identifies the rows of ``data``: a ``Dataset``'s own fingerprint, else a hash of
    the Arrow buffers; None for a stream (it cannot be read twice to check).

    >>> t = pa.table({"text": ["a", "b"]})
    >>> data_fingerprint(t) == data_fingerprint(pa.table({"text": ["a", "b"]})) != data_fingerprint(t.slice(1))
    True
    """
    if is_stream(data):
        return None
    if library_of(data) == "datasets":
        # datasets' fingerprint names the data and every transform applied to it; the indices
        # mapping of a select/filter is part of it.
        return str(data._fingerprint)
    table = _to_arrow_table_like(data)
    if table is None:
        raise PipelineError(f"inputs: expected a datasets.Dataset/IterableDataset, a pyarrow, polars or pandas "
                            f"table or a pyarrow.RecordBatchReader, got {_kind(data)}")
    digest = hashlib.blake2b(table.schema.serialize(), digest_size=16)
    for column in table.columns:
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        for chunk in chunks:
            digest.update(f"{chunk.offset}:{len(chunk)};".encode())
            for buffer in chunk.buffers():
                digest.update(b"-" if buffer is None else buffer)
    return digest.hexdigest()


def attach_python_inputs(config: PipelineConfig, inputs: Mapping[str, Any] | None
                         ) -> tuple[PipelineConfig, dict[int, MemoryInput], bool]:
    """The config with each Python input's path set to its fingerprint, the inputs by
    index, and whether all of them can be checked on resume."""
    inputs = dict(inputs or {})
    sources = {inp.source: i for i, inp in enumerate(config.inputs)}
    unknown = sorted(set(inputs) - set(sources))
    if unknown:
        raise PipelineError(
            f"inputs: the pipeline has no input with source {unknown[0]!r} (its sources: {sorted(sources)}); "
            f"add one to its inputs, e.g. {{source: {unknown[0]}, format: text}} (no path needed)")
    memory: dict[int, MemoryInput] = {}
    resumable = True
    if inputs:
        config = config.model_copy(deep=True)
        for name, data in inputs.items():
            i = sources[name]
            fingerprint = data_fingerprint(data)
            resumable = resumable and fingerprint is not None
            config.inputs[i].path = f"python:{_kind(data)}:{fingerprint or 'stream'}"
            memory[i] = MemoryInput(data, _kind(data))
    for i, inp in enumerate(config.inputs):
        if inp.path is None:
            raise PipelineError(f"inputs[{i}] (source {inp.source}) has no path: give it one, or pass its data "
                                f"from Python with run_pipeline(..., inputs={{{inp.source!r}: data}})")
    return config, memory, resumable
