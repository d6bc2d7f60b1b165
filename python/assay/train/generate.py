"""``assay generate``: sample from a base or trained model with the training templates."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from assay.errors import TrainError
from assay.train.data import render_segments
from assay.train.hf import local_load

__all__ = ["run_generate", "load_for_inference", "prompt_text"]


def prompt_text(instruction: str, template: str, tok: Any, input: Optional[str] = None) -> str:
    """The prompt part of an instruction record under ``template`` (``raw``: as given).

    >>> prompt_text("Say hi.", "chatml", None)
    '<|im_start|>user\\nSay hi.<|im_end|>\\n<|im_start|>assistant\\n'
    """
    if template == "raw":
        return instruction
    if template == "tokenizer":
        user = f"{instruction}\n\n{input}" if input else instruction
        return tok.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True)
    row = {"kind": "instruction", "instruction": instruction, "input": input, "output": ""}
    out = []
    for text, is_target in render_segments(row, template, tok):
        if is_target:
            break
        out.append(text)
    return "".join(out)


def load_for_inference(model: str | Path, tokenizer: Optional[str] = None, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) from a checkpoint folder, a model folder or a GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM

    from assay.train.merge import load_checkpoint_model
    from assay.train.tokenizer import load_tokenizer

    path = Path(model)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    if (path / "trainer_state.json").is_file():
        m, _ = load_checkpoint_model(path)
        tok_dir = path / "tokenizer"
    elif path.is_file() and path.suffix == ".gguf":
        m = local_load("model", AutoModelForCausalLM.from_pretrained, path.parent, gguf_file=path.name)
        tok_dir = None
        if tokenizer is None:
            return m.to(dev).eval(), load_tokenizer("auto", gguf_file=str(path))
    elif (path / "config.json").is_file():
        m = local_load("model", AutoModelForCausalLM.from_pretrained, path)
        tok_dir = path
    else:
        raise TrainError(f"model: {path} is not a checkpoint, a model folder (config.json) or a .gguf file")
    if tokenizer is not None:
        tok = load_tokenizer(tokenizer)
    else:
        tok = load_tokenizer(str(tok_dir))
    return m.to(dev).eval(), tok


def run_generate(model: str | Path, prompts: list[str], *, template: str = "alpaca", input: Optional[str] = None,
                 max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
                 tokenizer: Optional[str] = None, device: str = "auto") -> list[str]:
    """Complete each prompt; greedy when ``temperature`` is 0.

    CLI: ``assay generate MODEL -p PROMPT [-p PROMPT ...] [--template alpaca|alpaca_zh|chatml|tokenizer|raw]
    [--input TEXT] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--tokenizer byte|DIR]``.
    ``MODEL`` is a training checkpoint (base + adapter), a merged or base model folder, or a ``.gguf`` file.
    """
    import torch

    m, tok = load_for_inference(model, tokenizer, device)
    torch.manual_seed(seed)
    stop = [tok.eos_id]
    im_end = tok.token_id("<|im_end|>")
    if im_end is not None and im_end not in stop:
        stop.append(im_end)
    outputs = []
    dev = next(m.parameters()).device
    for p in prompts:
        ids = tok.encode(prompt_text(p, template, tok, input))
        input_ids = torch.tensor([ids], device=dev)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "eos_token_id": stop, "pad_token_id": tok.pad_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False)
        with torch.no_grad():
            out = m.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
        new = [t for t in out[0, len(ids):].tolist() if t not in stop]
        outputs.append(tok.decode(new, skip_special=True))
    return outputs
