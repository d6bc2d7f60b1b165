"""The local streaming engine: inputs -> steps -> shards, with an accounting that balances.

Record batches flow one at a time from each input through every step into the
shard writer, so memory stays bounded by the batch size (plus what a step keeps,
such as a dedup index). After each step, rows whose ``reason`` is set leave the
stream for ``rejects/``; malformed input records go to ``quarantine/``. At the end
``manifest.json`` (an :class:`assay.manifest.Manifest`) records every shard and the
counts; a manifest whose accounting does not balance (:meth:`Manifest.checks`) is never
written.
"""
from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

import assay
from assay.io import IdRegistry, RecordReader
from assay.io.files import InputFile, MemoryInput, expand_inputs
from assay.io.formats import FORMATS
from assay.io.ranges import byte_ranges, count_lines, numbered
from assay.manifest import ColumnEntry, Manifest, ShardEntry, SourceCounts, StepCounts
from assay.pipeline.assemble import assemble
from assay.pipeline.batches import StepRunner
from assay.pipeline.config import PipelineConfig, PipelineError, load_pipeline
from assay.pipeline.output import QuarantineWriter, ShardWriter
from assay.pipeline.python_inputs import attach_python_inputs
from assay.steps import ROW_KEY, ROW_KEY_FILE_SHIFT, Step
from assay.storage import (is_remote, local_copy, location, make_dirs, open_file, parquet_file, remove_tree,
                           storage_errors, upload_from, write_atomic)

__all__ = ["run_pipeline"]

# What an output folder of assay holds; an existing folder with anything else is not replaced.
OUTPUT_ENTRIES = {"data", "rejects", "quarantine", "manifest.json", "stats.json", "report.html", ".staging"}


# Rows per row group of the staged files, and per batch when they are read back. Every
# step has its own staged rejects writer, each holding up to this many rows before it
# writes, so this bounds the run's memory (65,536 rows of web text took ~70 MB per writer).
# The final shards do not depend on it: they are cut at output.row_group_rows.
STAGING_ROWS = 8_192

# Text-length histogram bins (characters): 0, then powers of two up to 2**26 (64M chars).
LENGTH_EDGES = [0] + [2**k for k in range(27)]


class LengthHistogram:
    """Counts of text lengths (characters) in fixed power-of-two bins."""

    def __init__(self) -> None:
        self.counts = [0] * len(LENGTH_EDGES)

    def add(self, texts: pa.Array) -> None:
        lengths = pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False)
        bins = np.searchsorted(LENGTH_EDGES, lengths, side="right") - 1
        for b, n in zip(*np.unique(bins, return_counts=True)):
            self.counts[int(b)] += int(n)

    def as_dict(self) -> dict[str, list[int]]:
        return {"edges": LENGTH_EDGES, "counts": self.counts}


class UnitResult(BaseModel):
    """What one work unit (input file) did; kept in its done marker for ``--resume``."""

    rows_read: int
    quarantined: int
    steps: list[StepCounts]
    coerced: int = 0
    histogram: list[int] = Field(default_factory=list)
    """Text lengths of the rows read, in the bins of :data:`LENGTH_EDGES`."""

    @property
    def rows_in(self) -> int:
        return self.rows_read + self.quarantined

    @property
    def removed(self) -> Counter:
        return sum((Counter(s.removed) for s in self.steps), Counter())

    @property
    def rows_kept(self) -> int:
        return self.rows_read - sum(self.removed.values())


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
            remove_tree(out / entry)
    make_dirs(out)


def _versions() -> dict[str, str]:
    import polars

    return {"assay": assay.__version__, "python": platform.python_version(),
            "pyarrow": pa.__version__, "polars": polars.__version__}


