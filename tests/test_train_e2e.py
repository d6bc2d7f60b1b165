"""End to end: `assay run pipelines/quickstart.yaml`, then `assay train pipelines/train/tiny.yaml`
on its manifest; the loss of the tiny random model falls."""
import json

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from assay.cli import main  # noqa: E402

from conftest import ROOT  # noqa: E402


def test_quickstart_shards_train_a_tiny_model(tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(1)
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    shards = tmp_path / "quickstart"
    result = runner.invoke(main, ["run", "pipelines/quickstart.yaml", "-o", str(shards), "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "train"
    result = runner.invoke(main, [
        "train", "pipelines/train/tiny.yaml",
        "--set", f"data.train={shards / 'manifest.json'}", "--set", f"output.dir={out}",
        "--set", "method=full",
    ])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6  # 30 steps, logged every 5
    assert max(losses[-2:]) < losses[0] - 0.3
    evals = [r for r in records if "eval_loss" in r]
    # Per-source held-out loss covers the quickstart's sources.
    assert len(evals[-1]["eval_loss_by_source"]) >= 3
    assert (out / "checkpoint-30" / "trainer_state.json").exists()
