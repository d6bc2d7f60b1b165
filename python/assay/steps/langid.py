"""``langid`` and ``classify``: tag rows with a fastText model and filter on the result."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from assay.content_langid import SHORT_CHARS, langid_rows
from assay.fasttext_model import FastTextModel, load_model
from assay.steps import Step, StepParams, mark_removed, register, set_column


def _failing(
    labels: pa.Array, scores: pa.Array, keep: Optional[list[str]], min_score: float, thresholds: dict[str, float],
    uncertain: pa.Array | None = None,
) -> pa.Array:
    """True where a row fails the keep rules: label outside ``keep`` (a null label
    counts as outside) or score below its label's threshold (``min_score`` unless
    ``thresholds`` names the label); rows marked ``uncertain`` are exempt from the scores."""
    fail = pa.array([False] * len(labels))
    if keep is not None:
        fail = pc.or_(fail, pc.invert(pc.fill_null(pc.is_in(labels, pa.array(keep, pa.string())), False)))
    if min_score > 0 or thresholds:
        names = list(thresholds)
        index = pc.index_in(labels, pa.array(names, pa.string())) if names else pa.nulls(len(labels), pa.int32())
        table = pa.array([float(thresholds[n]) for n in names] + [float(min_score)], pa.float64())
        needed = pc.take(table, pc.fill_null(index, len(names)))
        below = pc.and_(pc.less(pc.fill_null(scores, -1.0), needed), pc.greater(needed, 0.0))
        if uncertain is not None:
            below = pc.and_(below, pc.invert(pc.fill_null(uncertain, False)))
        fail = pc.or_(fail, below)
    return fail


class _ModelStep(Step):
    """Shared loading: the model is read once per process (and reloaded after pickling)."""

    _model: Optional[FastTextModel] = None

    def __init__(self, params: StepParams | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        path = self.params.model
        if path is not None and not Path(path).is_file():  # fail at the start, not at the first batch
            raise FileNotFoundError(f"model: no fastText model file at {path}")

    def model(self) -> FastTextModel:
        if self._model is None:
            self._model = load_model(self.params.model)
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.params = state["params"]


class LangidParams(StepParams):
    column: str = "text"
    """The text column (newlines are read as spaces); in content mode it is what text rows
    are judged on, while instruction and chat rows are judged on their own fields."""
    model: Optional[str] = None
    """A fastText language-ID model; None uses the bundled lid.176.ftz."""
    keep: Optional[list[str]] = None
    """Languages to keep, e.g. [zh, en]; None keeps every language."""
    min_score: float = Field(0.0, ge=0.0)
    """Rows whose language score is below this are removed."""
    thresholds: dict[str, float] = Field(default_factory=dict)
    """Per-language minimum scores that replace min_score, e.g. {zh: 0.692}."""
    mode: Literal["content", "raw"] = "content"
    """``content`` (the default): decide each row from its natural-language content with
    script evidence, prompt and response apart (:mod:`assay.content_langid`); ``raw``: the
    model's prediction on the whole ``column``, exactly as fastText gives it."""
    keep_uncertain: bool = True
    """Content mode: rows too short to judge (``lang_uncertain``) are not removed for a low
    score; the keep list still applies."""
    short_chars: int = Field(SHORT_CHARS, ge=0)
    """Content mode: letters below which a text no script rule decides is uncertain."""
    map_variants: bool = True
    """Content mode: Chinese varieties the model emits (wuu, yue, lzh, ...) count as zh."""


@register
class LangidStep(_ModelStep):
    """Adds ``lang`` and ``lang_score`` (and, in the default content mode, ``lang_prompt``,
    ``lang_response``, ``lang_fasttext`` and ``lang_uncertain``); removes rows that fail
    ``keep`` / ``min_score`` / ``thresholds`` with reason ``language`` (they keep their
    ``lang`` columns).

    >>> import pyarrow as pa
    >>> step = LangidStep(keep=["zh", "en"], min_score=0.3)
    >>> out = step(pa.record_batch({"text": ["这是中文。", "Ceci est du français.", "This is English."]}))
    >>> out.column("lang").to_pylist(), out.column("reason").to_pylist()
    (['zh', 'fr', 'en'], [None, 'language', None])
    """

    name = "langid"
    Params = LangidParams
    reason = "language"

    def adds(self) -> tuple[str, ...]:
        if self.params.mode == "raw":
            return ("lang", "lang_score")
        return ("lang", "lang_score", "lang_prompt", "lang_response", "lang_fasttext", "lang_uncertain")

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        uncertain = None
        if p.mode == "raw":
            tags = self.model().predict_table(batch, column=p.column, k=1, lists=False)
            columns = {"lang": tags.column("label"), "lang_score": tags.column("score")}
        else:
            tags = langid_rows(batch, column=p.column, model=self.model(), short_chars=p.short_chars,
                               map_variants=p.map_variants)
            columns = {name: tags.column(name) for name in tags.column_names}
            if p.keep_uncertain:
                uncertain = columns["lang_uncertain"].combine_chunks()
        for name, values in columns.items():
            batch = set_column(batch, name, values.combine_chunks())
        lang, score = batch.column("lang"), batch.column("lang_score")
        return mark_removed(batch, _failing(lang, score, p.keep, p.min_score, p.thresholds, uncertain), self.reason)


class ClassifyParams(StepParams):
    model: str
    """Path of a fastText supervised model (.bin or .ftz)."""
    column: str = "text"
    """The text column (newlines are read as spaces)."""
    label_column: str = "label"
    """Where the best label (without __label__) goes."""
    score_column: str = "score"
    """Where its probability goes."""
    keep: Optional[list[str]] = None
    """Labels to keep (without __label__); None keeps every label."""
    min_score: float = Field(0.0, ge=0.0)
    """Rows whose best-label score is below this are removed."""
    thresholds: dict[str, float] = Field(default_factory=dict)
    """Per-label minimum scores that replace min_score."""
    reason: str = "classifier"
    """The removal reason."""


@register
class ClassifyStep(_ModelStep):
    """Runs any fastText classifier (e.g. a quality classifier from
    :func:`assay.train_classifier`): adds the label and score columns, removes rows
    that fail ``keep`` / ``min_score`` / ``thresholds`` with ``reason``.

    >>> import assay, pyarrow as pa
    >>> step = ClassifyStep(model=str(assay.LID176_PATH), label_column="lid", keep=["de"])
    >>> out = step(pa.record_batch({"text": ["Guten Tag zusammen", "Good morning everyone"]}))
    >>> out.column("lid").to_pylist(), out.column("reason").to_pylist()
    (['de', 'en'], [None, 'classifier'])
    """

    name = "classify"
    Params = ClassifyParams

    def adds(self) -> tuple[str, ...]:
        return (self.params.label_column, self.params.score_column)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        p = self.params
        tags = self.model().predict_table(batch, column=p.column, k=1, lists=False)
        label = tags.column("label").combine_chunks()
        score = tags.column("score").combine_chunks()
        batch = set_column(batch, p.label_column, label)
        batch = set_column(batch, p.score_column, score)
        return mark_removed(batch, _failing(label, score, p.keep, p.min_score, p.thresholds), p.reason)
