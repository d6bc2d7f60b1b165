"""Whole pipeline, one core: `assay run pipelines/web-fineweb.yaml` against datatrove 0.10.1.

    python benchmarks/bench_pipeline.py [--size-mb 200] [--sides assay,datatrove] [--assay-repeats 3]
                                        [--rss-scales 1,4] [--workdir DIR] [--core 0] [--reuse]
    python benchmarks/bench_pipeline.py --size-mb 50 --scaling --assay-repeats 3   # 1 vs 2 threads

Input: Reuters-21578 (``../shared/data/web/reuters21578.jsonl.gz``, one JSON record per
line with ``title``, ``body``, ``newid``...) replicated, uncompressed, to at least
``--size-mb`` megabytes (10^6 bytes); each replica gets distinct ``newid``s. It is
written once under ``--workdir`` and reused by later runs.

Both sides do the same work on the same documents:

1. text = title + blank line + body (assay's ``text_field: [title, body]``; a
   JsonlReader adapter on datatrove's side), id = ``newid``;
2. fastText ``lid.176.ftz`` language ID, keep English with score 0.65 (datatrove's
   ``LanguageFilter`` reads the same model file: no download);
3. Gopher repetition, Gopher quality, C4 quality, FineWeb quality (default thresholds);
4. MinHash near-dedup, word 5-grams, 8 bands x 5 rows (datatrove: 4 stages, signatures,
   buckets, clusters, filter; the filtered documents are written once between the
   filters and the dedup, as in datatrove's FineWeb example);
5. Parquet shards with zstd.

Each side runs in its own child process pinned to one core (``taskset``; assay also
gets ``--threads 1``; datatrove one task per stage, one worker). Wall time, CPU time
(user + system of the child and its children) and peak RSS come from ``os.wait4``.
``--rss-scales`` re-runs assay alone on 1x, 4x... the input for peak RSS.

datatrove takes about 40 minutes on 200 MB. Each side's figures are saved in the
workdir; ``--reuse`` compares a side run now with the saved figures of the other
(same input file), e.g. ``--sides assay --reuse`` after one datatrove run.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
REUTERS = SHARED / "web" / "reuters21578.jsonl.gz"
SAMPLE = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
RECIPE = ROOT / "pipelines" / "web-fineweb.yaml"
LID176 = ROOT / "python" / "assay" / "models" / "lid.176.ftz"
MB = 1_000_000
ID_STRIDE = 1_000_000  # replica k has newid + k * ID_STRIDE

# The recipe's settings, repeated for datatrove (checked against the YAML at start-up).
LANGUAGE, LANGUAGE_THRESHOLD = "en", 0.65
BANDS, ROWS, NGRAM = 8, 5, 5


# --- input ---------------------------------------------------------------------------

def replicated_input(source: Path, size_mb: float, folder: Path) -> Path:
    """Write (once) ``source`` replicated until the file reaches ``size_mb`` MB."""
    target = folder / f"{source.name.split('.')[0]}-{size_mb:g}mb.jsonl"
    done = target.with_suffix(".done")
    if done.exists() and target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(source, "rb") as f:
        records = [json.loads(line) for line in f if line.strip()]
    limit = size_mb * MB
    written, copy = 0, 0
    with open(target, "wb") as out:
        while written < limit:
            for record in records:
                line = json.dumps({**record, "newid": record["newid"] + copy * ID_STRIDE}).encode() + b"\n"
                out.write(line)
                written += len(line)
                if written >= limit:
                    break
            copy += 1
    done.write_text(json.dumps({"bytes": written, "copies": copy}))
    return target


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))


# --- measuring a child process ---------------------------------------------------------

def measure(cmd: list[str], core: int | None, log: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` (pinned to ``core``) and return wall s, CPU s (user+sys, children included), peak RSS MiB."""
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core)] + cmd
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {child.returncode}; see {log}:\n"
                 + log.read_text(errors="replace")[-3000:])
    # ru_maxrss is the peak of the largest single process in the tree (KiB on Linux).
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}


# --- assay side ------------------------------------------------------------------------

