"""Quality filters: agreement with datatrove 0.10.1 and speed, same documents, one thread.

    python benchmarks/bench_filters.py [--limit N] [--speed-docs N] [--repeats R] [--speed-only]

Agreement: every filter on all Reuters-21578 documents (title + blank line + body,
from ../shared/data/web when present, else the 400-document sample) and the 30
Common Crawl fixtures; each disagreement is listed with both reasons.
Agreement is also measured on a second English corpus, the FLAN chain-of-thought rows.
Speed, on both corpora: each filter alone and all four in one call (assay from an Arrow
column, one tokenization per document, RAYON_NUM_THREADS=1) against datatrove's filters on
the same ready Documents (all four: applied in order, stopping at the first that removes);
one warm-up run each, medians and worst runs of R.
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
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import assay  # noqa: E402
from _timing import timed  # noqa: E402
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


def flan_texts(limit: int | None) -> list[str]:
    """The FLAN chain-of-thought rows (English instruction data) as the record schema renders
    them: instruction, input and output separated by blank lines."""
    folder = ROOT.parent / "shared" / "data" / "instruct" / "flan_cot_alpaca_format"
    if not folder.exists():
        folder = ROOT / "samples" / "flan_cot"
    table = assay.read(str(folder / "*.json"), format="alpaca", source="flan-cot").read_all()
    texts = [t for t in table.column("text").to_pylist() if t]
    return texts[:limit] if limit else texts


def speed(label: str, texts: list[str], repeats: int) -> None:
    """Each filter alone and all four in one call: assay from an Arrow column against datatrove's
    filters on ready ``Document``s, same documents, one thread. After one warm-up of each side,
    ``repeats`` rounds each time datatrove once and assay three times (its median), in turn, so
    that a change in the machine's speed reaches both sides of a round: the ratio is taken per
    round, and its median and worst are reported with each side's median speed."""
    import pyarrow as pa

    print(f"\n### speed on {label}: {len(texts)} docs, one thread (threads={assay.thread_count()}), "
          f"{repeats} rounds (datatrove once, assay three times, in turn) after a warm-up")
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    column = pa.array(texts, pa.string())
    print("| filter | datatrove docs/s | assay docs/s | ratio (median) | ratio (worst round) |")
    print("|---|---|---|---|---|")
    for name in [*FILTERS, "all four"]:
        names = list(FILTERS) if name == "all four" else [name]
        filters = [FILTERS[n]() for n in names]

        def run_datatrove():
            for d in docs:
                for f in filters:
                    if f.filter(d) is not True:
                        break

        def run_assay():
            assay.apply_filters(column, names)

        run_datatrove()
        run_assay()
        dt_runs, ours_runs = [], []
        for _ in range(repeats):
            dt_runs.append(timed(run_datatrove, 1, warm_up=False)[0])
            ours_runs.append(timed(run_assay, 3, warm_up=False)[0])
        ratios = [d / o for d, o in zip(dt_runs, ours_runs)]
        print(f"| {name} | {len(texts) / statistics.median(dt_runs):,.0f} | {len(texts) / statistics.median(ours_runs):,.0f} "
              f"| {statistics.median(ratios):.0f}x | {min(ratios):.0f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="documents for the agreement run")
    parser.add_argument("--speed-docs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-only", action="store_true", help="skip the agreement runs")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {platform.machine()}, assay {assay.__version__}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    reuters_path = SHARED / "reuters21578.jsonl.gz"
    if not reuters_path.exists():
        reuters_path = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
    reuters = load(reuters_path, args.limit)
    flan = flan_texts(args.limit)
    if not args.speed_only:
        agreement(str(reuters_path.relative_to(reuters_path.parents[2])), reuters)
        agreement("FLAN chain-of-thought (English instruction rows)", flan)
        agreement("Common Crawl fixtures (samples/web/cc_fixtures.jsonl.gz)", load(ROOT / "samples" / "web" / "cc_fixtures.jsonl.gz", None))
    speed("Reuters", reuters[: args.speed_docs], args.repeats)
    speed("FLAN chain-of-thought", flan[: args.speed_docs], args.repeats)


if __name__ == "__main__":
    main()
