"""``assay merge CHECKPOINT_DIR -o OUT_DIR``: fold a LoRA-style adapter into full weights.

The result is a plain ``AutoModelForCausalLM`` folder (safetensors) in fp16, bf16 or fp32,
with the tokenizer beside it, loadable without peft.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, TrainError
from assay.train.config import PROMPT_LEARNING_METHODS
from assay.train.hf import local_load

__all__ = ["run_merge", "load_checkpoint_model", "DTYPES"]

DTYPES = ("float16", "bfloat16", "float32")


def _load_base(ref: dict[str, Any], dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM

    if "gguf" in ref:
        gguf = Path(ref["gguf"])
        return local_load("base model", AutoModelForCausalLM.from_pretrained, gguf.parent, gguf_file=gguf.name,
                          dtype=dtype)
    return local_load("base model", AutoModelForCausalLM.from_pretrained, ref["path"], dtype=dtype)


def load_checkpoint_model(checkpoint_dir: str | Path, dtype: Any = None) -> tuple[Any, dict[str, Any]]:
    """The trained model of a checkpoint (base + adapter, or the full weights), in eval mode."""
    import torch

    ckpt = Path(checkpoint_dir)
    state_path = ckpt / "trainer_state.json"
    if not state_path.is_file():
        raise TrainError(f"{ckpt}: not a checkpoint (no trainer_state.json)")
    state = json.loads(state_path.read_text())
    dtype = dtype or torch.float32
    if state["method"] == "full":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(ckpt / "model"), dtype=dtype)
    else:
        from peft import PeftModel

        base = _load_base(state["base_model"], dtype)
        tok_vocab = _tokenizer_vocab(ckpt / "tokenizer")
        if tok_vocab and tok_vocab > base.get_input_embeddings().weight.shape[0]:
            base.resize_token_embeddings(tok_vocab)
        model = PeftModel.from_pretrained(base, str(ckpt / "adapter"))
    model.eval()
    return model, state


def _tokenizer_vocab(folder: Path) -> int | None:
    from assay.train.tokenizer import ByteTokenizer, HFTokenizer

    if (folder / "assay_tokenizer.json").is_file():
        return ByteTokenizer().vocab_size
    if folder.is_dir():
        from transformers import AutoTokenizer

        return HFTokenizer(AutoTokenizer.from_pretrained(str(folder))).vocab_size
    return None


def run_merge(checkpoint_dir: str | Path, out_dir: str | Path, dtype: str = "float16") -> Path:
    """Merge a checkpoint's adapter into its base model and save it to ``out_dir``.

    CLI: ``assay merge CHECKPOINT_DIR -o OUT_DIR [--dtype float16|bfloat16|float32]``.
    Full fine-tuning checkpoints are re-saved in ``dtype``. Prompt-learning methods
    (prefix, prompt, ptuning) have no weights to fold in: use the checkpoint directly.
    """
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"dtype: {dtype!r} is not one of {DTYPES}")
    state = json.loads((Path(checkpoint_dir) / "trainer_state.json").read_text()) if (Path(checkpoint_dir) / "trainer_state.json").is_file() else None
    if state is None:
        raise TrainError(f"{checkpoint_dir}: not a checkpoint (no trainer_state.json)")
    if state["method"] in PROMPT_LEARNING_METHODS:
        raise TrainError(f"method {state['method']}: virtual-token methods cannot be merged into the base weights")
    if state["method"] == "qlora":
        # the adapter was trained over a 4-bit base; folding it into the full-precision base is the usual practice
        pass
    model, _ = load_checkpoint_model(checkpoint_dir, dtype=torch.float32)  # merge in fp32, then cast
    if state["method"] != "full":
        model = model.merge_and_unload()
    model = model.to(getattr(torch, dtype))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tok_dir = Path(checkpoint_dir) / "tokenizer"
    if tok_dir.is_dir():
        for f in tok_dir.iterdir():
            if f.is_file():
                shutil.copy2(f, out / f.name)
    return out
