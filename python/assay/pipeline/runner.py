"""The local streaming engine: inputs -> steps -> shards, with an accounting that balances.

Record batches flow one at a time from each input through every step into the
shard writer, so memory stays bounded by the batch size (plus what a step keeps,
such as a dedup index). After each step, rows whose ``reason`` is set leave the
stream for ``rejects/``; malformed input records go to ``quarantine/``. At the end
``manifest.json`` records every shard and the counts, which always satisfy
``rows_in + upsampled = rows_out + sum(removed) + quarantined`` (``upsampled``, the extra
copies made by mixture weights above 1, is 0 without an ``assemble`` section).
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

import assay
from assay.io import RecordReader
from assay.pipeline.assemble import assemble
from assay.pipeline.config import PipelineConfig, PipelineError, load_pipeline
from assay.pipeline.output import QuarantineWriter, ShardWriter
from assay.steps import REASON

__all__ = ["run_pipeline"]

# What an output folder of assay holds; an existing folder with anything else is not replaced.
OUTPUT_ENTRIES = {"data", "rejects", "quarantine", "manifest.json", "stats.json", "report.html", ".staging"}


# Text-length histogram bins (characters): 0, then powers of two up to 2**26 (64M chars).
LENGTH_EDGES = [0] + [2**k for k in range(27)]


class LengthHistogram:
    """Counts of text lengths (characters) in fixed power-of-two bins."""

    def __init__(self) -> None:
        self.counts = [0] * len(LENGTH_EDGES)

    def add(self, texts: pa.Array) -> None:
        import numpy as np

        lengths = pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False)
        bins = np.searchsorted(LENGTH_EDGES, lengths, side="right") - 1
        for b, n in zip(*np.unique(bins, return_counts=True)):
            self.counts[int(b)] += int(n)

    def as_dict(self) -> dict[str, list[int]]:
        return {"edges": LENGTH_EDGES, "counts": self.counts}


@dataclass
class StepCounter:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    removed: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "rows_in": self.rows_in, "rows_out": self.rows_out,
                "removed": dict(sorted(self.removed.items())), "seconds": round(self.seconds, 3)}


def _prepare_output(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise PipelineError(f"output path {out} exists and is not a folder")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_ENTRIES)
        if foreign:
            raise PipelineError(
                f"output folder {out} holds files that are not an assay output ({', '.join(foreign[:5])}); "
                "choose another folder"
            )
        for entry in OUTPUT_ENTRIES:
            target = out / entry
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _versions() -> dict[str, str]:
    import polars

    return {"assay": assay.__version__, "python": platform.python_version(),
            "pyarrow": pa.__version__, "polars": polars.__version__}


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    os.replace(tmp, path)


def _split_removed(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    if REASON not in batch.schema.names:
        return batch, None
    reason = batch.column(REASON)
    if reason.null_count == batch.num_rows:
        return batch.drop_columns([REASON]), None
    kept_mask = pc.is_null(reason)
    kept = batch.filter(kept_mask).drop_columns([REASON])
    removed = batch.filter(pc.invert(kept_mask))
    return kept, removed


def progress_bar(enabled: bool):
    """A rich progress display over bytes read, with rows and rows/s (a no-op when disabled)."""
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]:>10,} rows  {task.fields[rate]:>9,.0f} rows/s"),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=False,
    )


def run_pipeline(
    pipeline: PipelineConfig | str | Path,
    *,
    output_dir: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run a pipeline and return its manifest (also written to ``<output>/manifest.json``).

    Input paths are taken relative to the working directory. ``output_dir``
    overrides ``output.dir``; ``threads`` sizes the Rust thread pool.

    >>> m = run_pipeline("pipelines/quickstart.yaml", output_dir="out/doctest-quickstart")
    >>> m["rows_in"] == m["rows_out"] + sum(m["removed"].values()) + m["quarantined"]
    True
    """
    config = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline)
    if threads is not None:
        assay.set_threads(threads)
    out = Path(output_dir if output_dir is not None else config.output.dir)
    _prepare_output(out)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()

    steps = [s.build() for s in config.steps]
    counters = [StepCounter(s.name) for s in config.steps]
    length_before, length_after = LengthHistogram(), LengthHistogram()
    writer_options = dict(shard_rows=config.output.shard_rows, row_group_rows=config.output.row_group_rows,
                          compression=config.output.compression)
    shards = ShardWriter(out / "data", observe=lambda b: length_after.add(b.column("text")), **writer_options)
    # With an assemble section, kept rows are staged first and shuffled/mixed into data/ at the end.
    kept_rows = (ShardWriter(out / ".staging", shard_rows=1 << 40, row_group_rows=65_536, compression="zstd",
                             prefix="staged") if config.assemble else shards)
    rejects = {i: ShardWriter(out / "rejects", prefix=f"{i:02d}-{s.name}", **writer_options)
               for i, s in enumerate(config.steps)} if config.output.rejects else {}
    quarantine = QuarantineWriter(out / "quarantine")
    sources: dict[str, Counter] = {}
    removed_total: Counter = Counter()
    rows_in = 0

    readers = [
        RecordReader(inp.path, inp.format, source=inp.source, domain=inp.domain, id_field=inp.id_field,
                     text_field=inp.text_field, domain_field=inp.domain_field, batch_rows=config.batch_rows,
                     on_quarantine=quarantine)
        for inp in config.inputs
    ]
    with progress_bar(progress) as bar:
        for inp, reader in zip(config.inputs, readers):
            counts = sources.setdefault(inp.source, Counter())
            task = bar.add_task(inp.source, total=reader.bytes_total, rows=0, rate=0.0) if bar else None
            input_start = time.perf_counter()
            quarantined_before = quarantine.count
            rows_before = reader.rows_read
            for batch in reader:
                counts["rows_in"] += batch.num_rows
                length_before.add(batch.column("text"))
                for index, (step, counter) in enumerate(zip(steps, counters)):
                    if batch.num_rows == 0:
                        break
                    counter.rows_in += batch.num_rows
                    s0 = time.perf_counter()
                    batch = step(batch)
                    kept, removed = _split_removed(batch)
                    counter.seconds += time.perf_counter() - s0
                    if removed is not None:
                        reasons = Counter(removed.column(REASON).to_pylist())
                        counter.removed.update(reasons)
                        removed_total.update(reasons)
                        counts["removed"] += removed.num_rows
                        if rejects:
                            rejects[index].write(removed)
                    batch = kept
                    counter.rows_out += batch.num_rows
                counts["rows_out"] += batch.num_rows
                kept_rows.write(batch)
                if bar is not None:
                    done = reader.rows_read - rows_before
                    bar.update(task, completed=reader.bytes_done, rows=done,
                               rate=done / max(time.perf_counter() - input_start, 1e-9))
            counts["quarantined"] += quarantine.count - quarantined_before
            counts["rows_in"] += quarantine.count - quarantined_before
            rows_in += reader.rows_read + (quarantine.count - quarantined_before)
            if bar is not None:
                bar.update(task, completed=reader.bytes_total)

    upsampled = 0
    if config.assemble is not None:
        staged = [out / ".staging" / s["path"] for s in kept_rows.close()]
        result = assemble(staged, config.assemble, shards, sources, out / ".staging" / "buckets")
        removed_total.update(result["removed"])
        upsampled = result["upsampled"]
        shutil.rmtree(out / ".staging", ignore_errors=True)
    shard_list = shards.close()
    reject_list = [s for w in rejects.values() for s in w.close()]
    quarantine.close()
    rows_out = sum(s["rows"] for s in shard_list)
    manifest = {
        "name": config.name,
        "created": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 3),
        "config_hash": config.fingerprint(),
        "config": orjson.loads(orjson.dumps(config.model_dump(mode="json"))) | {
            "steps": [{s.name: s.params.model_dump(mode="json")} for s in config.steps]},
        "versions": _versions(),
        "threads": assay.thread_count(),
        "schema": [{"name": f.name, "type": str(f.type)} for f in shards.schema] if shards.schema else [],
        "shards": [{**s, "path": f"data/{s['path']}"} for s in shard_list],
        "rejects": [{**s, "path": f"rejects/{s['path']}"} for s in reject_list],
        "quarantine": "quarantine/quarantine.jsonl" if quarantine.count else None,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "removed": dict(sorted(removed_total.items())),
        "quarantined": quarantine.count,
        "upsampled": upsampled,
        "sources": {name: {k: c.get(k, 0) for k in ("rows_in", "rows_out", "removed", "quarantined")}
                    for name, c in sources.items()},
        "steps": [c.as_dict() for c in counters],
    }
    balance = rows_out + sum(removed_total.values()) + quarantine.count
    if balance != rows_in + upsampled:  # a bug, never bad input: refuse to write a manifest that does not add up
        raise RuntimeError(f"accounting does not balance: rows_in={rows_in} (+{upsampled} upsampled) "
                           f"but out+removed+quarantined={balance}")
    stats = _stats(out, shard_list, manifest)
    stats["text_chars_histogram"] = {"before": length_before.as_dict(), "after": length_after.as_dict()}
    _write_json(out / "stats.json", stats)
    _write_json(out / "manifest.json", manifest)
    return manifest


