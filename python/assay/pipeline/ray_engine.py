"""The Ray Data executor: the steps of the local engine, run on a Ray cluster, same bytes.

A run is cut at its global steps (:attr:`assay.steps.Step.kind`) into *segments*. A
segment is one Ray task per work unit (an input file or a byte range of a large one, as in
the local engine) that reads the unit's rows (from the input, or from what the previous
segment staged), applies the previous global step's decisions, runs the segment's map steps
with the same :class:`~assay.pipeline.batches.StepRunner` as the local engine, and stages
the rows that remain with the next global step's group keys (band keys, key hashes).
Between two segments the global step is decided with Ray Data shuffles over those keys,
their partitions sized by :data:`KEY_PARTITION_ROWS` (keys) and :data:`PARTITION_ROWS`
(rows with their texts):

- the id check (with the first segment): each unit's reader logs its (source, id) queries
  as it reads; a ``groupby`` on the 128-bit hash finds every query but the first in row
  order, and the units that asked one run the first segment again, their reader
  quarantining exactly those, with the local engine's record;
- ``exact_dedup``: rows are grouped by their key's hash; each group is decided by the
  step's own index fed in row-key order;
- ``near_dedup``: rows are linked through the LSH buckets of the step's own band tables;
  the connected components are found by rounds of min-label propagation (two ``groupby``
  per round, until no label changes; a round limit fails loudly; up to
  :data:`DRIVER_EDGES` candidate edges the same rounds run on the driver, in memory,
  :func:`propagate_labels`), each unit reads the key
  texts of its rows that are in a component (the texts of the others never move), and each
  component is decided by the step's own index in row-key order.

Rows in different groups never affect each other, so this gives the decisions the local
engine's streaming index gives, whatever the partitioning. The finishing stage (rejects,
assembly, shards, manifest, report) is the local engine's, run on the driver over the
staged files, so the output is byte-identical. Staged files live under the output's
``.staging/``, which every worker must reach: an object store (``-o s3://bucket/run``,
through :mod:`assay.storage`), one machine, or a file system every node mounts
(``storage: {shared_local: true}``). A local path on a cluster with nodes on other
machines is refused before anything runs.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay import _core
from assay.pipeline.batches import StepRunner
from assay.pipeline.config import PipelineConfig, PipelineError
from assay.pipeline.output import QuarantineWriter
from assay.steps import ROW_KEY, ROW_KEY_FILE_SHIFT, Step
from assay.storage import is_remote, location, make_dirs, open_file, parquet_file, remove_tree, write_atomic

__all__ = ["Segment", "plan_segments", "run_units_on_ray"]

logger = logging.getLogger("assay.ray")

MAX_ROUNDS = 64
"""Rounds of label propagation after which near_dedup's components are an error."""

DRIVER_EDGES = 4_000_000
"""Candidate edges up to which near_dedup's label propagation runs on the driver, in memory
(~100 MB; each round two shuffles saved, ~1 s apiece), instead of as Ray Data groupbys."""


@dataclass(frozen=True)
class Segment:
    """Map steps run in one task per unit, between two global steps."""

    opens: int | None
    """The global step whose decisions the segment applies first (None: it reads the inputs)."""
    maps: tuple[int, ...]
    """The map steps it runs, by index."""
    closes: int | None
    """The global step decided after it (None: the last segment, which stages the kept rows)."""


def plan_segments(steps: list[Step]) -> list[Segment]:
    """Cut the steps at every global step.

    >>> from assay.steps import STEPS
    >>> plan_segments([STEPS["normalize"](), STEPS["exact_dedup"](), STEPS["near_dedup"](), STEPS["text_stats"]()])
    [Segment(opens=None, maps=(0,), closes=1), Segment(opens=1, maps=(), closes=2), Segment(opens=2, maps=(3,), closes=None)]
    """
    segments, opens, maps = [], None, []
    for index, step in enumerate(steps):
        if step.kind == "global":
            segments.append(Segment(opens, tuple(maps), index))
            opens, maps = index, []
        else:
            maps.append(index)
    segments.append(Segment(opens, tuple(maps), None))
    return segments


