"""Content-aware, script-aware language decisions (the `langid` step's default), on real data."""
import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import regex

import assay
from assay import _core
from assay.content_langid import MASK_REGEX, content_text, langid_rows
from assay.steps import STEPS

from conftest import SAMPLES


def chinese_rows() -> pa.Table:
    """Genuine Chinese instruction rows: BELLE's eval set and seed tasks, GAOKAO-Bench."""
    return pa.concat_tables([
        assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="belle-eval").read_all(),
        assay.read(SAMPLES / "belle" / "zh_seed_tasks.json", format="seed_tasks", source="belle-seed").read_all(),
        assay.read(str(SAMPLES / "gaokao" / "**" / "*.json"), format="gaokao", source="gaokao").read_all(),
    ])


def changelog_entries(path: Path = SAMPLES / "tech_zh" / "pypinyin_CHANGELOG.rst") -> list[str]:
    """Chinese technical prose: the entries of pypinyin's changelog with at least five Han characters."""
    entries, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("* ") or not line.strip() or re.match(r"^[=\-~^]{3,}$", line):
            if current:
                entries.append("\n".join(current))
            current = [line] if line.startswith("* ") else []
        elif current:
            current.append(line)
    if current:
        entries.append("\n".join(current))
    return [e for e in entries if len(regex.findall(r"\p{Han}", e)) >= 5]


def lingua(code: str) -> list[str]:
    with gzip.open(SAMPLES / "langid" / "lingua_sentences_3000.jsonl.gz", "rt", encoding="utf-8") as f:
        return [row["text"] for row in map(json.loads, f) if row["lang"] == code]


def _removed(data, keep: list[str]) -> float:
    table = data if isinstance(data, pa.Table) else pa.table({"text": data, "kind": ["text"] * len(data)})
    out = STEPS["langid"](keep=keep)(table.combine_chunks().to_batches()[0])
    return pc.sum(pc.is_valid(out.column("reason"))).as_py() / out.num_rows


def test_chinese_instruction_rows_are_kept():
    rows = chinese_rows()
    assert rows.num_rows >= 1200
    assert _removed(rows, ["zh"]) <= 0.002
    raw = STEPS["langid"](keep=["zh"], mode="raw")(rows.combine_chunks().to_batches()[0])
    assert pc.sum(pc.is_valid(raw.column("reason"))).as_py() / rows.num_rows > 0.02  # what the raw model removes


def test_chinese_technical_prose_is_kept():
    entries = changelog_entries()
    assert len(entries) >= 150
    assert _removed(entries, ["zh"]) <= 0.002
    assert sum(label != "zh" for label in assay.langid(entries).column("lang").to_pylist()) >= 3  # raw fastText


@pytest.mark.parametrize("code", ["ja", "ko", "en"])
def test_other_languages_are_removed_when_keeping_zh(code):
    assert _removed(lingua(code), ["zh"]) >= 0.99


