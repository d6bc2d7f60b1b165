"""Dedup benchmark: quality against brute-force Jaccard, speed against datasketch and rensa.

    python benchmarks/bench_dedup.py                 # quality + speed + index size
    python benchmarks/bench_dedup.py --million       # also 1,000,000 documents, peak RSS
    python benchmarks/bench_dedup.py --skip-quality --skip-speed --languages   # per language

Input: Reuters-21578 (../shared/data/web, title + body) plus planted near-duplicates:
copies of real English (Reuters) and Chinese (BELLE eval answers, GAOKAO questions with
their analysis) documents with random word edits (English) or character edits (Chinese)
at known rates. Ground truth: the exact Jaccard similarity of the 5-gram shingle sets
(word 5-grams for English, character 5-grams for CJK runs: ``assay.shingles``), for every
pair that shares a shingle (a sparse X @ X.T over all documents, so no pair is missed).

Quality bar: >= 95% of pairs with J >= 0.85 end in the same cluster; >= 99% of removed
documents have J >= 0.7 with their cluster's survivor.

Speed: signatures per second from Arrow text (assay: normalization and shingling
included) against datasketch ``affine32`` and rensa ``RMinHash``, both fed the same
pre-built shingles; one thread for all, then assay on 2 threads. Medians of repeats,
wall clock, plus CPU time for the one-thread runs (the machine is shared). With
``--languages``, the same one-thread comparison per language on real sentences in 11
languages and scripts (../shared/data/langid, Leipzig web corpora).
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
REUTERS = DATA / "web" / "reuters21578.jsonl.gz"


def load_reuters() -> list[str]:
    with gzip.open(REUTERS, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [f"{r.get('title') or ''}\n{r.get('body') or ''}".strip() for r in rows]


def load_chinese() -> list[str]:
    docs = []
    with open(DATA / "instruct" / "belle_eval_zh" / "eval_set.json", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs.append(row["question"] + "\n" + row["std_answer"])
    for path in sorted((DATA / "instruct" / "gaokao_bench" / "Data").glob("*/*.json")):
        if "English" in path.name:
            continue
        for ex in json.loads(path.read_text(encoding="utf-8"))["example"]:
            docs.append(f"{ex.get('question', '')}\n{ex.get('analysis', '')}")
    return docs


RATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2)


def edit_words(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    out = []
    for word in text.split():
        r = rng.random()
        if r < rate / 3:
            continue  # delete
        if r < 2 * rate / 3:
            out.append(rng.choice(vocabulary))  # replace
            continue
        out.append(word)
        if r < rate:
            out.append(rng.choice(vocabulary))  # insert
    return " ".join(out)


def edit_chars(text: str, rate: float, rng: random.Random, alphabet: str) -> str:
    out = []
    for c in text:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(alphabet))
            continue
        out.append(c)
        if r < rate:
            out.append(rng.choice(alphabet))
    return "".join(out)


def planted_corpus(seed: int = 7) -> tuple[list[str], list[str]]:
    """Reuters plus edited copies of 1,500 English and 600 Chinese documents, shuffled."""
    rng = random.Random(seed)
    reuters = load_reuters()
    chinese = [d for d in load_chinese() if len(d) >= 150]
    vocabulary = sorted({w for d in reuters[:2000] for w in d.split()})
    alphabet = "".join(sorted({c for d in chinese for c in d if "\u4e00" <= c <= "\u9fff"}))
    english_sources = rng.sample([d for d in reuters if len(d.split()) >= 60], 1500)
    chinese_sources = rng.sample(chinese, min(600, len(chinese)))
    docs = list(reuters) + chinese_sources
    kinds = ["reuters"] * len(reuters) + ["zh"] * len(chinese_sources)
    for text in english_sources:
        for _ in range(rng.randint(1, 3)):
            docs.append(edit_words(text, rng.choice(RATES), rng, vocabulary))
            kinds.append("planted_en")
    for text in chinese_sources:
        for _ in range(rng.randint(1, 3)):
            docs.append(edit_chars(text, rng.choice(RATES), rng, alphabet))
            kinds.append("planted_zh")
    order = list(range(len(docs)))
    rng.shuffle(order)
    return [docs[i] for i in order], [kinds[i] for i in order]


def jaccard_pairs(docs: list[str]):
    """Exact Jaccard of every pair sharing a 5-gram shingle: (i, j, J, shingle counts) with i < j."""
    import assay

    return set_jaccard_pairs([assay.shingles(text, ngram=5, unit="auto") for text in docs])


def set_jaccard_pairs(shingle_sets: list):
    """Exact Jaccard of every pair of shingle collections sharing one (sparse X·Xᵀ):
    (i, j, J, shingle counts) with i < j."""
    import scipy.sparse as sp

    ids: dict = {}
    indptr, indices = [0], []
    for shingles in shingle_sets:
        row = {ids.setdefault(s, len(ids)) for s in shingles}
        indices.extend(row)
        indptr.append(len(indices))
    x = sp.csr_matrix((np.ones(len(indices), np.int32), indices, indptr), shape=(len(shingle_sets), len(ids)))
    frequency = np.asarray(x.sum(axis=0)).ravel()
    x = x[:, np.flatnonzero(frequency >= 2)].tocsr()  # a shingle in one document adds to no intersection
    sizes = np.diff(indptr)
    inter = sp.triu(x @ x.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    return inter.row, inter.col, inter.data / union, sizes


def quality(docs: list[str], kinds: list[str]) -> list[dict]:
    import assay

    t = time.perf_counter()
    rows, cols, jac, sizes = jaccard_pairs(docs)
    print(f"ground truth: {len(jac):,} pairs share a shingle ({time.perf_counter() - t:.1f} s)")
    high = jac >= 0.85
    print(f"pairs with J >= 0.85: {high.sum():,}; with J >= 0.7: {(jac >= 0.7).sum():,}")
    lookup = {(int(i), int(j)): float(v) for i, j, v in zip(rows, cols, jac) if v >= 0.5}

    def pair_j(i: int, j: int) -> float:
        if i == j:
            return 1.0
        return lookup.get((min(i, j), max(i, j)), 0.0)

    results = []
    configs = [
        ("assay defaults (128 perms, 8x5)", {}),
        ("scheme xxh3 (128 perms, 8x5)", {"scheme": "xxh3"}),
        ("datasketch optimum (128 perms, 9x13)", {"bands": 9, "rows": 13}),
        ("256 perms, 8x5", {"num_perm": 256}),
    ]
    for name, kwargs in configs:
        t = time.perf_counter()
        out = assay.near_duplicates(docs, threshold=0.8, **kwargs)
        elapsed = time.perf_counter() - t
        cluster = out.column("cluster_id").to_numpy()
        removed = np.flatnonzero(out.column("is_duplicate").to_numpy(zero_copy_only=False))
        recall = float(np.mean(cluster[rows[high]] == cluster[cols[high]]))
        precise = float(np.mean([pair_j(int(i), int(cluster[i])) >= 0.7 for i in removed])) if len(removed) else 1.0
        results.append({"config": name, "recall_J>=0.85": recall, "removed": len(removed),
                        "removed_with_J>=0.7": precise, "seconds": elapsed})
        print(f"{name:40s} recall(J>=0.85) {recall:.4f}  removed {len(removed):,}  "
              f"precision(J>=0.7 to survivor) {precise:.4f}  {elapsed:.2f} s")
    for scheme in ("affine32", "xxh3"):
        by_kind = {}
        out = assay.near_duplicates(docs, threshold=0.8, scheme=scheme)
        cluster = out.column("cluster_id").to_numpy()
        for kind in ("planted_en", "planted_zh"):
            mask = high & np.array([kinds[i] == kind or kinds[j] == kind for i, j in zip(rows, cols)])
            by_kind[kind] = float(np.mean(cluster[rows[mask]] == cluster[cols[mask]])) if mask.any() else float("nan")
        print(f"recall(J>=0.85) by planted kind, {scheme}:", {k: round(v, 4) for k, v in by_kind.items()})
    s_curve(docs, rows, cols, jac)
    index = assay.DedupIndex()
    index.add(docs)
    per_doc_tables = index.band_table_bytes / index.rows_seen
    per_doc_signatures = index.signature_bytes / index.rows_seen
    print(f"index at defaults: band tables {per_doc_tables:.1f} bytes/doc, survivor signatures "
          f"{per_doc_signatures:.1f} bytes/doc ({index.num_clusters:,} survivors of {index.rows_seen:,})")
    return results


def s_curve(docs: list[str], rows, cols, jac) -> None:
    """How often a pair of each Jaccard range ends in one cluster, per scheme (the LSH S-curve
    with verification at 0.8): the two schemes should trace the same curve."""
    import assay

    edges = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01]
    print("pairs in one cluster, by Jaccard range (threshold 0.8, 8x5 bands):")
    print("  " + " ".join(f"{lo:.2f}-{min(hi, 1.0):.2f}" for lo, hi in zip(edges, edges[1:])))
    for scheme in ("affine32", "xxh3"):
        cluster = assay.near_duplicates(docs, threshold=0.8, scheme=scheme).column("cluster_id").to_numpy()
        same = cluster[rows] == cluster[cols]
        shares = [same[(jac >= lo) & (jac < hi)].mean() for lo, hi in zip(edges, edges[1:])]
        print(f"  {scheme:8s} " + " ".join(f"{s:9.3f}" for s in shares))


def _median_rate(fn, count: int, repeats: int) -> tuple[float, float]:
    # The collector is off while timing (no collection pauses inside a run for any peer).
    # A gc.collect() right before each run slowed the next 2-thread assay run by ~20%
    # and not the 1-thread one, which made the thread scaling look worse than it is.
    walls, cpus = [], []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
    finally:
        gc.enable()
    return count / statistics.median(walls), count / statistics.median(cpus)


def speed_worker(threads: int, count: int, repeats: int) -> None:
    """Run in a fresh process with RAYON_NUM_THREADS set; prints one JSON line."""
    import assay

    docs = load_reuters()
    docs = [d for d in docs if d][:count]
    array = pa.array(docs, pa.large_string())
    assert assay.thread_count() == threads
    result = {"threads": threads, "docs": len(docs),
              "mean_bytes": float(np.mean([len(d.encode()) for d in docs]))}
    # Warm up the same way at every thread count: the pool, and the allocator's pages for
    # the output (the first call faults them in).
    assay.minhash(array)
    result["assay"] = _median_rate(lambda: assay.minhash(array), len(docs), repeats)
    assay.minhash(array, scheme="xxh3")
    result["assay_xxh3"] = _median_rate(lambda: assay.minhash(array, scheme="xxh3"), len(docs), repeats)
    if threads == 1:
        shingle_lists = [assay.shingles(d) for d in docs]
        result.update(_peer_rates(shingle_lists, max(1, len(docs) // 10), repeats))
    print(json.dumps(result))


def _peer_rates(shingle_lists: list[list[bytes]], datasketch_docs: int,
                repeats: int) -> dict[str, tuple[float, float]]:
    """(wall, cpu) docs/s of datasketch ``affine32`` (on the first `datasketch_docs`
    documents: it is slow) and rensa, both fed the same pre-built shingles."""
    import rensa
    from datasketch import MinHash

    few = shingle_lists[:datasketch_docs]

    def run_datasketch():
        for s in few:
            MinHash(num_perm=128, seed=1, scheme="affine32").update_batch(s)

    def run_rensa():
        for s in shingle_lists:
            m = rensa.RMinHash(num_perm=128, seed=1)
            m.update(s)
            m.digest()

    return {"datasketch_affine32": _median_rate(run_datasketch, len(few), repeats),
            "rensa": _median_rate(run_rensa, len(shingle_lists), repeats)}


def speed(count: int, repeats: int) -> dict:
    runs = {}
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, "--speed-worker", str(threads), "--docs", str(count),
                              "--repeats", str(repeats)], env=env, capture_output=True, text=True, check=True)
        runs[threads] = json.loads(out.stdout.strip().splitlines()[-1])
    one, two = runs[1], runs[2]
    print(f"{one['docs']:,} Reuters docs, {one['mean_bytes']:.0f} bytes/doc, 128 permutations, docs/s (wall | cpu):")
    for name in ("assay", "assay_xxh3", "datasketch_affine32", "rensa"):
        wall, cpu = one[name]
        print(f"  1 thread  {name:22s} {wall:>12,.0f} | {cpu:>12,.0f}")
    print(f"  2 threads {'assay':22s} {two['assay'][0]:>12,.0f}")
    ratios = {
        "vs_datasketch_wall": one["assay"][0] / one["datasketch_affine32"][0],
        "vs_datasketch_cpu": one["assay"][1] / one["datasketch_affine32"][1],
        "vs_rensa_wall": one["assay"][0] / one["rensa"][0],
        "vs_rensa_cpu": one["assay"][1] / one["rensa"][1],
        "xxh3_vs_rensa_wall": one["assay_xxh3"][0] / one["rensa"][0],
        "two_threads_vs_one_wall": two["assay"][0] / one["assay"][0],
    }
    print("ratios:", {k: round(v, 2) for k, v in ratios.items()})
    return {"one": one, "two": two, "ratios": ratios}


LINGUA = DATA / "langid" / "lingua_sentences_75lang.jsonl.gz"
LANGUAGES = ("en", "de", "fr", "ru", "el", "ar", "hi", "zh", "ja", "ko", "th")


def language_docs(sentences_per_doc: int = 8) -> dict[str, list[str]]:
    """Per language, documents of 8 consecutive real sentences (Leipzig web corpora)."""
    by_language: dict[str, list[str]] = {}
    with gzip.open(LINGUA, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            by_language.setdefault(row["lang"], []).append(row["text"])
    n = sentences_per_doc
    return {lang: [" ".join(s[i:i + n]) for i in range(0, len(s) - n + 1, n)]
            for lang, s in by_language.items() if lang in LANGUAGES}


def languages_worker(repeats: int) -> None:
    """One thread (RAYON_NUM_THREADS=1): per language, assay from Arrow text against
    datasketch and rensa fed the same pre-built shingles; prints one JSON line."""
    import assay

    results = {}
    for lang, docs in language_docs().items():
        docs = docs * max(1, 1000 // len(docs))  # about 1,000 documents each
        array = pa.array(docs, pa.large_string())
        shingle_lists = [assay.shingles(d) for d in docs]
        assay.minhash(array)
        lengths = [len(x) for s in shingle_lists for x in s]
        peers = _peer_rates(shingle_lists, 100, repeats)
        results[lang] = {
            "docs": len(docs),
            "bytes_per_doc": float(np.mean([len(d.encode()) for d in docs])),
            "shingles_per_doc": len(lengths) / len(docs),
            "multi_block_shingles": float(np.mean(np.array(lengths) > 55)),
            "assay": _median_rate(lambda: assay.minhash(array), len(docs), repeats)[0],
            "assay_xxh3": _median_rate(lambda: assay.minhash(array, scheme="xxh3"), len(docs), repeats)[0],
            **{name: wall for name, (wall, _cpu) in peers.items()},
        }
    print(json.dumps(results))


def languages(repeats: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--languages-worker", "--repeats", str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    results = json.loads(out.stdout.strip().splitlines()[-1])
    print("one thread, docs/s (8 sentences per document; shingles > 55 bytes need 2+ SHA-1 blocks):")
    print(f"  {'lang':4s} {'bytes/doc':>9s} {'shingles':>8s} {'>55 B':>6s} {'assay':>9s} {'datasketch':>10s} "
          f"{'rensa':>9s} {'vs datasketch':>13s} {'vs rensa':>8s} {'xxh3':>9s} {'xxh3 vs rensa':>13s}")
    for lang, r in results.items():
        print(f"  {lang:4s} {r['bytes_per_doc']:9.0f} {r['shingles_per_doc']:8.0f} {r['multi_block_shingles']:6.0%} "
              f"{r['assay']:9,.0f} {r['datasketch_affine32']:10,.0f} {r['rensa']:9,.0f} "
              f"{r['assay'] / r['datasketch_affine32']:12.1f}x {r['assay'] / r['rensa']:7.2f}x "
              f"{r['assay_xxh3']:9,.0f} {r['assay_xxh3'] / r['rensa']:12.2f}x")
    return results


def million(total: int = 1_000_000, batch_size: int = 50_000) -> None:
    """Deduplicate `total` documents (Reuters with planted edits) in batches; peak RSS."""
    import assay

    rng = random.Random(11)
    reuters = [d for d in load_reuters() if d]
    vocabulary = sorted({w for d in reuters[:2000] for w in d.split()})
    index = assay.DedupIndex()
    t = time.perf_counter()
    hashing = 0.0
    removed = 0
    produced = 0
    text_bytes = 0
    while produced < total:
        batch = []
        for _ in range(min(batch_size, total - produced)):
            source = reuters[rng.randrange(len(reuters))]
            rate = rng.choice(RATES + (0.3, 0.5, 1.0))
            batch.append(source if rate == 0.0 else edit_words(source, rate, rng, vocabulary))
        produced += len(batch)
        text_bytes += sum(len(d) for d in batch)
        h = time.perf_counter()
        out = index.add(pa.array(batch, pa.large_string()))
        hashing += time.perf_counter() - h
        removed += int(np.sum(out.column("is_duplicate").to_numpy(zero_copy_only=False)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{produced:,} docs ({text_bytes / 1e6:.0f} MB of text): {removed:,} removed, "
          f"{index.num_clusters:,} clusters; dedup {hashing:.1f} s of {time.perf_counter() - t:.1f} s "
          f"(the rest is generating the edits in Python); peak RSS {peak:.0f} MiB; band tables "
          f"{index.band_table_bytes / produced:.1f} bytes/doc, signatures {index.signature_bytes / produced:.1f} bytes/doc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=int, default=10_000, help="documents for the speed runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", action="store_true", help="also dedup 1,000,000 documents")
    parser.add_argument("--languages", action="store_true",
                        help="also the speed per language (real sentences in 11 languages and scripts)")
    parser.add_argument("--languages-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    if args.speed_worker:
        speed_worker(args.speed_worker, args.docs, args.repeats)
        return
    if args.languages_worker:
        languages_worker(args.repeats)
        return
    if not REUTERS.exists():
        sys.exit(f"needs {REUTERS}")
    if not args.skip_quality:
        docs, kinds = planted_corpus()
        print(f"quality corpus: {len(docs):,} documents ({kinds.count('planted_en'):,} planted English, "
              f"{kinds.count('planted_zh'):,} planted Chinese copies)")
        quality(docs, kinds)
    if not args.skip_speed:
        speed(args.docs, args.repeats)
    if args.languages:
        languages(args.repeats)
    if args.million:
        million()


if __name__ == "__main__":
    main()
