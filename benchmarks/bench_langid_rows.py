"""The `langid` step's language decisions: content mode (the default) against the raw model.

On real data it counts what `langid: {keep: [zh]}` (or `[en]`) removes in each mode:
- genuine Chinese instruction rows: BELLE's eval set and seed tasks, GAOKAO-Bench
  (English-subject files left out);
- Chinese technical prose: the entries of pypinyin's changelog with >= 5 Han characters;
- Japanese, Korean and English sentences (lingua), English instructions (Alpaca seed tasks,
  FLAN chain-of-thought),
and times the whole step in both modes on the same batches (warmed up, interleaved,
medians and the worst ratio). Reads ../shared/data when present, else the samples.

    python benchmarks/bench_langid_rows.py [--repeat 9]
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import assay
from assay.steps import STEPS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT / "tests"))
from test_langid_rows import changelog_entries  # noqa: E402  (the corpus definition the tests use)


def chinese_rows() -> tuple[pa.Table, str]:
    base = SHARED / "instruct"
    if base.is_dir():
        gaokao = [f for f in sorted(glob.glob(str(base / "gaokao_bench" / "Data" / "*" / "*.json"))) if "English" not in f]
        parts = [assay.read(base / "belle_eval_zh" / "eval_set.json", format="belle", source="belle-eval").read_all(),
                 assay.read(base / "belle_eval_zh" / "zh_seed_tasks.json", format="seed_tasks", source="belle-seed").read_all()]
        parts += [assay.read(f, format="gaokao", source="gaokao").read_all() for f in gaokao]
        return pa.concat_tables(parts), "shared: BELLE eval + seed tasks, GAOKAO-Bench without English subjects"
    from test_langid_rows import chinese_rows as sample_rows

    return sample_rows(), "samples"


def sentences(code: str) -> list[str]:
    path = SHARED / "langid" / "lingua_sentences_75lang.jsonl.gz"
    path = path if path.is_file() else SAMPLES / "langid" / "lingua_sentences_3000.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [row["text"] for row in map(json.loads, f) if row["lang"] == code]


def english_instructions() -> pa.Table:
    folder = SHARED / "instruct" / "flan_cot_alpaca_format"
    files = sorted(glob.glob(str(folder / "*.json"))) if folder.is_dir() else sorted(glob.glob(str(SAMPLES / "flan_cot" / "*.json")))
    return pa.concat_tables([assay.read(f, format="alpaca", source="flan").read_all() for f in files])


def batch_of(data) -> pa.RecordBatch:
    table = data if isinstance(data, pa.Table) else pa.table({"text": data, "kind": ["text"] * len(data)})
    return table.combine_chunks().to_batches()[0]


def removed(batch: pa.RecordBatch, keep: list[str], mode: str) -> int:
    return pc.sum(pc.is_valid(STEPS["langid"](keep=keep, mode=mode)(batch).column("reason"))).as_py() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    zh, zh_origin = chinese_rows()
    alpaca = assay.read(SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", format="seed_tasks", source="a").read_all()
    corpora = [
        ("Chinese instruction rows", batch_of(zh), ["zh"], "removed"),
        ("Chinese technical prose (pypinyin changelog)", batch_of(changelog_entries()), ["zh"], "removed"),
        ("Japanese sentences", batch_of(sentences("ja")), ["zh"], "removed"),
        ("Korean sentences", batch_of(sentences("ko")), ["zh"], "removed"),
        ("English sentences", batch_of(sentences("en")), ["zh"], "removed"),
        ("Alpaca seed tasks (English)", batch_of(alpaca), ["zh"], "removed"),
        ("FLAN CoT (English)", batch_of(english_instructions()), ["en"], "kept"),
    ]
    print(f"# langid step, content vs raw mode ({platform.processor() or platform.machine()}, "
          f"{assay.thread_count()} threads); Chinese rows from {zh_origin}")
    print("| corpus | rows | keep | content mode | raw mode |")
    print("|---|---|---|---|---|")
    for name, batch, keep, what in corpora:
        figures = []
        for mode in ("content", "raw"):
            n = removed(batch, keep, mode)
            value = n if what == "removed" else batch.num_rows - n
            figures.append(f"{what} {value:,} ({100 * value / batch.num_rows:.2f}%)")
        print(f"| {name} | {batch.num_rows:,} | {keep} | {figures[0]} | {figures[1]} |")
    print("\n| timed batch | rows | raw step s (median) | content step s (median) | ratio median | ratio worst |")
    print("|---|---|---|---|---|---|")
    for name, batch, keep, _ in (corpora[0], corpora[-1]):
        steps = {mode: STEPS["langid"](keep=keep, mode=mode) for mode in ("raw", "content")}
        for step in steps.values():
            step(batch)  # warm-up (model load)
        times: dict[str, list[float]] = {"raw": [], "content": []}
        for _ in range(args.repeat):
            for mode, step in steps.items():
                t0 = time.perf_counter()
                step(batch)
                times[mode].append(time.perf_counter() - t0)
        ratios = [c / r for c, r in zip(times["content"], times["raw"])]
        print(f"| {name} | {batch.num_rows:,} | {statistics.median(times['raw']):.3f} | "
              f"{statistics.median(times['content']):.3f} | {statistics.median(ratios):.2f} | {max(ratios):.2f} |")


if __name__ == "__main__":
    main()
