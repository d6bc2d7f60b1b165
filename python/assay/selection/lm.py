"""Scores from a causal language model: perplexities, IFD and yes/no questions.

Rows are rendered with the trainer's templates (:func:`assay.train.data.encode_row`), so a
row's loss here is the loss ``assay train`` would optimise on it:

- ``ppl``: exp of the mean token loss of the response given the prompt (an instruction's
  output after its instruction and input; a chat's assistant turns, all of them, each after
  the conversation before it, averaged over their tokens together; the closing EOS counted);
- ``ppl_alone``: the same response tokens with no prompt (a chat's assistant turns joined
  by a blank line), after BOS when the tokenizer has one;
- ``ifd`` = ``ppl / ppl_alone`` (Superfiltering / Cherry LLM's instruction-following
  difficulty: above 1, the prompt does not help the model predict the response);
- ``naturalness``, ``coherence``, ``understandability``: UniEval-style questions asked as
  a user turn (:data:`QUESTIONS`); the score is P(Yes) / (P(Yes) + P(No)) of the first
  token the model would answer with.

Rows are batched by length and padded on the right; a row longer than ``max_length``
tokens is not truncated but left unscored (reason ``too_long``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from assay.train.data import IGNORE, Example, encode_row
from assay.train.generate import prompt_text

__all__ = ["QUESTIONS", "mean_losses", "response_alone", "yes_probability"]

QUESTIONS = {
    "naturalness": "Is this a natural and fluent response?\n\nResponse: {response}\n\nAnswer Yes or No.",
    "coherence": ("Is this response coherent with the question, and does it answer it?\n\n"
                  "Question: {prompt}\n\nResponse: {response}\n\nAnswer Yes or No."),
    "understandability": "Is this response easy to understand?\n\nResponse: {response}\n\nAnswer Yes or No.",
}
"""The UniEval-style questions; ``{prompt}`` and ``{response}`` are the row's."""


def response_alone(row: dict[str, Any]) -> dict[str, Any]:
    """The row's response as a text row (no prompt): ``ppl_alone``'s input."""
    if row.get("kind") == "chat":
        turns = [m.get("content") or "" for m in row.get("messages") or [] if m.get("role") == "assistant"]
        return {"kind": "text", "text": "\n\n".join(turns)}
    if row.get("kind") == "instruction":
        return {"kind": "text", "text": row.get("output") or ""}
    return {"kind": "text", "text": row.get("text") or ""}


def encode(row: dict[str, Any], tok: Any, template: str, max_length: int, *, alone: bool = False) -> Example | str:
    """The example of ``row`` (or of its response alone), or why there is none."""
    alone_row = response_alone(row)
    if not (alone_row["text"] or "").strip():
        return "empty_response"  # an EOS alone is nothing to score
    example = encode_row(alone_row if alone else row, tok, template, 1 << 30, add_bos=alone)
    if example is None:
        return "empty_response"
    if len(example) > max_length:
        return "too_long"
    return example


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def mean_losses(model: Any, examples: Sequence[Example], pad_id: int, *, batch_size: int = 8,
                progress: Callable[[int], None] | None = None) -> list[float]:
    """The mean token loss of each example over its target tokens (its ``labels``)."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    out = [math.nan] * len(examples)
    with torch.inference_mode():
        for chunk in _batches([len(e) for e in examples], batch_size):
            width = max(len(examples[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(examples[i])
                ids[row, :n] = torch.tensor(examples[i].input_ids)
                labels[row, :n] = torch.tensor(examples[i].labels)
                mask[row, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            labels = labels.to(device)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=IGNORE, reduction="none").reshape(labels.shape)
            counted = (labels != IGNORE).sum(dim=1)
            means = (loss.sum(dim=1) / counted).tolist()
            for row, i in enumerate(chunk):
                out[i] = means[row]
            if progress:
                progress(len(chunk))
    return out


def yes_probability(model: Any, tok: Any, questions: Sequence[str], template: str, *, batch_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list[float]:
    """P(Yes) / (P(Yes) + P(No)) for the first answer token of each question."""
    import torch

    yes, no = tok.encode("Yes")[0], tok.encode("No")[0]
    prompts = [tok.encode(prompt_text(q, template, tok)) for q in questions]
    device = next(model.parameters()).device
    out = [math.nan] * len(prompts)
    with torch.inference_mode():
        for chunk in _batches([len(p) for p in prompts], batch_size):
            width = max(len(prompts[i]) for i in chunk)
            ids = torch.full((len(chunk), width), tok.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, :len(prompts[i])] = torch.tensor(prompts[i])
                mask[row, :len(prompts[i])] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            last = mask.sum(dim=1).to(device) - 1
            final = logits[torch.arange(len(chunk), device=device), last]
            pair = torch.softmax(final[:, [yes, no]], dim=-1)[:, 0].tolist()
            for row, i in enumerate(chunk):
                out[i] = pair[row]
            if progress:
                progress(len(chunk))
    return out
