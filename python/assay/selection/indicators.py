"""Per-example indicators for data selection (InstructMining and the methods after it).

Each row's *prompt* and *response*: an instruction row's instruction (and input, after a
blank line) and output; a chat's user and system turns and its assistant turns; a text row
has no prompt, its text is the response.

| indicator | what it is |
|---|---|
| ``len_prompt``, ``len_response`` | tokens of the scoring model's tokenizer (with ``len_prompt_chars``, ``len_response_chars``: characters) |
| ``mtld`` | MTLD of the response (McCarthy & Jarvis 2010, threshold 0.72; in Rust, on the quality filters' words, lowercased, Han characters one word each; equal to ``lexicalrichness``'s ``mtld(0.72)`` on the same words) |
| ``ppl``, ``ppl_alone``, ``ifd`` | the response's perplexity given the prompt, alone, and their ratio (:mod:`assay.selection.lm`) |
| ``naturalness``, ``coherence``, ``understandability`` | UniEval-style yes/no questions to the scoring model: P(Yes) / (P(Yes) + P(No)) |
| ``knn_k`` | distance to the k-th nearest other row (k = 6) in the embedder's sentence-embedding space, exact (:mod:`assay.selection.knn`) |
| ``reward`` | a reward model's score of (prompt, response): the logit of a one-label model, else the probability of its last label |

A row that cannot be scored gets null, and ``score_reason`` says why (``ppl: too_long;
ifd: no_prompt``); it is null when every indicator was computed.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import pyarrow as pa

from assay._data import _to_arrow_table_like
from assay.selection import lm
from assay.selection.models import (DEFAULT_EMBEDDER, DEFAULT_SCORING_MODEL, load_embedder, load_reward_model,
                                    load_scoring_model, load_scoring_tokenizer, torch_device)

__all__ = ["INDICATORS", "MODEL_INDICATORS", "indicators", "prompt_and_response"]

INDICATORS = ("len_prompt", "len_response", "mtld", "ppl", "ppl_alone", "ifd", "knn_k", "reward",
              "naturalness", "coherence", "understandability")
MODEL_INDICATORS = ("ppl", "ppl_alone", "ifd", "naturalness", "coherence", "understandability")
"""Indicators that run the scoring model (the others need its tokenizer at most)."""

_ROW_COLUMNS = ("kind", "instruction", "input", "output", "messages", "text")


def prompt_and_response(row: dict[str, Any]) -> tuple[str | None, str]:
    """A row's prompt (None for a text row) and response.

    >>> prompt_and_response({"kind": "instruction", "instruction": "Add.", "input": "1+1", "output": "2"})
    ('Add.\\n\\n1+1', '2')
    """
    kind = row.get("kind") or ("instruction" if row.get("output") is not None else "text")
    if kind == "instruction":
        prompt = row.get("instruction") or ""
        if row.get("input"):
            prompt = f"{prompt}\n\n{row['input']}" if prompt else row["input"]
        return prompt, row.get("output") or ""
    if kind == "chat":
        turns = row.get("messages") or []
        prompt = "\n\n".join(m.get("content") or "" for m in turns if m.get("role") != "assistant")
        return prompt, "\n\n".join(m.get("content") or "" for m in turns if m.get("role") == "assistant")
    return None, row.get("text") or ""


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, (list, tuple)) and all(isinstance(r, str) for r in data):
        return [{"kind": "text", "text": t} for t in data]
    if isinstance(data, (list, tuple)) and all(isinstance(r, dict) for r in data):
        rows = [dict(r) for r in data]
    else:
        table = _to_arrow_table_like(data)
        if table is None:
            raise TypeError("indicators take a table or frame in the record schema, a list of dicts or a list of str, "
                            f"got {type(data).__name__}")
        rows = table.select([c for c in _ROW_COLUMNS if c in table.schema.names]).to_pylist()
    for row in rows:
        if not row.get("kind"):
            row["kind"] = "instruction" if row.get("output") is not None else ("chat" if row.get("messages") else "text")
    return rows


class _Progress:
    """A rich progress bar over the units of work (rows times passes), when enabled."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                transient=True)
            self.task = self.bar.add_task("scoring", total=total)
            self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def indicators(data: Any, indicators: Sequence[str] = ("len_prompt", "len_response", "mtld"), *,
               model: str = DEFAULT_SCORING_MODEL, template: str = "chatml", embedder: str = DEFAULT_EMBEDDER,
               reward_model: str | None = None, k: int = 6, max_length: int = 2048, batch_size: int = 8,
               device: str = "auto", progress: bool = False) -> pa.Table:
    """One column per indicator (see the module doc), and ``score_reason``.

    >>> import assay
    >>> t = assay.indicators([{"instruction": "Name a colour.", "output": "Blue, like the sky and the sea."}],
    ...                      ["mtld", "len_response"])
    >>> t.column("len_response_chars").to_pylist(), t.column("score_reason").to_pylist()
    ([31], [None])
    """
    unknown = sorted(set(indicators) - set(INDICATORS))
    if unknown:
        raise ValueError(f"unknown indicator(s) {unknown}; expected some of {list(INDICATORS)}")
    if "reward" in indicators and reward_model is None:
        raise ValueError("the reward indicator needs reward_model: a local sequence-classification model folder")
    rows = _rows(data)
    pairs = [prompt_and_response(r) for r in rows]
    reasons: list[list[str]] = [[] for _ in rows]
    columns: dict[str, list[Any]] = {}
    wanted = list(dict.fromkeys(indicators))
    work = len(rows) * (sum(i in MODEL_INDICATORS for i in wanted) + ("knn_k" in wanted) + ("reward" in wanted))
    bar = _Progress(work, progress)
    try:
        if "len_prompt" in wanted or "len_response" in wanted:
            tok = load_scoring_tokenizer(model)
            for side, name in ((0, "len_prompt"), (1, "len_response")):
                if name in wanted:
                    texts = [p[side] for p in pairs]
                    columns[name] = [None if t is None else len(tok.encode(t)) for t in texts]
                    columns[f"{name}_chars"] = [None if t is None else len(t) for t in texts]
        if "mtld" in wanted:
            from assay import _core

            found = _core.mtld(pa.array([p[1] for p in pairs], pa.large_string()), "zh", 0.72)
            columns["mtld"] = found.column("mtld").to_pylist()
            for i, value in enumerate(columns["mtld"]):
                if value is None:
                    reasons[i].append("mtld: no_words")
        if any(i in MODEL_INDICATORS for i in wanted):
            _model_indicators(rows, pairs, wanted, columns, reasons, model=model, template=template,
                              max_length=max_length, batch_size=batch_size, device=device, bar=bar)
        if "knn_k" in wanted:
            from assay.selection.knn import kth_neighbour_distance

            texts = [r if p is None else f"{p}\n\n{r}" for p, r in pairs]
            if len(texts) <= k:
                columns["knn_k"] = [None] * len(texts)
                for reason in reasons:
                    reason.append(f"knn_k: pool_smaller_than_{k + 1}")
            else:
                vectors = load_embedder(embedder, device).encode(texts, batch_size=max(batch_size, 32),
                                                                 normalize_embeddings=True, convert_to_numpy=True)
                columns["knn_k"] = kth_neighbour_distance(vectors, k, device=torch_device(device), progress=bar.advance)
        if "reward" in wanted:
            columns["reward"] = _reward(pairs, reward_model, max_length=max_length, batch_size=batch_size,
                                        device=device, bar=bar)
    finally:
        bar.close()
    table = {name: columns[name] for name in _column_order(wanted) if name in columns}
    table["score_reason"] = ["; ".join(r) if r else None for r in reasons]
    return pa.table(table)