# ---------------------------------------------------------------------------------------
# The id check: a log of the reader's queries, then the verdicts it replays


class _IdLog:
    """Stands in for :class:`assay.io.IdRegistry` in a first read: answers "not seen" and
    logs each (source, id) query's 128-bit hash with its number in the unit."""

    def __init__(self) -> None:
        self.high: list[np.ndarray] = []
        self.low: list[np.ndarray] = []
        self.count = 0

    def seen_before(self, sources: Any, ids: Any) -> np.ndarray:
        columns = [pa.array(c, pa.string()) if not isinstance(c, pa.Array) else c.cast(pa.string())
                   for c in (sources, ids)]
        high, low, _ = _core.exact_key_hashes(columns, False)
        self.high.append(high)
        self.low.append(low)
        self.count += len(high)
        return np.zeros(len(high), dtype=bool)

    def table(self, unit: int) -> pa.Table:
        high = np.concatenate(self.high) if self.high else np.zeros(0, np.uint64)
        low = np.concatenate(self.low) if self.low else np.zeros(0, np.uint64)
        return pa.table({"unit": np.full(len(high), unit, np.int64), "query": np.arange(len(high), dtype=np.int64),
                         "high": high.view(np.int64), "low": low.view(np.int64)})


class _IdVerdicts:
    """Replays the id check's verdicts for one unit: query ``n`` was seen before when ``n``
    is in ``repeated``."""

    def __init__(self, repeated: set[int]) -> None:
        self.repeated = repeated
        self.count = 0

    def seen_before(self, sources: Any, ids: Any) -> np.ndarray:
        n = len(ids)
        out = np.array([self.count + i in self.repeated for i in range(n)], dtype=bool)
        self.count += n
        return out


def _repeated_queries(group: pa.Table) -> pa.Table:
    """The queries of a hash partition whose (source, id) an earlier query (in unit, then
    query order) already asked about."""
    table = group.sort_by([("high", "ascending"), ("low", "ascending"), ("unit", "ascending"),
                           ("query", "ascending")])
    high, low = table.column("high").to_numpy(), table.column("low").to_numpy()
    repeat = np.zeros(len(high), dtype=bool)
    repeat[1:] = (high[1:] == high[:-1]) & (low[1:] == low[:-1])
    return table.select(["unit", "query"]).filter(pa.array(repeat))


# ---------------------------------------------------------------------------------------
# One unit's segment


@dataclass
class _UnitJob:
    config: PipelineConfig
    staging: str
    segment: Segment
    last: bool


def _id_log_file(staging: Path, unit: Any) -> Path:
    return staging / "ray" / "ids" / f"{unit.tag}.parquet"


def _staged_rows(paths: list[Path]) -> Iterator[pa.RecordBatch]:
    from assay.pipeline.runner import _staged_batches

    for path in paths:
        yield from _staged_batches(path)


def _segment_folder(staging: Path, closes: int) -> Path:
    """Where the rows a segment passes on to global step ``closes`` are staged."""
    return staging / "ray" / f"s{closes:02d}"


def _segment_files(staging: Path, closes: int, unit: Any) -> list[Path]:
    return sorted(_segment_folder(staging, closes).glob(f"{unit.tag}-*.parquet"), key=lambda p: p.name)


def _keys_file(staging: Path, closes: int, unit: Any) -> Path:
    """Where a segment stages the group keys (:meth:`group_keys`) of a unit's rows for the
    global step ``closes``, so that step reads the keys, not the rows."""
    return _segment_folder(staging, closes) / "keys" / f"{unit.tag}.parquet"


def _decisions_file(staging: Path, step: int, unit_number: int) -> Path:
    return staging / "ray" / f"d{step:02d}" / f"u{unit_number:06d}.parquet"