def _write_json(path: Path, data: Any) -> None:
    payload = data.model_dump_json().encode() if isinstance(data, BaseModel) else (
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    write_atomic(path, payload)


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


@dataclass
class WorkUnit:
    """One input file: the unit of work, of progress and of resumption."""

    number: int
    input_index: int
    file: InputFile | MemoryInput

    @property
    def tag(self) -> str:
        return f"u{self.number:06d}"


class _Staging:
    """The ``.staging`` folder of a run: per-unit outputs, step states and done markers.

    Every unit writes its kept rows, rejects and quarantine under its own tag, saves
    the steps' state, then its done marker (atomically). The final shards are made
    from the staged files in unit order, so a resumed run writes the same bytes as an
    uninterrupted one.
    """

    def __init__(self, out: Path) -> None:
        self.root = out / ".staging"

    def start(self, fingerprint: str, engine: str = "local") -> None:
        make_dirs(self.root)
        _write_json(self.root / "run.json", {"config_hash": fingerprint, "engine": engine})

    def check_resumable(self, fingerprint: str, engine: str = "local") -> bool:
        """True when there is an interrupted run of this same config to continue."""
        run = self.root / "run.json"
        if not run.exists():
            return False
        started = orjson.loads(run.read_bytes())
        previous = started["config_hash"]
        if started.get("engine", "local") != engine:
            raise PipelineError(
                f"cannot resume in {self.root.parent} with engine {engine}: the interrupted run used "
                f"{started.get('engine', 'local')}; resume it with that engine, or run without --resume")
        if previous != fingerprint:
            raise PipelineError(
                f"cannot resume in {self.root.parent}: the pipeline changed since the interrupted run "
                f"(config {previous[:12]} then, {fingerprint[:12]} now); run without --resume to start over"
            )
        return True

    def marker(self, unit: WorkUnit) -> Path:
        return self.root / "units" / f"{unit.tag}.json"

    def state_dir(self, unit: WorkUnit) -> Path:
        return self.root / "state" / unit.tag

    def discard_from(self, unit: WorkUnit) -> None:
        """Remove whatever units from ``unit`` on left behind (an interrupted unit's partial files)."""
        for folder in ("kept", "rejects", "quarantine", "state", "units"):
            for path in (self.root / folder).glob("u*"):
                if path.name[:7] >= unit.tag:
                    remove_tree(path)

    def files(self, folder: str, pattern: str = "*") -> list[Path]:
        return sorted((self.root / folder).glob(pattern), key=lambda path: path.name)

    def save_state(self, unit: WorkUnit, steps: list[Step], ids: IdRegistry) -> Path:
        """Save the steps' state and the id check after ``unit`` (what a resume loads)."""
        state = self.state_dir(unit)
        with upload_from(state) as folder:  # the Rust index writers write local files
            for k, step in enumerate(steps):
                step.save_state(folder / f"{k:02d}")
            ids.save(folder / "ids.bin")
        return state

    @staticmethod
    def load_state(state: Path, steps: list[Step]) -> IdRegistry:
        """Restore what :meth:`save_state` saved; returns the id check."""
        with local_copy(state) as folder:
            for k, step in enumerate(steps):
                step.load_state(folder / f"{k:02d}")
            return IdRegistry.load(folder / "ids.bin")


def _staged_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The batches of a staged file, one row group at a time (``iter_batches`` reads ahead
    and held ~100 MB more on a 500,000-row staged file; this stays at one row group)."""
    parquet = parquet_file(path)
    for group in range(parquet.metadata.num_row_groups):
        yield from parquet.read_row_group(group).to_batches()


def _staged_writer(folder: Path, prefix: str) -> ShardWriter:
    return ShardWriter(folder, shard_rows=1 << 62, row_group_rows=STAGING_ROWS, compression="zstd", prefix=prefix)


def unit_reader(config: PipelineConfig, unit: WorkUnit, on_quarantine: Any, ids: Any) -> RecordReader:
    """The reader of one unit's file, as its input configures it (``ids``: the id check's
    registry, or False)."""
    inp = config.inputs[unit.input_index]
    return RecordReader(inp.path, inp.format, source=inp.source, domain=inp.domain, id_field=inp.id_field,
                        text_field=inp.text_field, domain_field=inp.domain_field, batch_rows=config.batch_rows,
                        on_quarantine=on_quarantine, files=[unit.file], ids=ids,
                        max_record_bytes=inp.max_record_bytes, coerce_scalars=inp.coerce_scalars)


def with_row_keys(batches: Iterable[pa.RecordBatch], file_number: int,
                  histogram: LengthHistogram) -> Iterator[pa.RecordBatch]:
    """The batches one input file yields, each row with its :data:`~assay.steps.ROW_KEY`
    (their text lengths counted in ``histogram``), as both engines read them."""
    first_key = file_number << ROW_KEY_FILE_SHIFT
    for batch in batches:
        histogram.add(batch.column("text"))
        keys = np.arange(first_key, first_key + batch.num_rows, dtype=np.int64)
        first_key += batch.num_rows
        yield batch.append_column(ROW_KEY, pa.array(keys, pa.int64()))


def _run_unit(unit: WorkUnit, inp: Any, config: PipelineConfig, steps: StepRunner, staging: _Staging,
              ids: IdRegistry, on_progress: Any) -> UnitResult:
    """Process one input file into staging; returns the counts kept in its done marker."""
    kept = _staged_writer(staging.root / "kept", unit.tag)
    rejects = {i: _staged_writer(staging.root / "rejects", f"{unit.tag}-{i:02d}") for i in range(len(steps.steps))}
    quarantine = QuarantineWriter(staging.root / "quarantine", f"{unit.tag}.jsonl")
    counters = steps.counters()
    histogram = LengthHistogram()
    reader = unit_reader(config, unit, quarantine, ids if inp.unique_ids else False)

    def on_removed(index: int, removed: pa.RecordBatch) -> None:
        if config.output.rejects:
            rejects[index].write(removed)

    for batch in with_row_keys(reader, unit.number, histogram):
        kept.write(steps(batch, counters, on_removed))
        on_progress(reader, counters)
    kept.close()
    for writer in rejects.values():
        writer.close()
    quarantine.close()
    return UnitResult(rows_read=reader.rows_read, quarantined=quarantine.count, steps=counters,
                      histogram=histogram.counts, coerced=reader.coerced)


def run_pipeline(
    pipeline: PipelineConfig | str | Path,
    *,
    output_dir: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    resume: bool = False,
    engine: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Manifest:
    """Run a pipeline and return its :class:`~assay.manifest.Manifest` (also written to
    ``<output>/manifest.json``).

    Input paths are taken relative to the working directory. ``output_dir``
    overrides ``output.dir``; ``threads`` sizes the Rust thread pool. With
    ``resume=True`` an interrupted run (killed, crashed) continues after its last
    completed input file and ends with the same shards, byte for byte, as a run that
    was never interrupted.

    ``engine="ray"`` runs the steps on a Ray cluster (:mod:`assay.pipeline.ray_engine`):
    the one at ``address`` (``auto``, ``HOST:PORT``), or a local one with ``workers`` CPUs;
    the output is byte-identical to the local engine's. ``engine=None`` takes the
    pipeline's ``engine:`` section (local by default).

    ``inputs`` hands over data from Python by source name: a ``datasets.Dataset`` or
    ``IterableDataset``, a pyarrow / polars / pandas table or a ``pyarrow.RecordBatchReader``
    replaces the files of the pipeline input with that ``source``, read as its ``format``
    says (:mod:`assay.pipeline.python_inputs`; local engine).

    >>> m = run_pipeline("pipelines/quickstart.yaml", output_dir="out/doctest-quickstart")
    >>> m.balances(), m.rows_in == m.rows_out + m.removed_total + m.quarantined - m.upsampled
    (True, True)
    """
    config = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline)
    config, memory, fingerprinted = attach_python_inputs(config, inputs)
    if threads is not None:
        assay.set_threads(threads)
    engine = engine or config.engine.kind
    address = address if address is not None else config.engine.address
    workers = workers if workers is not None else config.engine.workers
    if engine not in ("local", "ray"):
        raise PipelineError(f"engine must be 'local' or 'ray', got {engine!r}")
    if engine == "ray":
        if memory:
            raise PipelineError("inputs handed over from Python run on the local engine; for --engine ray "
                                "write them to Parquet (Dataset.to_parquet) and name the files in the pipeline")
        return _run_on_ray(config, output_dir, address, workers, resume)
    out = location(output_dir if output_dir is not None else config.output.dir, config.storage)
    with storage_errors(out):
        return _run_local(config, out, memory, fingerprinted, progress, resume)


def _run_local(config: PipelineConfig, out: Path, memory: Mapping[int, MemoryInput], fingerprinted: bool,
               progress: bool, resume: bool) -> Manifest:
    """The local engine: every unit in this process, in order, checkpointed for resume."""
    fingerprint = config.fingerprint()
    staging = _Staging(out)
    resuming = resume and staging.check_resumable(fingerprint)
    if resuming and not fingerprinted:
        raise PipelineError(f"cannot resume in {out}: a stream input (IterableDataset, RecordBatchReader) cannot "
                            "be checked against the interrupted run's rows; run without resume")
    if not resuming:
        _prepare_output(out)
        staging.start(fingerprint)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()

    steps = [s.build() for s in config.steps]
    step_runner = StepRunner(steps)
    units = _work_units(config, memory)
    number_ranges(config, units)
    results: list[UnitResult] = []
    ids = IdRegistry()  # (source, id) pairs seen, across every input
    with progress_bar(progress) as bar:
        # One line per input (bytes read, rows/s since it started) and one per step (rows
        # that reached it, and its own rows/s: the slowest step is the bottleneck).
        tasks = {i: bar.add_task(inp.source, total=sum(u.file.size for u in units if u.input_index == i),
                                 rows=0, rate=0.0) if bar else None for i, inp in enumerate(config.inputs)}
        total_bytes = sum(u.file.size for u in units)
        step_tasks = [bar.add_task(f"step {s.name}", total=total_bytes, rows=0, rate=0.0) if bar else None
                      for s in steps]
        done_bytes: Counter = Counter()
        done_rows: Counter = Counter()
        step_totals = step_runner.counters()
        started_at: dict[int, float] = {}
        resumed_state: Path | None = None
        # A resume continues after the last unit whose marker and saved state both exist: a
        # kill while the markers of a checkpoint are being written leaves some marked units
        # whose state is in a folder that never got its own marker; those are redone.
        last_checkpoint = max((u.number for u in units if resuming and staging.marker(u).exists()
                               and staging.state_dir(u).is_dir()), default=-1)
        # Saving the state costs O(state), not O(unit): it happens at most every
        # checkpoint_seconds, and a unit's done marker is written only with the state that
        # follows it (a resume redoes the unmarked units from the last saved state).
        unmarked: list[tuple[Path, UnitResult]] = []
        last_save, save_seconds = time.perf_counter(), 0.0
        for unit in units:
            marker = staging.marker(unit)
            if resuming and unit.number <= last_checkpoint and marker.exists():
                results.append(UnitResult.model_validate_json(marker.read_bytes()))
                resumed_state = staging.state_dir(unit)
                done_bytes[unit.input_index] += unit.file.size
                done_rows[unit.input_index] += results[-1].rows_read
                for total, done in zip(step_totals, results[-1].steps):
                    total.add(done)
                continue
            if resuming:
                staging.discard_from(unit)
                if resumed_state is not None:
                    ids = staging.load_state(resumed_state, steps)
                resuming = False  # everything after this unit runs fresh
            i = unit.input_index

            started_at.setdefault(i, time.perf_counter())

            def on_progress(reader: RecordReader, counters: list[StepCounts], i: int = i) -> None:
                if bar is None:
                    return
                rows = done_rows[i] + reader.rows_read
                bar.update(tasks[i], completed=done_bytes[i] + reader.bytes_done, rows=rows,
                           rate=rows / max(time.perf_counter() - started_at[i], 1e-9))
                completed = sum(done_bytes.values()) + reader.bytes_done
                for task, total, now in zip(step_tasks, step_totals, counters):
                    seconds = total.seconds + now.seconds
                    bar.update(task, completed=completed, rows=total.rows_in + now.rows_in,
                               rate=(total.rows_in + now.rows_in) / max(seconds, 1e-9))

            result = _run_unit(unit, config.inputs[i], config, step_runner, staging, ids, on_progress)
            unmarked.append((marker, result))
            since_save = time.perf_counter() - last_save
            if unit is units[-1] or since_save >= max(config.output.checkpoint_seconds, 10 * save_seconds):
                s0 = time.perf_counter()
                state = staging.save_state(unit, steps, ids)
                for done_marker, done in unmarked:
                    _write_json(done_marker, done)
                unmarked.clear()
                if resumed_state is not None and resumed_state != state:
                    remove_tree(resumed_state)
                resumed_state = state
                last_save = time.perf_counter()
                save_seconds = last_save - s0
            results.append(result)
            done_bytes[i] += unit.file.size
            done_rows[i] += result.rows_read
            for total, done in zip(step_totals, result.steps):
                total.add(done)
            if bar is not None:
                bar.update(tasks[i], completed=done_bytes[i])

    if resuming and resumed_state is not None:
        # Every unit was done before the interruption: the steps still need their state
        # for finish() (a near_dedup save_index, for one).
        staging.load_state(resumed_state, steps)
    for step in steps:
        step.finish()
    return _complete(out, config, units, results, staging, steps, started, t0)


def _work_units(config: PipelineConfig, memory: Mapping[int, MemoryInput] | None = None) -> list[WorkUnit]:
    """Every input file of the run, numbered in order (inputs in config order, files sorted),
    a large JSON Lines file as several units (:mod:`assay.io.ranges`, numbered by
    :func:`number_ranges`); an input handed over from Python is one unit."""
    memory = memory or {}
    units = []
    for i, inp in enumerate(config.inputs):
        with storage_errors(inp.path):
            files = [memory[i]] if i in memory else expand_inputs(inp.path, storage=config.storage)
            fmt = FORMATS[inp.format]
            if i not in memory and fmt.items_path == "item" and not fmt.file_fields:
                files = [r for f in files for r in byte_ranges(f, inp.split_bytes, inp.max_record_bytes)]
        units += [WorkUnit(0, i, f) for f in files]
    for number, unit in enumerate(units):
        unit.number = number
    return units


def number_ranges(config: PipelineConfig, units: list[WorkUnit],
                  run: Callable[[Callable[[WorkUnit], Any], list[WorkUnit]], list[Any]] | None = None) -> None:
    """Give the byte-range units of each file the line number and record index they start at
    (in place), from the lines and records of the ranges before them, counted by
    :func:`~assay.io.ranges.count_lines`. ``run(fn, units)`` gives ``fn(unit)`` for each unit,
    in order (by default here, one after the other; the Ray executor runs them as tasks)."""
    def count(unit: WorkUnit) -> tuple[int, int]:
        return count_lines(unit.file, config.inputs[unit.input_index].max_record_bytes)  # type: ignore[arg-type]

    by_file: dict[tuple[int, str], list[WorkUnit]] = {}
    for unit in units:
        if isinstance(unit.file, InputFile) and unit.file.span is not None:
            by_file.setdefault((unit.input_index, str(unit.file.path)), []).append(unit)
    counted = [u for ranges in by_file.values() for u in ranges[:-1]]  # the last range's count is not needed
    if not counted:
        return
    found = (run or (lambda fn, chosen: [fn(u) for u in chosen]))(count, counted)
    counts = {u.number: (int(lines), int(records)) for u, (lines, records) in zip(counted, found)}
    for ranges in by_file.values():
        files = numbered([u.file for u in ranges], [counts.get(u.number, (0, 0)) for u in ranges])  # type: ignore[misc]
        for unit, file in zip(ranges, files):
            unit.file = file


def _complete(out: Path, config: PipelineConfig, units: list[WorkUnit], results: list[UnitResult],
              staging: _Staging, steps: list[Step], started: datetime, t0: float) -> Manifest:
    """The finishing stage of both engines: shards, rejects, manifest (written last), report."""
    manifest = _finish(out, config, units, results, staging, steps)
    manifest.created = started.isoformat(timespec="seconds")
    manifest.seconds = round(time.perf_counter() - t0, 3)
    manifest.save(out)
    remove_tree(staging.root)
    from assay.report import write_report

    write_report(out)
    return manifest


def _run_on_ray(config: PipelineConfig, output_dir: str | Path | None, address: str | None,
                workers: int | None, resume: bool) -> Manifest:
    from assay.pipeline.ray_engine import logger, run_units_on_ray

    out = location(output_dir if output_dir is not None else config.output.dir, config.storage)
    steps = [s.build() for s in config.steps]
    for step, step_config in zip(steps, config.steps):
        if getattr(step.params, "save_index", None) or getattr(step.params, "load_index", None):
            raise PipelineError(f"{step_config._where or step.name}: load_index/save_index work with the local "
                                "engine only")
    staging = _Staging(out)
    with storage_errors(out):
        if not (resume and staging.check_resumable(config.fingerprint(), "ray")):
            _prepare_output(out)
            staging.start(config.fingerprint(), "ray")
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        units = _work_units(config)
        results = run_units_on_ray(config, units, staging.root, address=address, workers=workers)
        finishing = time.perf_counter()
        manifest = _complete(out, config, units, results, staging, steps, started, t0)
        logger.info("finishing stage on the driver (rejects, shards, manifest, report): %.1f s",
                    time.perf_counter() - finishing)
        return manifest


def _finish(out: Path, config: PipelineConfig, units: list[WorkUnit], results: list[UnitResult],
            staging: _Staging, steps: list[Step]) -> Manifest:
    """Make the final shards, rejects and quarantine from staging, and the manifest and stats."""
    writer_options = dict(shard_rows=config.output.shard_rows, row_group_rows=config.output.row_group_rows,
                          compression=config.output.compression)
    length_after = LengthHistogram()
    shards = ShardWriter(out / "data", observe=lambda b: length_after.add(b.column("text")), **writer_options)
    sources = {inp.source: SourceCounts() for inp in config.inputs}
    for unit, result in zip(units, results):
        counts = sources[config.inputs[unit.input_index].source]
        counts.rows_in += result.rows_in
        counts.rows_out += result.rows_kept
        counts.removed += sum(result.removed.values())
        counts.quarantined += result.quarantined
        counts.coerced += result.coerced
    removed_total: Counter = sum((r.removed for r in results), Counter())
    kept = staging.files("kept", "u*.parquet")

    reject_list = []
    for i, step in enumerate(steps):
        writer = ShardWriter(out / "rejects", prefix=f"{i:02d}-{step.name}", **writer_options)
        for path in staging.files("rejects", f"u*-{i:02d}-*.parquet"):
            for batch in _staged_batches(path):
                writer.write(batch)
        reject_list += writer.close()
    assembled = None
    if config.assemble is not None:
        rejects = ShardWriter(out / "rejects", prefix=f"{len(steps):02d}-assemble", **writer_options)
        # the shuffle buckets are scratch space, written and read once: local disk even when
        # the output is on a store
        buckets = Path(tempfile.mkdtemp(prefix="assay-buckets-")) if is_remote(out) else staging.root / "buckets"
        assembled = assemble(kept, config.assemble, shards, sources, buckets,
                             rejects=rejects if config.output.rejects else None)
        removed_total.update(assembled.removed)
        reject_list += rejects.close()
    else:
        for path in kept:
            for batch in _staged_batches(path):
                shards.write(batch)
    shard_list = shards.close()
    quarantined = sum(r.quarantined for r in results)
    if quarantined:
        make_dirs(out / "quarantine")
        with open_file(out / "quarantine" / "quarantine.jsonl", "wb") as target:
            for path in staging.files("quarantine", "u*.jsonl"):
                with open_file(path, "rb") as source:
                    shutil.copyfileobj(source, target)

    counters = StepRunner(steps).counters()
    for result in results:
        for counter, done in zip(counters, result.steps):
            counter.add(done)
    for counter in counters:
        counter.seconds = round(counter.seconds, 3)
        counter.removed = dict(sorted(counter.removed.items()))
    manifest = Manifest(
        name=config.name,
        config_hash=config.fingerprint(),
        config=orjson.loads(orjson.dumps(config.model_dump(mode="json", exclude={"engine"}))) | {
            "steps": [{s.name: s.params.model_dump(mode="json")} for s in config.steps]},
        versions=_versions(),
        threads=assay.thread_count(),
        columns=[ColumnEntry(name=f.name, type=str(f.type)) for f in shards.schema] if shards.schema else [],
        shards=[ShardEntry(**{**s, "path": f"data/{s['path']}"}) for s in shard_list],
        rejects=[ShardEntry(**{**s, "path": f"rejects/{s['path']}"}) for s in reject_list],
        quarantine="quarantine/quarantine.jsonl" if quarantined else None,
        rows_in=sum(r.rows_in for r in results),
        rows_out=sum(s["rows"] for s in shard_list),
        removed=dict(sorted(removed_total.items())),
        quarantined=quarantined,
        upsampled=assembled.upsampled if assembled is not None else 0,
        coerced=sum(r.coerced for r in results),
        sources=sources,
        steps=counters,
        assemble=assembled,
    )
    if not manifest.balances():  # a bug, never bad input: refuse to write a manifest that does not add up
        failed = "; ".join(c.rule for c in manifest.checks() if not c.ok)
        raise RuntimeError(f"accounting does not balance: {failed}")
    before = LengthHistogram()
    for result in results:
        before.counts = [a + b for a, b in zip(before.counts, result.histogram)]
    stats = _stats(out, shard_list, manifest)
    stats["text_chars_histogram"] = {"before": before.as_dict(), "after": length_after.as_dict()}
    _write_json(out / "stats.json", stats)
    return manifest


def _stats(out: Path, shard_list: list[dict[str, Any]], manifest: Manifest) -> dict[str, Any]:
    """Summaries of the output's numeric columns, overall and per source (polars, streaming)."""
    import polars as pl

    result: dict[str, Any] = {"rows": manifest.rows_out, "steps": [s.model_dump() for s in manifest.steps],
                              "columns": {}, "by_source": {}}
    if not shard_list:
        return result
    paths = [out / "data" / s["path"] for s in shard_list]
    # polars reads a store's shards through fsspec's files (its own cloud client would need
    # the store's settings again)
    frame = pl.scan_parquet([open_file(p) for p in paths] if is_remote(out) else [str(p) for p in paths])
    schema = frame.collect_schema()
    numeric = [name for name, dtype in schema.items() if dtype.is_numeric() and name != ROW_KEY]
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
    means, by_source = _ordered_means(paths, numeric)
    for key, value in overall.items():
        name, stat = key.split("|")
        result["columns"].setdefault(name, {})[stat] = means[name] if stat == "mean" else value
    result["by_source"] = by_source
    return result


