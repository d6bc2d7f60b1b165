"""``assay inspect``: what a file or an output folder holds.

>>> info = inspect_path("samples/belle/eval_set.json")
>>> info["format"], info["rows"], info["quarantined"]
('belle', 1000, 0)
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from assay.io import RecordReader
from assay.io.files import expand_inputs, file_type, open_binary
from assay.io.formats import guess_format
from assay.io.readers import RawRecord, iter_csv, iter_json
from assay.stats import text_stats

__all__ = ["inspect_path", "summarize_text"]

SUMMARY_COLUMNS = ("chars", "words", "lines", "cjk_ratio")
SAMPLE_SIZE = 100_000


class _Summary:
    """Exact count/mean/min/max and quantiles from a uniform reservoir sample."""

    def __init__(self, seed: int = 0) -> None:
        self.n = 0
        self.nulls = 0
        self.sums: dict[str, float] = {c: 0.0 for c in SUMMARY_COLUMNS}
        self.mins: dict[str, float] = {c: np.inf for c in SUMMARY_COLUMNS}
        self.maxs: dict[str, float] = {c: -np.inf for c in SUMMARY_COLUMNS}
        self.sample: dict[str, np.ndarray] = {c: np.empty(0) for c in SUMMARY_COLUMNS}
        self.keys = np.empty(0)
        self.rng = np.random.default_rng(seed)

    def add(self, stats: pa.Table) -> None:
        valid = stats.filter(stats.column("chars").is_valid())
        self.nulls += stats.num_rows - valid.num_rows
        self.n += valid.num_rows
        for c in SUMMARY_COLUMNS:
            values = valid.column(c).to_numpy()
            if not len(values):
                continue
            self.sums[c] += float(values.sum())
            self.mins[c] = min(self.mins[c], float(values.min()))
            self.maxs[c] = max(self.maxs[c], float(values.max()))
        # Reservoir sampling by random keys: keep the SAMPLE_SIZE rows with the smallest keys.
        all_keys = np.concatenate([self.keys, self.rng.random(valid.num_rows)])
        keep = np.argsort(all_keys)[:SAMPLE_SIZE] if len(all_keys) > SAMPLE_SIZE else np.arange(len(all_keys))
        self.keys = all_keys[keep]
        for c in SUMMARY_COLUMNS:
            self.sample[c] = np.concatenate([self.sample[c], valid.column(c).to_numpy().astype(float)])[keep]

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.n, "null_text": self.nulls, "columns": {}}
        for c in SUMMARY_COLUMNS:
            if not self.n:
                continue
            q = np.quantile(self.sample[c], [0.1, 0.5, 0.9])
            out["columns"][c] = {"mean": self.sums[c] / self.n, "min": self.mins[c], "p10": q[0],
                                 "p50": q[1], "p90": q[2], "max": self.maxs[c]}
        return out


def summarize_text(batches: Any, column: str = "text", on_batch: Any = None) -> dict[str, Any]:
    """Length and script summary of the text column over a stream of batches."""
    summary = _Summary()
    for batch in batches:
        summary.add(text_stats(batch, column=column))
        if on_batch is not None:
            on_batch()
    return summary.result()


def _first_record(path: Path) -> dict[str, Any] | None:
    kind = file_type(path)
    if kind == "parquet":
        from assay.storage import parquet_file

        batch = next(parquet_file(path).iter_batches(batch_size=1), None)
        return batch.to_pylist()[0] if batch is not None and batch.num_rows else None
    stream, _ = open_binary(path)
    with stream:
        it = iter_csv(stream, "\t" if kind == "tsv" else ",") if kind in ("csv", "tsv") else iter_json(stream)
        for record in it:
            if isinstance(record, RawRecord):
                return record.value
    return None


def _inspect_output(folder: Path) -> dict[str, Any]:
    from assay.manifest import Manifest
    from assay.storage import parquet_file

    manifest = Manifest.load(folder)
    stats = json.loads((folder / "stats.json").read_text()) if (folder / "stats.json").exists() else {}
    schema = parquet_file(folder / manifest.shards[0].path).schema_arrow if manifest.shards else None
    return {"kind": "output", "path": str(folder), "manifest": manifest, "schema": schema,
            "stats": stats.get("columns", {})}


def inspect_path(path: str | Path, format: str | None = None, column: str = "text",
                 progress: bool = False, **read_options: Any) -> dict[str, Any]:
    """Schema, row count and a text summary of a file, a glob, or an ``assay run`` output folder.

    Raw files are read through their format adapter (``format``, or guessed from the
    first record), so the counts are the rows a pipeline would see; ``read_options``
    go to :class:`assay.RecordReader` (e.g. ``text_field``).
    """
    from assay.storage import location, storage_errors

    with storage_errors(path):
        return _inspect(path, location(path), format, column, progress, **read_options)


def _inspect(path: str | Path, p: Path, format: str | None, column: str, progress: bool,
             **read_options: Any) -> dict[str, Any]:
    if p.is_dir():
        if (p / "manifest.json").exists():  # an output folder: its manifest (an assay.Manifest) and schema
            return _inspect_output(p)
        raise ValueError(f"{p} is a folder without manifest.json: inspect a file, a glob or an assay output folder")
    files = expand_inputs(str(path))
    if format is None:
        record = _first_record(files[0].path)
        format = guess_format(record) if record is not None else None
        if format is None:
            fields = sorted(record) if record else []
            raise ValueError(f"cannot guess the format of {files[0].path} (fields: {fields}); pass --format")
    examples: list[dict[str, Any]] = []
    reader = RecordReader(str(path), format, on_quarantine=lambda r: len(examples) < 5 and examples.append(r),
                          **read_options)
    from assay.pipeline.runner import progress_bar

    with progress_bar(progress) as bar:
        task = bar.add_task("reading", total=reader.bytes_total, rows=0, rate=0.0) if bar else None
        start = time.perf_counter()

        def update() -> None:
            rate = reader.rows_read / max(time.perf_counter() - start, 1e-9)
            bar.update(task, completed=reader.bytes_done, rows=reader.rows_read, rate=rate)

        summary = summarize_text(reader, column=column, on_batch=update if bar else None)
    return {"kind": "input", "path": str(path), "files": [f.path.as_posix() for f in files], "format": format,
            "rows": reader.rows_read, "quarantined": reader.quarantined_count,
            "quarantine_sample": examples, "schema": None, "stats": summary["columns"]}
