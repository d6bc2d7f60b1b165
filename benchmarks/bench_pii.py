"""PII scanning speed on web text: assay's Rust kernel against datatrove's PIIFormatter.

    python benchmarks/bench_pii.py [--docs 20000] [--runs 5]

Input: Reuters-21578 (``../shared/data/web/reuters21578.jsonl.gz``, else the repo's
sample), title and body joined, repeated to ``--docs`` documents, with planted personal data
in every tenth document (an e-mail, a public IPv4 address, a mainland mobile number, a
resident ID and a card number, some of them touching Han characters). Both sides redact
e-mails and IPv4 addresses (what datatrove's formatter covers), one thread each, from their
own ready input: assay from an Arrow array, datatrove from a list of str. assay is then timed
again with every kind it knows. Each side is warmed up, then timed ``--runs`` times; medians
and the worst run are printed, with the number of texts each side changed.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one core each, before the Rust pool starts

import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REUTERS = ROOT.parent / "shared" / "data" / "web" / "reuters21578.jsonl.gz"
SAMPLE = ROOT / "samples" / "web" / "reuters_sample.jsonl.gz"
PLANTED = [
    " Contact the desk at markets.desk@example.com for details.",
    " The feed was served from 8.8.4.4 overnight.",
    " 联系电话13812345678，邮箱wang.fang@example.cn。",
    " 身份证号11010519491231002X已登记。",
    " Card 4111 1111 1111 1111 was charged.",
]


def texts(n: int) -> list[str]:
    with gzip.open(REUTERS if REUTERS.exists() else SAMPLE, "rt", encoding="utf-8") as f:
        base = [f"{r.get('title') or ''}\n\n{r.get('body') or ''}" for r in map(json.loads, f)]
    out = []
    for i in range(n):
        text = base[i % len(base)]
        if i % 10 == 0:
            text += PLANTED[(i // 10) % len(PLANTED)]
        out.append(text)
    return out


def timed(fn, runs: int) -> tuple[float, float, object]:
    result = fn()  # warm-up
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), max(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import assay
    from datatrove.pipeline.formatters.pii import PIIFormatter

    docs = texts(args.docs)
    array = pa.array(docs, pa.large_string())
    mb = sum(len(t.encode()) for t in docs) / 1e6
    formatter = PIIFormatter(email_replacement="<EMAIL>", ip_replacement="<IPV4>")
    cases = {
        "assay email+ipv4": lambda: assay.redact_pii(array, ["email", "ipv4"]).column("text").to_pylist(),
        "datatrove PIIFormatter": lambda: [formatter.format(t) for t in docs],
        "assay all 8 kinds": lambda: assay.redact_pii(array).column("text").to_pylist(),
    }
    print(f"{args.docs:,} docs, {mb:.1f} MB; one thread each; {platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; assay threads: {assay.thread_count()}")
    results = {}
    for name, fn in cases.items():
        median, worst, out = timed(fn, args.runs)
        changed = sum(a != b for a, b in zip(out, docs))
        results[name] = median
        print(f"{name:<24} median {median:7.3f} s  worst {worst:7.3f} s  {mb / median:8.1f} MB/s  changed {changed:,} docs")
    ratio = results["datatrove PIIFormatter"] / results["assay email+ipv4"]
    print(f"assay / datatrove on the same kinds: {ratio:.1f}x")


if __name__ == "__main__":
    main()
