"""Dedup: bit-equality with datasketch, shingle rules, LSH parameters, clustering, steps."""
import gzip
import json
import os
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import assay
from assay.dedup import ExactDedupIndex, key_text, lsh_params, normalize_text, optimal_lsh_params
from assay.steps import STEPS

datasketch = pytest.importorskip("datasketch")

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _real_texts() -> list[str]:
    """English and Chinese texts from the samples shipped in the repo (about 1,900)."""
    texts = []
    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(f"{row.get('title') or ''}\n{row.get('body') or ''}")
    for line in (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts += [row["question"], row["std_answer"]]
    for name in ("aqua_train.json", "creak_train.json", "strategyqa_train.json"):
        for row in json.loads((SAMPLES / "flan_cot" / name).read_text(encoding="utf-8")):
            texts += [row["instruction"], row["output"]]
    for path in (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", SAMPLES / "belle" / "zh_seed_tasks.json"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row["instruction"]] + [i["output"] for i in row["instances"]]
    return texts


REAL = _real_texts()


def _multilingual_texts() -> list[str]:
    """Real sentences in 75 languages (samples/langid), alone and as 8-sentence documents:
    Cyrillic, Greek, Arabic, Indic and other 2-3 byte scripts give word shingles over 55
    bytes (several SHA-1 blocks), CJK and Thai character shingles, and combining marks."""
    by_language: dict[str, list[str]] = {}
    with gzip.open(SAMPLES / "langid" / "lingua_sentences_3000.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            by_language.setdefault(row["lang"], []).append(row["text"])
    texts = []
    for sentences in by_language.values():
        texts += sentences[:12] + [" ".join(sentences[i:i + 8]) for i in range(0, len(sentences), 8)]
    return texts


MULTILINGUAL = _multilingual_texts()


def _datasketch(shingle_list, num_perm, seed, scheme):
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme)
    m.update_batch(shingle_list)
    return m.hashvalues


def _han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


def test_chinese_samples_give_character_shingles_and_english_ones_word_shingles():
    chinese = [t for t in REAL if sum(map(_han, t)) > 0.8 * len(t.replace(" ", "")) and len(t) > 20]
    english = [t for t in REAL if t.isascii() and len(t.split()) > 10]
    assert len(chinese) >= 300 and len(english) >= 500  # the real corpus covers both languages
    for text in chinese[:300]:
        grams = [g.decode() for g in assay.shingles(text, ngram=5)]
        han_only = [g for g in grams if all(map(_han, g))]
        assert han_only and all(len(g) == 5 for g in han_only), text  # five characters, no separator
    for text in english[:500]:
        grams = [g.decode() for g in assay.shingles(text, ngram=5)]
        assert grams and all(len(g.split(" ")) == 5 and g == g.lower() for g in grams), text  # five words


def test_design_test_vectors():
    # "hello world foo" in word 1-grams is exactly [b"hello", b"world", b"foo"].
    assert assay.shingles("hello world foo", ngram=1, unit="word") == [b"hello", b"world", b"foo"]
    legacy = assay.minhash(["hello world foo"], ngram=1, scheme="legacy")[0]
    affine = assay.minhash(["hello world foo"], ngram=1, scheme="affine32")[0]
    assert legacy[:4].tolist() == [228630785, 216833891, 617530111, 32421658]
    assert affine[:4].tolist() == [194877826, 648138202, 612313153, 1523615450]
    assert np.array_equal(legacy, _datasketch([b"hello", b"world", b"foo"], 128, 1, "legacy"))


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("seed", [1, 42, 12345])
def test_bit_equal_to_datasketch_on_real_texts(scheme, seed):
    got = assay.minhash(REAL, seed=seed, scheme=scheme)
    assert got.dtype == (np.uint32 if scheme == "affine32" else np.uint64)
    assert got.shape == (len(REAL), 128)
    for i, text in enumerate(REAL):
        expected = _datasketch(assay.shingles(text), 128, seed, scheme)
        assert np.array_equal(got[i], expected), (i, text[:80])


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_bit_equal_to_datasketch_in_75_languages(scheme):
    long_shingles = sum(len(x) > 55 for t in MULTILINGUAL for x in assay.shingles(t))
    assert len(MULTILINGUAL) >= 1000 and long_shingles >= 5000  # the multi-block SHA-1 path runs
    got = assay.minhash(MULTILINGUAL, seed=42, scheme=scheme)
    for i, text in enumerate(MULTILINGUAL):
        expected = _datasketch(assay.shingles(text), 128, 42, scheme)
        assert np.array_equal(got[i], expected), (i, text[:80])


@pytest.mark.parametrize("unit,ngram,num_perm", [("word", 3, 64), ("char", 4, 256), ("auto", 1, 7)])
def test_bit_equal_for_other_settings(unit, ngram, num_perm):
    texts = REAL[::10] + ["", "x", "😀 emoji only 😀"]
    for scheme in ("affine32", "legacy"):
        got = assay.minhash(texts, num_perm=num_perm, scheme=scheme, ngram=ngram, unit=unit, seed=7)
        for i, text in enumerate(texts):
            expected = _datasketch(assay.shingles(text, ngram=ngram, unit=unit), num_perm, 7, scheme)
            assert np.array_equal(got[i], expected), (scheme, i)


def test_empty_and_null_give_datasketch_empty_sketch():
    got = assay.minhash(["", None, "  ...  "], num_perm=16)
    empty = datasketch.MinHash(num_perm=16).hashvalues
    assert all(np.array_equal(row, empty) for row in got)
    legacy = assay.minhash([""], num_perm=16, scheme="legacy")[0]
    assert np.array_equal(legacy, datasketch.MinHash(num_perm=16, scheme="legacy").hashvalues)


def test_every_input_type_gives_the_same_signatures():
    texts = REAL[:50] + [None]
    expected = assay.minhash(texts, num_perm=32)
    table = pa.table({"text": texts})
    for data in (pa.array(texts), pa.array(texts, pa.string_view()), pa.chunked_array([texts[:20], texts[20:]]),
                 table, pl.DataFrame({"text": texts}), pl.Series(texts), table.to_pandas()):
        assert np.array_equal(assay.minhash(data, num_perm=32), expected), type(data)


def test_bad_arguments():
    with pytest.raises(ValueError):
        assay.minhash(["a"], scheme="affine64")
    with pytest.raises(ValueError):
        assay.shingles("a", unit="token")
    with pytest.raises(ValueError):
        assay.minhash(["a"], seed=2**32)
    with pytest.raises(TypeError):
        assay.shingles(["a"])


# ----------------------------------------------------------------------------- shingles

_UNSPACED = [(0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F), (0x3100, 0x312F), (0x31A0, 0x31BF),
             (0x0E00, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F),
             (0x1780, 0x17FF), (0x19E0, 0x19FF), (0xA000, 0xA4CF), (0xA980, 0xA9DF), (0x1B00, 0x1B7F),
             (0x2E80, 0x2FDF), (0x3005, 0x3005), (0x3007, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
             (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF)]


def _reference_tokens(text: str, split_unspaced: bool) -> list[tuple[str, bool]]:
    """The documented rules, written independently with unicodedata."""
    tokens, word = [], None
    for c in unicodedata.normalize("NFKC", text):
        for c in c.lower():
            cat = unicodedata.category(c)
            if c.isspace() or cat[0] == "P" or cat in ("Cc", "Sm", "Sc") or (
                cat == "Sk" and not 0x1F3FB <= ord(c) <= 0x1F3FF
            ) or (c.isascii() and not c.isalnum()):
                word = None
            elif cat == "Cf":
                continue
            elif split_unspaced and any(lo <= ord(c) <= hi for lo, hi in _UNSPACED):
                tokens.append((c, True))
                word = None
            else:
                if word is None:
                    tokens.append(("", False))
                    word = len(tokens) - 1
                tokens[word] = (tokens[word][0] + c, False)
    return tokens


def _reference_join(tokens):
    out = ""
    for i, (tok, unspaced) in enumerate(tokens):
        if i and not (unspaced and tokens[i - 1][1]):
            out += " "
        out += tok
    return out


def _reference_shingles(text: str, n: int, unit: str) -> list[bytes]:
    tokens = _reference_tokens(text, unit != "word")
    if unit == "char":
        chars = _reference_join(tokens)
        if not chars:
            return []
        windows = [chars] if len(chars) < n else [chars[i:i + n] for i in range(len(chars) - n + 1)]
        return [w.encode() for w in windows]
    if not tokens:
        return []
    if len(tokens) < n:
        return [_reference_join(tokens).encode()]
    return [_reference_join(tokens[i:i + n]).encode() for i in range(len(tokens) - n + 1)]


@pytest.mark.parametrize("unit", ["word", "char", "auto"])
def test_shingles_follow_the_documented_rules_on_real_texts(unit):
    for text in REAL[::3] + MULTILINGUAL[::2]:
        assert assay.shingles(text, ngram=5, unit=unit) == _reference_shingles(text, 5, unit), text[:80]


def test_shingle_rules_by_example():
    s = lambda t, n=3, u="auto": [x.decode() for x in assay.shingles(t, ngram=n, unit=u)]  # noqa: E731
    # mixed script: CJK runs give characters, English gives words, in one document
    assert s("我爱Rust语言，真的") == ["我爱 rust", "爱 rust 语", "rust 语言", "语言真", "言真的"]
    assert s("日本語のテキスト", 4) == ["日本語の", "本語のテ", "語のテキ", "のテキス", "テキスト"]
    # short texts give one shingle of the whole normalized text; empty ones none
    assert s("Hi there", 5) == ["hi there"] and s("你好", 5) == ["你好"]
    assert s("") == [] and s(" \n\t.,;!? ") == []
    # emoji are kept (a ZWJ sequence is one token); punctuation and symbols fold
    assert s("I ❤ pizza 🍕!!", 2) == ["i ❤", "❤ pizza", "pizza 🍕"]
    assert s("👨\u200d👩\u200d👧 family", 2) == ["👨👩👧 family"]
    # NFKC: full-width letters and digits, ligatures, compatibility ideographs
    assert s("ＡＢＣ ｄｅｆ １２３", 3) == s("abc def 123", 3) == ["abc def 123"]
    assert normalize_text("ﬁnance ㈱") == "finance (株)".replace("(", "").replace(")", "")
    # word unit keeps CJK runs whole; char unit runs over the normalized text
    assert s("你好，世界", 2, "word") == ["你好 世界"]
    assert s("Ab, c", 3, "char") == ["ab ", "b c"]


# ----------------------------------------------------------------------------- LSH parameters

@pytest.mark.parametrize("num_perm", [16, 64, 128, 256])
def test_optimal_params_match_datasketch(num_perm):
    from datasketch.lsh import _optimal_param

    for threshold in (0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95):
        for weights in ((0.5, 0.5), (0.3, 0.7)):
            assert optimal_lsh_params(threshold, num_perm, weights) == _optimal_param(
                threshold, num_perm, *weights
            ), (threshold, num_perm, weights)


def test_recall_defaults():
    assert lsh_params() == (128, 8, 5)
    num_perm, bands, rows = lsh_params(0.8)
    assert 1 - (1 - 0.8**rows) ** bands >= 0.95
    assert 1 - (1 - 0.8**13) ** 9 < 0.41  # datasketch's optimum finds about 40% at J = 0.8
    with pytest.raises(ValueError):
        lsh_params(0.8, 64, bands=10, rows=10)


# ----------------------------------------------------------------------------- near duplicates

def _edit_words(text: str, rate: float, rng: random.Random) -> str:
    words = text.split()
    return " ".join(w if rng.random() >= rate else rng.choice(["alpha", "beta", "gamma", "delta"]) for w in words)


def _shingle_set(text: str) -> set[bytes]:
    return set(assay.shingles(text, ngram=5, unit="word"))


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


@pytest.fixture(scope="module")
def planted():
    """Long Reuters bodies plus copies with 0-15% of words replaced, shuffled."""
    rng = random.Random(3)
    base = [t for t in REAL[:400] if len(t.split()) >= 80][:120]
    docs = list(base)
    for text in base[:60]:
        for rate in (0.0, 0.01, 0.03, 0.08, 0.15):
            docs.append(_edit_words(text, rate, rng))
    rng.shuffle(docs)
    return docs


def test_near_duplicates_against_brute_force_jaccard(planted):
    result = assay.near_duplicates(planted, unit="word")
    cluster = result.column("cluster_id").to_numpy()
    sets = [_shingle_set(t) for t in planted]
    pairs_high = together = 0
    for i in range(len(planted)):
        for j in range(i + 1, len(planted)):
            if _jaccard(sets[i], sets[j]) >= 0.85:
                pairs_high += 1
                together += cluster[i] == cluster[j]
    assert pairs_high > 100
    assert together / pairs_high >= 0.95
    removed = np.flatnonzero(result.column("is_duplicate").to_numpy(zero_copy_only=False))
    good = sum(_jaccard(sets[i], sets[cluster[i]]) >= 0.7 for i in removed)
    assert len(removed) > 100 and good / len(removed) >= 0.99


def test_output_columns_and_ids():
    table = pa.table({"id": ["a", "b", "c"], "text": ["one two three four five six", "One two three four five six!", "zzz"]})
    out = assay.near_duplicates(table)
    assert out.schema.names == ["id", "cluster_id", "cluster_size", "is_duplicate"]
    assert out.to_pylist() == [
        {"id": "a", "cluster_id": 0, "cluster_size": 2, "is_duplicate": False},
        {"id": "b", "cluster_id": 0, "cluster_size": 2, "is_duplicate": True},
        {"id": "c", "cluster_id": 2, "cluster_size": 1, "is_duplicate": False},
    ]
    assert assay.near_duplicates([None, "", None]).column("is_duplicate").to_pylist() == [False] * 3


def test_keep_policies():
    base = " ".join(f"word{i}" for i in range(40))
    texts = [base, base + " tail", base + " a longer tail", base]
    first = assay.near_duplicates(texts)
    assert first.column("cluster_id").to_pylist() == [0, 0, 0, 0]
    longest = assay.near_duplicates(texts, keep="longest")
    assert longest.column("cluster_id").to_pylist() == [2, 2, 2, 2]
    assert longest.column("is_duplicate").to_pylist() == [True, True, False, True]
    table = pa.table({"text": texts, "score": [0.5, 0.9, None, 0.9]})
    by_score = assay.near_duplicates(table, keep="score")  # tie between rows 1 and 3: input order
    assert by_score.column("cluster_id").to_pylist() == [1, 1, 1, 1]
    with pytest.raises(ValueError):
        assay.near_duplicates(table, keep="missing")
    exact = assay.exact_duplicates(table, keep="score")
    assert exact.column("cluster_id").to_pylist() == [3, 1, 2, 3]  # row 3 scores higher than row 0


def test_verify_drops_weak_candidates():
    base = [f"w{i}" for i in range(60)]
    half = base[:30] + [f"x{i}" for i in range(30)]
    texts = [" ".join(base), " ".join(half)]
    assert assay.near_duplicates(texts, threshold=0.8).column("is_duplicate").to_pylist() == [False, False]
    # Without verification any shared band makes a duplicate; 1-row bands share for sure.
    loose = assay.near_duplicates(texts, bands=128, rows=1, verify=False)
    assert loose.column("is_duplicate").to_pylist() == [False, True]


def test_batch_size_independence_and_save_load(planted, tmp_path):
    whole = assay.near_duplicates(planted, unit="word")
    for batch_size in (1, 37, 500):
        index = assay.DedupIndex(unit="word")
        parts = []
        for start in range(0, len(planted), batch_size):
            if start and start // batch_size == 3:
                index.save(tmp_path / "index.bin")
                index = assay.DedupIndex.load(tmp_path / "index.bin")
            parts.append(index.add(planted[start:start + batch_size]))
        got = pa.concat_tables(parts)
        assert got.column("cluster_id").equals(whole.column("cluster_id")), batch_size
        assert got.column("is_duplicate").equals(whole.column("is_duplicate"))
    assert index.rows_seen == len(planted)
    assert index.config["unit"] == "word" and index.config["bands"] == 8


def test_load_continues_row_numbers_and_dedups_against_old_corpus(tmp_path):
    old = assay.DedupIndex()
    old.add(REAL[:100])
    old.save(tmp_path / "corpus.idx")
    new = assay.DedupIndex.load(tmp_path / "corpus.idx")
    out = new.add([REAL[5], "a brand new text that nobody has seen before at all"])
    assert out.column("cluster_id").to_pylist() == [5, 101]
    assert out.column("is_duplicate").to_pylist() == [True, False]
    (tmp_path / "junk").write_bytes(b"not an index")
    with pytest.raises(ValueError):
        assay.DedupIndex.load(tmp_path / "junk")


def test_thread_count_independence(planted, tmp_path):
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(planted))
    script = (
        "import json, sys, assay; docs = json.load(open(sys.argv[1]));"
        "t = assay.near_duplicates(docs); s = assay.minhash(docs);"
        "print(assay.thread_count(), t.column('cluster_id').to_pylist() == json.load(open(sys.argv[2])),"
        " int(s.sum(dtype='uint64')))"
    )
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps(assay.near_duplicates(planted).column("cluster_id").to_pylist()))
    signature_sum = int(assay.minhash(planted).sum(dtype="uint64"))
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", script, str(path), str(expected)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == [threads, "True", str(signature_sum)]


# ----------------------------------------------------------------------------- exact duplicates

def test_exact_duplicates_normalized_and_raw():
    texts = ["Hello, World!", "hello world", "HELLO   WORLD.", "Hello, World!", "other", None, ""]
    norm = assay.exact_duplicates(texts)
    assert norm.column("cluster_id").to_pylist() == [0, 0, 0, 0, 4, 5, 6]
    assert norm.column("cluster_size").to_pylist() == [4, 4, 4, 4, 1, 1, 1]
    raw = assay.exact_duplicates(texts, normalize=False)
    assert raw.column("cluster_id").to_pylist() == [0, 1, 2, 0, 4, 5, 6]


def test_exact_duplicates_instruction_keys():
    table = pa.table({
        "instruction": ["Translate", "translate:", "Translate", "Summarize", None],
        "input": ["Bonjour", "bonjour", "Bonjour", "", None],
        "output": ["Hello", "Hi", "Hello", "Short", None],
        "text": ["a", "b", "c", "d", "d"],
    })
    prompt = assay.exact_duplicates(table, columns=["instruction", "input"])
    assert prompt.column("cluster_id").to_pylist() == [0, 0, 0, 3, 4]
    full = assay.exact_duplicates(table, columns=["instruction", "input", "output"])
    assert full.column("cluster_id").to_pylist() == [0, 1, 0, 3, 4]
    # key_text falls back to text for rows without the key's fields
    assert key_text(table, "prompt").to_pylist()[4] == "d"
    assert key_text(table, "prompt_response").to_pylist()[0] == "Translate\nBonjour\nHello"


def test_exact_duplicates_on_messages():
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    chats = pa.array([
        [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [{"role": "user", "content": "hi"}],
        None,
    ], pa.list_(message))
    table = pa.table({"messages": chats, "text": ["", "", "", "x"]})
    assert assay.exact_duplicates(table, columns=["messages"]).column("cluster_id").to_pylist() == [0, 0, 2, 3]
    assert key_text(table.slice(1), "messages").to_pylist() == ["user: hi\nassistant: hello", "user: hi", "x"]


def test_exact_index_streams():
    index = ExactDedupIndex()
    a = index.add(["x y", "z"])
    b = index.add(["X, y", "z!", "new"])
    assert b.column("cluster_id").to_pylist() == [0, 1, 4]
    assert b.column("cluster_size").to_pylist() == [2, 2, 1]
    assert a.column("is_duplicate").to_pylist() == [False, False]


# ----------------------------------------------------------------------------- pipeline steps

def _records(texts, start=0):
    return pa.record_batch({
        "id": [f"r{start + i}" for i in range(len(texts))],
        "text": texts,
    })


def test_steps_carry_state_across_batches_and_keep_cluster_id():
    exact = STEPS["exact_dedup"]()
    near = STEPS["near_dedup"](threshold=0.8)
    base = " ".join(f"token{i}" for i in range(50))
    batch1 = near(exact(_records([base, "unique text number one here", base])))
    batch2 = near(exact(_records([base + " extra", "Unique text number one here!", "fresh"], 3)))
    assert batch1.column("reason").to_pylist() == [None, None, "exact_duplicate"]
    assert batch2.column("reason").to_pylist() == ["near_duplicate", "exact_duplicate", None]
    assert batch1.column("cluster_id").to_pylist() == [0, 1, 0]
    # near_dedup numbers only the rows it indexed: base=0, unique=1, then base+extra -> 0
    assert batch2.column("cluster_id").to_pylist() == [0, 1, 3]


def test_step_params_are_checked_and_prompt_key_works(tmp_path):
    with pytest.raises(Exception):
        STEPS["near_dedup"](threshold=0.8, bogus=1)
    step = STEPS["exact_dedup"](key="prompt")
    batch = pa.record_batch({
        "instruction": ["Add", "add"], "input": ["1 + 1", "1+1"], "output": ["2", "3"], "text": ["p", "q"],
    })
    assert step(batch).column("reason").to_pylist() == [None, "exact_duplicate"]
    saving = STEPS["near_dedup"](save_index=str(tmp_path / "n.idx"))
    saving(_records(REAL[:20]))
    saving.finish()
    loaded = STEPS["near_dedup"](load_index=str(tmp_path / "n.idx"))
    assert loaded(_records(REAL[3:5])).column("reason").to_pylist() == ["near_duplicate"] * 2


def test_exact_dedup_step_and_library_frame_each_key_field_alike():
    # Real instructions split in two places: ("a b", "c") and ("a", "b c") are different prompts.
    path = SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    english = [r["instruction"] for r in rows if len(r["instruction"].split()) > 6][:20]
    assert len(english) == 20
    instruction, inputs = [], []
    for q in english:
        words = q.split()
        instruction += [" ".join(words[:3]), " ".join(words[:2])]
        inputs += [" ".join(words[3:]), " ".join(words[2:])]
    batch = pa.record_batch({"instruction": instruction, "input": inputs, "output": ["x"] * 40,
                             "text": [f"{i}\n\n{j}\n\nx" for i, j in zip(instruction, inputs)], "kind": ["instruction"] * 40})
    step = STEPS["exact_dedup"](key="prompt")(batch)
    library = assay.exact_duplicates(pa.Table.from_batches([batch]), columns=["instruction", "input"])
    assert step.column("reason").null_count == 40  # no two prompts are the same
    assert library.column("is_duplicate").to_pylist() == [False] * 40
    # ... while the same split twice is a duplicate for both.
    twice = pa.concat_tables([pa.Table.from_batches([batch])] * 2).combine_chunks().to_batches()[0]
    assert STEPS["exact_dedup"](key="prompt")(twice).column("reason").to_pylist() == [None] * 40 + ["exact_duplicate"] * 40
    assert assay.exact_duplicates(twice, columns=["instruction", "input"]).column("is_duplicate").to_pylist() == \
        [False] * 40 + [True] * 40


def test_dedup_steps_write_cluster_size():
    texts = REAL[:200] + REAL[:50]
    batch = pa.record_batch({"text": texts, "kind": ["text"] * 250})
    for name in ("exact_dedup", "near_dedup"):
        out = STEPS[name]()(batch)
        removed = pc.is_valid(out.column("reason")).to_numpy(zero_copy_only=False)
        sizes = out.column("cluster_size").to_numpy()
        assert removed[200:].all() and (sizes[200:] >= 2).all() and (sizes[:200][~removed[:200]] >= 1).all()
        ids = out.column("cluster_id").to_numpy()
        for row in range(200, 250):  # the survivor is the first copy; the duplicate names it
            assert ids[row] == ids[row - 200] or removed[row - 200]


def test_row_keys_name_the_survivor_and_change_nothing_else():
    docs = ["the cat sat on the mat today", "x y z", "The cat sat on the mat, today!", "x y z"]
    keys = np.array([5 << 40, 5 << 40 | 1, 7 << 40, 7 << 40 | 3], dtype=np.int64)
    for make in (lambda: assay.DedupIndex(threshold=0.8), lambda: ExactDedupIndex()):
        plain = make().add(docs)
        named = make().add(docs, row_keys=keys)
        assert named.column("is_duplicate").to_pylist() == plain.column("is_duplicate").to_pylist()
        assert named.column("cluster_size").to_pylist() == plain.column("cluster_size").to_pylist()
        assert named.column("cluster_id").to_pylist() == [int(keys[i]) for i in plain.column("cluster_id").to_pylist()]
    with pytest.raises(ValueError, match="row_keys has 1 values for 4 rows"):
        ExactDedupIndex().add(docs, row_keys=keys[:1])


def test_xxh3_scheme_is_datasketch_with_an_xxh3_hash_function():
    """scheme="xxh3" is datasketch's affine32 MinHash whose hashfunc is XXH3-64 folded to 32 bits
    (the reference: datasketch with the python-xxhash package's XXH3)."""
    xxhash = pytest.importorskip("xxhash")

    def xxh3_hash32(data: bytes) -> int:
        value = xxhash.xxh3_64_intdigest(data)
        return (value ^ (value >> 32)) & 0xFFFFFFFF

    texts = _real_texts()[:300] + _multilingual_texts()[:300] + ["x"]
    ours = assay.minhash(texts, num_perm=64, seed=3, scheme="xxh3")
    for row, text in zip(ours, texts):
        m = datasketch.MinHash(num_perm=64, seed=3, scheme="affine32", hashfunc=xxh3_hash32)
        m.update_batch(assay.shingles(text))
        assert np.array_equal(row, m.hashvalues)


def test_near_dedup_step_takes_the_scheme_and_refuses_a_mismatched_index(tmp_path):
    docs = [t for t in _real_texts() if len(t.split()) > 30][:200]
    docs += [d + " !" for d in docs[:10]]
    for scheme in ("affine32", "xxh3"):
        flags = assay.near_duplicates(docs, scheme=scheme).column("is_duplicate").to_pylist()
        assert all(flags[-10:]), scheme  # the planted copies
    index = assay.DedupIndex(scheme="xxh3")
    index.add(docs)
    index.save(tmp_path / "near.idx")
    assert assay.DedupIndex.load(tmp_path / "near.idx").config["scheme"] == "xxh3"
    from assay.steps import STEPS

    with pytest.raises(ValueError, match="scheme"):
        STEPS["near_dedup"](load_index=str(tmp_path / "near.idx"))
    assert STEPS["near_dedup"](load_index=str(tmp_path / "near.idx"), scheme="xxh3").index.config["scheme"] == "xxh3"
    with pytest.raises(ValueError, match="scheme"):
        assay.DedupIndex(scheme="legacy")
