"""The one record schema every input format is mapped to (see the README, "The record schema").

>>> from assay.schema import RECORD_SCHEMA
>>> RECORD_SCHEMA.names[:4]
['id', 'source', 'domain', 'kind']
"""
from __future__ import annotations

from typing import Any, Iterable

import pyarrow as pa

__all__ = ["KINDS", "MESSAGE_TYPE", "RECORD_SCHEMA", "render_text"]

KINDS = ("instruction", "chat", "text")

MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("domain", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("input", pa.string()),
        pa.field("output", pa.string()),
        pa.field("messages", MESSAGE_TYPE),
        pa.field("text", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=False),
    ]
)


def render_text(
    kind: str,
    *,
    instruction: str | None = None,
    input: str | None = None,
    output: str | None = None,
    messages: Iterable[dict[str, Any]] | None = None,
    text: str | None = None,
) -> str:
    """The canonical ``text`` of a record, used by filters and dedup.

    - ``instruction``: instruction, input and output, each non-empty part separated
      by a blank line;
    - ``chat``: the message contents in order, separated by a blank line (roles are
      left out so they do not count as words or shingles);
    - ``text``: the text itself.

    >>> render_text("instruction", instruction="Add.", input="1+1", output="2")
    'Add.\\n\\n1+1\\n\\n2'
    >>> render_text("chat", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    'hi\\n\\nhello'
    """
    if kind == "instruction":
        parts: list[str | None] = [instruction, input, output]
    elif kind == "chat":
        parts = [m.get("content") for m in (messages or [])]
    elif kind == "text":
        return text or ""
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return "\n\n".join(p for p in parts if p)
