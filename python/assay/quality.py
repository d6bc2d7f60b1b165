"""Quality filters and signals (Gopher, C4, FineWeb, instruction data), computed in Rust.

The web-text filters reproduce datatrove 0.10's ``GopherQualityFilter``,
``GopherRepetitionFilter``, ``C4QualityFilter`` and ``FineWebQualityFilter``: same
parameters, defaults and reason strings, and words split by the same rules as the
spaCy English tokenizer datatrove uses. Differences from datatrove:

- ``c4_quality`` only decides. datatrove also rewrites a kept document (drops the
  lines that fail the line rules); assay leaves the text as it is.
- A null text is judged as the empty text.
- With ``language="zh"`` words are characters (see ``docs`` in each config): the
  Gopher mean-word-length rule is off, Chinese stop words replace the English ones,
  FineWeb's line-punctuation threshold is FineWeb-2's 0.106, and the duplicated
  n-gram thresholds run 0.198..0.127 (FineWeb-2's Chinese range).
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import pyarrow as pa

from assay import _core
from assay._data import _to_arrow_table_like, column_of, per_batch, single_array

__all__ = ["FILTERS", "apply_filter", "apply_filters", "quality_signals", "row_languages"]

WEB_FILTERS = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality")
FILTERS = WEB_FILTERS + ("instruction",)
INSTRUCTION_COLUMNS = ("instruction", "input", "output", "messages")


def _params_json(name: str, params: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(params))
    except TypeError as exc:
        raise TypeError(f"{name}: parameters must be JSON-like values: {exc}") from None


def _instruction(data: Any, params: Mapping[str, Any]) -> pa.Table:
    table = _to_arrow_table_like(data)
    if table is None:
        raise TypeError(
            "the instruction filter needs table-shaped data with some of the columns "
            f"{INSTRUCTION_COLUMNS}, got {type(data).__name__}"
        )
    present = [c for c in INSTRUCTION_COLUMNS if c in table.schema.names]
    if "output" not in present and "messages" not in present:
        raise KeyError(
            f"the instruction filter needs an 'output' or a 'messages' column; the data has {table.schema.names}"
        )

    def array(name: str) -> pa.Array | None:
        if name not in present:
            return None
        return single_array(table.column(name))

    return _core.instruction_filter(
        array("instruction"),
        array("input"),
        array("output"),
        array("messages"),
        table.num_rows,
        _params_json("instruction", params),
    )


@per_batch
def apply_filters(
    data: Any,
    filters: Sequence[str | tuple[str, Mapping[str, Any]]],
    *,
    column: str = "text",
    language: str = "en",
) -> pa.Table:
    """Run several filters in order; a row's ``reason`` is the first filter's that fails.

    ``filters`` holds names or ``(name, params)`` pairs. The web-text filters share
    one tokenization per document.

    ``language``: ``"en"``, ``"zh"`` or ``"auto"``, which picks per row: the Chinese
    rules for rows whose ``lang`` column (written by the ``langid`` step) is a Chinese
    code (see :func:`row_languages`), the English rules for every other language, and
    for rows without a ``lang`` value the Chinese rules when at least 30% of the text's
    non-space characters are CJK.

    >>> import assay
    >>> t = assay.apply_filters([""], ["fineweb_quality", ("gopher_quality", {"min_doc_words": 0})])
    >>> t.column("reason").to_pylist()
    ['empty']
    >>> zh = "我们今天去公园。他们明天去学校。大家都很开心。\\n" * 2
    >>> assay.apply_filters([zh, zh], ["c4_quality"], language="auto").column("reason").to_pylist()
    [None, None]
    """
    specs = [(f, {}) if isinstance(f, str) else (f[0], dict(f[1])) for f in filters]
    for name, _ in specs:
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}; expected one of {FILTERS}")
    if language == "auto":
        return _apply_filters_by_row_language(data, specs, column)
    reasons: pa.Array | None = None
    start = 0
    while start < len(specs):
        if specs[start][0] == "instruction":
            part = _instruction(data, specs[start][1])
            start += 1
        else:
            end = start
            while end < len(specs) and specs[end][0] != "instruction":
                end += 1
            group = [(name, _params_json(name, params)) for name, params in specs[start:end]]
            part = _core.apply_filters(column_of(data, column), group, language)
            start = end
        part_reason = part.column("reason").combine_chunks()
        if reasons is None:
            reasons = part_reason
        else:
            import pyarrow.compute as pc

            reasons = pc.coalesce(reasons, part_reason)
    if reasons is None:
        raise ValueError("no filter given")
    import pyarrow.compute as pc

    return pa.table({"keep": pc.is_null(reasons), "reason": reasons.cast(pa.string())})


# lid.176 codes of Chinese varieties written in Han characters.
CHINESE_CODES = frozenset({"zh", "yue", "wuu", "gan", "hak", "cmn", "lzh", "nan"})
# Share of CJK characters (among non-space characters) from which a text without a
# ``lang`` value is judged by the Chinese rules.
CJK_RATIO_FOR_CHINESE = 0.3


@per_batch
def row_languages(data: Any, *, column: str = "text") -> pa.Array:
    """The filter language (``"en"`` or ``"zh"``) that ``language="auto"`` gives each row.

    A row with a ``lang`` value (from the ``langid`` step) is ``"zh"`` when that is a
    Chinese code (``zh``, ``yue``, ``wuu``, ``gan``, ``hak``, ``cmn``, ``lzh``, ``nan``,
    with any ``-``/``_`` suffix) and ``"en"`` otherwise; a row without one is ``"zh"``
    when at least 30% of its non-space characters are CJK.

    >>> import assay
    >>> assay.row_languages(["Hello world", "你好，世界", ""]).to_pylist()
    ['en', 'zh', 'en']
    """
    import pyarrow.compute as pc

    from assay.stats import text_stats

    cjk_ratio = single_array(text_stats(column_of(data, column)).column("cjk_ratio"))
    by_script = pc.if_else(pc.greater_equal(pc.fill_null(cjk_ratio, 0.0), CJK_RATIO_FOR_CHINESE), "zh", "en")
    table = _to_arrow_table_like(data)
    if table is None or "lang" not in table.schema.names:
        return by_script
    lang = pc.utf8_lower(single_array(table.column("lang")))
    base = pc.struct_field(pc.extract_regex(lang, r"^(?P<base>[a-z]+)"), "base")
    chinese = pc.is_in(base, value_set=pa.array(sorted(CHINESE_CODES)))
    by_lang = pc.if_else(pc.is_valid(base), pc.if_else(chinese, "zh", "en"), pa.scalar(None, pa.string()))
    return pc.coalesce(by_lang, by_script)


def _apply_filters_by_row_language(data: Any, specs: list[tuple[str, dict[str, Any]]], column: str) -> pa.Table:
    """``apply_filters`` with each row judged by the rules of its own language."""
    import numpy as np
    import pyarrow.compute as pc

    table = _to_arrow_table_like(data)
    if table is None:
        table = pa.table({column: column_of(data, column)})
    languages = row_languages(table, column=column)
    reasons = pa.nulls(len(languages), pa.string())
    for language in ("en", "zh"):
        rows = np.flatnonzero(pc.equal(languages, language).to_numpy(zero_copy_only=False))
        if len(rows) == 0:
            continue
        if len(rows) == len(languages):
            return apply_filters(table, specs, column=column, language=language)
        part = apply_filters(table.take(rows), specs, column=column, language=language)
        positions = np.full(len(languages), -1, dtype=np.int64)
        positions[rows] = np.arange(len(rows))
        scattered = single_array(part.column("reason")).take(pa.array(positions, mask=positions < 0))
        reasons = pc.coalesce(reasons, scattered)
    return pa.table({"keep": pc.is_null(reasons), "reason": reasons.cast(pa.string())})


@per_batch
def apply_filter(data: Any, name: str, *, column: str = "text", language: str = "en", **params: Any) -> pa.Table:
    """Decide which rows a quality filter keeps: a table with ``keep`` and ``reason``.

    ``name``: ``gopher_quality``, ``gopher_repetition``, ``c4_quality``,
    ``fineweb_quality`` (datatrove 0.10's parameters, defaults and reason strings;
    pass any parameter as a keyword to override it) or ``instruction`` (instruction
    and chat rows: reads the ``instruction``/``input``/``output``/``messages``
    columns; reasons ``empty_output``, ``short_output``, ``refusal``,
    ``output_repeats_instruction``, ``unbalanced_code_fence``,
    ``degenerate_repetition``, ``cut_off_output``, ``language_mismatch``,
    ``length_ratio_low``, ``length_ratio_high``).

    ``language``: ``"en"`` or ``"zh"`` (Chinese counts characters as words).

    >>> import assay
    >>> assay.apply_filter(["", "too short"], "gopher_quality").to_pylist()
    [{'keep': False, 'reason': 'gopher_short_doc'}, {'keep': False, 'reason': 'gopher_short_doc'}]
    >>> assay.apply_filter(["the cats sat"], "gopher_quality", min_doc_words=None, min_stop_words=0).column("keep").to_pylist()
    [True]
    """
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; expected one of {FILTERS}")
    if name == "instruction":
        return _instruction(data, params)
    return _core.apply_filters(column_of(data, column), [(name, _params_json(name, params))], language)


@per_batch
def quality_signals(data: Any, *, column: str = "text", language: str = "en") -> pa.Table:
    """The raw quality signals of each text, computed in one pass per document.

    Columns: ``tokens``, ``non_symbol_words``, ``mean_word_length``, ``stop_words``,
    ``alpha_word_ratio``, ``hash_word_ratio``, ``ellipsis_word_ratio``,
    ``bullet_line_ratio``, ``ellipsis_line_ratio`` (Gopher quality);
    ``dup_para_frac``, ``dup_para_char_frac``, ``dup_line_frac``,
    ``dup_line_char_frac``, ``top_{2,3,4}_gram_char_frac``,
    ``dup_{5..10}_gram_char_frac`` (Gopher repetition); ``c4_sentences``;
    ``line_punct_ratio``, ``short_line_ratio``, ``dup_line_chars_ratio``,
    ``newline_word_ratio`` (FineWeb); ``mtld`` (lexical diversity, threshold 0.72).
    A ratio with an empty denominator is NaN; a null text gives nulls.

    >>> import assay
    >>> row = assay.quality_signals(["The cat sat on the mat."]).to_pylist()[0]
    >>> row["tokens"], row["non_symbol_words"], row["stop_words"]
    (7, 6, 1)
    """
    return _core.quality_signals(column_of(data, column), language)

