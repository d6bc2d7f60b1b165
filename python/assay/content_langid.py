"""Content-aware, script-aware language decisions for records (what the ``langid`` step uses).

fastText's lid.176 judges every character it is given, so a Chinese question with LaTeX
math, a URL, a code block or a no-break space is often labelled ``ja``, ``ru`` or ``ca``,
and a short Chinese sentence ``ja``. :func:`langid_rows` decides a row's language from its
natural-language content instead, in four documented steps:

1. **Content.** Fenced and inline code, LaTeX math (``$...$``, ``$$...$$``, ``\\(...\\)``,
   ``\\[...\\]``) and commands (``\\frac``), URLs, e-mail addresses and markup tags are
   masked out, and Unicode spaces (no-break, ideographic, zero-width) become plain
   spaces, in one pass of a Rust scanner (``assay_core::content``; the rules are also
   written as RE2 patterns, :data:`MASK_PATTERNS`, which the tests compare it with).
   The model predicts the rest.
2. **Script.** The content is counted in script units: every Han, kana or Hangul
   character is one, every word of other letters is one. Hangul at least half of the
   units: ``ko``. Han at least half of the units and no kana: ``zh`` (Han text without
   kana is not Japanese); a ``ja`` label on text without any kana becomes ``zh`` when it
   has Han. At least two kana, making at least a fifth of the Han and kana: ``ja``
   (Chinese is not written with kana). A decision by script has score ``max(model score,
   share of the units in that script)`` (Han and kana together for ``ja``).
3. **Variants.** Chinese varieties the model emits (``wuu``, ``yue``, ``lzh``, ...) are
   ``zh`` unless ``map_variants=False``; the model's own label (on the content, before
   these rules) stays in ``lang_fasttext``.
4. **Rows.** Instruction rows are judged on the instruction (``lang_prompt``) and the
   output (``lang_response``); chat rows on the user/system turns and the assistant
   turns; text rows on ``text``. A row's ``lang`` is its prompt's, unless the prompt is
   empty, or uncertain while the response is not, or the two differ and the prompt holds
   at least ``SCRIPT_CHARS`` (5) characters of the response's CJK script (Han for ``zh``,
   kana for ``ja``, Hangul for ``ko``): then it is the response's. So a Chinese instruction
   that asks for an English translation is a Chinese row, and so is a Chinese request
   around an English passage that is answered in Chinese.

A text whose content has fewer than ``short_chars`` (20) letters and that no script rule
decides is **uncertain**: ``lang_uncertain`` is true and its ``lang_score`` is scaled by
``letters / short_chars``. The step's ``keep_uncertain: true`` keeps such rows whatever
their score (the keep list still applies).

The raw model is unchanged: :func:`assay.langid` and :meth:`assay.FastTextModel.predict`
keep fastText's exact predictions.

>>> import assay, pyarrow as pa
>>> t = pa.table({"text": ["推荐一款值得购买的手机。", "解释用于评估机器翻译性能的常见指标。",
...                         "发电机:电能\u00a0\u00a0\u00a0→\u00a0\u00a0\u00a0风车:\u00a0\u00a0(\u00a0\u00a0)",
...                         "Guten Morgen, wie geht es dir heute?"]})
>>> assay.langid(t).column("lang").to_pylist()
['ja', 'it', 'fr', 'de']
>>> langid_rows(t).column("lang").to_pylist()
['zh', 'zh', 'zh', 'de']
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay import _core
from assay._data import _to_arrow_table_like, column_of, per_batch, single_array
from assay.fasttext_model import ModelLike, load_model
from assay.quality import CHINESE_CODES

__all__ = ["MASK_PATTERNS", "SHORT_CHARS", "content_text", "langid_rows"]

SHORT_CHARS = 20
"""Content letters below which a text that no script rule decides is uncertain."""
SCRIPT_CHARS = 5
"""Characters of a CJK script in a prompt that let a response in that language decide the row."""

# The masking rules as RE2 patterns (tried left to right at each position, each match one
# space): the definition that the one-pass Rust scanner (assay_core::content) is tested against.
MASK_PATTERNS = (
    r"(?s)```.*?(?:```|$)",  # fenced code (an unclosed fence runs to the end)
    r"``[^`\n]+``",  # reStructuredText literals
    r"`[^`\n\p{Han}]+`",  # inline code (never across Chinese prose between two stray backticks)
    r"(?s)\$\$.+?\$\$",  # display math
    r"(?s)\\\[.+?\\\]",
    r"(?s)\\\(.+?\\\)",
    r"\$[^$\n\p{Han}]+\$",  # inline math (likewise)
    r"\\[A-Za-z]+",  # LaTeX commands outside math (\leqslant, \quad)
    r"(?i)\b(?:https?|ftp)://\S+|\bwww\.\S+",  # URLs
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail addresses
    r"</?[A-Za-z][^<>\n]{0,200}>",  # markup tags
    r"[\x{00A0}\x{1680}\x{2000}-\x{200B}\x{202F}\x{205F}\x{3000}\x{FEFF}]",  # Unicode spaces
)


MASK_REGEX = "|".join(f"(?:{p})" for p in MASK_PATTERNS)


def content_text(texts: Any) -> pa.Array:
    """The natural-language content of each text (step 1 of the module doc).

    >>> content_text(pa.array(["见 https://a.org/x 和 `ls -l`：$x^2$\\u00a0好"])).to_pylist()
    ['见   和  ：  好']
    """
    return single_array(_core.content_text(column_of(texts)).column("content"))


def _decide(texts: pa.Array, model: Any, short_chars: int, map_variants: bool) -> dict[str, Any]:
    """Steps 1-3 for one array of texts: ``lang`` and ``fasttext`` (Arrow strings), and
    numpy arrays ``score``, ``uncertain``, ``content`` (has letters) and the zh/ja/ko
    script counts."""
    scanned = model.predict_content(texts)  # masking, script counts and the model, in one Rust pass
    label = single_array(scanned.column("label"))
    score = pc.fill_null(scanned.column("score"), 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    counts = {name: pc.fill_null(scanned.column(name), 0).to_numpy() for name in scanned.column_names[2:]}
    letters, han, kana, hangul = counts["letters"], counts["han"], counts["kana"], counts["hangul"]
    # script units: a CJK character is a word of its own; other letters count by the word
    units = han + kana + hangul + counts["other_words"]
    korean = (units > 0) & (hangul * 2 >= units)
    labelled_ja = pc.fill_null(pc.equal(label, "ja"), False).to_numpy(zero_copy_only=False)
    chinese = (units > 0) & (han * 2 >= units) & (kana == 0) & ~korean
    chinese |= labelled_ja & (kana == 0) & (han > 0)
    japanese = (kana >= 2) & (kana * 5 >= han + kana) & ~korean
    by_script = korean | chinese | japanese
    script = np.where(korean, hangul, np.where(japanese, han + kana, han))
    share = np.divide(script, units, out=np.zeros(len(units)), where=units > 0)
    score = np.where(by_script, np.maximum(score, share), score)
    if map_variants:
        base = pc.replace_substring_regex(label, r"[-_].*$", "")
        chinese |= pc.fill_null(pc.is_in(base, pa.array(sorted(CHINESE_CODES))), False).to_numpy(zero_copy_only=False)
    lang = pc.if_else(pa.array(korean), "ko", pc.if_else(pa.array(japanese), "ja",
                                                           pc.if_else(pa.array(chinese), "zh", label)))
    uncertain = (letters < short_chars) & ~by_script
    score = np.where(uncertain, score * np.minimum(letters / max(short_chars, 1), 1.0), score)
    valid = pc.is_valid(texts).to_numpy(zero_copy_only=False)
    return {"lang": pc.if_else(pa.array(valid), lang, pa.scalar(None, pa.string())), "fasttext": label,
            "score": np.where(valid, score, np.nan), "uncertain": uncertain & valid,
            "content": (letters > 0) & valid, "zh": han, "ja": kana, "ko": hangul}


def _turns(messages: pa.Array, assistant: bool) -> pa.Array:
    """The contents of the assistant turns (or of the others) of each chat, one string per row."""
    rows = messages.to_pylist()
    return pa.array(["\n".join(m.get("content") or "" for m in row if (m.get("role") == "assistant") == assistant)
                     if row else None for row in rows], pa.string())


def _column(table: pa.Table, name: str) -> pa.Array | None:
    return single_array(table.column(name)) if name in table.schema.names else None


@per_batch
def langid_rows(data: Any, *, column: str = "text", model: ModelLike = None, short_chars: int = SHORT_CHARS,
                map_variants: bool = True) -> pa.Table:
    """The language of every row by the rules of the module doc.

    Columns: ``lang``, ``lang_score``, ``lang_prompt``, ``lang_response`` (null for text
    rows), ``lang_fasttext`` (the model's own label for the content that decided ``lang``,
    before the script and variant rules) and ``lang_uncertain``. ``data`` is a table in
    the record schema (instruction and chat rows are split into prompt and response) or
    anything with a text ``column``.

    >>> import pyarrow as pa
    >>> rows = pa.table({"kind": ["instruction"], "instruction": ["把下面的句子翻译成英文。"], "input": [None],
    ...                  "output": ["I like reading books in the evening, especially novels."], "text": ["..."]})
    >>> langid_rows(rows).select(["lang", "lang_prompt", "lang_response"]).to_pylist()
    [{'lang': 'zh', 'lang_prompt': 'zh', 'lang_response': 'en'}]
    """
    lid = load_model(model)
    table = _to_arrow_table_like(data)
    texts = single_array(column_of(data, column)).cast(pa.string())
    n = len(texts)
    kind = _column(table, "kind") if table is not None else None

    def of_kind(name: str) -> np.ndarray:
        if kind is None:
            return np.zeros(n, dtype=bool)
        return pc.fill_null(pc.equal(kind, name), False).to_numpy(zero_copy_only=False)

    instruction, chat = of_kind("instruction"), of_kind("chat")
    split = instruction | chat
    # text rows are judged on their text (as a prompt without a response); the others on
    # their prompt and response (an instruction's input is the data it works on: not judged)
    nulls = pa.nulls(n, pa.string())
    prompt, response = texts, nulls
    if instruction.any():
        chosen = pa.array(instruction)
        prompt = pc.if_else(chosen, _column(table, "instruction").cast(pa.string()), prompt)
        output = _column(table, "output")
        response = pc.if_else(chosen, output.cast(pa.string()) if output is not None else nulls, response)
    if chat.any():
        chosen, messages = pa.array(chat), _column(table, "messages")
        prompt = pc.if_else(chosen, _turns(messages, assistant=False), prompt)
        response = pc.if_else(chosen, _turns(messages, assistant=True), response)
    # one pass over prompts and responses together
    # (an empty or blank part has no letters: it has no content and never decides)
    both = _decide(pa.concat_arrays([prompt, response]), lid, short_chars, map_variants)
    p = {k: v.slice(0, n) if isinstance(v, pa.Array) else v[:n] for k, v in both.items()}
    r = {k: v.slice(n) if isinstance(v, pa.Array) else v[n:] for k, v in both.items()}
    # the response's language when the prompt is uncertain and the response is not, or when
    # they differ and the prompt holds a passage in the response's CJK script (a Chinese
    # request around an English text to translate)
    r_lang = r["lang"]
    in_prompt = np.zeros(n, dtype=bool)
    for code in ("zh", "ja", "ko"):
        in_prompt |= pc.fill_null(pc.equal(r_lang, code), False).to_numpy(zero_copy_only=False) & (p[code] >= SCRIPT_CHARS)
    differ = pc.fill_null(pc.not_equal(p["lang"], r_lang), True).to_numpy(zero_copy_only=False)
    response_wins = r["content"] & ~r["uncertain"] & (p["uncertain"] | (differ & in_prompt))
    response_wins |= ~p["content"] & r["content"]
    wins = pa.array(response_wins)
    lang = pc.if_else(wins, r["lang"], p["lang"])
    fasttext = pc.if_else(wins, r["fasttext"], p["fasttext"])
    score = np.where(response_wins, r["score"], p["score"])
    uncertain = np.where(response_wins, r["uncertain"], p["uncertain"])
    is_split = pa.array(split)
    none = pa.scalar(None, pa.string())
    return pa.table({
        "lang": lang, "lang_score": pa.array(score, pa.float64(), mask=np.isnan(score)),
        "lang_prompt": pc.if_else(is_split, p["lang"], none),
        "lang_response": pc.if_else(is_split, r["lang"], none),
        "lang_fasttext": fasttext,
        "lang_uncertain": pa.array(uncertain.astype(bool)),
    })
