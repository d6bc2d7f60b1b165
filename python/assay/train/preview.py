"""``assay train CONFIG --dry-run N``: the first training examples exactly as the model sees them.

Each example is tokenized by the configured tokenizer and template, in the order the
training stream takes them (the seeded shuffle of ``train.seed``, held-out rows left
out), then decoded back to text piece by piece: the tokens that get no loss (the prompt,
the template, a domain prefix before the prompt) apart from those the model learns to
predict. No model is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from assay.train.config import TrainConfig, load_config
from assay.train.data import IGNORE, RowStream, encode_row, resolve_shards
from assay.train.tokenizer import load_tokenizer

__all__ = ["ExamplePreview", "NO_LOSS_CLOSE", "NO_LOSS_OPEN", "format_previews", "preview_examples"]

NO_LOSS_OPEN, NO_LOSS_CLOSE = "\u27e6", "\u27e7"
"""Around the decoded text of tokens that get no loss: ⟦prompt⟧response."""


@dataclass(frozen=True)
class ExamplePreview:
    """One encoded example: where it came from and its decoded (text, has_loss) pieces."""

    source: str
    id: str
    tokens: int
    loss_tokens: int
    pieces: list[tuple[str, bool]]

    def marked(self) -> str:
        """The decoded text with every no-loss piece between ⟦ and ⟧."""
        return "".join(text if loss else f"{NO_LOSS_OPEN}{text}{NO_LOSS_CLOSE}" for text, loss in self.pieces)


def _pieces(ids: list[int], labels: list[int], tok: Any) -> list[tuple[str, bool]]:
    # labels are shifted: token t is a target when labels[t - 1] is not IGNORE
    loss = [False] + [label != IGNORE for label in labels[:-1]]
    pieces: list[tuple[str, bool]] = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or loss[end] != loss[start]:
            pieces.append((tok.decode(ids[start:end]), loss[start]))
            start = end
    return pieces


def preview_examples(config: TrainConfig | dict | str | Path, count: int,
                     overrides: list[str] | tuple[str, ...] = ()) -> list[ExamplePreview]:
    """The first ``count`` training examples of a trainer config, decoded; e.g.
    ``preview_examples("pipelines/train/tiny.yaml", 2)[0].marked()``."""
    cfg = config if isinstance(config, TrainConfig) else (
        load_config(raw=config, overrides=overrides) if isinstance(config, dict) else load_config(config, overrides))
    dc = cfg.data
    tok = load_tokenizer(cfg.tokenizer, model_path=cfg.model.path, gguf_file=cfg.model.gguf)
    stream = RowStream(resolve_shards(dc.train, "data.train"), tok, template=dc.template, max_length=dc.max_length,
                       packing=dc.packing, seed=cfg.train.seed, shuffle_buffer_size=dc.shuffle_buffer,
                       pack_window=dc.pack_window, held_out_fraction=dc.eval_fraction if dc.eval is None else 0.0,
                       add_bos=dc.add_bos, read_batch_rows=dc.read_batch_rows)

    def encoded() -> Iterator[ExamplePreview]:
        for row in stream.epoch_rows(0):
            example = encode_row(row, tok, dc.template, dc.max_length, dc.add_bos)
            if example is not None:
                yield ExamplePreview(str(row.get("source") or ""), str(row.get("id") or ""), len(example),
                                     example.n_targets, _pieces(example.input_ids, example.labels, tok))

    return list(islice(encoded(), count))


def format_previews(previews: list[ExamplePreview]) -> str:
    """The previews as the CLI prints them."""
    lines = [f"{len(previews)} training example(s) as the model sees them; text between "
             f"{NO_LOSS_OPEN} and {NO_LOSS_CLOSE} gets no loss, the rest is predicted (the first token of an "
             "example never is: nothing comes before it)."]
    for number, preview in enumerate(previews, 1):
        lines.append(f"\n--- example {number}: source {preview.source}, id {preview.id}, {preview.tokens} tokens, "
                     f"{preview.loss_tokens} with loss ---")
        lines.append(preview.marked())
    return "\n".join(lines)
