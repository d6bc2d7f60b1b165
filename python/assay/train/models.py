"""Models the trainer can start from, and the forward pass over packed batches.

- ``model: {random: {family: llama, ...}}``: a randomly initialised model of a family
  (llama, qwen2, mistral, gpt2, bloom) built from a config in code (tests, benchmarks);
- ``model: {path: DIR}``: any local ``AutoModelForCausalLM`` folder;
- ``model: {gguf: FILE}``: a GGUF file, dequantized by transformers (``gguf_file``).

No hub access: only local files are read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from assay.errors import ConfigError, TrainError
from assay.train.config import ModelConfig, RandomModelConfig
from assay.train.hf import local_load

__all__ = ["UNPACKABLE_FAMILIES", "random_model_config", "build_model", "resolve_dtype", "resolve_attn_implementation", "forward_logits", "model_family", "TargetOnlyHead", "target_cross_entropy"]


def resolve_dtype(name: str, device: Any) -> Any:
    import torch

    if name == "auto":
        if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def resolve_attn_implementation(name: str, device: Any, dtype: Any) -> str:
    """``auto``: flash-attention 2 (varlen over packed rows) when installed on a GPU in
    half precision, else SDPA with a block-diagonal mask."""
    import torch

    if name != "auto":
        return name
    if getattr(device, "type", str(device)) == "cuda" and dtype in (torch.bfloat16, torch.float16):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def random_model_config(rc: RandomModelConfig, vocab_size: int, pad_id: int, bos_id: Optional[int], eos_id: int) -> Any:
    """A transformers config of the family with the given shape."""
    import transformers as tf

    special = dict(pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id)
    if rc.vocab_size is not None:
        if rc.vocab_size < vocab_size:
            raise ConfigError(f"model.random.vocab_size: {rc.vocab_size} is smaller than the tokenizer's {vocab_size}")
        vocab_size = rc.vocab_size
    kv_heads = rc.num_kv_heads or rc.num_heads
    if rc.family in ("llama", "qwen2", "mistral"):
        cls = {"llama": tf.LlamaConfig, "qwen2": tf.Qwen2Config, "mistral": tf.MistralConfig}[rc.family]
        extra: dict[str, Any] = {"sliding_window": None} if rc.family == "mistral" else {}
        return cls(
            vocab_size=vocab_size,
            hidden_size=rc.hidden_size,
            intermediate_size=rc.intermediate_size,
            num_hidden_layers=rc.num_layers,
            num_attention_heads=rc.num_heads,
            num_key_value_heads=kv_heads,
            max_position_embeddings=rc.max_position,
            tie_word_embeddings=rc.tie_embeddings,
            rms_norm_eps=1e-6,
            **extra,
            **special,
        )
    if rc.family == "gpt2":
        return tf.GPT2Config(
            vocab_size=vocab_size,
            n_positions=rc.max_position,
            n_embd=rc.hidden_size,
            n_layer=rc.num_layers,
            n_head=rc.num_heads,
            n_inner=rc.intermediate_size,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            **special,
        )
    if rc.family == "bloom":
        return tf.BloomConfig(
            vocab_size=vocab_size,
            hidden_size=rc.hidden_size,
            n_layer=rc.num_layers,
            n_head=rc.num_heads,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            tie_word_embeddings=True,
            **special,
        )
    raise ConfigError(f"model.random.family: unknown family {rc.family!r}")


def build_model(mc: ModelConfig, tok: Any, *, seed: int, device: Any, quantize_4bit: bool = False,
                random_base_dir: Optional[Path] = None) -> tuple[Any, str]:
    """The base model on ``device`` and the attention implementation it uses.

    A random model is built with ``seed``, or loaded from ``random_base_dir`` when given
    (the copy a run saved at its start), so resumes see exactly the same base weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    dtype = resolve_dtype(mc.dtype, device)
    attn = resolve_attn_implementation(mc.attn_implementation, device, dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16,
        )
        kwargs["device_map"] = {"": device}

    def _load(path: str, **extra: Any) -> Any:
        try:
            return AutoModelForCausalLM.from_pretrained(path, **kwargs, **extra)
        except (ValueError, ImportError) as err:
            message = str(err).lower()
            if attn != "eager" and ("sdpa" in message or "flash" in message or "attention" in message):
                kwargs["attn_implementation"] = "eager"
                return AutoModelForCausalLM.from_pretrained(path, **kwargs, **extra)
            raise

    if mc.random is not None:
        if random_base_dir is not None and (random_base_dir / "config.json").is_file():
            model = _load(str(random_base_dir))
        else:
            if quantize_4bit:
                raise ConfigError("method: qlora on a random model needs its saved base folder")
            config = random_model_config(mc.random, tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id)
            torch.manual_seed(mc.random.seed if mc.random.seed is not None else seed)
            try:
                model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
            except (ValueError, ImportError):
                attn = "eager"
                model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    elif mc.path is not None:
        if not (Path(mc.path) / "config.json").is_file():
            raise TrainError(f"model.path: {mc.path} is not a model folder (no config.json)")
        model = local_load("model.path", _load, mc.path)
    else:
        gguf = Path(mc.gguf or "")
        if not gguf.is_file():
            raise TrainError(f"model.gguf: {gguf} is not a file")
        model = local_load("model.gguf", _load, gguf.parent, gguf_file=gguf.name)
    attn = getattr(model.config, "_attn_implementation", attn) or attn
    embeddings = model.get_input_embeddings().weight.shape[0]
    if tok.vocab_size > embeddings:
        model.resize_token_embeddings(tok.vocab_size)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_id
    if not quantize_4bit:
        model.to(device)
    if mc.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    return model, attn