def _run_segment(job: _UnitJob, unit: Any, repeated: set[int] | None) -> dict[str, Any]:
    """Run one segment for one unit; returns its counts (UnitResult fields as JSON).

    The first segment checks ids with the verdicts ``repeated`` (the unit's queries seen
    before), or, when they are not known yet (None), answers "not seen" and stages the
    unit's id log for the check (:func:`run_units_on_ray` runs the unit again if one of its
    queries turns out repeated)."""
    from assay.pipeline.runner import LengthHistogram, UnitResult, _staged_writer, unit_reader, with_row_keys

    config, segment = job.config, job.segment
    staging = location(job.staging, config.storage)
    steps = [s.build() for s in config.steps]
    counters = StepRunner(steps).counters()
    runner = StepRunner([steps[i] for i in segment.maps])
    map_counters = [counters[i] for i in segment.maps]
    rejects: dict[int, Any] = {}

    def rejects_writer(index: int) -> Any:
        if index not in rejects:
            rejects[index] = _staged_writer(staging / "rejects", f"{unit.tag}-{index:02d}")
        return rejects[index]

    indices = segment.maps  # step index of each step the runner runs

    def on_removed(position: int, removed: pa.RecordBatch) -> None:
        if config.output.rejects:
            rejects_writer(indices[position]).write(removed)

    if job.last:
        kept = _staged_writer(staging / "kept", unit.tag)
    else:
        kept = _staged_writer(_segment_folder(staging, segment.closes), unit.tag)
    histogram = LengthHistogram()
    rows_read = quarantined = coerced = 0
    logged: dict[str, int] = {}
    if segment.opens is None:
        inp = config.inputs[unit.input_index]
        quarantine = QuarantineWriter(staging / "quarantine", f"{unit.tag}.jsonl")
        ids: Any = False
        if inp.unique_ids:
            ids = _IdLog() if repeated is None else _IdVerdicts(repeated)
        reader = unit_reader(config, unit, quarantine, ids)

        source = with_row_keys(reader, unit.number, histogram)
    else:
        source = _staged_rows(_segment_files(staging, segment.opens, unit))
        path = _decisions_file(staging, segment.opens, unit.number)
        decisions = parquet_file(path).read() if path.exists() else _empty_decisions()
        # the global step's decisions first, counted and split like any step
        runner = StepRunner([_Decided(steps[segment.opens], decisions), *runner.steps])
        map_counters = [counters[segment.opens], *map_counters]
        indices = (segment.opens, *segment.maps)
    staged, keys = 0, []
    closing = None if job.last else steps[segment.closes]
    for batch in source:
        remaining = runner(batch, map_counters, on_removed)
        staged += remaining.num_rows
        kept.write(remaining)
        if closing is not None and remaining.num_rows:
            keys.append(closing.group_keys(remaining))
    kept.close()
    if keys:  # one small table per unit (16-24 bytes a row and band): band keys, or key hashes
        path = _keys_file(staging, segment.closes, unit)
        make_dirs(path.parent)
        _write_parquet(pa.concat_tables(keys), path)
    for writer in rejects.values():
        writer.close()
    if segment.opens is None:
        quarantine.close()
        rows_read, quarantined, coerced = reader.rows_read, quarantine.count, reader.coerced
        if isinstance(ids, _IdLog):
            _write_parquet(ids.table(unit.number), _id_log_file(staging, unit))
            logged = {"queries": ids.count}
    result = UnitResult(rows_read=rows_read, quarantined=quarantined, steps=counters, coerced=coerced,
                        histogram=histogram.counts if segment.opens is None else [])
    return {"unit": unit.number, "result": result.model_dump_json(), "staged": staged, **logged}


def _empty_decisions() -> pa.Table:
    from assay.steps.dedup import DECISION_SCHEMA

    return DECISION_SCHEMA.empty_table()


class _Decided:
    """A global step with its decisions in hand, as a map step for :class:`StepRunner`."""

    def __init__(self, step: Any, decisions: pa.Table) -> None:
        self.step, self.decisions, self.name = step, decisions, step.name

    def adds(self) -> tuple[str, ...]:
        return self.step.adds()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return self.step.apply(batch, self.decisions)


# ---------------------------------------------------------------------------------------
# Global steps on Ray Data


def _read_parquet(ray_data: Any, files: list[Path]) -> Any:
    import pyarrow.fs

    # an explicit file system: the store's own (fsspec, with its settings) for staged files in a
    # bucket; for local ones it also keeps Ray from importing fsspec's HTTP support
    if files and is_remote(files[0]):
        filesystem = pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(files[0].fs))
        return ray_data.read_parquet([f.path for f in files], filesystem=filesystem)
    return ray_data.read_parquet([str(f) for f in files], filesystem=pyarrow.fs.LocalFileSystem())


