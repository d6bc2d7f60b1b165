"""Selection rules: a linear score over indicator columns, lower is better, and the cut.

A rule predicts the log evaluation loss of a model fine-tuned on data like the row (as
InstructMining fits it): ``score = intercept + sum(coefficient * column)``; rows are ranked
by score, lowest first, ties broken by the row key (input order), so the selection is the
same on any executor and partitioning. ``below`` excludes rows whose column is not below a
bound. A row whose score cannot be computed (a null indicator) is never selected.

Presets (:data:`PRESETS`):

- ``instructmining-7b`` and ``instructmining-13b``: the two rules InstructMining published
  (Cao et al., arXiv 2307.06290v3, equations 4 and 5, fitted on LLaMA-2-7B and -13B with
  their own scorers: reward from OpenAssistant's DeBERTa reward model, UniEval's
  naturalness, coherence and understandability, Len the response length, Knn6 the distance
  to the 6th neighbour in a SentenceBERT space). The coefficients mean what they meant only
  with those scorers and models; with assay's default scorers (SmolLM2, all-MiniLM-L6-v2)
  they are a starting point, and ``assay mine`` fits your own. The coefficients were
  transcribed from the paper and agree with two independent public transcriptions of its
  two rules (a data-selection write-up that applies the first, a survey of selection
  methods that quotes the second); which model each was fitted on is as the paper says.
- ``longest``: the longest responses first (Long Is More, Zhao et al. 2024): needs
  ``len_response``.
- ``ifd``: rows with IFD below 1 (the prompt helps), highest IFD first (Superfiltering /
  Cherry LLM): needs ``ifd``.
"""
from __future__ import annotations

import math
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PRESETS", "Rule", "SelectionConfig", "resolve_rule", "rule_score", "selected"]


class Rule(BaseModel):
    """``score = intercept + sum(terms[column] * column)``; rows with ``column >= below[column]`` are out."""

    model_config = ConfigDict(extra="forbid")
    intercept: float = 0.0
    terms: dict[str, float]
    below: dict[str, float] = Field(default_factory=dict)
    source: str | None = None
    """Where the coefficients come from (a preset's paper, or the ``assay mine`` run)."""

    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.terms, *self.below]))


PRESETS: dict[str, Rule] = {
    "instructmining-7b": Rule(intercept=1.0694, terms={"reward": -0.1498, "len_response": 8.257e-5, "knn_k": -0.9350},
                              source="InstructMining (arXiv 2307.06290v3) eq. 4, LLaMA-2-7B"),
    "instructmining-13b": Rule(intercept=0.0274, terms={"reward": -0.0078, "understandability": 0.4421,
                                                        "naturalness": -0.3212, "coherence": -0.1520},
                               source="InstructMining (arXiv 2307.06290v3) eq. 5, LLaMA-2-13B"),
    "longest": Rule(terms={"len_response": -1.0}, source="Long Is More (Zhao et al. 2024): longest responses first"),
    "ifd": Rule(terms={"ifd": -1.0}, below={"ifd": 1.0},
                source="Superfiltering / Cherry LLM: IFD below 1, highest first"),
}


def resolve_rule(rule: str | Rule | dict[str, Any]) -> Rule:
    """A rule from a preset name, a dict, a :class:`Rule` or a YAML file ``assay mine`` wrote."""
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, dict):
        return Rule(**rule)
    if rule in PRESETS:
        return PRESETS[rule]
    if rule.endswith((".yaml", ".yml")):
        import yaml

        from assay.storage import location, open_file

        with open_file(location(rule)) as f:
            return Rule(**yaml.safe_load(f))
    raise ValueError(f"unknown rule {rule!r}: a preset ({sorted(PRESETS)}), a mapping or a rule .yaml file")


def rule_score(rule: Rule) -> pl.Expr:
    """The rule's score as a Polars expression (null where an indicator is null)."""
    score = pl.lit(rule.intercept, pl.Float64)
    for column, coefficient in rule.terms.items():
        score = score + pl.col(column).cast(pl.Float64) * coefficient
    return score


