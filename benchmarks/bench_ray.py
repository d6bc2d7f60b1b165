"""The Ray executor against the local engine: one node vs two, one thread vs two.

    python benchmarks/bench_ray.py [--size-mb 200] [--files 8] [--rounds 2] [--pipelines web,near]
                                   [--configs local1,local2,ray1,ray2] [--workdir DIR] [--split-mb MB]

Input: Reuters-21578 (``../shared/data/web/reuters21578.jsonl.gz``; the repo's sample when
absent) replicated to at least ``--size-mb`` MB of JSON Lines and dealt into ``--files``
files (the Ray executor parallelises across work units: files, and the byte ranges of files
over the input's ``split_bytes``, which ``--split-mb`` sets); each replica gets distinct
``newid``s.

Pipelines: ``web`` is ``pipelines/web-fineweb.yaml``'s steps (language ID, the four quality
filters, near-dedup, text stats) on that input; ``near`` is near-dedup alone.

Configurations, each a fresh driver process, timed on the wall clock (the Ray cluster is
started once, before the timings, as a cluster would be):

- ``local1`` / ``local2``: the local engine with ``--threads 1`` / ``2``;
- ``ray1``: a Ray cluster of one node with one CPU; ``ray2``: two nodes with one CPU each
  (``ray.cluster_utils.Cluster``), the driver joining with ``--address``.

Rounds interleave the configurations (A B C D A B C D ...); medians and the worst run are
printed, and every configuration's shards are checked to be byte-identical.

``--rss-scales 1,4`` runs ``web`` on the two-node cluster at 1x, 4x... ``--size-mb`` and samples
the resident memory of every Ray worker process (and the driver) every 0.2 s: the peak per
worker, which should stay flat as the input grows (what Ray spills is not in it).
``--stages`` runs each pipeline once on each Ray configuration of ``--configs`` in this
process and prints the executor's stage log (each segment with the id check, each global
step) and the finishing stage on the driver.

``--shuffle-bytes`` measures instead what the Ray executor's shuffles move for ``near``: the
tables its groupbys exchange, with the engine's column layout, built in one process from the
step's own band keys, and the rounds its label propagation takes (docs/scale.md uses them).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
REUTERS = SHARED / "web" / "reuters21578.jsonl.gz"
SAMPLE = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
MB = 1_000_000
ID_STRIDE = 1_000_000

STEPS = {
    "web": """  - langid: {keep: [en], min_score: 0.65}
  - filter: {filters: [gopher_repetition, gopher_quality, c4_quality, fineweb_quality], language: en}
  - near_dedup: {threshold: 0.8}
  - text_stats: {}
""",
    "near": "  - near_dedup: {threshold: 0.8}\n",
}


def dealt_input(size_mb: float, files: int, folder: Path) -> tuple[Path, int]:
    """Write (once) the replicated input as ``files`` JSON Lines files; returns the folder and bytes."""
    source = REUTERS if REUTERS.exists() else SAMPLE
    target = folder / f"reuters-{size_mb:g}mb-{files}files"
    done = target / "done.json"
    if done.exists():
        return target, json.loads(done.read_text())["bytes"]
    target.mkdir(parents=True, exist_ok=True)
    with gzip.open(source, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    outs = [open(target / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(files)]
    written, copy = 0, 0
    while written < size_mb * MB:
        out = outs[copy % files]
        for record in records:
            line = json.dumps({**record, "newid": int(record["newid"]) + copy * ID_STRIDE}) + "\n"
            out.write(line)
            written += len(line.encode())
        copy += 1
    for out in outs:
        out.close()
    done.write_text(json.dumps({"bytes": written, "copies": copy}))
    return target, written


def pipeline_file(kind: str, data: Path, folder: Path, split_mb: float | None = None) -> Path:
    path = folder / f"{kind}.yaml"
    split = "" if split_mb is None else f", split_bytes: {int(split_mb * MB)}"
    path.write_text(f"""name: bench-ray-{kind}
