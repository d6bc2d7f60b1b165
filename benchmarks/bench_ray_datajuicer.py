"""Near-dedup on Ray: assay's ``near_dedup`` against data-juicer's ``ray_bts_minhash_deduplicator``.

    python benchmarks/bench_ray_datajuicer.py [--rounds 3] [--workdir /tmp/assay-bench-ray-dj]
        [--dj-python /tmp/djvenv/bin/python]

data-juicer needs its own virtual environment (its dependencies do not fit assay's pins);
Ray must be the version assay pins, so both run the same Ray::

    python3 -m venv /tmp/djvenv
    /tmp/djvenv/bin/pip install "ray[data]==2.60.0" py-data-juicer==1.6.1 aiohttp

Data: the English half of ``bench_dedup.py``'s planted corpus (all Reuters-21578 documents and
1-3 edited copies of 1,500 of them at word-edit rates 0-20%), dealt into 8 files: JSON Lines for
assay, Parquet for data-juicer (each side reads its own ready input). Ground truth: the exact
Jaccard similarity of every pair sharing a shingle, once with assay's shingles (normalized
word 5-grams) and once with data-juicer's (lowercase, split on spaces, 5-grams).

Same settings on both sides: 128 permutations, 8 bands x 5 rows, word 5-grams, threshold 0.8
(assay verifies candidates against it; data-juicer removes every LSH candidate), and a second
data-juicer row with its own band choice for 0.8. Each side gets the same cluster: a head
and one more node of one CPU each (``ray.cluster_utils.Cluster``, started by that side's
Python before the timings and stopped after); each run is a fresh driver process, timed on
the wall clock (process start, reading, dedup, writing the kept rows). One warm-up run,
then ``--rounds`` timed runs; medians and the worst run.

Measured per side: docs/s, the share of pairs with J >= 0.85 of which at most one document
survives (recall), removed documents that keep a survivor with J >= 0.7 (precision), and
whether two runs keep the same documents.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
FILES = 8


def dj_side(data: Path, out: Path, address: str, num_bands: int | None, rows: int | None) -> None:
    """Run in data-juicer's Python: dedup the Parquet files, write the kept ``idx`` values."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray
    from data_juicer.ops.deduplicator.ray_bts_minhash_deduplicator import RayBTSMinhashDeduplicator

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    op = RayBTSMinhashDeduplicator(tokenization="space", window_size=5, lowercase=True, num_permutations=128,
                                   jaccard_threshold=0.8, num_bands=num_bands, num_rows_per_band=rows,
                                   work_dir=str(out.parent / "dj-work"))
    dataset = ray.data.read_parquet(sorted(str(p) for p in data.glob("*.parquet")))
    kept = op.run(dataset).select_columns(["idx"])
    pq.write_table(pa.concat_tables(ray.get(kept.to_arrow_refs())), out)
    ray.shutdown()


def corpus(workdir: Path) -> tuple[list[str], Path]:
    """The English planted corpus, written once as JSON Lines and Parquet files."""
    from bench_dedup import planted_corpus

    import pyarrow as pa
    import pyarrow.parquet as pq

    docs, kinds = planted_corpus()
    docs = [d for d, k in zip(docs, kinds) if k in ("reuters", "planted_en")]
    data = workdir / "data"
    if not (data / "done").exists():
        data.mkdir(parents=True, exist_ok=True)
        for f in range(FILES):
            idx = list(range(f, len(docs), FILES))
            with open(data / f"part-{f}.jsonl", "w", encoding="utf-8") as out:
                for i in idx:
                    out.write(json.dumps({"idx": i, "text": docs[i]}, ensure_ascii=False) + "\n")
            pq.write_table(pa.table({"idx": idx, "text": [docs[i] for i in idx]}), data / f"part-{f}.parquet")
        (data / "done").write_text("")
    return docs, data


def dj_shingles(text: str) -> set[str]:
    tokens = [t for t in re.split(" ", text.lower()) if t]
    return {" ".join(tokens[i:i + 5]) for i in range(len(tokens) - 4)}


def scores(kept: set[int], n: int, truth: tuple) -> tuple[float, float, int]:
    """(recall, precision, removed) of a kept set against one ground truth."""
    import numpy as np

    rows, cols, jac, _ = truth
    alive = np.zeros(n, dtype=bool)
    alive[list(kept)] = True
    high = jac >= 0.85
    recall = float(np.mean(~(alive[rows[high]] & alive[cols[high]])))
    near = jac >= 0.7
    justified = np.zeros(n, dtype=bool)  # removed with a surviving J >= 0.7 partner
    r, c = rows[near], cols[near]
    justified[r[alive[c]]] = True
    justified[c[alive[r]]] = True
    removed = np.flatnonzero(~alive)
    precision = float(np.mean(justified[removed])) if len(removed) else 1.0
    return recall, precision, len(removed)


