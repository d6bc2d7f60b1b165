"""The bundled trainer: Parquet shards written by ``assay run`` -> LoRA, other PEFT methods
or full fine-tuning (torch, transformers and peft: ``pip install 'assay[train]'``).

Importing this package does not import torch; the entry points do, when called. Errors of
the config are :class:`ConfigError`, of the data and models :class:`TrainError`; each message
starts with the key it is about.

>>> from assay.train import load_config
>>> cfg = load_config(raw={"model": {"random": {"family": "llama"}}, "data": {"train": "out/x/manifest.json"},
...                        "output": {"dir": "out/t"}}, overrides=["method=dora"])
>>> cfg.method, cfg.lora.r
('dora', 8)
"""
from __future__ import annotations

import os

# assay is offline: transformers never looks for models on the hub (set before it is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assay.errors import ConfigError, TrainError
from assay.train.config import TrainConfig, load_config

__all__ = ["ConfigError", "TrainConfig", "TrainError", "Trainer", "load_config", "run_train", "run_merge",
           "run_generate"]


def __getattr__(name: str):
    if name in ("Trainer", "run_train"):
        from assay.train import trainer

        return getattr(trainer, name)
    if name == "run_merge":
        from assay.train.merge import run_merge

        return run_merge
    if name == "run_generate":
        from assay.train.generate import run_generate

        return run_generate
    raise AttributeError(name)
