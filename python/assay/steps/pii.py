"""``pii``: personal data in every text field, redacted, tagged or dropped (:mod:`assay.pii`).

``action: redact`` (the default) replaces each match in ``instruction``, ``input``, ``output``,
the ``content`` of ``messages`` and ``text`` (the canonical ``text`` stays the rendering of the
others); ``tag`` leaves the text and only adds the columns; ``drop`` removes the rows holding
any, with reason ``pii``. Every action adds ``pii_count`` (matches in the row's ``text``) and
``pii_kinds`` (the kinds found).
"""
from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from assay.pii import PII_KINDS, _kinds, redact_pii
from assay.steps import Step, StepParams, mark_removed, register, set_column
from assay.steps.normalize import map_text_fields


class PiiParams(StepParams):
    kinds: list[str] = list(PII_KINDS)
    """The kinds to look for (see :data:`assay.pii.PII_KINDS`); all by default."""
    action: Literal["redact", "tag", "drop"] = "redact"
    replacement: Literal["placeholder", "hash"] = "placeholder"
    """``placeholder``: ``<EMAIL>``; ``hash``: ``<EMAIL:1a2b3c4d>`` (a keyed hash: one value, one token)."""
    seed: int = 0
    """The key of ``replacement: hash``."""
    public_ips_only: bool = True
    """Private, loopback and other non-global IP addresses are not personal data."""

    @field_validator("kinds")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _kinds(value)


@register
class PiiStep(Step):
    """Finds personal data in the text fields and redacts, tags or drops it.

    >>> import pyarrow as pa
    >>> step = PiiStep(action="redact")
    >>> out = step(pa.record_batch({"text": ["mail zhang@example.com", "nothing here"]}))
    >>> out.column("text").to_pylist(), out.column("pii_count").to_pylist()
    (['mail <EMAIL>', 'nothing here'], [1, 0])
    """

    name = "pii"
    Params = PiiParams

    def adds(self) -> tuple[str, ...]:
        return ("pii_count", "pii_kinds")

    def _redact(self, values: pa.Array) -> pa.Table:
        p = self.params
        return redact_pii(values, p.kinds, replacement=p.replacement, seed=p.seed, public_ips_only=p.public_ips_only)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        found = self._redact(batch.column("text"))
        count = found.column("pii_count").combine_chunks()
        if self.params.action == "redact":
            batch = map_text_fields(batch, lambda values: self._redact(values).column("text").combine_chunks()
                                    .cast(values.type), skip=("text",))
            batch = set_column(batch, "text", found.column("text").combine_chunks().cast(batch.column("text").type))
        batch = set_column(batch, "pii_count", count)
        batch = set_column(batch, "pii_kinds", found.column("pii_kinds").combine_chunks())
        if self.params.action == "drop":
            batch = mark_removed(batch, pc.greater(count, 0), "pii")
        return batch
