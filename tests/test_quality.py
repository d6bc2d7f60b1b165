"""Quality filters: parity with datatrove 0.10.1, boundary cases, Chinese, big inputs."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import assay
from assay import _core

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED_REUTERS = ROOT.parent / "shared" / "data" / "web" / "reuters21578.jsonl.gz"

datatrove = pytest.importorskip("datatrove", reason="datatrove is the reference for these tests")
from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import (  # noqa: E402
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.utils.text import split_into_words  # noqa: E402

REFERENCE = {
    "gopher_quality": GopherQualityFilter,
    "gopher_repetition": GopherRepetitionFilter,
    "c4_quality": C4QualityFilter,
    "fineweb_quality": FineWebQualityFilter,
}


def reference_reason(name: str, text: str, **params) -> str | None:
    result = REFERENCE[name](**params).filter(Document(text=text, id="0"))
    return None if result is True else result[1]


def ours(name: str, texts: list[str], **params) -> list[str | None]:
    return assay.apply_filter(texts, name, **params).column("reason").to_pylist()


def web_texts(path: Path) -> list[str]:
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    texts = [r["text"] if "text" in r else f"{r.get('title') or ''}\n\n{r.get('body') or ''}".strip() for r in rows]
    return [t for t in texts if t]


@pytest.fixture(scope="module")
def reuters() -> list[str]:
    return web_texts(SAMPLES / "web" / "reuters_sample.jsonl.gz")


@pytest.fixture(scope="module")
def cc_docs() -> list[str]:
    return web_texts(SAMPLES / "web" / "cc_fixtures.jsonl.gz")


# ------------------------------------------------------------------ parity


@pytest.mark.parametrize("sample", ["reuters", "cc_docs"])
def test_words_match_datatrove(sample, request):
    texts = request.getfixturevalue(sample)
    mismatched = [i for i, t in enumerate(texts) if _core._quality_words(t, "en") != split_into_words(t)]
    assert mismatched == []


def test_words_match_datatrove_on_instruction_text(sample_texts):
    english = [t for t in sample_texts if t.isascii()]
    assert len(english) > 100
    for text in english:
        assert _core._quality_words(text, "en") == split_into_words(text), text


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("sample", ["reuters", "cc_docs"])
def test_filter_reasons_match_datatrove(name, sample, request):
    texts = request.getfixturevalue(sample)
    got = ours(name, texts)
    expected = [reference_reason(name, t) for t in texts]
    assert got == expected
    kept = sum(r is None for r in got)
    assert 0 < kept < len(texts) or name == "gopher_repetition" or sample == "cc_docs"


@pytest.mark.skipif(not SHARED_REUTERS.exists(), reason="needs ../shared/data")
def test_shared_reuters_slice_matches_datatrove():
    rows = []
    with gzip.open(SHARED_REUTERS, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 40 == 7:  # a spread-out slice of ~540 docs
                rows.append(json.loads(line))
    texts = [f"{r.get('title') or ''}\n\n{r.get('body') or ''}".strip() for r in rows]
    texts = [t for t in texts if t]
    for name in REFERENCE:
        got = ours(name, texts)
        expected = [reference_reason(name, t) for t in texts]
        agree = sum((a is None) == (b is None) for a, b in zip(got, expected)) / len(texts)
        assert agree >= 0.995, name


# ------------------------------------------------------------------ boundaries

def _words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


BASE = "the cat and the dog ran to the park with a ball of red wool "  # 14 words, stop words


def _doc(n_words: int) -> str:
    """n_words distinct-ish words with stop words, no punctuation."""
    words = (BASE * (n_words // 14 + 1)).split()[:n_words]
    return " ".join(f"{w}{i % 7}" if w not in ("the", "and", "of", "to", "with") else w for i, w in enumerate(words))


GOPHER_QUALITY_CASES = [
    "",
    "   \n\t ",
    _doc(49),
    _doc(50),
    _doc(51),
    _doc(60) + " " + "#" * 5,
    _doc(60) + " " + " ".join(["#"] * 6),
    _doc(60) + " " + " ".join(["#"] * 7),
    _doc(60) + " ... …" * 3,
    _doc(60) + " ... …" * 4,
    "\n".join(["- " + _doc(10)] * 9 + [_doc(10)]),
    "\n".join(["• " + _doc(10)] * 10),
    "\n".join([_doc(10) + "..."] * 3 + [_doc(10)] * 7),
    "\n".join([_doc(10) + "…"] * 4 + [_doc(10)] * 6),
    _doc(40) + " " + " ".join(["12"] * 10),
    _doc(40) + " " + " ".join(["12"] * 11),
    " ".join(["ab"] * 60) + " the and",
    " ".join(["abcdefghijk"] * 60) + " the and",
    " ".join(["abc"] * 60) + " the",
    " ".join(["abc"] * 60) + " the of",
    " ".join(["abc"] * 60) + " The Of",
    _words(100_001, "abcd") + " the and",
]


@pytest.mark.parametrize("text", GOPHER_QUALITY_CASES, ids=range(len(GOPHER_QUALITY_CASES)))
def test_gopher_quality_boundaries(text):
    assert ours("gopher_quality", [text]) == [reference_reason("gopher_quality", text)]


def test_gopher_quality_each_reason_is_reached():
    reasons = set(ours("gopher_quality", GOPHER_QUALITY_CASES))
    assert reasons >= {
        "gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold", "gopher_above_avg_threshold",
        "gopher_too_many_hashes", "gopher_too_many_ellipsis", "gopher_too_many_bullets",
        "gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold", "gopher_enough_stop_words", None,
    }


REPETITION_CASES = [
    "",
    " ",
    "\n",
    "\na\n",
    "a\n\na\n\nb\n\nc",
    "a\n\na\n\nb\n\nc\n\nd\n\ne\n\nf",
    "para one here\n\n" + "x" * 200 + "\n\nlong para\n\n" + "x" * 200,
    "line\nline\nother\nthird\nfourth",
    "line\nline\nline\nother\nthird\nfourth\nfifth\nsixth\nseventh\neighth",
    _doc(200),
    " ".join(f"w{i}" for i in range(300)),
    " ".join(f"w{i}" for i in range(300)) + " alpha beta" * 12,
    " ".join(f"w{i}" for i in range(300)) + " alpha beta" * 14,
    " ".join(f"w{i}" for i in range(200)) + " a b c d e f g h i j" * 3,
    " ".join(f"w{i}" for i in range(200)) + " a b c d e f g h i j" * 6,
    "ab c a bc " * 30 + " ".join(f"w{i}" for i in range(300)),
]


@pytest.mark.parametrize("text", REPETITION_CASES, ids=range(len(REPETITION_CASES)))
def test_gopher_repetition_boundaries(text):
    assert ours("gopher_repetition", [text]) == [reference_reason("gopher_repetition", text)]


def test_gopher_repetition_overrides():
    text = " ".join(f"w{i}" for i in range(300)) + " alpha beta" * 12
    for params in [
        {"top_n_grams": [[2, 0.05]]},
        {"dup_n_grams": [[3, 0.01]], "top_n_grams": []},
        {"dup_line_frac": None, "dup_para_frac": 0},
    ]:
        dt_params = {k: tuple(map(tuple, v)) if isinstance(v, list) else v for k, v in params.items()}
        assert ours("gopher_repetition", [text], **params) == [reference_reason("gopher_repetition", text, **dt_params)]


SENT = "This is a fine sentence."
C4_CASES = [
    "",
    "\n".join([SENT] * 4),
    "\n".join([SENT] * 5),
    " ".join([SENT] * 5),
    "\n".join([SENT] * 5) + "\nLorem ipsum dolor sit amet.",
    "Lorem ipsum\n" + "\n".join([SENT] * 5),
    "\n".join([SENT] * 5) + "\nA line with { a bracket.",
    "\n".join([SENT] * 5) + "\nA line with { a bracket",
    "\n".join([SENT] * 4) + "\nPlease enable Javascript in your browser.",
    "\n".join([SENT] * 4) + "\nRead our privacy policy today.",
    "\n".join([SENT] * 4) + "\nWait for it...",
    "\n".join([SENT] * 4) + "\nTwo words.",
    "\n".join([SENT] * 4) + "\nCited here today.[1]",
    "\n".join([SENT] * 4) + "\nCited here today. [citation needed]",
    "\n".join([SENT] * 4) + "\nA " + "x" * 1001 + " word.",
    "\n".join([SENT] * 4) + '\nHe said "yes."',
    "\n".join([SENT] * 4) + "\nIs it? Yes! Sure.",
    "One. Two. Three. Four. Five six seven.",
    "Mr. Smith went to Washington D.C. today. He met Dr. Jones.\n" * 2,
]


@pytest.mark.parametrize("text", C4_CASES, ids=range(len(C4_CASES)))
def test_c4_boundaries(text):
    assert ours("c4_quality", [text]) == [reference_reason("c4_quality", text)]


def test_c4_parameters():
    text = "\n".join([SENT] * 3) + "\nshort line\nA line with { a bracket"
    for params in [
        {"min_num_sentences": 3},
        {"min_num_sentences": -1},
        {"filter_no_terminal_punct": False, "min_num_sentences": 2},
        {"filter_no_terminal_punct": False, "filter_curly_bracket": False, "min_words_per_line": 2},
        {"split_paragraph": False},
    ]:
        assert ours("c4_quality", [text], **params) == [reference_reason("c4_quality", text, **params)], params


LONG = "This line is long enough to not count as a short one."
FINEWEB_CASES = [
    "",
    " \n \n",
    LONG,
    LONG + "\n" + "no punctuation at the end of this long line",
    "\n".join(["no punctuation at the end of this long line"] * 7 + [LONG]),
    "\n".join(["no punctuation at the end of this long line number %d" % i for i in range(8)] + [LONG]),
    "\n".join(["Short %d." % i for i in range(2)] + [LONG]),
    "\n".join(["Short %d." % i for i in range(3)] + [LONG]),
    "\n".join([LONG] * 2),
    "\n".join([LONG + " %d" % i for i in range(50)] + [LONG + " 1"]),
    LONG + "\n\n\n\n\n" + LONG,
    LONG + "\r\n" + LONG + "。",
]


@pytest.mark.parametrize("text", FINEWEB_CASES, ids=range(len(FINEWEB_CASES)))
def test_fineweb_boundaries(text):
    assert ours("fineweb_quality", [text]) == [reference_reason("fineweb_quality", text)]


def test_fineweb_parameters():
    text = "\n".join(["no punctuation at the end of this long line"] * 7 + [LONG, "x"])
    for params in [{"line_punct_thr": 0.1}, {"line_punct_exclude_zero": True}, {"stop_chars": ["e"]},
                   {"short_line_length": 5, "short_line_thr": 0.05}, {"new_line_ratio": 0.01}]:
        dt = dict(params)
        if "stop_chars" in dt:
            dt["stop_chars"] = tuple(dt["stop_chars"])
        assert ours("fineweb_quality", [text], **params) == [reference_reason("fineweb_quality", text, **dt)], params


def test_unknown_filter_and_parameter():
    with pytest.raises(ValueError, match="unknown filter"):
        assay.apply_filter(["x"], "nope")
    with pytest.raises(ValueError, match="unknown field"):
        assay.apply_filter(["x"], "gopher_quality", min_words=3)
    with pytest.raises(ValueError, match="unsupported language"):
        assay.apply_filter(["x"], "gopher_quality", language="xx")


# ------------------------------------------------------------------ inputs, nulls, size


def test_inputs_agree(reuters):
    texts = reuters[:50]
    expected = assay.apply_filter(texts, "gopher_quality")
    for data in [pa.table({"text": texts}), pl.DataFrame({"body": texts}), pa.chunked_array([texts[:20], texts[20:]])]:
        column = "body" if isinstance(data, pl.DataFrame) else "text"
        got = assay.apply_filter(data, "gopher_quality", column=column)
        assert got.to_pylist() == expected.to_pylist()


def test_null_text_is_judged_as_empty():
    got = assay.apply_filter(["", None], "fineweb_quality").to_pylist()
    assert got[0] == got[1] == {"keep": False, "reason": "empty"}
    signals = assay.quality_signals([None]).to_pylist()[0]
    assert all(v is None for v in signals.values())


def test_whitespace_only_text():
    for name in REFERENCE:
        assert ours(name, ["  \n \t"]) == [reference_reason(name, "  \n \t")], name


def test_ten_megabyte_document_runs_in_linear_time():
    # One 10 MB document of 20,000 distinct paragraphs (a quadratic pass would not end).
    paragraph = "The committee reviewed report number {i} and approved it with minor changes to section {j}."
    text = "\n\n".join(paragraph.format(i=i, j=i % 97) for i in range(110_000))
    assert len(text) > 10_000_000
    got = assay.apply_filters([text], list(REFERENCE))
    assert got.num_rows == 1
    signals = assay.quality_signals([text]).to_pylist()[0]
    assert signals["tokens"] > 1_500_000
    assert 0 < signals["dup_10_gram_char_frac"] < 1


# ------------------------------------------------------------------ signals


def test_signals_agree_with_filter_arithmetic(reuters):
    sig = assay.quality_signals(reuters[:40]).to_pylist()
    for text, row in zip(reuters[:40], sig):
        words = split_into_words(text)
        assert row["tokens"] == len(words)
        assert row["alpha_word_ratio"] == pytest.approx(sum(any(c.isalpha() for c in w) for w in words) / len(words))
        assert row["mtld"] > 0


def test_mtld_matches_a_reference_implementation():
    def mtld_ref(words, threshold=0.72):
        def one(seq):
            factors, types, count, ttr = 0.0, set(), 0, 1.0
            for w in seq:
                count += 1
                types.add(w)
                ttr = len(types) / count
                if ttr <= threshold:
                    factors, types, count, ttr = factors + 1, set(), 0, 1.0
            if count:
                factors += (1 - ttr) / (1 - threshold)
            return len(seq) / factors if factors else len(seq)

        return (one(words) + one(words[::-1])) / 2

    text = "The quick brown fox jumps over the lazy dog while the dog sleeps and the fox runs far away from the farm"
    words = [w.lower() for w in split_into_words(text)]
    assert assay.quality_signals([text]).column("mtld")[0].as_py() == pytest.approx(mtld_ref(words))


# ------------------------------------------------------------------ Chinese


ZH = "今天天气很好，我们一起去公园散步。公园里有很多人在锻炼身体，也有小朋友在玩耍。" * 3


def test_chinese_counts_characters():
    words = _core._quality_words("我爱北京。Hello world!", "zh")
    assert words == ["我", "爱", "北", "京", "。", "Hello", "world", "!"]
    row = assay.quality_signals([ZH], language="zh").to_pylist()[0]
    assert row["tokens"] == len(ZH)
    assert row["stop_words"] >= 3  # 的 is absent, 在 有 我 也 are present


def test_chinese_filters(sample_texts):
    zh = [t for t in sample_texts if any("\u4e00" <= c <= "\u9fff" for c in t)]
    assert ours("gopher_quality", [ZH], language="zh") == [None]
    assert ours("gopher_quality", [ZH], language="en")[0] is not None  # no spaces: 1 "word" per clause
    assert ours("fineweb_quality", [ZH], language="zh") == [None]
    assert ours("gopher_repetition", ["重复的句子。" * 30], language="zh")[0] is not None
    # C4 accepts 。 as the end of a Chinese line and counts 。 sentences
    assert ours("c4_quality", ["我们今天去公园。他们明天去学校。大家都很开心。\n" * 2], language="zh") == [None]
    assert ours("c4_quality", ["我们今天去公园。他们明天去学校。大家都很开心。\n" * 2], language="en") == ["too_few_sentences"]
    reasons = assay.apply_filters(zh, list(REFERENCE), language="zh").column("reason").to_pylist()
    # The chain's reason is the first filter's that fails, each judged by its own Chinese rules.
    each = [ours(name, zh, language="zh") for name in REFERENCE]
    assert reasons == [next((r for r in row if r is not None), None) for row in zip(*each)]
    kept = [t for t, r in zip(zh, reasons) if r is None]
    assert kept and all(len(t) >= 50 for t in kept)  # short eval questions and answers go, long answers stay
    assert sum(r == "gopher_short_doc" for r in reasons) > len(zh) / 2


def test_language_auto_judges_each_row_by_its_own_rules(sample_texts):
    def han_share(text: str) -> float:
        chars = [c for c in text if not c.isspace()]
        return sum("\u4e00" <= c <= "\u9fff" for c in chars) / max(len(chars), 1)

    zh = [t for t in sample_texts if han_share(t) > 0.5][:60]
    en = [t for t in sample_texts if t.isascii() and t.strip()][:60]
    assert len(zh) == len(en) == 60
    texts = [t for pair in zip(en, zh) for t in pair]  # interleaved
    auto = assay.apply_filters(texts, list(REFERENCE), language="auto").column("reason").to_pylist()
    en_alone = assay.apply_filters(en, list(REFERENCE), language="en").column("reason").to_pylist()
    zh_alone = assay.apply_filters(zh, list(REFERENCE), language="zh").column("reason").to_pylist()
    assert auto[0::2] == en_alone and auto[1::2] == zh_alone
    assert en_alone != assay.apply_filters(en, list(REFERENCE), language="zh").column("reason").to_pylist()


def test_row_languages_prefers_the_lang_column():
    table = pa.table({"text": ["你好，世界", "Hello world", "你好，世界", "Hello", "你好", "Bonjour"],
                      "lang": ["zh", "zh-Hant", "en", None, None, "fr"]})
    assert assay.row_languages(table).to_pylist() == ["zh", "zh", "en", "en", "zh", "en"]
    c4 = ["我们今天去公园。他们明天去学校。大家都很开心。\n" * 2]
    by_lang = pa.table({"text": c4 * 2, "lang": ["zh", "en"]})
    assert assay.apply_filters(by_lang, ["c4_quality"], language="auto").column("reason").to_pylist() == [
        None, "too_few_sentences"]


def test_filter_step_language_is_validated():
    from assay.steps.filter import FilterParams

    assert FilterParams(filters=["c4_quality"]).language == "auto"
    with pytest.raises(ValueError, match="'en', 'zh' or 'auto'"):
        FilterParams(filters=["c4_quality"], language="fr")


# ------------------------------------------------------------------ instruction


def test_instruction_reasons_on_records():
    rows = {
        "instruction": ["Name a color.", "写一首诗。", "Pick one.", "Say hi.", "Write code.", "请介绍北京。", "Explain."],
        "input": [None, None, None, None, "", None, None],
        "output": [
            "Blue is a color.",
            "作为一个AI语言模型，我不能写诗。",
            "B",
            "   ",
            "```python\nprint(1)\n",
            "Beijing is the capital city of China with a long history.",
            "哈" * 30,
        ],
    }
    got = assay.apply_filter(pa.table(rows), "instruction").column("reason").to_pylist()
    assert got == [None, "refusal", "short_output", "empty_output", "unbalanced_code_fence", "language_mismatch",
                   "degenerate_repetition"]
    relaxed = assay.apply_filter(pa.table(rows), "instruction", min_output_chars=1, check_refusals=False)
    assert relaxed.column("reason").to_pylist()[1:3] == [None, None]


def test_instruction_chat_rows():
    messages = [
        [{"role": "user", "content": "Hi, who are you?"}, {"role": "assistant", "content": "I am a helpful bot."}],
        [{"role": "user", "content": "Tell me a joke."}, {"role": "assistant", "content": "As an AI language model, no."}],
        None,
    ]
    table = pa.table({
        "messages": pa.array(messages, type=pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        "output": [None, None, "A plain answer."],
        "instruction": [None, None, "Answer."],
    })
    assert assay.apply_filter(table, "instruction").column("reason").to_pylist() == [None, "refusal", None]
    assert assay.apply_filter(pl.from_arrow(table), "instruction").column("reason").to_pylist() == [None, "refusal", None]


def test_instruction_on_shipped_samples_is_mostly_kept():
    rows = json.loads((SAMPLES / "flan_cot" / "creak_train.json").read_text(encoding="utf-8"))
    table = pa.table({k: [r[k] for r in rows] for k in ("instruction", "input", "output")})
    reasons = assay.apply_filter(table, "instruction").column("reason").to_pylist()
    assert sum(r is None for r in reasons) / len(reasons) > 0.9
    belle = [json.loads(line) for line in (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()]
    table = pa.table({"instruction": [r["question"] for r in belle], "output": [r["std_answer"] for r in belle]})
    reasons = assay.apply_filter(table, "instruction").column("reason").to_pylist()
    answered = [r for r, row in zip(reasons, belle) if row["std_answer"].strip()]
    assert reasons.count("empty_output") == len(reasons) - len(answered)  # the eval set leaves many answers empty
    assert sum(r is None for r in answered) / len(answered) > 0.9


def test_instruction_needs_table_data():
    with pytest.raises(TypeError):
        assay.apply_filter(["x"], "instruction")
    with pytest.raises(KeyError):
        assay.apply_filter(pa.table({"text": ["x"]}), "instruction")
    with pytest.raises(ValueError, match="unknown field"):
        assay.apply_filter(pa.table({"output": ["x"]}), "instruction", nope=1)


# ------------------------------------------------------------------ steps


def test_filter_step_marks_first_failing_filter():
    from assay.steps import STEPS

    batch = pa.record_batch({"text": ["", "x " * 10, "\n".join([LONG] * 3)], "reason": [None, None, "earlier"]})
    step = STEPS["filter"](filters=["fineweb_quality", {"gopher_quality": {"min_doc_words": 5}}])
    assert step(batch).column("reason").to_pylist() == ["empty", "line_punct_ratio", "earlier"]
    with pytest.raises(ValueError):
        STEPS["filter"](filters=["nope"])
    with pytest.raises(ValueError):
        STEPS["filter"](filters=[{"gopher_quality": {}, "c4_quality": {}}])


def test_select_step_is_sql_not_python():
    from assay.steps import STEPS

    batch = pa.record_batch({"lang_score": [0.9, 0.5, None, 0.95], "words": [30, 40, 50, 10], "source": ["a&b", "x", "y", "z"]})
    step = STEPS["select"](expr="lang_score > 0.8 & words > 20")
    assert step(batch).column("reason").to_pylist() == [None, "select", "select", "select"]
    step = STEPS["select"](expr="source = 'a&b' | words < 20", reason="not_selected")
    assert step(batch).column("reason").to_pylist() == [None, "not_selected", "not_selected", None]
    for bad in ["__import__('os').system('true')", "lang_score >"]:
        with pytest.raises(ValueError):
            STEPS["select"](expr=bad)(batch)


def test_filter_step_kinds_judges_only_rows_of_those_kinds():
    from assay.steps import STEPS

    reuters = web_texts(SAMPLES / "web" / "reuters_sample.jsonl.gz")[:60]
    questions = [json.loads(line)["question"] for line in
                 (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()[:40]]
    texts = [t for pair in zip(reuters, questions) for t in pair] + reuters[40:]
    kinds = ["text", "instruction"] * 40 + ["text"] * 20
    batch = pa.record_batch({"text": texts, "kind": kinds})
    out = STEPS["filter"](filters=["gopher_quality", "c4_quality"], language="en", kinds=["text"])(batch)
    reasons = out.column("reason").to_pylist()
    web = [t for t, k in zip(texts, kinds) if k == "text"]
    expected = assay.apply_filters(web, ["gopher_quality", "c4_quality"], language="en").column("reason").to_pylist()
    assert [r for r, k in zip(reasons, kinds) if k == "text"] == expected and any(expected)
    assert all(r is None for r, k in zip(reasons, kinds) if k == "instruction")  # short questions pass untouched
    everything = STEPS["filter"](filters=["gopher_quality", "c4_quality"], language="en")(batch)
    assert any(r for r, k in zip(everything.column("reason").to_pylist(), kinds) if k == "instruction")
