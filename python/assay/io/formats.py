"""Format adapters: map one raw input record to rows of the record schema.

Each adapter knows one published layout and names the fields it consumes; every
other field of the record goes into ``meta`` as JSON, so nothing is dropped. A
record that lacks a required field or has one of the wrong type raises
:class:`RecordError`, and the reader sends it to quarantine with that message.

| format | input | kind |
|---|---|---|
| ``alpaca`` | ``{instruction, input?, output}`` | instruction |
| ``belle`` | ``{question, std_answer, class?}`` (BELLE eval set) | instruction |
| ``seed_tasks`` | ``{id, instruction, instances: [{input, output}]}`` (Alpaca/BELLE seed tasks), one row per instance | instruction |
| ``gaokao`` | GAOKAO-Bench files ``{keywords, example: [{question, answer, analysis, ...}]}``, one row per example | instruction |
| ``sharegpt`` | ``{conversations: [{from, value}]}`` or ``{messages: [{role, content}]}`` | chat |
| ``text`` | any record with a text field (``text_field``, default ``text``; a list of fields is joined by blank lines) | text |
| ``assay`` (alias ``parquet``) | records already in the record schema (e.g. an earlier run's shards) | as stored |
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson

from assay.schema import KINDS, RECORD_SCHEMA, render_text

__all__ = ["FORMATS", "RecordContext", "RecordError", "adapt", "guess_format"]


class RecordError(ValueError):
    """A record that does not fit its declared format."""


@dataclass
class RecordContext:
    """Where a record comes from, and the input's options."""

    source: str
    file: str
    index: int
    domain: str | None = None
    id_field: str = "id"
    text_field: str | list[str] = "text"
    domain_field: str | None = None
    file_fields: dict[str, Any] = field(default_factory=dict)
    own_id: bool = False
    """Set by the adapter: the last record carried its own id (not a generated one)."""
    coerce_scalars: bool = False
    """Read a number or boolean where a string is expected as its JSON text (``5`` -> ``"5"``)."""
    coerced: int = 0
    """Values turned into text so far (the input's ``coerce_scalars``)."""

    def default_id(self, sub: int | None = None) -> str:
        base = f"{self.source}:{self.file}:{self.index}"
        return base if sub is None else f"{base}.{sub}"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _scalar_text(ctx: RecordContext, value: Any) -> Any:
    """``value`` as its JSON text when it is a number or boolean and the input coerces scalars."""
    if ctx.coerce_scalars and isinstance(value, (bool, int, float)):
        ctx.coerced += 1
        return orjson.dumps(value).decode()
    return value


def _take_str(ctx: RecordContext, record: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    if key not in record or record[key] is None:
        if required:
            raise RecordError(f"missing field {key!r}")
        record.pop(key, None)
        return None
    value = _scalar_text(ctx, record.pop(key))
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} must be a string, got {_type_name(value)}")
    return value


def _meta(record: dict[str, Any]) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _domain(record: dict[str, Any], ctx: RecordContext) -> str | None:
    if ctx.domain_field is None:
        return ctx.domain
    value = record.get(ctx.domain_field)
    if not isinstance(value, str) or not value:
        return ctx.domain
    host = urlsplit(value if "//" in value else f"//{value}").hostname
    return host or ctx.domain


def _own_id(record: dict[str, Any], ctx: RecordContext) -> str | None:
    value = record.pop(ctx.id_field, None)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise RecordError(f"field {ctx.id_field!r} must be a string or number, got {_type_name(value)}")
    ctx.own_id = True
    return str(value)


def _row(
    ctx: RecordContext,
    record: dict[str, Any],
    kind: str,
    *,
    id: str,
    domain: str | None,
    instruction: str | None = None,
    input: str | None = None,
    output: str | None = None,
    messages: list[dict[str, str]] | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "source": ctx.source,
        "domain": domain,
        "kind": kind,
        "instruction": instruction,
        "input": input,
        "output": output,
        "messages": messages,
        "text": render_text(kind, instruction=instruction, input=input, output=output, messages=messages, text=text),
        "meta": _meta(record),
    }


