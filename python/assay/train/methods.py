"""Fine-tuning methods behind one ``method:`` key, through peft (``full`` trains everything).

``lora``, ``dora`` (LoRA with weight decomposition), ``qlora`` (LoRA over a 4-bit base,
CUDA only), ``adalora``, ``ia3``, ``prefix`` (prefix tuning), ``prompt`` (prompt tuning),
``ptuning`` (P-tuning's prompt encoder) and ``full``.

>>> default_target_modules("gpt2")
['c_attn', 'c_proj', 'c_fc']
"""
from __future__ import annotations

from typing import Any

from assay.errors import ConfigError, TrainError
from assay.train.config import PROMPT_LEARNING_METHODS, TrainConfig

__all__ = ["LORA_TARGET_MODULES", "default_target_modules", "apply_method", "check_method_supported", "is_prompt_learning"]

_DECODER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_FUSED_QKV = ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]

# LoRA goes on every linear map of attention and MLP by default (QLoRA's finding: adapting
# all layers matters more than r); gpt2's Conv1D layers are handled by peft (fan_in_fan_out).
LORA_TARGET_MODULES: dict[str, list[str]] = {
    "llama": _DECODER,
    "mistral": _DECODER,
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": _DECODER,
    "qwen3": _DECODER,
    "gemma": _DECODER,
    "gemma2": _DECODER,
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "bloom": _FUSED_QKV,
    "gpt_neox": _FUSED_QKV,
    "falcon": _FUSED_QKV,
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
}


def default_target_modules(model_type: str) -> list[str] | str:
    """The LoRA targets of a model family; peft's ``all-linear`` for families not listed."""
    if model_type in LORA_TARGET_MODULES:
        return list(LORA_TARGET_MODULES[model_type])
    return "all-linear"


def is_prompt_learning(method: str) -> bool:
    return method in PROMPT_LEARNING_METHODS


def check_method_supported(cfg: TrainConfig, device: Any) -> None:
    """Fail early, with the key, on a method this machine cannot run."""
    if cfg.method == "qlora":
        import torch

        if getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
            raise TrainError(
                "method: qlora quantizes the base model to 4 bits with bitsandbytes, which needs a CUDA GPU; "
                "none is in use here. Use method: lora (or dora) on CPU."
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise TrainError("method: qlora needs the bitsandbytes package (pip install bitsandbytes)") from None


def apply_method(model: Any, cfg: TrainConfig) -> Any:
    """Wrap ``model`` for ``cfg.method``; returns the model to train."""
    method = cfg.method
    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    import peft

    model_type = getattr(model.config, "model_type", "")
    task = peft.TaskType.CAUSAL_LM
    if method in ("lora", "dora", "qlora"):
        lc = cfg.lora
        if method == "qlora":
            model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.model.gradient_checkpointing)
        pc = peft.LoraConfig(
            task_type=task,
            r=lc.r,
            lora_alpha=lc.alpha,
            lora_dropout=lc.dropout,
            bias=lc.bias,
            target_modules=lc.target_modules or default_target_modules(model_type),
            use_dora=(method == "dora"),
        )
    elif method == "adalora":
        lc, ac = cfg.lora, cfg.adalora
        tfinal = ac.tfinal
        if ac.tinit + tfinal >= cfg.train.steps:
            tfinal = 0
        pc = peft.AdaLoraConfig(
            task_type=task,
            init_r=ac.init_r,
            target_r=ac.target_r,
            tinit=min(ac.tinit, max(cfg.train.steps - 1, 0)),
            tfinal=tfinal,
            deltaT=ac.delta_t,
            total_step=cfg.train.steps,
            orth_reg_weight=ac.orth_reg_weight,
            lora_alpha=lc.alpha,
            lora_dropout=lc.dropout,
            target_modules=lc.target_modules or default_target_modules(model_type),
        )
    elif method == "ia3":
        ic = cfg.ia3
        kwargs: dict[str, Any] = {}
        if ic.target_modules is not None:
            kwargs["target_modules"] = ic.target_modules
            kwargs["feedforward_modules"] = ic.feedforward_modules or []
        pc = peft.IA3Config(task_type=task, **kwargs)
    elif method == "prefix":
        sc = cfg.prefix
        pc = peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=sc.num_virtual_tokens, prefix_projection=sc.prefix_projection)
    elif method == "prompt":
        pc = peft.PromptTuningConfig(task_type=task, num_virtual_tokens=cfg.prompt.num_virtual_tokens)
    elif method == "ptuning":
        sc = cfg.ptuning
        pc = peft.PromptEncoderConfig(
            task_type=task,
            num_virtual_tokens=sc.num_virtual_tokens,
            encoder_hidden_size=sc.encoder_hidden_size or model.config.hidden_size,
        )
    else:  # pragma: no cover - the config validator forbids it
        raise ConfigError(f"method: unknown method {method!r}")
    return peft.get_peft_model(model, pc)


def adalora_orth_reg(model: Any, weight: float) -> Any:
    """AdaLoRA's orthogonality penalty on P and Q (peft adds it only when it computes the loss)."""
    import torch

    total, count = None, 0
    for name, p in model.named_parameters():
        if not p.requires_grad or ("lora_A" not in name and "lora_B" not in name):
            continue
        if p.shape == torch.Size([0]):
            continue
        mat = p @ p.T if "lora_A" in name else p.T @ p
        eye = torch.eye(*mat.size(), dtype=mat.dtype, device=mat.device)
        term = torch.norm(mat - eye, p="fro")
        total = term if total is None else total + term
        count += 1
    if total is None:
        return 0.0
    return weight * total / count
