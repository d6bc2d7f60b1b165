"""text_stats throughput: assay's Rust kernel vs the same statistics in pure Python.

The peer computes the same character classes with `unicodedata` and counts words with
the `\\w+` regex (an approximation of UAX #29 for spaced scripts). Input: Reuters-21578
bodies from ../shared/data when present, else the 400-document sample in samples/.
Each configuration runs in a fresh process so the Rust pool size is fixed per run.

    .venv/bin/python benchmarks/bench_text_stats.py [--docs 20000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "web" / "reuters21578.jsonl.gz"
SAMPLE = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
WORD = re.compile(r"\w+")


def load_texts(n: int) -> list[str]:
    path = SHARED if SHARED.exists() else SAMPLE
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("body"):
                texts.append(row["body"])
    while len(texts) < n:  # the sample is small: repeat it
        texts += texts[: n - len(texts)]
    return texts[:n]


def python_text_stats(text: str) -> tuple:
    n = len(text)
    alpha = sum(unicodedata.category(c).startswith("L") for c in text)
    digit = sum(unicodedata.category(c) == "Nd" for c in text)
    space = sum(c.isspace() for c in text)
    return (n, len(text.encode()), len(WORD.findall(text)), len(text.splitlines()),
            alpha / n if n else 0.0, digit / n if n else 0.0, space / n if n else 0.0)


def time_it(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worker(kind: str, n: int, repeats: int) -> None:
    texts = load_texts(n)
    if kind == "python":
        seconds = time_it(lambda: [python_text_stats(t) for t in texts], max(1, repeats // 2))
    else:
        import pyarrow as pa

        import assay

        column = pa.array(texts, type=pa.large_string())
        assay.text_stats(column)  # warm the pool
        seconds = time_it(lambda: assay.text_stats(column), repeats)
    print(json.dumps({"seconds": seconds, "mb": sum(len(t.encode()) for t in texts) / 1e6}))


def run(kind: str, threads: int, n: int, repeats: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--docs", str(n), "--repeats", str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=["python", "assay"])
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.docs, args.repeats)
        return
    py = run("python", 1, args.docs, args.repeats)
    one = run("assay", 1, args.docs, args.repeats)
    two = run("assay", 2, args.docs, args.repeats)
    rate = lambda r: args.docs / r["seconds"]  # noqa: E731
    print(f"input: {args.docs:,} Reuters bodies, {py['mb']:.1f} MB ({'shared' if SHARED.exists() else 'sample, repeated'})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"pure Python (unicodedata + regex), 1 thread: {rate(py):>12,.0f} docs/s")
    print(f"assay.text_stats, 1 thread:                   {rate(one):>12,.0f} docs/s  ({rate(one) / rate(py):.0f}x Python)")
    print(f"assay.text_stats, 2 threads:                  {rate(two):>12,.0f} docs/s  ({rate(two) / rate(one):.2f}x one thread)")


if __name__ == "__main__":
    main()