def assay_pipeline(input_path: Path, out_dir: Path, folder: Path) -> Path:
    """web-fineweb.yaml with its inputs replaced by the replicated Reuters file."""
    import yaml

    recipe = yaml.safe_load(RECIPE.read_text())
    reuters = next(i for i in recipe["inputs"] if i.get("source") == "reuters")
    recipe["inputs"] = [{**reuters, "path": str(input_path)}]
    recipe["output"] = {**recipe["output"], "dir": str(out_dir)}
    path = folder / "web-fineweb-bench.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def check_recipe() -> None:
    """Fail loudly if the recipe moved away from the settings mirrored on datatrove's side."""
    import yaml

    recipe = yaml.safe_load(RECIPE.read_text())
    steps = [next(iter(s.items())) for s in recipe["steps"]]
    names = [n for n, _ in steps]
    assert names == ["langid", "filter", "near_dedup", "text_stats"], names
    langid, filters, dedup = steps[0][1], steps[1][1], steps[2][1]
    assert langid == {"keep": [LANGUAGE], "min_score": LANGUAGE_THRESHOLD}, langid
    assert filters["filters"] == ["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"], filters
    assert dedup == {"threshold": 0.8}, dedup
    from assay.dedup import DedupIndex

    index = DedupIndex(threshold=0.8)
    assert (index.config["bands"], index.config["rows"], index.config["ngram"]) == (BANDS, ROWS, NGRAM), index.config


def run_assay(input_path: Path, folder: Path, core: int | None, threads: int = 1) -> dict[str, Any]:
    out_dir = folder / "assay-out"
    pipeline = assay_pipeline(input_path, out_dir, folder)
    assay_cli = Path(sys.executable).with_name("assay")
    cmd = [str(assay_cli), "run", str(pipeline), "--threads", str(threads), "--no-progress"]
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1"}
    figures = measure(cmd, core, folder / "assay.log", env)
    from assay.manifest import Manifest

    manifest = Manifest.load(out_dir)
    figures.update(rows_in=manifest.rows_in, kept=manifest.rows_out, removed=manifest.removed,
                   steps={s.step: s.seconds for s in manifest.steps})
    return figures


def scaling(input_path: Path, folder: Path, repeats: int, size: int) -> None:
    """assay on one thread (pinned to core 0) against two threads (cores 0 and 1), A B A B."""
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for _ in range(repeats):
        for threads in (1, 2):
            runs[threads].append(run_assay(input_path, folder, 0 if threads == 1 else None, threads))
            r = runs[threads][-1]
            print(f"  {threads} thread(s): wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s, steps "
                  f"{ {k: round(v, 2) for k, v in r['steps'].items()} }", flush=True)
    print("\n| threads | wall s (median) | worst | MB/s | CPU s | steps s (median) |\n|---|---|---|---|---|---|")
    wall = {}
    for threads, rs in runs.items():
        wall[threads] = statistics.median(r["wall_s"] for r in rs)
        steps = {k: round(statistics.median(r["steps"][k] for r in rs), 2) for k in rs[0]["steps"]}
        print(f"| {threads} | {wall[threads]:.2f} | {max(r['wall_s'] for r in rs):.2f} | {size / MB / wall[threads]:.1f} "
              f"| {statistics.median(r['cpu_s'] for r in rs):.2f} | {steps} |")
    worst = min(r["wall_s"] for r in runs[1]) / max(r["wall_s"] for r in runs[2])
    print(f"\n2 threads / 1 thread: {wall[1] / wall[2]:.2f}x (median), {worst:.2f}x (slowest 2-thread run "
          "against the fastest 1-thread run)")


# --- datatrove side (runs in the child: ``--datatrove-child``) ---------------------------

def reuters_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    """title + blank line + body, id = newid: what assay's ``text_field: [title, body]`` makes."""
    parts = [data.get("title"), data.get("body")]
    return {"text": "\n\n".join(p for p in parts if p), "id": str(data.get("newid", f"{path}/{id_in_file}")),
            "media": [], "metadata": {}}