def _alpaca(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    instruction = _take_str(ctx, record, "instruction")
    input_ = _take_str(ctx, record, "input", required=False)
    output = _take_str(ctx, record, "output")
    return [_row(ctx, record, "instruction", id=rid or ctx.default_id(), domain=domain,
                 instruction=instruction, input=input_ or None, output=output)]


def _belle(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    question = _take_str(ctx, record, "question")
    answer = _take_str(ctx, record, "std_answer")
    return [_row(ctx, record, "instruction", id=rid or ctx.default_id(), domain=domain,
                 instruction=question, output=answer)]


def _seed_tasks(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    instruction = _take_str(ctx, record, "instruction")
    instances = record.pop("instances", None)
    if not isinstance(instances, list) or not instances:
        raise RecordError(f"field 'instances' must be a non-empty list, got {_type_name(instances)}")
    rows = []
    for k, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise RecordError(f"instances[{k}] must be an object, got {_type_name(instance)}")
        instance = dict(instance)
        try:
            input_ = _take_str(ctx, instance, "input", required=False)
            output = _take_str(ctx, instance, "output")
        except RecordError as exc:
            raise RecordError(f"instances[{k}]: {exc}") from None
        meta = dict(record)
        if instance:
            meta["instance"] = instance
        row_id = f"{rid}:{k}" if rid is not None else ctx.default_id(k)
        rows.append(_row(ctx, meta, "instruction", id=row_id, domain=domain,
                         instruction=instruction, input=input_ or None, output=output))
    return rows


def _gaokao_answer(answer: Any) -> str:
    if isinstance(answer, list):
        return "".join(str(a) for a in answer) if all(isinstance(a, str) and len(a) == 1 for a in answer) else "; ".join(map(str, answer))
    if isinstance(answer, str):
        return answer.strip()
    raise RecordError(f"field 'answer' must be a string or list, got {_type_name(answer)}")


def _gaokao(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    question = _take_str(ctx, record, "question")
    if "answer" not in record:
        raise RecordError("missing field 'answer'")
    answer = _gaokao_answer(record["answer"])  # the raw answer stays in meta
    analysis = _take_str(ctx, record, "analysis", required=False)
    output = (analysis.strip() + "\n\n" if analysis and analysis.strip() else "") + f"答案：{answer}"
    meta = {**ctx.file_fields, **record}
    return [_row(ctx, meta, "instruction", id=rid or ctx.default_id(), domain=domain,
                 instruction=question.strip(), output=output)]


_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
    "system": "system", "tool": "tool", "function": "tool", "observation": "tool",
    "function_call": "function_call",
}


def _sharegpt(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    if "conversations" in record:
        key, role_key, content_key = "conversations", "from", "value"
    elif "messages" in record:
        key, role_key, content_key = "messages", "role", "content"
    else:
        raise RecordError("missing field 'conversations' (or 'messages')")
    turns = record.pop(key)
    if not isinstance(turns, list) or not turns:
        raise RecordError(f"field {key!r} must be a non-empty list, got {_type_name(turns)}")
    messages = []
    system = _take_str(ctx, record, "system", required=False)
    if system:
        messages.append({"role": "system", "content": system})
    for k, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RecordError(f"{key}[{k}] must be an object, got {_type_name(turn)}")
        role, content = turn.get(role_key), _scalar_text(ctx, turn.get(content_key))
        if not isinstance(role, str):
            raise RecordError(f"{key}[{k}].{role_key} must be a string, got {_type_name(role)}")
        if not isinstance(content, str):
            raise RecordError(f"{key}[{k}].{content_key} must be a string, got {_type_name(content)}")
        messages.append({"role": _ROLES.get(role.lower(), role.lower()), "content": content})
    return [_row(ctx, record, "chat", id=rid or ctx.default_id(), domain=domain, messages=messages)]


def _text(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    domain, rid = _domain(record, ctx), _own_id(record, ctx)
    fields = [ctx.text_field] if isinstance(ctx.text_field, str) else list(ctx.text_field)
    if not any(record.get(f) is not None for f in fields):
        raise RecordError(f"missing field {fields[0]!r}" if len(fields) == 1 else f"all of the text fields {fields} are missing")
    parts = [_take_str(ctx, record, f, required=False) for f in fields]
    text = "\n\n".join(p for p in parts if p)
    return [_row(ctx, record, "text", id=rid or ctx.default_id(), domain=domain, text=text)]


_SCHEMA_COLUMNS = set(RECORD_SCHEMA.names)


def _assay(record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    """Records already in the schema; columns beyond it are merged into ``meta``."""
    kind = record.get("kind")
    if kind not in KINDS:
        raise RecordError(f"field 'kind' must be one of {KINDS}, got {kind!r}")
    row = {name: record.get(name) for name in RECORD_SCHEMA.names}
    extra = {k: v for k, v in record.items() if k not in _SCHEMA_COLUMNS}
    meta = orjson.loads(row["meta"]) if isinstance(row["meta"], str) and row["meta"] else {}
    if not isinstance(meta, dict):
        raise RecordError("field 'meta' must hold a JSON object")
    row["meta"] = _meta({**meta, **extra})
    ctx.own_id = row["id"] is not None
    row["id"] = str(row["id"]) if ctx.own_id else ctx.default_id()
    row["source"] = row["source"] or ctx.source
    if row["domain"] is None:
        row["domain"] = ctx.domain
    if row["text"] is None:
        row["text"] = render_text(kind, instruction=row["instruction"], input=row["input"],
                                  output=row["output"], messages=row["messages"], text=None)
    return [row]


@dataclass(frozen=True)
class Format:
    """An input layout: how records are found in a JSON file and how each becomes rows."""

    name: str
    adapt: Callable[[dict[str, Any], RecordContext], list[dict[str, Any]]]
    items_path: str = "item"
    file_fields: tuple[str, ...] = ()


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format("alpaca", _alpaca),
        Format("belle", _belle),
        Format("seed_tasks", _seed_tasks),
        Format("gaokao", _gaokao, items_path="example.item", file_fields=("keywords",)),
        Format("sharegpt", _sharegpt),
        Format("text", _text),
        Format("assay", _assay),
    ]
}
FORMATS["parquet"] = FORMATS["assay"]


def adapt(format: str, record: dict[str, Any], ctx: RecordContext) -> list[dict[str, Any]]:
    """Rows of the record schema for one raw record (the record is not modified).

    >>> ctx = RecordContext(source="demo", file="a.jsonl", index=0)
    >>> row = adapt("belle", {"question": "1+1=?", "std_answer": "2", "class": "math"}, ctx)[0]
    >>> row["id"], row["kind"], row["text"], row["meta"]
    ('demo:a.jsonl:0', 'instruction', '1+1=?\\n\\n2', '{"class":"math"}')
    """
    try:
        spec = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; expected one of {sorted(FORMATS)}") from None
    return spec.adapt(dict(record), ctx)


def guess_format(record: dict[str, Any]) -> str | None:
    """The format whose fields a raw record has, or None when nothing fits.

    >>> guess_format({"instruction": "x", "input": "", "output": "y"})
    'alpaca'
    >>> guess_format({"question": "q", "std_answer": "a"})
    'belle'
    """
    keys = set(record)
    if {"kind", "text", "meta", "source"} <= keys:
        return "assay"
    if {"instruction", "instances"} <= keys:
        return "seed_tasks"
    if {"keywords", "example"} <= keys or {"question", "answer", "analysis"} <= keys:
        return "gaokao"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"question", "std_answer"} <= keys:
        return "belle"
    if "conversations" in keys or "messages" in keys:
        return "sharegpt"
    if "text" in keys:
        return "text"
    return None