class SelectionConfig(BaseModel):
    """``assemble.select``: keep the best rows by a rule before mixing."""

    model_config = ConfigDict(extra="forbid")
    rule: str | Rule
    top_k: int | None = Field(None, gt=0)
    top_fraction: float | None = Field(None, gt=0.0, le=1.0)
    budget_tokens: int | None = Field(None, gt=0)
    """Keep rows in rank order while their tokens (``len_prompt + len_response`` when both are
    there, else the assembly's estimate from ``text``) fit the budget."""
    per_source: bool = False
    """Apply the cut to each source on its own instead of to all rows together."""

    @model_validator(mode="after")
    def _one_cut(self) -> SelectionConfig:
        given = [k for k in ("top_k", "top_fraction", "budget_tokens") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of top_k, top_fraction, budget_tokens (got {given or 'none'})")
        resolve_rule(self.rule)
        return self


def selected(df: pl.DataFrame, config: SelectionConfig, tokens: pl.Series | None = None,
             order: str = "row_key") -> tuple[pl.Series, pl.Series]:
    """Which rows of ``df`` the selection keeps, and the reason of the others
    (``unscored``: a null indicator; ``selection``: below the cut or outside ``below``).

    >>> df = pl.DataFrame({"row_key": [0, 1, 2, 3], "source": ["a"] * 4, "len_response": [5, 9, None, 9]})
    >>> keep, why = selected(df, SelectionConfig(rule="longest", top_k=2))
    >>> keep.to_list(), why.to_list()
    ([False, True, False, True], ['selection', None, 'unscored', None])
    """
    rule = resolve_rule(config.rule)
    missing = [c for c in rule.columns() if c not in df.columns]
    if missing:
        raise ValueError(f"the selection rule needs column(s) {missing}: add them with the score step "
                         f"(score: {{indicators: [...]}}) or assay.indicators")
    work = df.select(pl.col(order).alias("_order"), pl.col("source"), rule_score(rule).alias("_score"),
                     *[pl.col(c).cast(pl.Float64).alias(f"_below_{i}") for i, c in enumerate(rule.below)])
    work = work.with_row_index("_row")
    if tokens is not None:
        work = work.with_columns(_tokens=tokens)
    work = work.with_columns(_scored=pl.col("_score").is_not_null() & pl.col("_score").is_not_nan())
    eligible = pl.col("_scored")
    for i, bound in enumerate(rule.below.values()):
        eligible = eligible & (pl.col(f"_below_{i}") < bound).fill_null(False)
    work = work.with_columns(_eligible=eligible)
    ranked = work.filter("_eligible").sort(["_score", "_order"])
    group = ["source"] if config.per_source else []
    rank = pl.int_range(pl.len()).over(group) if group else pl.int_range(pl.len())
    if config.top_k is not None:
        keep = rank < config.top_k
    elif config.top_fraction is not None and group:
        # a fraction of each source's rows, scored or not
        ranked = ranked.join(work.group_by("source").len().rename({"len": "_size"}), on="source", how="left",
                             maintain_order="left")
        keep = rank < (pl.col("_size").cast(pl.Float64) * config.top_fraction).floor()
    elif config.top_fraction is not None:
        keep = rank < math.floor(work.height * config.top_fraction)
    else:
        keep = (pl.col("_tokens").cum_sum().over(group) if group else pl.col("_tokens").cum_sum()) <= config.budget_tokens
    kept_rows = ranked.with_columns(_keep=keep).filter("_keep")["_row"]
    chosen = work["_row"].is_in(kept_rows.implode())
    reason = pl.when(chosen).then(None).when(~work["_scored"]).then(pl.lit("unscored")).otherwise(pl.lit("selection"))
    return chosen, work.select(reason.alias("reason"))["reason"]