def datatrove_child(input_path: Path, folder: Path) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
    from datatrove.utils.lid import FT176LID

    class LocalFT176(FT176LID):
        """datatrove's lid.176 backend reading the model file from disk (no download)."""

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(str(LID176))
            return self._model

    class LocalLanguageFilter(LanguageFilter):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.model = LocalFT176(self.languages)

    work = folder / "datatrove"
    shutil.rmtree(work, ignore_errors=True)
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    logs = work / "logs"
    stages = {
        "read + langid + filters + minhash signatures": LocalPipelineExecutor(
            [
                JsonlReader(str(input_path.parent), glob_pattern=input_path.name, adapter=reuters_adapter,
                            compression=None, recursive=False),
                LocalLanguageFilter(languages=[LANGUAGE], language_threshold=LANGUAGE_THRESHOLD),
                GopherRepetitionFilter(),
                GopherQualityFilter(),
                C4QualityFilter(),
                FineWebQualityFilter(),
                JsonlWriter(str(work / "filtered"), compression=None),
                MinhashDedupSignature(output_folder=str(work / "signatures"), config=config),
            ],
            tasks=1, workers=1, logging_dir=str(logs / "1"),
        ),
        "minhash buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                                 config=config)],
            tasks=BANDS, workers=1, logging_dir=str(logs / "2"),
        ),
        "minhash clusters": LocalPipelineExecutor(
            [MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"),
                                 config=config)],
            tasks=1, workers=1, logging_dir=str(logs / "3"),
        ),
        "dedup filter + parquet": LocalPipelineExecutor(
            [
                JsonlReader(str(work / "filtered"), compression=None),
                MinhashDedupFilter(input_folder=str(work / "remove")),
                ParquetWriter(str(work / "out"), compression="zstd"),
            ],
            tasks=1, workers=1, logging_dir=str(logs / "4"),
        ),
    }
    seconds = {}
    for name, executor in stages.items():
        start = time.perf_counter()
        executor.run()
        seconds[name] = time.perf_counter() - start
    import pyarrow.parquet as pq

    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (work / "out").glob("*.parquet"))
    filtered = count_lines(next((work / "filtered").glob("*.jsonl")))
    stats = json.loads((logs / "1" / "stats.json").read_text())
    dropped = {}
    for step in stats:
        for key, value in step.get("stats", {}).items():
            if key.startswith("dropped"):
                dropped[f"{step['name']}: {key}"] = value["total"] if isinstance(value, dict) else value
    (folder / "datatrove-result.json").write_text(json.dumps(
        {"kept": kept, "after_filters": filtered, "dropped": dropped, "stages": seconds}, indent=1))