def _stats(out: Path, shard_list: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    """Summaries of the output's numeric columns, overall and per source (polars, streaming)."""
    import polars as pl

    result: dict[str, Any] = {"rows": manifest["rows_out"], "steps": manifest["steps"], "columns": {}, "by_source": {}}
    if not shard_list:
        return result
    frame = pl.scan_parquet([str(out / "data" / s["path"]) for s in shard_list])
    schema = frame.collect_schema()
    numeric = [name for name, dtype in schema.items() if dtype.is_numeric()]
    if not numeric:
        return result
    quantiles = {"p10": 0.1, "p50": 0.5, "p90": 0.9, "p99": 0.99}
    exprs = []
    for name in numeric:
        col = pl.col(name)
        exprs += [col.count().alias(f"{name}|count"), col.mean().alias(f"{name}|mean"),
                  col.min().cast(pl.Float64).alias(f"{name}|min"), col.max().cast(pl.Float64).alias(f"{name}|max")]
        exprs += [col.quantile(q, "nearest").cast(pl.Float64).alias(f"{name}|{k}") for k, q in quantiles.items()]
    overall = frame.select(exprs).collect().to_dicts()[0]
    for key, value in overall.items():
        name, stat = key.split("|")
        result["columns"].setdefault(name, {})[stat] = value
    per_source = frame.group_by("source").agg(
        [pl.len().alias("rows")] + [pl.col(n).mean().alias(f"{n}_mean") for n in numeric]
    ).sort("source").collect()
    result["by_source"] = {row.pop("source"): row for row in per_source.to_dicts()}
    return result
