import json
from pathlib import Path

import pytest

from assay.steps import STEPS

# Helper modules that tests import (not test files; kept out of doctest collection).
collect_ignore = ["slow_step.py"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """Real Chinese and English texts from the samples shipped in the repo."""
    texts = []
    for line in (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()[:200]:
        row = json.loads(line)
        texts += [row["question"], row["std_answer"]]
    for row in json.loads((SAMPLES / "flan_cot" / "aqua_train.json").read_text(encoding="utf-8"))[:200]:
        texts += [row["instruction"], row["output"]]
    return texts


@pytest.fixture(autouse=True)
def _step_registry_unchanged():
    """A test that registers a step must remove it again (``assay.steps.registered``)."""
    before = dict(STEPS)
    yield
    assert STEPS == before, f"a test left the step registry changed: {sorted(set(STEPS) ^ set(before))}"
