"""``normalize``: Unicode NFKC, Traditional->Simplified Chinese and escaped newlines.

Applies to every text column of the record schema (``instruction``, ``input``,
``output``, the ``content`` of ``messages`` and ``text``) the same way, so the
canonical ``text`` stays the rendering of the other columns.
"""
from __future__ import annotations

from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from assay.steps import Step, StepParams, register, set_column

TEXT_COLUMNS = ("instruction", "input", "output", "text")


class NormalizeParams(StepParams):
    nfkc: bool = True
    """Unicode NFKC: full-width letters and digits to ASCII, compatibility characters folded."""
    t2s: bool = False
    """Traditional to Simplified Chinese with OpenCC's ``t2s`` (needs the ``opencc`` package)."""
    unescape_newlines: bool = False
    """Turn a literal backslash-n into a line break (some published sets, e.g. five FLAN CoT files, carry them)."""
    strip: bool = False
    """Remove leading and trailing whitespace."""


def _t2s() -> Callable[[str], str]:
    try:
        import opencc
    except ImportError:
        raise ImportError("normalize: {t2s: true} needs the 'opencc' package: pip install opencc") from None
    converter = opencc.OpenCC("t2s")
    return converter.convert


def map_text_fields(batch: pa.RecordBatch, apply: Callable[..., pa.Array],
                    skip: tuple[str, ...] = (), with_rows: bool = False) -> pa.RecordBatch:
    """``batch`` with ``apply`` run on every text field of the record schema
    (:data:`TEXT_COLUMNS` and the ``content`` of ``messages``) that it has, but ``skip``.
    With ``with_rows``, ``apply(values, rows)`` is also told the batch row of each value (a
    chat's turns all belong to its row).

    >>> import pyarrow as pa, pyarrow.compute as pc
    >>> b = pa.record_batch({"text": ["a"], "output": ["b"]})
    >>> map_text_fields(b, pc.utf8_upper, skip=("text",)).to_pylist()
    [{'text': 'a', 'output': 'B'}]
    """
    def run(values: pa.Array, rows: Callable[[], pa.Array]) -> pa.Array:
        return apply(values, rows()) if with_rows else apply(values)

    for name in TEXT_COLUMNS:
        if name in batch.schema.names and name not in skip:
            batch = set_column(batch, name, run(batch.column(name), lambda: pa.array(range(batch.num_rows), pa.int64())))
    if "messages" in batch.schema.names and "messages" not in skip:
        messages = batch.column("messages")
        # Rebase the offsets onto the turns this (possibly sliced) array uses.
        first, last = messages.offsets[0].as_py(), messages.offsets[-1].as_py()
        offsets = pc.subtract(messages.offsets, pa.scalar(first, messages.offsets.type))
        turns = messages.values.slice(first, last - first)
        content = run(turns.field("content"), lambda: pc.list_parent_indices(messages).cast(pa.int64()))
        rebuilt = pa.StructArray.from_arrays([turns.field("role"), content], names=["role", "content"])
        mask = messages.is_null() if messages.null_count else None
        batch = set_column(batch, "messages", pa.ListArray.from_arrays(offsets, rebuilt, type=messages.type, mask=mask))
    return batch


@register
class NormalizeStep(Step):
    """Normalizes the text columns in place (tag: none; removes nothing).

    >>> import pyarrow as pa
    >>> step = NormalizeStep(nfkc=True, t2s=True)
    >>> step(pa.record_batch({"text": ["ＡＢＣ１２３ 漢字"]})).column("text").to_pylist()
    ['ABC123 汉字']
    """

    name = "normalize"
    Params = NormalizeParams

    def __init__(self, params: StepParams | None = None, **kwargs: object) -> None:
        super().__init__(params, **kwargs)
        self._convert = _t2s() if self.params.t2s else None

    def _apply(self, values: pa.Array) -> pa.Array:
        if self.params.unescape_newlines:
            values = pc.replace_substring(values, "\\n", "\n")
        if self.params.nfkc:
            values = pc.utf8_normalize(values, form="NFKC")
        if self._convert is not None:
            convert = self._convert
            values = pa.array([None if v is None else convert(v) for v in values.to_pylist()], type=values.type)
        if self.params.strip:
            values = pc.utf8_trim_whitespace(values)
        return values

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return map_text_fields(batch, self._apply)
