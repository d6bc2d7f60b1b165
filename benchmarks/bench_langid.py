"""Language ID: assay (Rust) vs the official fastText package, same model, same input.

Measures sentences per second of
- fastText ``model.predict(list)`` (official, C++, one thread),
- assay ``FastTextModel.predict(list)`` (the official API's return types) and
  ``assay.langid(arrow array)`` (Arrow in, Arrow table out) on 1 and 2 threads,
checks that the predictions are identical, and prints accuracy per language on the
lingua sentences. Each configuration runs in its own process (rayon's pool size is
fixed per process); the configurations run interleaved in ``--rounds`` rounds of
``--repeat`` timed runs each, and figures are medians.

    python benchmarks/bench_langid.py [--limit 20000] [--rounds 3] [--repeat 3]
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path("/work/shared/data/langid/lingua_sentences_75lang.jsonl.gz")
SAMPLE = ROOT / "samples" / "langid" / "lingua_sentences_3000.jsonl.gz"


def load_rows(limit: int) -> list[dict]:
    path = SHARED if SHARED.exists() else SAMPLE
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    # Interleave languages so any prefix covers all of them.
    by_lang = collections.defaultdict(list)
    for row in rows:
        by_lang[row["lang"]].append(row)
    mixed: list[dict] = []
    queues = [collections.deque(v) for v in by_lang.values()]
    while queues and len(mixed) < limit:
        for q in list(queues):
            if q:
                mixed.append(q.popleft())
            else:
                queues.remove(q)
    return mixed[:limit]


def worker(kind: str, limit: int, repeat: int) -> None:
    rows = load_rows(limit)
    texts = [r["text"].replace("\n", " ") for r in rows]
    times = []
    if kind == "official":
        import fasttext

        import assay  # only for the model path

        model = fasttext.load_model(str(assay.LID176_PATH))
        run = lambda: model.predict(texts, k=1)  # noqa: E731
    else:
        import pyarrow as pa

        import assay

        model = assay.FastTextModel(assay.LID176_PATH)
        array = pa.array(texts, pa.large_string())
        if kind == "assay_predict":
            run = lambda: model.predict(texts, k=1)  # noqa: E731
        else:
            run = lambda: assay.langid(array)  # noqa: E731
    result = run()
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    if kind == "assay_langid":
        labels = result.column("lang").to_pylist()
    else:
        labels = [row[0].removeprefix("__label__") for row in result[0]]
    print(json.dumps({"seconds": statistics.median(times), "labels": labels}))


def run_worker(kind: str, threads: int, limit: int, repeat: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--limit", str(limit), "--repeat", str(repeat)],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.limit, args.repeat)
        return
    rows = load_rows(args.limit)
    n = len(rows)
    print(f"{n} sentences, {len({r['lang'] for r in rows})} languages, lid.176.ftz, k=1, "
          f"median of {args.rounds} rounds x {args.repeat} runs, {os.cpu_count()} CPUs")
    configs = [
        ("official predict(list)", "official", 1),
        ("assay FastTextModel.predict(list)", "assay_predict", 1),
        ("assay langid(arrow)", "assay_langid", 1),
        ("assay FastTextModel.predict(list)", "assay_predict", 2),
        ("assay langid(arrow)", "assay_langid", 2),
    ]
    # Rounds interleave the configurations so a change of load on a shared machine
    # hits all of them alike; each figure is the median over rounds.
    seconds: dict = collections.defaultdict(list)
    labels: dict = {}
    for _ in range(args.rounds):
        for name, kind, threads in configs:
            r = run_worker(kind, threads, args.limit, args.repeat)
            seconds[(name, threads)].append(r["seconds"])
            labels[(name, threads)] = r["labels"]
    results = {
        key: {"seconds": statistics.median(values), "labels": labels[key]} for key, values in seconds.items()
    }
    base = results[("official predict(list)", 1)]
    for (name, threads), r in results.items():
        rate = n / r["seconds"]
        same = r["labels"] == base["labels"]
        print(f"{name:38s} threads={threads}  {rate:>10,.0f} sentences/s  "
              f"x{base['seconds'] / r['seconds']:.2f} vs official  identical labels: {same}")
    for name in ("assay FastTextModel.predict(list)", "assay langid(arrow)"):
        print(f"{name}: 2 threads / 1 thread = x{results[(name, 1)]['seconds'] / results[(name, 2)]['seconds']:.2f}")

    # Accuracy per language (lid.176 says `no` for Norwegian Bokmål).
    gold = [("no" if r["lang"] == "nb" else r["lang"]) for r in rows]
    predicted = results[("assay langid(arrow)", 1)]["labels"]
    per_lang = collections.defaultdict(lambda: [0, 0])
    for g, p in zip(gold, predicted):
        per_lang[g][0] += g == p
        per_lang[g][1] += 1
    total = sum(c for c, _ in per_lang.values()) / n
    print(f"\naccuracy overall {total:.4f}")
    print("| lang | n | accuracy |\n|---|---:|---:|")
    for lang in sorted(per_lang):
        correct, count = per_lang[lang]
        print(f"| {lang} | {count} | {correct / count:.3f} |")


if __name__ == "__main__":
    main()
