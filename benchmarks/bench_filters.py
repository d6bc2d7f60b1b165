"""Quality filters: agreement with datatrove 0.10.1 and speed, same documents, one thread.

    python benchmarks/bench_filters.py [--limit N] [--speed-docs N] [--repeats R] [--speed-only]

Agreement: every filter on all Reuters-21578 documents (title + blank line + body,
from ../shared/data/web when present, else the 400-document sample) and the 30
Common Crawl fixtures; each disagreement is listed with both reasons.
Speed: gopher_quality + gopher_repetition together (assay, one call, one
tokenization per document, RAYON_NUM_THREADS=1) against datatrove's two filters run
one after the other on the same documents; medians of R runs.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import assay  # noqa: E402
from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "web"
FILTERS = {
    "gopher_quality": GopherQualityFilter,
    "gopher_repetition": GopherRepetitionFilter,
    "c4_quality": C4QualityFilter,
    "fineweb_quality": FineWebQualityFilter,
}


def load(path: Path, limit: int | None) -> list[str]:
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = r["text"] if "text" in r else f"{r.get('title') or ''}\n\n{r.get('body') or ''}".strip()
            if text:
                texts.append(text)
            if limit and len(texts) >= limit:
                break
    return texts


def reference(name: str, texts: list[str]) -> list[str | None]:
    f = FILTERS[name]()
    out = []
    for i, t in enumerate(texts):
        r = f.filter(Document(text=t, id=str(i)))
        out.append(None if r is True else r[1])
    return out


def agreement(label: str, texts: list[str]) -> None:
    print(f"\n### agreement on {label} ({len(texts)} docs)")
    for name in FILTERS:
        ours = assay.apply_filter(texts, name).column("reason").to_pylist()
        theirs = reference(name, texts)
        keep_diff = collections.Counter((t, o) for t, o in zip(theirs, ours) if (t is None) != (o is None))
        reason_diff = sum(t != o for t, o in zip(theirs, ours))
        removed = sum(t is not None for t in theirs)
        agree = 1 - sum(keep_diff.values()) / len(texts)
        print(f"{name:18s} keep agreement {agree:.4%}  reasons identical on {1 - reason_diff / len(texts):.4%}"
              f"  datatrove removes {removed}  disagreements {dict(keep_diff) or 'none'}")


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(texts: list[str], repeats: int) -> None:
    print(f"\n### speed: gopher_quality + gopher_repetition, {len(texts)} docs, one thread")
    quality, repetition = GopherQualityFilter(), GopherRepetitionFilter()
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]

    def run_datatrove():
        for d in docs:
            quality.filter(d)
            repetition.filter(d)

    def run_assay():
        assay.apply_filters(texts, ["gopher_quality", "gopher_repetition"])

    run_assay()  # warm-up: builds the tokenizer tables once
    t_dt = timed(run_datatrove, max(1, repeats // 2 or 1))
    t_as = timed(run_assay, repeats)
    print(f"datatrove: {t_dt:.3f} s  ({len(texts) / t_dt:,.0f} docs/s)")
    print(f"assay:     {t_as:.4f} s  ({len(texts) / t_as:,.0f} docs/s)  threads={assay.thread_count()}")
    print(f"ratio:     {t_dt / t_as:.0f}x")
    sig = timed(lambda: assay.quality_signals(texts), repeats)
    print(f"assay quality_signals (all signals, one pass): {len(texts) / sig:,.0f} docs/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="documents for the agreement run")
    parser.add_argument("--speed-docs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-only", action="store_true", help="skip the agreement runs")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {platform.machine()}, assay {assay.__version__}")
    reuters_path = SHARED / "reuters21578.jsonl.gz"
    if not reuters_path.exists():
        reuters_path = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
    reuters = load(reuters_path, args.limit)
    if args.speed_only:
        speed(reuters[: args.speed_docs], args.repeats)
        return
    agreement(str(reuters_path.relative_to(reuters_path.parents[2])), reuters)
    agreement("Common Crawl fixtures (samples/web/cc_fixtures.jsonl.gz)", load(ROOT / "samples" / "web" / "cc_fixtures.jsonl.gz", None))
    speed(reuters[: args.speed_docs], args.repeats)


if __name__ == "__main__":
    main()