def start_cluster(python: str, workdir: Path) -> subprocess.Popen:
    """A head and one more node of one CPU each, in ``python``'s environment; returns the holder
    process, which prints the address and keeps the cluster until its stdin closes."""
    code = ("import sys, ray\nfrom ray.cluster_utils import Cluster\n"
            "c = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})\nc.add_node(num_cpus=1)\n"
            "c.wait_for_nodes()\nprint(c.address, flush=True)\nsys.stdin.read()\nc.shutdown()\n")
    holder = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=workdir, stderr=subprocess.DEVNULL)
    holder.address = holder.stdout.readline().strip()  # type: ignore[attr-defined]
    return holder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/assay-bench-ray-dj"))
    parser.add_argument("--dj-python", default="/tmp/djvenv/bin/python")
    parser.add_argument("--dj-side", nargs=5, metavar=("DATA", "OUT", "ADDRESS", "BANDS", "ROWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dj_side:
        data, out, address, bands, rows = args.dj_side
        dj_side(Path(data), Path(out), address, int(bands) or None, int(rows) or None)
        return

    import pyarrow.parquet as pq
    from bench_dedup import set_jaccard_pairs

    import assay

    args.workdir.mkdir(parents=True, exist_ok=True)
    docs, data = corpus(args.workdir)
    n = len(docs)
    print(f"# {n:,} documents ({sum(len(d.encode()) for d in docs) / 1e6:.1f} MB) in {FILES} files; "
          f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    t = time.perf_counter()
    truths = {"assay shingles": set_jaccard_pairs([assay.shingles(d, ngram=5, unit="word") for d in docs]),
              "data-juicer shingles": set_jaccard_pairs([dj_shingles(d) for d in docs])}
    for name, (_, _, jac, _) in truths.items():
        print(f"ground truth ({name}): {(jac >= 0.85).sum():,} pairs with J >= 0.85, "
              f"{(jac >= 0.7).sum():,} with J >= 0.7")
    print(f"(ground truth in {time.perf_counter() - t:.0f} s)")

    pipeline = args.workdir / "near.yaml"
    pipeline.write_text(f"""name: bench-ray-dj
inputs:
  - {{path: "{data}/*.jsonl", format: text, id_field: idx, source: planted}}
steps:
  - near_dedup: {{threshold: 0.8, num_perm: 128, bands: 8, rows: 5, ngram: 5, unit: word}}
output: {{dir: {args.workdir}/out, shard_rows: 100000}}
""")

    def assay_run(address: str, out: Path) -> set[int]:
        subprocess.run([sys.executable, "-m", "assay.cli", "run", str(pipeline), "-o", str(out), "--no-progress",
                        "--engine", "ray", "--address", address], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {int(i) for p in sorted((out / "data").glob("*.parquet")) for i in pq.read_table(p, columns=["id"])
                .column("id").to_pylist()}

    def dj_run(bands: int, rows: int) -> Callable[[str, Path], set[int]]:
        def one(address: str, out: Path) -> set[int]:
            subprocess.run([args.dj_python, str(Path(__file__).resolve()), "--dj-side", str(data), str(out / "kept.parquet"),
                            address, str(bands), str(rows)], check=True, cwd=args.workdir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return set(pq.read_table(out / "kept.parquet").column("idx").to_pylist())
        return one

    sides = [("assay near_dedup (8x5, verified)", sys.executable, assay_run),
             ("data-juicer ray_bts_minhash (8x5)", args.dj_python, dj_run(8, 5)),
             ("data-juicer ray_bts_minhash (its bands for 0.8)", args.dj_python, dj_run(0, 0))]
    results = []
    for name, python, fn in sides:
        holder = start_cluster(python, args.workdir)
        try:
            kept_sets, times = [], []
            for round_number in range(args.rounds + 1):
                out = args.workdir / f"out-{len(results)}-{round_number}"
                # a fresh folder: data-juicer stages under work_dir/.tmp/<job id>, and job ids
                # start again on every new cluster, so an old folder would be read back
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                t = time.perf_counter()
                kept_sets.append(fn(holder.address, out))  # type: ignore[attr-defined]
                if round_number:  # the first run warms up
                    times.append(time.perf_counter() - t)
        finally:
            holder.stdin.close()  # type: ignore[union-attr]
            holder.wait()
        results.append((name, times, kept_sets))
        print(f"{name}: {', '.join(f'{s:.1f}' for s in times)} s", flush=True)

    print("\n| side | median s (worst) | docs/s | removed | recall J>=0.85 (assay / dj shingles) "
          "| precision J>=0.7 (assay / dj shingles) | same kept rows in every run |")
    print("|---|---|---|---|---|---|---|")
    for name, times, kept_sets in results:
        median = statistics.median(times)
        recall_a, precision_a, removed = scores(kept_sets[0], n, truths["assay shingles"])
        recall_d, precision_d, _ = scores(kept_sets[0], n, truths["data-juicer shingles"])
        same = all(k == kept_sets[0] for k in kept_sets)
        print(f"| {name} | {median:.1f} ({max(times):.1f}) | {n / median:,.0f} | {removed:,} | "
              f"{recall_a:.4f} / {recall_d:.4f} | {precision_a:.4f} / {precision_d:.4f} | {same} |")


if __name__ == "__main__":
    main()
