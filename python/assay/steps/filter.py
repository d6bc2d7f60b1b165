"""``filter`` and ``select``: remove rows by quality filters or by an expression.

YAML::

    - filter:
        language: auto          # en | zh | auto (per row, from langid's lang column)
        filters:
          - gopher_quality
          - gopher_repetition: {dup_line_frac: 0.25}
        kinds: [text]           # web-text rules for text rows only; other rows pass
    - filter: {filters: [instruction], kinds: [instruction, chat]}
    - select: {where: "lang_score > 0.8 & words > 20"}

A removed row keeps the reason of the first filter that failed it (``select``
uses its ``reason``, ``"select"`` by default); rows already removed by an earlier
step keep their earlier reason.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AliasChoices, ConfigDict, Field, field_validator, model_validator

from assay.quality import FILTERS, apply_filters, quality_signals
from assay.stats import TEXT_STATS_COLUMNS
from assay.steps import Step, StepParams, mark_removed, register


class FilterParams(StepParams):
    filters: list[str | dict[str, dict[str, Any] | None]]
    """Filter names, or one-key mappings ``{name: {param: value}}`` with overrides."""
    language: str = "auto"
    """``en``, ``zh`` or ``auto`` (each row by its ``lang`` column, else by script; see
    :func:`assay.row_languages`)."""
    column: str = "text"
    kinds: Optional[list[Literal["instruction", "chat", "text"]]] = None
    """Apply the filters to rows of these kinds only (e.g. ``[text]`` for the web-text
    rules in a corpus that mixes instructions and web pages); rows of other kinds pass.
    None: every row."""

    @field_validator("language")
    @classmethod
    def _supported(cls, language: str) -> str:
        if language != "auto":
            try:  # the Rust core's language parser decides what the filters accept
                quality_signals(pa.array([], pa.string()), language=language)
            except ValueError:
                raise ValueError(f"language must be 'en', 'zh' or 'auto', got {language!r}") from None
        return language

    @field_validator("filters")
    @classmethod
    def _known(cls, filters: list[Any]) -> list[Any]:
        if not filters:
            raise ValueError("filters must name at least one filter")
        for f in filters:
            names = [f] if isinstance(f, str) else list(f)
            if len(names) != 1:
                raise ValueError(f"each filter is a name or a one-key mapping, got {f!r}")
            if names[0] not in FILTERS:
                raise ValueError(f"unknown filter {names[0]!r}; expected one of {FILTERS}")
        return filters

    def specs(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for f in self.filters:
            if isinstance(f, str):
                out.append((f, {}))
            else:
                (name, params), = f.items()
                out.append((name, dict(params or {})))
        return out


@register
class FilterStep(Step):
    """Marks rows that fail any of the listed quality filters (first failure's reason)."""

    name = "filter"
    Params = FilterParams

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        if p.kinds is None:
            reason = apply_filters(batch, p.specs(), column=p.column, language=p.language).column("reason")
            reason = reason.combine_chunks()
        else:
            chosen = pc.fill_null(pc.is_in(batch.column("kind"), pa.array(p.kinds, pa.string())), False)
            found = apply_filters(batch.filter(chosen), p.specs(), column=p.column, language=p.language)
            reason = pc.replace_with_mask(pa.nulls(batch.num_rows, pa.string()), chosen,
                                          found.column("reason").combine_chunks().cast(pa.string()))
        return mark_removed(batch, pc.is_valid(reason), reason)


_QUOTED_OR_OPERATOR = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|&&?|\|\|?""")


def to_sql(expr: str) -> str:
    """Read ``&`` / ``|`` (Polars style) as SQL ``AND`` / ``OR`` outside quotes.

    >>> to_sql("lang_score > 0.8 & words > 20")
    'lang_score > 0.8 AND words > 20'
    >>> to_sql("source = 'a&b' | kind = 'text'")
    "source = 'a&b' OR kind = 'text'"
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        return "AND" if match.group(0).startswith("&") else "OR"

    return _QUOTED_OR_OPERATOR.sub(replace, expr)




def _mentions(expr: str, column: str) -> bool:
    return re.search(rf"(?<![\w\"']){column}(?![\w\"'])", expr) is not None


class SelectParams(StepParams):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    expr: str = Field(validation_alias=AliasChoices("where", "expr"))
    """``where:`` (or ``expr:``): a boolean SQL/Polars expression over the batch's columns, e.g.
    ``lang_score > 0.8 & words > 20``. Parsed by ``polars.sql_expr`` (never
    evaluated as Python). Rows where it is false or null are removed. The
    ``text_stats`` measures (``chars``, ``words``, ...) may be used without a
    ``text_stats`` step before."""
    reason: str = "select"

    @model_validator(mode="before")
    @classmethod
    def _rules_rank_at_assembly(cls, data: Any) -> Any:
        if isinstance(data, dict) and "rule" in data:
            raise ValueError("a selection rule ranks every row of the run, so it runs where all rows are: "
                             "write it as assemble: {select: {rule: ..., top_k: ...}} (see assay.selection.rules)")
        return data

    @field_validator("expr")
    @classmethod
    def _parses(cls, expr: str) -> str:
        import polars as pl

        try:
            pl.sql_expr(to_sql(expr))
        except Exception as exc:  # polars raises several error types for bad SQL
            raise ValueError(f"cannot parse select expression {expr!r}: {exc}") from None
        return expr


@register
class SelectStep(Step):
    """Keeps rows where a Polars SQL expression over any columns is true."""

    name = "select"
    Params = SelectParams

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import polars as pl

        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(frame, pl.DataFrame)
        missing = [c for c in TEXT_STATS_COLUMNS if c not in frame.columns and _mentions(self.params.expr, c)]
        if missing:
            # ``where: "chars > 10"`` works without a text_stats step before it; the measures
            # are computed for the expression only and not added to the rows.
            from assay.stats import text_stats

            stats = text_stats(batch.column("text"))
            frame = frame.with_columns(pl.from_arrow(stats.select(missing)))  # type: ignore[arg-type]
        try:
            keep = frame.select(pl.sql_expr(to_sql(self.params.expr)).alias("keep")).to_series()
        except Exception as exc:
            raise ValueError(f"select expression {self.params.expr!r} failed on this batch: {exc}") from None
        if keep.dtype != pl.Boolean:
            raise ValueError(f"select expression {self.params.expr!r} is not boolean (got {keep.dtype})")
        keep_arrow = keep.to_arrow()
        remove = pc.invert(pc.fill_null(keep_arrow, False))
        return mark_removed(batch, remove, self.params.reason)