def _ordered_means(paths: list[Path], numeric: list[str]) -> tuple[dict[str, float | None], dict[str, dict]]:
    """Means of the numeric columns, overall and per source (with each source's rows), summed
    in shard order: a parallel float sum would change its last bits from run to run."""
    totals = {n: [0.0, 0] for n in numeric}
    sources: dict[str, dict[str, list]] = {}
    for path in paths:
        for batch in parquet_file(path).iter_batches(batch_size=1 << 20, columns=["source", *numeric]):
            table = pa.Table.from_batches([batch])
            for n in numeric:
                column = table.column(n)
                totals[n][0] += pc.sum(column).as_py() or 0
                totals[n][1] += len(column) - column.null_count
            grouped = table.group_by("source", use_threads=False).aggregate(
                [([], "count_all")] + [(n, agg) for n in numeric for agg in ("sum", "count")])
            for row in grouped.to_pylist():
                entry = sources.setdefault(row["source"], {"rows": [0, 0]} | {n: [0.0, 0] for n in numeric})
                entry["rows"][0] += row["count_all"]
                for n in numeric:
                    entry[n][0] += row[f"{n}_sum"] or 0
                    entry[n][1] += row[f"{n}_count"]

    def mean(total: list) -> float | None:
        return total[0] / total[1] if total[1] else None

    by_source = {name: {"rows": entry["rows"][0]} | {f"{n}_mean": mean(entry[n]) for n in numeric}
                 for name, entry in sorted(sources.items())}
    return {n: mean(t) for n, t in totals.items()}, by_source
