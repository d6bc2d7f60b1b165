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

Then recall and false positives on a planted set: generated personal data of every kind (half
of it touching Han text) and lookalikes that are not personal data (dates, times, version
strings, order numbers failing Luhn, resident IDs with a wrong check character, private
addresses), each in its own sentence; datatrove on the kinds it covers.
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


def planted(seed: int = 0, each: int = 200) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(sentence, kind, value) with personal data, and sentences with lookalikes only."""
    import random

    from stdnum import luhn
    from stdnum.cn import ric

    rng = random.Random(seed)
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    wrap = [("Contact: {} today.", "联系方式{}，谢谢。")]

    def sentence(value: str) -> str:
        return wrap[0][rng.randrange(2)].format(value)

    values: list[tuple[str, str]] = []
    for _ in range(each):
        values.append(("email", f"{rng.choice(['li.wei', 'john_smith', 'a.b-c'])}{digits(3)}@example{digits(2)}.com"))
        values.append(("ipv4", f"{rng.randrange(1, 9)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"))
        number = "1" + rng.choice("3456789") + digits(9)
        values.append(("phone_cn", rng.choice([number, f"+86 {number[:3]} {number[3:7]} {number[7:]}",
                                               f"{number[:3]}-{number[3:7]}-{number[7:]}"])))
        body = "110105" + f"{rng.randrange(1950, 2010)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" + digits(3)
        values.append(("cn_id", body + ric.calc_check_digit(body + "0")))
        card = rng.choice("3456") + digits(14)
        values.append(("bank_card", card + luhn.calc_check_digit(card)))
    positives = [(sentence(v), kind, v) for kind, v in values]
    negatives = []
    for _ in range(each):
        negatives.append(sentence(f"{rng.randrange(1990, 2030)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"))
        negatives.append(sentence(f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"))
        negatives.append(sentence(f"v{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}"))
        order = rng.choice("3456") + digits(14)
        negatives.append(sentence(order + str((int(luhn.calc_check_digit(order)) + 1 + rng.randrange(9)) % 10)))
        body = "110105" + f"{rng.randrange(1950, 2010)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" + digits(3)
        good = ric.calc_check_digit(body + "0")
        negatives.append(sentence(body + rng.choice([c for c in "0123456789X" if c != good])))
        negatives.append(sentence(f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"))
    return positives, negatives


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

    positives, negatives = planted()
    spans = assay.pii([p[0] for p in positives]).to_pylist()
    hits = {(s["row"], s["kind"], s["text"]) for s in spans}
    print(f"planted set: {len(positives)} values (half next to Han text), {len(negatives)} lookalikes")
    for kind in ("email", "ipv4", "phone_cn", "cn_id", "bank_card"):
        rows = [i for i, p in enumerate(positives) if p[1] == kind]
        found = sum((i, kind, positives[i][2]) in hits for i in rows)
        line = f"  {kind:<10} assay recall {found / len(rows):.3f}"
        if kind in ("email", "ipv4"):
            theirs = sum(positives[i][2] not in formatter.format(positives[i][0]) for i in rows)
            line += f"   datatrove recall {theirs / len(rows):.3f}"
        print(line)
    false = assay.pii(negatives).num_rows
    theirs = sum(formatter.format(t) != t for t in negatives)
    print(f"  lookalikes matched: assay {false} of {len(negatives)}, datatrove {theirs} of {len(negatives)} "
          "(datatrove on e-mail and IPv4 only)")


if __name__ == "__main__":
    main()