def _write_parquet(table: pa.Table, path: Path) -> None:
    with open_file(path, "wb") as sink:
        pq.write_table(table, sink)


PARTITION_ROWS = 200_000
"""Rows with their key texts per shuffle partition at most: the partition count follows the
data, so what one reduce task holds stays bounded as the input grows."""

KEY_PARTITION_ROWS = 2_000_000
"""The same for tables of keys (ids, band keys, candidate edges: 16-56 bytes a row)."""


def _partitions(workers: int, rows: int = 0, per_partition: int | None = None) -> int:
    """Shuffle partitions for ``rows`` rows (``per_partition`` at most in each, by default
    :data:`PARTITION_ROWS`): two per worker, more when the data needs them.

    >>> _partitions(2), _partitions(2, 10_000_000), _partitions(2, 10_000_000, KEY_PARTITION_ROWS)
    (4, 50, 5)
    """
    return max(2, 2 * workers, -(-rows // (per_partition or PARTITION_ROWS)))


def _with_part(table: pa.Table, column: str, parts: int) -> pa.Table:
    values = table.column(column).to_numpy().view(np.uint64)
    return table.append_column("part", pa.array((values % np.uint64(parts)).astype(np.int64)))


def propagate_labels(row_keys: np.ndarray, buckets: np.ndarray) -> tuple[np.ndarray, int]:
    """Min-label propagation over candidate edges (row, bucket) in memory, the rounds of the
    Ray Data groupbys: each bucket takes its rows' least label, each row its buckets' least,
    until no label falls. Returns each edge's label (its component's least row key) and the
    rounds taken.

    >>> labels, rounds = propagate_labels(np.array([5, 7, 7, 9, 2, 3]), np.array([1, 1, 2, 2, 3, 3]))
    >>> labels.tolist(), rounds
    ([5, 5, 5, 5, 2, 2], 3)
    """
    bucket_values, bucket_index = np.unique(buckets, return_inverse=True)
    row_values, row_index = np.unique(row_keys, return_inverse=True)
    label = row_keys.astype(np.int64)
    top = np.iinfo(np.int64).max
    for round_number in range(1, MAX_ROUNDS + 1):
        bucket_label = np.full(len(bucket_values), top, dtype=np.int64)
        np.minimum.at(bucket_label, bucket_index, label)
        row_label = np.full(len(row_values), top, dtype=np.int64)
        np.minimum.at(row_label, row_index, bucket_label[bucket_index])
        fallen = row_label[row_index]
        if np.array_equal(fallen, label):
            return label, round_number
        label = fallen
    raise PipelineError(f"near_dedup: the candidate components did not settle in {MAX_ROUNDS} rounds")


def _write_decisions(staging: Path, step: int, decisions: Any, parts: int) -> None:
    """Write a Ray dataset of decisions as one row-key-sorted file per unit."""
    folder = staging / "ray" / f"d{step:02d}"
    make_dirs(folder)

    def write(group: pa.Table) -> pa.Table:
        unit = int(group.column("unit")[0].as_py())
        table = group.drop_columns(["unit"]).sort_by(ROW_KEY)
        _write_parquet(table, _decisions_file(staging, step, unit))
        return pa.table({"unit": [unit], "rows": [table.num_rows]})

    def with_unit(table: pa.Table) -> pa.Table:
        return table.append_column("unit", pc.shift_right(table.column(ROW_KEY), ROW_KEY_FILE_SHIFT))

    decisions.map_batches(with_unit, batch_format="pyarrow").groupby("unit", num_partitions=parts).map_groups(
        write, batch_format="pyarrow").materialize()


def _decide_exact(ray_data: Any, config: PipelineConfig, index: int, files: list[Path], keys: list[Path],
                  workers: int, rows: int, staging: Path) -> None:
    parts = _partitions(workers, rows, KEY_PARTITION_ROWS)

    def decide(group: pa.Table) -> pa.Table:
        return config.steps[index].build().decide(group.select([ROW_KEY, "key"]))

    ds = _read_parquet(ray_data, keys).map_batches(lambda t: _with_part(t, "group", parts), batch_format="pyarrow")
    _write_decisions(staging, index, ds.groupby("part", num_partitions=parts).map_groups(decide, batch_format="pyarrow"),
                     parts)


def _propagate_on_ray(edges: Any, parts: int) -> Any:
    """Min-label propagation over the candidate edges (``row_key``, ``bucket``, ``label``) as
    Ray Data groupbys, two per round (by bucket, then by row), until no label falls."""

    def bucket_minimum(group: pa.Table) -> pa.Table:
        minimum = group.group_by("bucket").aggregate([("label", "min")])
        joined = group.drop_columns(["part"]).join(minimum, "bucket")
        return joined.select([ROW_KEY, "bucket", "label"]).append_column("bucket_label", joined.column("label_min")) \
            .append_column("part", pa.array(np.zeros(joined.num_rows, np.int64)))

    def row_minimum(group: pa.Table) -> pa.Table:
        """Each row's label becomes the least of its buckets'; ``changed`` is 1 on one edge of
        each row whose label fell, so its sum over the dataset counts those rows."""
        minimum = group.group_by(ROW_KEY).aggregate([("bucket_label", "min"), ("label", "min")])
        fell = minimum.filter(pc.less(minimum.column("bucket_label_min"), minimum.column("label_min")))
        table = group.drop_columns(["part"]).join(minimum.select([ROW_KEY, "bucket_label_min"]), ROW_KEY)
        table = table.sort_by([(ROW_KEY, "ascending"), ("bucket", "ascending")])
        row_keys = table.column(ROW_KEY).to_numpy()
        first = np.ones(len(row_keys), dtype=bool)
        first[1:] = row_keys[1:] != row_keys[:-1]
        changed = first & np.isin(row_keys, fell.column(ROW_KEY).to_numpy())
        table = pa.table({ROW_KEY: table.column(ROW_KEY), "bucket": table.column("bucket"),
                          "label": table.column("bucket_label_min"), "changed": pa.array(changed.astype(np.int64))})
        return _with_part(table, "bucket", parts)

    edges = edges.map_batches(lambda t: _with_part(t, "bucket", parts), batch_format="pyarrow")
    for round_number in range(1, MAX_ROUNDS + 1):
        edges = edges.groupby("part", num_partitions=parts).map_groups(bucket_minimum, batch_format="pyarrow") \
            .map_batches(lambda t: _with_part(t.drop_columns(["part"]), ROW_KEY, parts), batch_format="pyarrow") \
            .groupby("part", num_partitions=parts).map_groups(row_minimum, batch_format="pyarrow").materialize()
        fell = edges.sum("changed")
        logger.info("near_dedup: round %d, %d rows took a smaller label", round_number, fell or 0)
        edges = edges.drop_columns(["changed"])
        if not fell:
            break
    else:
        raise PipelineError(f"near_dedup: the candidate components did not settle in {MAX_ROUNDS} rounds")
    return edges


def _decide_near(ray_data: Any, config: PipelineConfig, index: int, files: list[Path], keys: list[Path],
                 workers: int, rows: int, staging: Path) -> None:
    bands = config.steps[index].build().index.config["bands"]
    key_parts = _partitions(workers, rows * bands, KEY_PARTITION_ROWS)  # one band key per row and band

    def shared_buckets(group: pa.Table) -> pa.Table:
        """Edges of the buckets that hold two rows or more, labelled by their row."""
        counts = group.group_by("bucket").aggregate([(ROW_KEY, "count")])
        shared = counts.filter(pc.greater(counts.column(f"{ROW_KEY}_count"), 1)).column("bucket")
        edges = group.filter(pc.is_in(group.column("bucket"), shared)).select([ROW_KEY, "bucket"])
        return edges.append_column("label", edges.column(ROW_KEY))

    buckets = _read_parquet(ray_data, keys).map_batches(lambda t: _with_part(t, "bucket", key_parts),
                                                        batch_format="pyarrow")
    edges = buckets.groupby("part", num_partitions=key_parts) \
        .map_groups(shared_buckets, batch_format="pyarrow").materialize()
    edge_count = edges.count()
    if edge_count == 0:  # no two rows share a bucket: every row is its own survivor
        return
    if edge_count <= DRIVER_EDGES:
        import ray

        table = pa.concat_tables(ray.get(edges.to_arrow_refs())).combine_chunks()
        labels, rounds = propagate_labels(table.column(ROW_KEY).to_numpy(), table.column("bucket").to_numpy())
        logger.info("near_dedup: %d candidate edges settled on the driver in %d rounds", edge_count, rounds)
        edges = ray_data.from_arrow(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels)))
    else:
        edges = _propagate_on_ray(edges, _partitions(workers, edge_count, KEY_PARTITION_ROWS))

    by_unit: dict[int, list[Path]] = {}
    for path in files:  # staged files are named after their unit: u000012-....parquet
        by_unit.setdefault(int(path.name[1:7]), []).append(path)

    def members(table: pa.Table) -> pa.Table:
        table = table.group_by([ROW_KEY, "label"]).aggregate([])  # a row's edges in this block, once
        return table.append_column("unit", pc.shift_right(table.column(ROW_KEY), ROW_KEY_FILE_SHIFT))

    def member_texts(group: pa.Table) -> Iterator[pa.Table]:
        """The key texts of one unit's rows that are in a component, read from the unit's
        staged files one batch at a time (a semi-join: the texts of rows in no component
        never leave the unit, and the task holds one staged batch, not the unit)."""
        step = config.steps[index].build()
        labels = group.group_by([ROW_KEY, "label"]).aggregate([])
        wanted = labels.column(ROW_KEY).combine_chunks()
        empty = True
        for batch in _staged_rows(by_unit[int(group.column("unit")[0].as_py())]):
            batch = batch.filter(pc.is_in(batch.column(ROW_KEY), wanted))
            if batch.num_rows:
                texts = pa.table({ROW_KEY: batch.column(ROW_KEY), "text": step.keys(batch).column("text")})
                table = labels.join(texts, ROW_KEY, join_type="inner").select([ROW_KEY, "label", "text"])
                empty = False
                yield _with_part(table, "label", row_parts)
        if empty:
            yield _with_part(pa.table({ROW_KEY: pa.array([], pa.int64()), "label": pa.array([], pa.int64()),
                                       "text": pa.array([], pa.string())}), "label", row_parts)

    row_parts = _partitions(workers, rows)  # rows with their key texts
    joined = edges.map_batches(members, batch_format="pyarrow").groupby("unit", num_partitions=row_parts).map_groups(
        member_texts, batch_format="pyarrow")

    def decide(group: pa.Table) -> pa.Table:
        step = config.steps[index].build()
        return step.decide(group.select([ROW_KEY, "text"]))

    _write_decisions(staging, index, joined.groupby("part", num_partitions=row_parts).map_groups(
        decide, batch_format="pyarrow"), row_parts)


