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
from assay._data import _to_arrow_table_like, column_of

__all__ = ["FILTERS", "apply_filter", "apply_filters", "quality_signals"]

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
        column = table.column(name)
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

    return _core.instruction_filter(
        array("instruction"),
        array("input"),
        array("output"),
        array("messages"),
        table.num_rows,
        _params_json("instruction", params),
    )


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

    >>> import assay
    >>> t = assay.apply_filters([""], ["fineweb_quality", ("gopher_quality", {"min_doc_words": 0})])
    >>> t.column("reason").to_pylist()
    ['empty']
    """
    specs = [(f, {}) if isinstance(f, str) else (f[0], dict(f[1])) for f in filters]
    for name, _ in specs:
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}; expected one of {FILTERS}")
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