inputs:
  - {{path: "{data}/*.jsonl", format: text, text_field: [title, body], id_field: newid, source: reuters,
     domain: reuters.com{split}}}
steps:
{STEPS[kind]}output: {{dir: {folder}/out, shard_rows: 100000}}
""")
    return path


def shard_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((out / "data").glob("*.parquet")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def command(config: str, pipeline: Path, out: Path, addresses: dict[str, str]) -> list[str]:
    cmd = [sys.executable, "-m", "assay.cli", "run", str(pipeline), "-o", str(out), "--no-progress"]
    if config.startswith("local"):
        return cmd + ["--threads", config[-1]]
    return cmd + ["--engine", "ray", "--address", addresses[config]]


def run(config: str, pipeline: Path, out: Path, addresses: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command(config, pipeline, out, addresses), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def worker_rss(cmd: list[str]) -> tuple[float, float, float, float, int, str, dict[str, int]]:
    """Run ``cmd`` (a driver on a Ray cluster) and sample every Ray worker's resident memory
    every 0.2 s: (wall s, peak MiB of the largest worker, the same without shared pages, the
    driver's peak, workers seen, what the largest one ran at its peak, and the peak without
    shared pages of any worker by what it ran: its process title). A worker's RSS counts
    the pages of Ray's shared object store it has touched; RSS minus shared memory is what the
    worker holds itself."""
    import psutil

    peaks: dict[int, int] = {}
    private: dict[int, int] = {}
    doing: dict[int, str] = {}  # what the worker ran (its process title) at its peak
    by_title: dict[str, int] = {}
    t0 = time.perf_counter()
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver_peak = 0
    while driver.poll() is None:
        for proc in psutil.process_iter(["pid", "name", "cmdline", "memory_info"]):
            try:
                name = proc.info["name"] or ""
                line = " ".join(proc.info["cmdline"] or [])
                memory = proc.info["memory_info"]
                rss = memory.rss if memory else 0
                own = memory.rss - memory.shared if memory else 0
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if proc.info["pid"] == driver.pid:
                driver_peak = max(driver_peak, rss)
            elif name.startswith("ray::") or "default_worker.py" in line:
                peaks[proc.info["pid"]] = max(peaks.get(proc.info["pid"], 0), rss)
                by_title[name] = max(by_title.get(name, 0), own)
                if own > private.get(proc.info["pid"], 0):
                    private[proc.info["pid"]] = own
                    doing[proc.info["pid"]] = name
        time.sleep(0.2)
    if driver.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({driver.returncode})")
    largest = max(private, key=private.get, default=None)
    return (time.perf_counter() - t0, max(peaks.values(), default=0) / 2**20,
            max(private.values(), default=0) / 2**20, driver_peak / 2**20, len(peaks),
            doing.get(largest, "") if largest is not None else "", by_title)


def stages(pipeline: Path, out: Path, address: str) -> None:
    """One Ray run in this process with the executor's stage log on (``assay.ray``: the id
    check, each segment, each global step, the finishing stage on the driver)."""
    import logging

    import assay

    logging.basicConfig(format="  %(message)s")
    logging.getLogger("assay.ray").setLevel(logging.INFO)
    t0 = time.perf_counter()
    assay.run_pipeline(pipeline, output_dir=out, engine="ray", address=address)
    print(f"  whole run {time.perf_counter() - t0:.1f} s")


def shuffle_bytes(data: Path) -> None:
    """Print the bytes per input document of each shuffle of ``near`` on the Ray executor.

    The tables have the engine's columns (:mod:`assay.pipeline.ray_engine`): the id check's
    query log (unit, query, 128-bit hash, part), the (row, band bucket) keys, the edges of
    buckets shared by two rows or more, two groupbys per round of min-label propagation
    (run here to convergence, as the engine does), the component members sent to their
    unit (which reads their key texts from its staged rows), the members' texts grouped by
    component and the decisions written back per unit."""
    import numpy as np
    import pyarrow as pa

    import assay
    from assay.steps import ROW_KEY, ROW_KEY_FILE_SHIFT, STEPS

    step = STEPS["near_dedup"](threshold=0.8)
    tables = []
    for number, path in enumerate(sorted(data.glob("*.jsonl"))):
        table = assay.read(str(path), "text", source="reuters", text_field=["title", "body"],
                           id_field="newid").read_all()
        keys = (np.int64(number) << np.int64(ROW_KEY_FILE_SHIFT)) + np.arange(table.num_rows, dtype=np.int64)
        tables.append(table.append_column(ROW_KEY, pa.array(keys)))
    rows = pa.concat_tables(tables).combine_chunks().to_batches()[0]
    docs = rows.num_rows
    int64 = 8
    buckets = step.group_keys(rows)
    bucket_values = buckets.column("bucket").to_numpy()
    _, bucket_ids, bucket_sizes = np.unique(bucket_values, return_inverse=True, return_counts=True)
    shared = bucket_sizes[bucket_ids] > 1
    edge_rows = buckets.column(ROW_KEY).to_numpy()[shared]
    edge_buckets = bucket_ids[shared]
    row_values, row_ids = np.unique(edge_rows, return_inverse=True)
    labels = row_values.copy()  # each row's label: the least row key it has reached
    rounds = 0
    while True:
        rounds += 1
        bucket_label = np.full(bucket_sizes.size, np.iinfo(np.int64).max)
        np.minimum.at(bucket_label, edge_buckets, labels[row_ids])
        new = labels.copy()
        np.minimum.at(new, row_ids, bucket_label[edge_buckets])
        fell = int((new < labels).sum())
        labels = new
        if not fell:
            break
    edges = int(shared.sum())
    component_rows = row_values.size
    texts = step.keys(rows).column("text")
    text_bytes = texts.nbytes
    stages = [
        ("id check: (unit, query, hash high, low, part) per row", docs * 5 * int64),
        (f"band keys: (row_key, bucket, part) x {step.index.config['bands']} bands", buckets.num_rows * 3 * int64),
        ("shared-bucket edges: (row_key, bucket, label, part)", edges * 4 * int64),
        (f"label propagation: {rounds} rounds x 2 groupbys, (row_key, bucket, label, bucket_label, part)",
         rounds * 2 * edges * 5 * int64),
        ("component members to their unit: (row_key, label, unit), at most one per edge", edges * 3 * int64),
        ("decide: the components' rows with their text", component_rows * 3 * int64
         + int(text_bytes * component_rows / docs)),
        ("decisions back per unit: (row_key, cluster_id, cluster_size, is_duplicate, unit)", component_rows * 33),
    ]
    print(f"# shuffle bytes of near on {docs:,} documents ({text_bytes / docs:.0f} bytes of key text each): "
          f"{edges:,} edges ({edges / docs:.2f} per document) in {int((bucket_sizes > 1).sum()):,} shared buckets, "
          f"{component_rows:,} rows in components, {rounds} rounds")
    print("| shuffle | bytes per document |")
    print("|---|---|")
    for name, size in stages:
        print(f"| {name} | {size / docs:,.0f} |")
    print(f"| total | {sum(size for _, size in stages) / docs:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pipelines", default="web,near")
    parser.add_argument("--configs", default="local1,local2,ray1,ray2")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/assay-bench-ray"))
    parser.add_argument("--split-mb", type=float, default=None,
                        help="the input's split_bytes in MB (JSON Lines files over it are read as ranges; 0: whole)")
    parser.add_argument("--rss-scales", default="", help="e.g. 1,4: peak RSS per Ray worker for web at these scales")
    parser.add_argument("--stages", action="store_true", help="one web run on two nodes with the stage log")
    parser.add_argument("--shuffle-bytes", action="store_true",
                        help="print what near-dedup's shuffles move per document instead of timing")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data, size = dealt_input(args.size_mb, args.files, args.workdir)
    if args.shuffle_bytes:
        shuffle_bytes(data)
        return
    configs = ["ray2"] if args.rss_scales else args.configs.split(",")
    if args.stages:
        configs = [c for c in configs if c.startswith("ray")] or ["ray2"]
    print(f"# input: {size / MB:.1f} MB in {args.files} files; {platform.machine()}, {platform.node()}, "
          f"{time.strftime('%Y-%m-%d')}")

    import ray
    from ray.cluster_utils import Cluster

    clusters, addresses = [], {}
    for config, nodes in (("ray1", 1), ("ray2", 2)):
        if config in configs:
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
            for _ in range(nodes - 1):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            clusters.append(cluster)
            addresses[config] = cluster.address
    try:
        if args.stages:
            for kind in args.pipelines.split(","):
                for config in configs:
                    print(f"## {kind} on {config}, stage by stage")
                    stages(pipeline_file(kind, data, args.workdir, args.split_mb), args.workdir / "out-stages",
                           addresses[config])
            return
        if args.rss_scales:
            print("| input | MB | wall s | peak RSS, largest worker MiB | without shared pages MiB | driver MiB | workers "
                  "| the largest was running |")
            print("|---|---|---|---|---|---|---|---|")
            titles = []
            for scale in [float(x) for x in args.rss_scales.split(",")]:
                scaled, scaled_size = dealt_input(args.size_mb * scale, args.files, args.workdir)
                folder = args.workdir / f"rss-{scale:g}x"
                folder.mkdir(exist_ok=True)
                pipeline = pipeline_file("web", scaled, folder, args.split_mb)
                wall, worker, own, driver, seen, task, by_title = worker_rss(
                    command("ray2", pipeline, folder / "out", addresses))
                print(f"| {scale:g}x | {scaled_size / MB:.0f} | {wall:.1f} | {worker:.0f} | {own:.0f} | {driver:.0f} "
                      f"| {seen} | {task} |", flush=True)
                titles.append((scale, by_title))
            for scale, by_title in titles:  # what each kind of task held at most, largest first
                top = sorted(by_title.items(), key=lambda item: -item[1])[:6]
                print(f"{scale:g}x, peak MiB without shared pages by task: "
                      + ", ".join(f"{title} {own / 2**20:.0f}" for title, own in top))
            return
        for kind in args.pipelines.split(","):
            pipeline = pipeline_file(kind, data, args.workdir, args.split_mb)
            times: dict[str, list[float]] = {c: [] for c in configs}
            digests: dict[str, str] = {}
            for config in configs:  # warm-up: one run each (also the byte-identity check)
                out = args.workdir / f"out-{kind}-{config}"
                run(config, pipeline, out, addresses)
                digests[config] = shard_digest(out)
            for _ in range(args.rounds):
                for config in configs:
                    times[config].append(run(config, pipeline, args.workdir / f"out-{kind}-{config}", addresses))
            print(f"\n## {kind}: shards identical across configurations: {len(set(digests.values())) == 1}")
            print("| configuration | median s | worst s | MB/s (median) |")
            print("|---|---|---|---|")
            for config in configs:
                median = statistics.median(times[config])
                print(f"| {config} | {median:.1f} | {max(times[config]):.1f} | {size / MB / median:.2f} |")
            for a, b in (("local1", "local2"), ("ray1", "ray2")):
                if a in times and b in times:
                    ratios = [x / y for x, y in zip(times[a], times[b])]
                    print(f"{b} / {a} speed-up: median {statistics.median(ratios):.2f}x, worst {min(ratios):.2f}x")
    finally:
        ray.shutdown()
        for cluster in clusters:
            cluster.shutdown()


if __name__ == "__main__":
    main()