def run_datatrove(input_path: Path, folder: Path, core: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--datatrove-child", str(input_path), "--workdir", str(folder)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
    figures = measure(cmd, core, folder / "datatrove.log", env)
    figures.update(json.loads((folder / "datatrove-result.json").read_text()))
    return figures


def plain(name: str) -> str:
    """datatrove's step names without their emoji and type prefix ("Gopher Quality: dropped_...")."""
    return name.encode("ascii", "ignore").decode().replace("- FILTER:", "").strip()


def saved_result(folder: Path, side: str, input_path: Path) -> Path:
    return folder / f"result-{side}-{input_path.stem}.json"


# --- main --------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200, help="input size for the comparison (MB of JSONL)")
    parser.add_argument("--sides", default="assay,datatrove", help="comma-separated: assay, datatrove")
    parser.add_argument("--assay-repeats", type=int, default=1, help="runs of the assay side (medians reported)")
    parser.add_argument("--rss-scales", default="", help="e.g. 1,4: extra assay runs on 1x, 4x the input for peak RSS")
    parser.add_argument("--scaling", action="store_true",
                        help="run assay alone on 1 thread (pinned) and 2 threads (both cores), alternately, "
                             "--assay-repeats times each, and report the ratio of the median wall times")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/assay-bench-pipeline"))
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin each side to (-1: no pinning)")
    parser.add_argument("--reuters", type=Path, default=REUTERS, help="Reuters-21578 as gzipped JSONL")
    parser.add_argument("--reuse", action="store_true",
                        help="compare with the saved figures of a side not run now (same workdir and input)")
    parser.add_argument("--datatrove-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_child:
        datatrove_child(args.datatrove_child, args.workdir)
        return

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - {"assay", "datatrove"}
    if unknown:
        parser.error(f"unknown side(s) {sorted(unknown)}")
    core = None if args.core < 0 else args.core
    source = args.reuters
    if not source.exists():
        print(f"NOTE: {source} is absent (../shared/data is not on this machine); replicating the "
              f"400-document sample {SAMPLE.relative_to(ROOT)} instead. Almost every replica is then a "
              "duplicate, so the figures are NOT comparable with benchmarks/README.md.", file=sys.stderr)
        source = SAMPLE
    check_recipe()
    from importlib.metadata import version

    import assay

    load = os.getloadavg()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"assay {assay.__version__}, datatrove {version('datatrove')}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; pinned to core {core}")
    results: dict[str, dict[str, Any]] = {}
    input_path = replicated_input(source, args.size_mb, args.workdir / "input")
    size = input_path.stat().st_size
    docs = count_lines(input_path)
    print(f"input: {input_path} ({size / MB:.1f} MB, {docs:,} documents)")
    if args.scaling:
        scaling(input_path, args.workdir, args.assay_repeats, size)
        return
    for side in sides:
        print(f"running {side} ...", flush=True)
        runner = run_assay if side == "assay" else run_datatrove
        load_before = os.getloadavg()[0]
        runs = [runner(input_path, args.workdir, core) for _ in range(args.assay_repeats if side == "assay" else 1)]
        r = results[side] = runs[-1]
        if len(runs) > 1:
            for key in ("wall_s", "cpu_s", "rss_mib"):
                r[f"{key}_runs"] = [round(run[key], 1) for run in runs]
                r[key] = statistics.median(r[f"{key}_runs"])
            print(f"  {side}: {len(runs)} runs, wall {r['wall_s_runs']}, CPU {r['cpu_s_runs']}; medians below")
        r.update(finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 load_average=[load_before, os.getloadavg()[0]])
        saved_result(args.workdir, side, input_path).write_text(json.dumps(r, indent=1))
        print(f"  {side}: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, peak RSS {r['rss_mib']:.0f} MiB, "
              f"kept {r['kept']:,}; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
              flush=True)
    if args.reuse:
        for side in {"assay", "datatrove"} - set(sides):
            path = saved_result(args.workdir, side, input_path)
            if path.exists():
                results[side] = json.loads(path.read_text())
                print(f"  {side}: figures of an earlier run on the same input (finished "
                      f"{results[side]['finished']}, load average {results[side]['load_average']})")

    if results:
        print("\n| side | wall s | CPU s | MB/s (wall) | MB/s (CPU) | docs/s (wall) | peak RSS MiB | kept rows |")
        print("|---|---|---|---|---|---|---|---|")
        for side, r in results.items():
            print(f"| {side} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {size / MB / r['wall_s']:.2f} | "
                  f"{size / MB / r['cpu_s']:.2f} | {docs / r['wall_s']:,.0f} | {r['rss_mib']:.0f} | {r['kept']:,} |")
        if "assay" in results:
            a = results["assay"]
            print(f"\nassay removed by reason: {a['removed']}")
            print(f"assay seconds per step: { {k: round(v, 1) for k, v in a['steps'].items()} }")
        if "datatrove" in results:
            d = results["datatrove"]
            print(f"datatrove after filters: {d['after_filters']:,}; MinHash removed {d['after_filters'] - d['kept']:,}; "
                  "dropped by step and reason:")
            for key, value in d["dropped"].items():
                print(f"  {plain(key)}: {value:,}")
            print(f"datatrove seconds per stage: { {k: round(v, 1) for k, v in d['stages'].items()} }")
        if len(results) == 2:
            a, d = results["assay"], results["datatrove"]
            print(f"\nratio assay / datatrove: {d['wall_s'] / a['wall_s']:.1f}x wall, "
                  f"{d['cpu_s'] / a['cpu_s']:.1f}x CPU (bar: >= 30x)")

    scales = [float(s) for s in args.rss_scales.split(",") if s.strip()]
    if scales:
        print("\n| assay input | MB | documents | wall s | CPU s | MB/s (CPU) | peak RSS MiB | kept rows |")
        print("|---|---|---|---|---|---|---|---|")
        for scale in scales:
            path = replicated_input(source, args.size_mb * scale, args.workdir / "input")
            r = run_assay(path, args.workdir, core)
            mb = path.stat().st_size / MB
            print(f"| {scale:g}x | {mb:.0f} | {count_lines(path):,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                  f"{mb / r['cpu_s']:.2f} | {r['rss_mib']:.0f} | {r['kept']:,} |", flush=True)


if __name__ == "__main__":
    main()