# ---------------------------------------------------------------------------------------
# The driver


def connect(address: str | None, workers: int | None) -> int:
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT``), or start a local one
    with ``workers`` CPUs (the machine's cores by default); returns the cluster's CPUs.
    A Ray already initialised in this process (a notebook, a test's cluster) is used as it is."""
    import ray

    if not ray.is_initialized():
        # a task holds one CPU: its Rust kernels get one thread (as Ray gives numpy one
        # through OMP_NUM_THREADS), so the cluster's parallelism is its tasks
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": {"env_vars": {"RAYON_NUM_THREADS": "1"}}}
        if address is not None:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # assay reports its own stages
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # the groups here are whole partitions: a pull-based sort shuffle starts in a fraction of
    # the time the hash shuffle's aggregator actors take (0.2 s against 2.7 s per groupby here)
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    return int(ray.cluster_resources().get("CPU", 1))


def _json_write(path: Path, data: Any) -> None:
    import orjson

    write_atomic(path, orjson.dumps(data))


def _clear_segment(staging: Path, segment: Segment, last: bool, unit: Any = None) -> None:
    """Remove what an interrupted run of ``segment`` may have left (it is run again whole),
    or what it staged for one ``unit`` (run again alone)."""
    output = staging / "kept" if last else _segment_folder(staging, segment.closes)
    tag = "u*" if unit is None else unit.tag
    if unit is None:
        remove_tree(output)
    else:
        for path in (*output.glob(f"{tag}-*.parquet"), *output.glob(f"keys/{tag}.parquet")):
            path.unlink()
    for index in (*segment.maps, *(() if segment.opens is None else (segment.opens,))):
        for path in (staging / "rejects").glob(f"{tag}-{index:02d}-*.parquet"):
            path.unlink()
    if segment.opens is None:
        for path in (staging / "quarantine").glob(f"{tag}.jsonl"):
            path.unlink()


def foreign_nodes(nodes: list[dict[str, Any]], driver_ip: str) -> list[str]:
    """The addresses of the live Ray nodes that are not on the driver's machine.

    >>> foreign_nodes([{"Alive": True, "NodeManagerAddress": "10.0.0.1"},
    ...                {"Alive": True, "NodeManagerAddress": "10.0.0.2"},
    ...                {"Alive": False, "NodeManagerAddress": "10.0.0.3"}], "10.0.0.1")
    ['10.0.0.2']
    """
    return sorted({n["NodeManagerAddress"] for n in nodes if n.get("Alive") and n["NodeManagerAddress"] != driver_ip})


def check_reachable(config: PipelineConfig, staging_root: Path) -> None:
    """Refuse local paths (the output and its staging, the inputs) that the cluster's nodes
    on other machines cannot see, unless ``storage.shared_local`` says they are shared."""
    if config.storage.shared_local:
        return
    local = [str(staging_root.parent)] if not is_remote(staging_root) else []
    local += [inp.path for inp in config.inputs if inp.path and not is_remote(location(inp.path, config.storage))]
    if not local:
        return
    import ray

    others = foreign_nodes(ray.nodes(), ray.util.get_node_ip_address())
    if others:
        raise PipelineError(
            f"{local[0]} is a local path, but the Ray cluster has nodes on other machines ({', '.join(others[:3])}) "
            "that cannot see it: put inputs and output on shared storage (s3://bucket/prefix, ...) or, for a file "
            "system every node mounts (NFS), set storage: {shared_local: true}")


def run_units_on_ray(config: PipelineConfig, units: list[Any], staging_root: Path, *, address: str | None,
                     workers: int | None) -> list[Any]:
    """Stage every unit's kept rows, rejects and quarantine as the local engine does, on
    Ray; returns the units' :class:`~assay.pipeline.runner.UnitResult` in unit order.

    Each stage (the id check, every segment, every global step) ends with a marker under
    ``.staging/ray/``; a run started again on the same staging (``--resume``) skips the
    marked stages and redoes the first unmarked one whole."""
    import ray.data

    from assay.pipeline.runner import UnitResult

    cpus = connect(address, workers)
    check_reachable(config, staging_root)
    workers = workers or cpus
    steps = [s.build() for s in config.steps]
    segments = plan_segments(steps)
    staging = str(staging_root)
    markers = staging_root / "ray"
    make_dirs(markers)

    def tasks(fn: Callable[[Any], dict[str, Any]], chosen: list[Any]) -> list[dict[str, Any]]:
        """``fn(unit)`` for every chosen unit, one Ray task each."""
        items = [{"unit": u} for u in chosen]
        return ray.data.from_items(items, override_num_blocks=max(1, len(items))).map(
            lambda row: fn(row["unit"])).take_all()

    def in_order(fn: Callable[[Any], Any], chosen: list[Any]) -> list[Any]:
        """``fn(unit)`` for every chosen unit as Ray tasks, in the units' order."""
        done = {r["unit"]: r["value"] for r in tasks(lambda unit: {"unit": unit.number, "value": fn(unit)}, chosen)}
        return [done[u.number] for u in chosen]

    from assay.pipeline.runner import number_ranges

    number_ranges(config, units, in_order)  # the ranges of large files: where each one's numbering starts
    # The id check rides on the first segment: its tasks answer "not seen" and stage their
    # units' id logs; a groupby on the hashes then finds the repeated queries, and only the
    # units that have one run the first segment again, with the verdicts (reading every file
    # twice cost ~8 s of a 45 s run).
    ids_marker = markers / "ids.json"
    repeated: dict[int, set[int]] | None = None  # None: not checked yet
    if ids_marker.exists():
        import orjson

        repeated = {int(k): set(v) for k, v in orjson.loads(ids_marker.read_bytes()).items()}
    checked = [u for u in units if config.inputs[u.input_index].unique_ids]

    def check_ids(rows: list[dict[str, Any]], job: _UnitJob) -> dict[int, set[int]]:
        """The repeated queries of the units' id logs; the units that have any are run again."""
        t0 = time.perf_counter()
        found: dict[int, set[int]] = {}
        logged = [_id_log_file(staging_root, u) for u in checked]
        parts = _partitions(workers, sum(r["queries"] for r in rows if "queries" in r), KEY_PARTITION_ROWS)
        hashes = _read_parquet(ray.data, logged).map_batches(lambda t: _with_part(t, "high", parts),
                                                          batch_format="pyarrow")
        for row in hashes.groupby("part", num_partitions=parts).map_groups(
                _repeated_queries, batch_format="pyarrow").take_all():
            found.setdefault(int(row["unit"]), set()).add(int(row["query"]))
        _json_write(ids_marker, {str(k): sorted(v) for k, v in found.items()})
        again = [u for u in units if u.number in found]
        for unit in again:
            _clear_segment(staging_root, job.segment, job.last, unit)
        if again:
            redone = {r["unit"]: r for r in tasks(lambda unit: _run_segment(job, unit, found[unit.number]), again)}
            rows[:] = [redone.get(r["unit"], r) for r in rows]
        remove_tree(markers / "ids")
        logger.info("id check: %.1f s (%d units with a repeated id run again)", time.perf_counter() - t0, len(again))
        return found

    totals: dict[int, UnitResult] = {}
    for number, segment in enumerate(segments):
        last = number == len(segments) - 1
        marker = markers / f"segment-{number:02d}.json"
        if marker.exists():
            import orjson

            rows = orjson.loads(marker.read_bytes())
        else:
            _clear_segment(staging_root, segment, last)
            job = _UnitJob(config, staging, segment, last=last)
            t0 = time.perf_counter()
            if segment.opens is None and checked and repeated is None:
                make_dirs(markers / "ids")
                rows = tasks(lambda unit, job=job: _run_segment(job, unit, None), units)
                repeated = check_ids(rows, job)
            else:
                known = repeated or {}
                rows = tasks(lambda unit, job=job, known=known: _run_segment(job, unit, known.get(unit.number, set())),
                             units)
            _json_write(marker, rows)
            logger.info("segment %d (steps %s): %.1f s", number, list(segment.maps), time.perf_counter() - t0)
        for row in rows:
            result = UnitResult.model_validate_json(row["result"])
            total = totals.get(row["unit"])
            if total is None:
                totals[row["unit"]] = result
            else:
                for mine, theirs in zip(total.steps, result.steps):
                    mine.add(theirs)
        if segment.closes is not None:
            decided = markers / f"d{segment.closes:02d}.done"
            if not decided.exists():
                t0 = time.perf_counter()
                remove_tree(markers / f"d{segment.closes:02d}")
                folder = _segment_folder(staging_root, segment.closes)
                files = sorted(folder.glob("u*.parquet"), key=lambda p: p.name)
                keys = sorted((folder / "keys").glob("u*.parquet"), key=lambda p: p.name)
                if keys:
                    decide = _decide_near if config.steps[segment.closes].name == "near_dedup" else _decide_exact
                    staged = sum(row.get("staged", 0) for row in rows)  # 0 in a marker of an older run
                    decide(ray.data, config, segment.closes, files, keys, workers, staged, staging_root)
                _json_write(decided, {})
                logger.info("step %d (%s), global: %.1f s", segment.closes, config.steps[segment.closes].name,
                            time.perf_counter() - t0)
        if segment.opens is not None:
            remove_tree(_segment_folder(staging_root, segment.opens))
    return [totals[u.number] for u in units]
