"""Decontamination speed and accuracy: assay's Rust index against datatrove's n-gram filter.

    python benchmarks/bench_decontam.py [--index-ngrams 1000000] [--docs 20000] [--runs 3]

Input: Reuters-21578 (``../shared/data/web/reuters21578.jsonl.gz``, else the repo's sample).
The first articles are the "evaluation set", added until the index holds ``--index-ngrams``
distinct 13-grams; the other articles, repeated to ``--docs`` documents, are the training
text, with an evaluation article planted in every 20th (whole, or its middle 60%) and
``--datatrove-docs`` of them run through datatrove too (it is ~100x slower). Both sides check
13-grams, one thread each, from their own ready input: assay from an Arrow array with the
index built, datatrove from its ``Document`` objects with its index file written by its own
hashing code (``simplify_text``, its spaCy word tokenizer, ``xxhash64``). Each side is warmed
up, then timed ``--runs`` times; medians and the worst run are printed.

Then, on the planted documents: recall (assay: ``contam_fraction >= 0.5``, datatrove: any
n-gram found, its rule) and the clean documents each side flags.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one core each, before the Rust pool starts

import pyarrow as pa  # noqa: E402

from _timing import timed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REUTERS = ROOT.parent / "shared" / "data" / "web" / "reuters21578.jsonl.gz"
SAMPLE = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"


def articles() -> list[str]:
    with gzip.open(REUTERS if REUTERS.exists() else SAMPLE, "rt", encoding="utf-8") as f:
        texts = [f"{r.get('title') or ''}\n\n{r.get('body') or ''}".strip() for r in map(json.loads, f)]
    seen: set[str] = set()
    return [t for t in texts if len(t.split()) > 60 and not (t in seen or seen.add(t))]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-ngrams", type=int, default=1_000_000)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--datatrove-docs", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    import assay
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.text import ngrams, simplify_text

    pool = articles()
    evaluation: list[str] = []
    grams = 0
    while grams < args.index_ngrams and len(evaluation) < len(pool) // 2:
        evaluation.append(pool[len(evaluation)])
        grams += max(len(evaluation[-1].split()) - 12, 0)
    training = pool[len(evaluation):]

    before = rss_bytes()
    t0 = time.perf_counter()
    index = assay.ContaminationIndex.build(evaluation, ngram=13)
    build_s = time.perf_counter() - t0
    grown = rss_bytes() - before

    docs, planted = [], {}
    for i in range(args.docs):
        text = training[i % len(training)]
        if i % 20 == 10:
            item = (i // 20) % len(evaluation)
            piece = evaluation[item]
            if (i // 20) % 2:
                piece = piece[len(piece) // 5: 4 * len(piece) // 5]
            text = f"{text}\n\n{piece}"
            planted[i] = str(item)
        docs.append(text)
    array = pa.array(docs, pa.large_string())
    mb = sum(len(t.encode()) for t in docs) / 1e6

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "assay-bench-decontam"
    folder.mkdir(exist_ok=True)
    config = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=False)
    dt = NGramsDecontFilter(index_folder=str(folder), config=config)
    hashes = {dt.hash_func(" ".join(g)) for t in evaluation
              for g in ngrams(dt.tokenizer.word_tokenize(simplify_text(t, config.norm_config)), 13)}
    np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(folder / "reuters.index.hashes")
    dt_docs = [Document(text=t, id=str(i)) for i, t in enumerate(docs[: args.datatrove_docs])]
    dt_mb = sum(len(d.text.encode()) for d in dt_docs) / 1e6
    dt.filter(dt_docs[0])  # loads the index

    print(f"index: {len(evaluation):,} eval articles, {len(index):,} distinct 13-grams, built in {build_s:.2f} s; "
          f"{index.memory_bytes / 2**20:.1f} MiB ({index.memory_bytes / len(index):.1f} B per n-gram; "
          f"RSS grew {grown / 2**20:.1f} MiB); datatrove: {len(hashes):,} hashes")
    print(f"training: {args.docs:,} docs, {mb:.1f} MB ({len(planted):,} planted); datatrove on the first "
          f"{len(dt_docs):,} ({dt_mb:.1f} MB); one thread each; {platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; assay threads: {assay.thread_count()}")

    a_median, a_worst, hits = timed(lambda: assay.contamination(array, index), args.runs)
    d_median, d_worst, dt_out = timed(lambda: [dt.filter(d) is not True for d in dt_docs], args.runs)
    print(f"assay contamination       median {a_median:7.3f} s  worst {a_worst:7.3f} s  {mb / a_median:8.1f} MB/s")
    print(f"datatrove NGramsDecont    median {d_median:7.3f} s  worst {d_worst:7.3f} s  {dt_mb / d_median:8.1f} MB/s")
    print(f"assay / datatrove (MB/s): {(mb / a_median) / (dt_mb / d_median):.0f}x")

    fraction = hits.column("contam_fraction").to_pylist()
    eval_id = hits.column("contam_eval_id").to_pylist()
    ours = [f >= 0.5 for f in fraction]
    found = sum(ours[i] and eval_id[i] == item for i, item in planted.items())
    clean = [i for i in range(args.docs) if i not in planted]
    print(f"planted recall: assay {found / len(planted):.3f} (right eval item named)"
          f"; clean docs flagged: assay {sum(ours[i] for i in clean)} of {len(clean):,}")
    dt_planted = [i for i in planted if i < len(dt_docs)]
    dt_clean = [i for i in clean if i < len(dt_docs)]
    print(f"  first {len(dt_docs):,}: datatrove recall {sum(dt_out[i] for i in dt_planted) / len(dt_planted):.3f}, "
          f"clean flagged {sum(dt_out[i] for i in dt_clean)} of {len(dt_clean):,}; "
          f"assay recall {sum(ours[i] for i in dt_planted) / len(dt_planted):.3f}, "
          f"clean flagged {sum(ours[i] for i in dt_clean)} of {len(dt_clean):,}")
    anything = sum(n > 0 for n in hits.column("contam_ngrams").to_pylist())
    print(f"  docs sharing any 13-gram with the eval set (assay): {anything:,}")


if __name__ == "__main__":
    main()
