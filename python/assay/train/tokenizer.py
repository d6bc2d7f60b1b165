"""Tokenizers the trainer can use.

``ByteTokenizer`` is the built-in byte-level tokenizer: ids 0..255 are the UTF-8 bytes,
special tokens follow (``<pad>``, ``<bos>``, ``<eos>``, ``<|im_start|>``, ``<|im_end|>``,
``<unk>``). It needs no files, so tests and benchmarks run offline on random models.
``HFTokenizer`` wraps a ``transformers`` tokenizer behind the same small interface.

>>> tok = ByteTokenizer()
>>> ids = tok.encode("hi<|im_end|>")
>>> ids
[104, 105, 260]
>>> tok.decode(ids)
'hi<|im_end|>'
>>> tok.pad_id != tok.eos_id
True
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, TrainError
from assay.train.hf import local_load

__all__ = ["ByteTokenizer", "HFTokenizer", "load_tokenizer"]

BYTE_SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<|im_start|>", "<|im_end|>", "<unk>")


class ByteTokenizer:
    """UTF-8 bytes plus special tokens; special-token strings in the text become their id."""

    kind = "byte"
    chat_template = None

    def __init__(self, vocab_multiple: int = 8) -> None:
        self.special_ids = {tok: 256 + i for i, tok in enumerate(BYTE_SPECIAL_TOKENS)}
        self.id_to_special = {i: tok for tok, i in self.special_ids.items()}
        used = 256 + len(BYTE_SPECIAL_TOKENS)
        # rounded up so embedding tables have a friendly shape
        self.vocab_size = -(-used // vocab_multiple) * vocab_multiple
        self.pad_id = self.special_ids["<pad>"]
        self.bos_id = self.special_ids["<bos>"]
        self.eos_id = self.special_ids["<eos>"]
        self._special_re = re.compile("(" + "|".join(re.escape(t) for t in BYTE_SPECIAL_TOKENS) + ")")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self._special_re.split(text):
            if not piece:
                continue
            special = self.special_ids.get(piece)
            if special is not None:
                ids.append(special)
            else:
                ids.extend(piece.encode("utf-8"))
        return ids

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        out: list[str] = []
        pending = bytearray()
        for i in ids:
            i = int(i)
            if i < 256:
                pending.append(i)
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            if not skip_special and i in self.id_to_special:
                out.append(self.id_to_special[i])
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)

    def token_id(self, token: str) -> int | None:
        return self.special_ids.get(token)

    def save(self, directory: str | Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "assay_tokenizer.json").write_text(json.dumps({"kind": "byte"}))


class HFTokenizer:
    """A ``transformers`` tokenizer with the trainer's interface.

    Guarantees a pad token distinct from EOS: when the tokenizer has none (or pads with
    EOS), ``<unk>`` is used if it exists and differs from EOS, else ``<|pad|>`` is added
    (``added_tokens`` then tells the model loader to resize its embeddings).
    """

    kind = "hf"

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf = hf_tokenizer
        self.added_tokens = 0
        eos = hf_tokenizer.eos_token_id
        if eos is None:
            raise TrainError("tokenizer: the tokenizer has no eos token; the trainer needs one")
        pad = hf_tokenizer.pad_token_id
        if pad is None or pad == eos:
            unk = hf_tokenizer.unk_token_id
            if unk is not None and unk != eos:
                hf_tokenizer.pad_token = hf_tokenizer.unk_token
            else:
                self.added_tokens = hf_tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
        self.eos_id = int(eos)
        self.pad_id = int(hf_tokenizer.pad_token_id)
        self.bos_id = hf_tokenizer.bos_token_id
        self.vocab_size = len(hf_tokenizer)
        self.chat_template = getattr(hf_tokenizer, "chat_template", None)

    def encode(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=skip_special)

    def token_id(self, token: str) -> int | None:
        ids = self.hf.convert_tokens_to_ids([token])
        if not ids or ids[0] is None or ids[0] == self.hf.unk_token_id:
            return None
        return int(ids[0])

    def apply_chat_template(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        return self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def save(self, directory: str | Path) -> None:
        self.hf.save_pretrained(str(directory))


def load_tokenizer(spec: str, model_path: str | None = None, gguf_file: str | None = None):
    """``byte`` -> ByteTokenizer; ``auto`` -> the model's own tokenizer; else a local folder."""
    if spec == "byte":
        return ByteTokenizer()
    from transformers import AutoTokenizer

    if spec == "auto":
        if model_path is not None and (Path(model_path) / "assay_tokenizer.json").is_file():
            return ByteTokenizer()  # a model trained (or merged) by assay with the byte tokenizer
        if gguf_file is not None:
            gguf = Path(gguf_file)
            return HFTokenizer(local_load("tokenizer", AutoTokenizer.from_pretrained, gguf.parent, gguf_file=gguf.name))
        if model_path is None:
            raise ConfigError("tokenizer: 'auto' needs model.path or model.gguf (a random model needs tokenizer: byte)")
        return HFTokenizer(local_load("tokenizer", AutoTokenizer.from_pretrained, model_path))
    if not Path(spec).is_dir():
        raise ConfigError(f"tokenizer: {spec!r} is neither 'byte', 'auto' nor a local folder")
    if (Path(spec) / "assay_tokenizer.json").is_file():
        return ByteTokenizer()
    return HFTokenizer(local_load("tokenizer", AutoTokenizer.from_pretrained, spec))
