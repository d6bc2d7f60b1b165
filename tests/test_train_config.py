"""Trainer configuration and import hygiene: no torch needed."""
from __future__ import annotations

import subprocess
import sys

import pytest

from assay.train.config import ConfigError, load_config, load_config_dict



def test_config_shape_from_the_issue(tmp_path):
    text = """
model: {random: {family: llama, hidden_size: 64, num_layers: 2, num_heads: 4, intermediate_size: 128, max_position: 512}}
tokenizer: byte
data: {train: out/quickstart/manifest.json, eval_fraction: 0.05, template: alpaca, max_length: 256, packing: true}
method: lora
lora: {r: 8, alpha: 16, dropout: 0.0}
train: {steps: 30, batch_size: 8, grad_accum: 1, lr: 1.0e-3, seed: 0, log_every: 5, save_every: 15, eval_every: 15}
output: {dir: out/train-tiny}
"""
    path = tmp_path / "train.yaml"
    path.write_text(text)
    cfg = load_config(path, ["train.steps=5", "lora.r=4", "data.template=chatml"])
    assert (cfg.train.steps, cfg.lora.r, cfg.data.template, cfg.model.random.family) == (5, 4, "chatml", "llama")


@pytest.mark.parametrize(
    "change, key",
    [
        ({"train": {"lrr": 1}}, "train.lrr: unknown key"),
        ({"train": {"lr": "fast"}}, "train.lr:"),
        ({"method": "lorax"}, "method:"),
        ({"data": {"template": "vicuna"}}, "data.template:"),
        ({"model": {"random": {"family": "llama"}, "path": "/x"}}, "model:"),
        ({"model": {"random": {"family": "llama", "hidden_size": 10, "num_heads": 4}}}, "model.random:"),
        ({"lora": {"r": 0}}, "lora.r:"),
        ({"output": {}}, "output.dir: required key is missing"),
        ({"data": {"train": "x", "eval_fraction": 2}}, "data.eval_fraction:"),
    ],
)
def test_config_errors_name_the_key(change, key):
    raw = {"model": {"random": {"family": "llama"}}, "data": {"train": "x"}, "output": {"dir": "o"}}
    raw.update(change)
    with pytest.raises(ConfigError) as err:
        load_config_dict(raw)
    assert key in str(err.value)


def test_override_errors_name_the_key():
    with pytest.raises(ConfigError, match="train.stepz: unknown key"):
        load_config(raw={"model": {"random": {}}, "data": {"train": "x"}, "output": {"dir": "o"}}, overrides=["train.stepz=3"])
    with pytest.raises(ConfigError, match="steps"):
        load_config(raw={"model": {"random": {}}, "data": {"train": "x"}, "output": {"dir": "o"}}, overrides=["train.steps"])


def test_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; sys.modules['peft'] = None\n"
            "import assay, assay.train, assay.train.cli\n"
            "from assay.train import load_config, Trainer\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr




def test_shipped_train_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("train/tiny.yaml", "train/smollm2.yaml"):
        cfg = load_config(root / "pipelines" / name)
        assert cfg.method == "lora"