# families whose attention builds its bias from a 2D padding mask (bloom's ALiBi), so a
# block-diagonal 4D mask cannot be passed: they train unpacked
UNPACKABLE_FAMILIES = ("bloom",)


def model_family(model: Any) -> str:
    base = model
    while hasattr(base, "get_base_model") and base is not base.get_base_model():
        base = base.get_base_model()
    return getattr(getattr(base, "config", None), "model_type", "")


def forward_logits(model: Any, batch: Any, attn_implementation: str) -> Any:
    """Logits for a batch: packed rows get per-example position ids and either no mask
    (flash-attention 2 finds the example boundaries from the position ids and runs varlen)
    or a block-diagonal causal mask (SDPA / eager); unpacked rows get a padding mask."""

    logits = _model_output(model, batch, attn_implementation).logits
    # prompt tuning / p-tuning put virtual tokens in front of the sequence
    if logits.shape[1] != batch.input_ids.shape[1]:
        logits = logits[:, -batch.input_ids.shape[1]:]
    return logits


def _model_output(model: Any, batch: Any, attn_implementation: str) -> Any:
    from assay.train.data import block_causal_mask

    if batch.packed:
        mask = None if attn_implementation == "flash_attention_2" else block_causal_mask(batch.segment_ids)
        return model(input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids, use_cache=False)
    return model(input_ids=batch.input_ids, attention_mask=(batch.segment_ids > 0).long(), use_cache=False)


class TargetOnlyHead:
    """Runs the output projection on target positions only.

    A forward pre-hook on the model's output embedding replaces its (B, L, H) input with
    the (N, H) hidden states where ``labels != IGNORE``, so the model returns (N, V)
    logits: prompts, padding and the last token of each example never reach the vocabulary
    matmul (and their logits are never stored for backward).
    """

    def __init__(self, head: Any) -> None:
        self.mask = None
        self.handle = head.register_forward_pre_hook(self._select)

    def _select(self, module: Any, args: tuple) -> Any:
        if self.mask is None:
            return None
        return (args[0][self.mask],) + tuple(args[1:])

    def remove(self) -> None:
        self.handle.remove()


def target_cross_entropy(model: Any, batch: Any, attn_implementation: str, head: Optional[TargetOnlyHead] = None) -> Any:
    """Cross-entropy of every target token, shape (N,), in the row-major order of
    ``batch.labels != IGNORE`` (float32 whatever the model's dtype)."""
    import torch.nn.functional as F

    from assay.train.data import IGNORE

    mask = batch.labels != IGNORE
    if head is not None:
        head.mask = mask
        try:
            logits = _model_output(model, batch, attn_implementation).logits
        finally:
            head.mask = None
    else:
        logits = forward_logits(model, batch, attn_implementation)[mask]
    return F.cross_entropy(logits.float(), batch.labels[mask], reduction="none")