def test_english_instructions_are_removed_for_zh_and_kept_for_en():
    alpaca = assay.read(SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", format="seed_tasks", source="a").read_all()
    assert _removed(alpaca, ["zh"]) >= 0.99
    flan = assay.read(str(SAMPLES / "flan_cot" / "*.json"), format="alpaca", source="f").read_all()
    assert _removed(flan, ["en"]) <= 0.005


def test_prompt_and_response_are_judged_apart():
    rows = pa.table({
        "kind": ["instruction", "instruction", "chat", "text"],
        "instruction": ["将下列句子翻译成英文：我今天很高兴。", "请将下面这段英文翻译成中文：\nThe museum opens at nine o'clock "
                        "every morning and closes at five in the afternoon.", None, None],
        "input": [None, None, None, None],
        "output": ["I am very happy today.", "博物馆每天早上九点开门，下午五点关门。", None, None],
        "messages": [None, None, [{"role": "user", "content": "Wie spät ist es jetzt in Berlin, bitte?"},
                                  {"role": "assistant", "content": "Es ist gerade halb drei am Nachmittag."}], None],
        "text": ["", "", "", "Ceci est un texte en français, sans instruction ni réponse."],
    })
    out = langid_rows(rows)
    assert out.column("lang_prompt").to_pylist() == ["zh", "en", "de", None]
    assert out.column("lang_response").to_pylist() == ["en", "zh", "de", None]
    assert out.column("lang").to_pylist() == ["zh", "zh", "de", "fr"]


def test_short_texts_are_uncertain_and_kept_by_default():
    batch = pa.record_batch({"text": ["OK, thanks!", "This sentence is long enough to be judged on its own."],
                             "kind": ["text", "text"]})
    out = STEPS["langid"](min_score=0.9)(batch)
    assert out.column("lang_uncertain").to_pylist() == [True, False]
    assert out.column("lang_score")[0].as_py() < 0.9 and out.column("reason")[0].as_py() is None
    strict = STEPS["langid"](min_score=0.9, keep_uncertain=False)(batch)
    assert strict.column("reason")[0].as_py() == "language"
    # the keep list still applies to uncertain rows
    assert STEPS["langid"](keep=["de"])(batch).column("reason").to_pylist() == ["language", "language"]


def test_raw_mode_is_exactly_fasttext():
    texts = lingua("ja")[:20] + [r["question"] for r in map(json.loads, (SAMPLES / "belle" / "eval_set.json")
                                                             .read_text(encoding="utf-8").splitlines()[:50])]
    batch = pa.record_batch({"text": texts})
    out = STEPS["langid"](mode="raw")(batch)
    expected = assay.langid(texts)
    assert out.column("lang").equals(expected.column("lang").combine_chunks())
    assert out.column("lang_score").equals(expected.column("lang_score").combine_chunks())
    assert STEPS["langid"](mode="raw").adds() == ("lang", "lang_score")


def test_variants_map_to_zh_unless_asked():
    classical = [t for t in chinese_rows().column("text").to_pylist()][:400]
    labels = set(assay.langid(classical).column("lang").to_pylist())
    mapped = langid_rows(pa.table({"text": classical}), map_variants=True).column("lang").to_pylist()
    assert not {"wuu", "yue", "lzh"} & set(mapped)
    if {"wuu", "yue", "lzh"} & labels:
        kept = langid_rows(pa.table({"text": classical}), map_variants=False).column("lang_fasttext").to_pylist()
        assert {"wuu", "yue", "lzh"} & set(kept)


def test_the_rust_scanner_masks_what_the_re2_rules_mask():
    texts = chinese_rows().column("text").to_pylist() + changelog_entries()
    texts += [(SAMPLES / "tech_zh" / "pypinyin_CHANGELOG.rst").read_text(encoding="utf-8")]
    texts += ["mail a.b+c@mail.example.org now", "www.x.cn/路径 和 http://a.b/c", "<b>粗</b>\u00a0\u3000x", "$$a$$ $b$ \\(c\\)"]
    array = pa.array(texts)
    assert content_text(array).to_pylist() == pc.replace_substring_regex(array, MASK_REGEX, " ").to_pylist()


def test_script_counts_match_unicode_scripts():
    texts = [t for code in ("zh", "ja", "ko", "ru", "en") for t in lingua(code)]
    counts = _core.script_counts(pa.array(texts)).to_pydict()
    assert counts["han"] == [len(regex.findall(r"\p{Han}", t)) for t in texts]
    assert counts["hangul"] == [len(regex.findall(r"\p{Hangul}", t)) for t in texts]
    kana = r"[\p{Hiragana}\p{Katakana}\u30fc\uff70]"  # and the long vowel marks (Script=Common letters)
    assert counts["kana"] == [len(regex.findall(kana, t)) for t in texts]
    words = r"[^\P{L}\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+"
    assert counts["other_words"] == [len(regex.findall(words, t)) for t in texts]
    assert counts["letters"] == [len(regex.findall(r"\p{Alphabetic}", t)) for t in texts]


def test_one_pass_kernel_equals_masking_then_the_model():
    texts = chinese_rows().column("text").to_pylist() + changelog_entries() + lingua("ja") + [None, "", "`only code`"]
    array = pa.array(texts)
    model = assay.FastTextModel(assay.LID176_PATH)
    fused = model.predict_content(array)
    scanned = _core.content_text(array)
    predicted = model.predict_table(scanned.column("content"), k=1, lists=False)
    assert fused.column("label").to_pylist() == predicted.column("label").to_pylist()
    assert fused.column("score").to_pylist() == predicted.column("score").to_pylist()
    assert fused.drop(["label", "score"]).to_pydict() == scanned.drop(["content"]).to_pydict()
