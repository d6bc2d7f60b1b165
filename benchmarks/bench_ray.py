"""The Ray executor against the local engine: one node vs two, one thread vs two.

    python benchmarks/bench_ray.py [--size-mb 200] [--files 8] [--rounds 2] [--pipelines web,near]
                                   [--configs local1,local2,ray1,ray2] [--workdir DIR]

Input: Reuters-21578 (``../shared/data/web/reuters21578.jsonl.gz``; the repo's sample when
absent) replicated to at least ``--size-mb`` MB of JSON Lines and dealt into ``--files``
files (the Ray executor parallelises across files); each replica gets distinct ``newid``s.

Pipelines: ``web`` is ``pipelines/web-fineweb.yaml``'s steps (language ID, the four quality
filters, near-dedup, text stats) on that input; ``near`` is near-dedup alone.

Configurations, each a fresh driver process, timed on the wall clock (the Ray cluster is
started once, before the timings, as a cluster would be):

- ``local1`` / ``local2``: the local engine with ``--threads 1`` / ``2``;
- ``ray1``: a Ray cluster of one node with one CPU; ``ray2``: two nodes with one CPU each
  (``ray.cluster_utils.Cluster``), the driver joining with ``--address``.

Rounds interleave the configurations (A B C D A B C D ...); medians and the worst run are
printed, and every configuration's shards are checked to be byte-identical.
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


def pipeline_file(kind: str, data: Path, folder: Path) -> Path:
    path = folder / f"{kind}.yaml"
    path.write_text(f"""name: bench-ray-{kind}
inputs:
  - {{path: "{data}/*.jsonl", format: text, text_field: [title, body], id_field: newid, source: reuters,
     domain: reuters.com}}
steps:
{STEPS[kind]}output: {{dir: {folder}/out, shard_rows: 100000}}
""")
    return path


def shard_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((out / "data").glob("*.parquet")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run(config: str, pipeline: Path, out: Path, addresses: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "assay.cli", "run", str(pipeline), "-o", str(out), "--no-progress"]
    if config.startswith("local"):
        cmd += ["--threads", config[-1]]
    else:
        cmd += ["--engine", "ray", "--address", addresses[config]]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pipelines", default="web,near")
    parser.add_argument("--configs", default="local1,local2,ray1,ray2")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/assay-bench-ray"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data, size = dealt_input(args.size_mb, args.files, args.workdir)
    configs = args.configs.split(",")
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
        for kind in args.pipelines.split(","):
            pipeline = pipeline_file(kind, data, args.workdir)
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
