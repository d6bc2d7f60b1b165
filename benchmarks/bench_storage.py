"""The web pipeline reading from a local S3-compatible server against reading from local disk.

    python benchmarks/bench_storage.py [--size-mb 100] [--files 8] [--rounds 3] [--workdir DIR]

Input: Reuters-21578 replicated to ``--size-mb`` MB of JSON Lines in ``--files`` files (as in
``bench_ray.py``), on local disk and, the same bytes, in a bucket of moto's S3 server on
127.0.0.1 (``tests/s3_server.py``). Configurations, each a fresh ``assay run`` process with
the same steps as ``pipelines/web-fineweb.yaml`` (language ID, the four quality filters,
near-dedup, text stats), rounds interleaved (A B C A B C ...):

- ``disk``: inputs and output on local disk;
- ``s3-in``: inputs in the bucket, output on local disk;
- ``s3-both``: inputs and output (shards, rejects, staging, manifest) in the bucket.

Printed per configuration: median and worst wall seconds, input MB/s, and the requests the
server answered per input MB, by method (from its request log), so that request patterns
(small range reads, re-listing, per-file HEADs) show. Shards are checked to be
byte-identical across configurations.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ray import MB, STEPS, dealt_input  # noqa: E402
from s3_server import S3Server  # noqa: E402

CONFIGS = ("disk", "s3-in", "s3-both")


def pipeline_file(folder: Path, name: str, inputs: str) -> Path:
    path = folder / f"web-{name}.yaml"
    path.write_text(f"""name: bench-storage
inputs:
  - {{path: "{inputs}", format: text, text_field: [title, body], id_field: newid, source: reuters, unique_ids: false}}
steps:
{STEPS["web"]}output: {{dir: unused, shard_rows: 100000}}
""")
    return path


def run_once(pipeline: Path, out: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assay.cli", "run", str(pipeline), "-o", out, "--no-progress"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-storage")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data, size = dealt_input(args.size_mb, args.files, args.workdir)

    with S3Server() as s3:
        os.environ.update(s3.env)  # the runs and this process (it reads the manifests back)
        env = dict(os.environ)
        client = s3.client()
        client.create_bucket(Bucket="corpus")
        client.create_bucket(Bucket="out")
        for path in sorted(data.glob("*.jsonl")):
            client.upload_file(str(path), "corpus", f"web/{path.name}")
        pipelines = {"disk": pipeline_file(args.workdir, "disk", f"{data}/*.jsonl"),
                     "s3-in": pipeline_file(args.workdir, "s3", "s3://corpus/web/*.jsonl")}
        pipelines["s3-both"] = pipelines["s3-in"]
        outputs = {"disk": str(args.workdir / "out-disk"), "s3-in": str(args.workdir / "out-s3-in"),
                   "s3-both": "s3://out/web"}
        # warm-up: one run of each (page cache, the server's first requests, imports)
        for config in CONFIGS:
            run_once(pipelines[config], outputs[config], env)
        seconds: dict[str, list[float]] = collections.defaultdict(list)
        requests: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for _ in range(args.rounds):
            for config in CONFIGS:
                before = len(s3.requests())
                seconds[config].append(run_once(pipelines[config], outputs[config], env))
                for line in s3.requests()[before:]:
                    requests[config][line.split()[0]] += 1

        from assay.manifest import Manifest

        digests = {config: [s.sha256 for s in Manifest.load(outputs[config]).shards] for config in CONFIGS}
        assert len({tuple(d) for d in digests.values()}) == 1, "shards differ between configurations"

    print(f"input: {size / MB:.1f} MB in {args.files} files; {args.rounds} rounds after a warm-up; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'config':<8} {'median s':>9} {'worst s':>8} {'MB/s':>6}  requests per input MB")
    for config in CONFIGS:
        median = statistics.median(seconds[config])
        per_mb = ", ".join(f"{method} {n / args.rounds / (size / MB):.3f}"
                           for method, n in sorted(requests[config].items())) or "none"
        print(f"{config:<8} {median:9.2f} {max(seconds[config]):8.2f} {size / MB / median:6.2f}  {per_mb}")
    print("shards byte-identical in every configuration")


if __name__ == "__main__":
    main()