def _column_order(wanted: Sequence[str]) -> Iterator[str]:
    for name in wanted:
        yield name
        if name in ("len_prompt", "len_response"):
            yield f"{name}_chars"


def _model_indicators(rows, pairs, wanted, columns, reasons, *, model, template, max_length, batch_size, device, bar):
    scorer, tok = load_scoring_model(model, device)
    losses: dict[bool, list[float | None]] = {}
    for alone in (False, True):
        if not ({"ppl", "ifd"} if not alone else {"ppl_alone", "ifd"}) & set(wanted):
            continue
        encoded = [lm.encode(r, tok, template, max_length, alone=alone) for r in rows]
        good = [i for i, e in enumerate(encoded) if not isinstance(e, str)]
        means = lm.mean_losses(scorer, [encoded[i] for i in good], tok.pad_id, batch_size=batch_size,
                               progress=bar.advance)
        out: list[float | None] = [None] * len(rows)
        for i, m in zip(good, means):
            out[i] = m
        losses[alone] = out
        name = "ppl_alone" if alone else "ppl"
        if name in wanted:
            for i, e in enumerate(encoded):
                if isinstance(e, str):
                    reasons[i].append(f"{name}: {e}")
        bar.advance(len(rows) - len(good))
    if "ppl" in wanted:
        columns["ppl"] = [None if m is None else math.exp(m) for m in losses[False]]
    if "ppl_alone" in wanted:
        columns["ppl_alone"] = [None if m is None else math.exp(m) for m in losses[True]]
    if "ifd" in wanted:
        ifd: list[float | None] = []
        for i, (with_prompt, alone) in enumerate(zip(losses[False], losses[True])):
            if pairs[i][0] is None:
                ifd.append(None)
                reasons[i].append("ifd: no_prompt")
            elif with_prompt is None or alone is None:
                ifd.append(None)
                if "ppl" not in wanted and "ppl_alone" not in wanted:
                    reasons[i].append("ifd: too_long_or_empty")
            else:
                ifd.append(math.exp(with_prompt - alone))
        columns["ifd"] = ifd
    for name, question in lm.QUESTIONS.items():
        if name not in wanted:
            continue
        asked = {i: question.format(prompt=p or "", response=r) for i, (p, r) in enumerate(pairs) if r.strip()}
        fits = [i for i, text in asked.items() if len(tok.encode(text)) <= max_length]
        scores = lm.yes_probability(scorer, tok, [asked[i] for i in fits], template, batch_size=batch_size,
                                    progress=bar.advance)
        out = [None] * len(rows)
        for i, s in zip(fits, scores):
            out[i] = s
        for i in range(len(rows)):
            if out[i] is None:
                reasons[i].append(f"{name}: {'empty_response' if not pairs[i][1].strip() else 'too_long'}")
        bar.advance(len(rows) - len(fits))
        columns[name] = out


def _reward(pairs, spec, *, max_length, batch_size, device, bar) -> list[float]:
    import torch

    model, tok = load_reward_model(spec, device)
    dev = next(model.parameters()).device
    out: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            enc = tok([p or "" for p, _ in chunk], [r for _, r in chunk], truncation=True, max_length=max_length,
                      padding=True, return_tensors="pt").to(dev)
            logits = model(**enc).logits.float()
            scores = logits[:, 0] if logits.shape[-1] == 1 else torch.softmax(logits, dim=-1)[:, -1]
            out.extend(scores.tolist())
            bar.advance(len(chunk))
    return out
