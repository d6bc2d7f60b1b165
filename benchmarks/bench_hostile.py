"""A hostile input: a small .jsonl.gz whose record is gigabytes long, through `assay run`.

    python benchmarks/bench_hostile.py [--record-gb 2] [--layout lines|array] [--workdir DIR]

The file holds a normal record, one record of ``--record-gb`` GB (a JSON string of one
repeated letter, so it compresses to a few MB), and another normal record, gzip-compressed:
as JSON Lines (``.jsonl.gz``) or as the items of one JSON array (``.json.gz``).
`assay run` reads it with the default ``max_record_bytes`` (64 MiB): the big record is
skipped while streaming and quarantined as ``record_too_large``. Printed: the file's size,
wall seconds, the run's peak RSS (``ru_maxrss`` of the child) and what was quarantined.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def hostile_file(path: Path, record_bytes: int, layout: str) -> None:
    if path.exists():
        return
    row = json.dumps({"question": "What is 2 + 2?", "std_answer": "4"}).encode()
    block = b"a" * (1 << 20)
    between = b"\n" if layout == "lines" else b",\n"
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write((b"" if layout == "lines" else b"[") + row + between)
        f.write(b'{"question": "big", "std_answer": "')
        for _ in range(record_bytes // len(block)):
            f.write(block)
        f.write(b'"}' + between)
        f.write(row + (b"\n" if layout == "lines" else b"]\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record-gb", type=float, default=2.0)
    parser.add_argument("--layout", choices=["lines", "array"], default="lines")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-hostile")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    suffix = "jsonl.gz" if args.layout == "lines" else "json.gz"
    path = args.workdir / f"hostile-{args.record_gb:g}gb.{suffix}"
    hostile_file(path, int(args.record_gb * (1 << 30)), args.layout)
    pipeline = args.workdir / "p.yaml"
    pipeline.write_text(f'name: hostile\ninputs:\n  - {{path: "{path}", format: belle, source: b}}\n'
                        f'steps:\n  - text_stats: {{}}\noutput: {{dir: "{args.workdir / "out"}"}}\n')
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assay.cli", "run", str(pipeline), "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    quarantine = (args.workdir / "out" / "quarantine" / "quarantine.jsonl").read_text().splitlines()
    record = json.loads(quarantine[0])
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"file: {path.name}, {path.stat().st_size / 1e6:.1f} MB gzip holding a {args.record_gb:g} GB record")
    print(f"assay run: {seconds:.1f} s, peak RSS {peak:.0f} MiB; quarantined {len(quarantine)} record "
          f"(line {record['line']}, record {record['record']}, {record['size']:,} bytes): {record['error'][:60]}...")


if __name__ == "__main__":
    main()
