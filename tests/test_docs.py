"""Every YAML example in the docs and docstrings goes through the parser it documents."""
import importlib
import pkgutil
import re
import textwrap

import pytest
import yaml

import assay
from assay.pipeline import load_pipeline
from assay.pipeline.assemble import AssembleConfig
from assay.pipeline.config import parse_steps
from assay.steps import STEPS
from assay.train.config import load_config_dict

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _markdown_examples():
    """```yaml blocks, and the `step: {...}` cells of the README's steps table."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
            yield f"{path.name}:{text[:match.start()].count(chr(10)) + 1}", match.group(1)
        for match in re.finditer(r"^\| `(\w+): (\{.*?\})` \|", text, re.M):
            if match.group(1) in STEPS:
                yield f"{path.name}:{text[:match.start()].count(chr(10)) + 1}", f"- {match.group(1)}: {match.group(2)}"


def _docstring_examples():
    """Literal blocks (after a line ending in ``::``) of the package's docstrings that are YAML data."""
    modules = [assay] + [importlib.import_module(m.name) for m in pkgutil.walk_packages(assay.__path__, "assay.")
                         if not m.name.startswith("assay.train.") or m.name in ("assay.train.config",)]
    for module in modules:
        source = (module.__doc__ or "") + "".join(
            (getattr(obj, "__doc__", None) or "") for obj in vars(module).values()
            if getattr(obj, "__module__", None) == module.__name__)
        for match in re.finditer(r"::\n\n((?:(?: {4,}.*)?\n)+)", source):
            block = textwrap.dedent(match.group(1))
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue  # Python code, not YAML
            if isinstance(data, (list, dict)):
                yield module.__name__, block


EXAMPLES = list(_markdown_examples()) + list(_docstring_examples())


def test_the_examples_are_found():
    where = {name.split(":")[0] for name, _ in EXAMPLES}
    assert {"README.md", "assay.steps.filter", "assay.classifier"} <= where
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("where, block", EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_yaml_example_parses(tmp_path, where, block):
    data = yaml.safe_load(block)
    if isinstance(data, list):  # a steps list
        assert parse_steps(data)
    elif "inputs" in data:  # a whole pipeline
        path = tmp_path / "example.yaml"
        path.write_text(block, encoding="utf-8")
        assert load_pipeline(path).inputs
    elif "assemble" in data:
        AssembleConfig(**data["assemble"])
    elif "model" in data:  # a trainer config
        load_config_dict(data)
    elif "storage" in data:
        from assay.storage import StorageConfig

        StorageConfig(**data["storage"])
    elif "pool" in data:  # an assay mine config
        from assay.selection.mine import MineConfig

        MineConfig(**data)
    else:
        pytest.fail(f"{where}: a YAML example of unknown kind: {sorted(data)}")


def test_every_shipped_recipe_parses():
    for path in sorted((ROOT / "pipelines").glob("*.yaml")):
        assert load_pipeline(path).steps is not None
    for path in sorted((ROOT / "pipelines" / "train").glob("*.yaml")):
        load_config_dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_readme_datasets_and_polars_example_runs(tmp_path, monkeypatch):
    """The README's Hugging Face datasets and Polars block, as a user pastes it (from the repo root)."""
    pytest.importorskip("datasets")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Hugging Face datasets and Polars"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    block = block.replace('output_dir="out/qs-py"', f'output_dir="{tmp_path / "qs-py"}"')
    exec(compile(block, "README.md", "exec"), {})
    assert assay.Manifest.load(tmp_path / "qs-py").balances()
