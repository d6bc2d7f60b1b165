import json
from pathlib import Path

import pytest

# Helper modules that tests import (not test files; kept out of doctest collection).
collect_ignore = ["slow_step.py"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """Real Chinese and English texts from the samples shipped in the repo."""
    texts = []
    for line in (SAMPLES / "belle_eval_zh.jsonl").read_text(encoding="utf-8").splitlines()[:200]:
        row = json.loads(line)
        texts += [row["question"], row["std_answer"]]
    for row in json.loads((SAMPLES / "flan_cot" / "aqua_train.json").read_text(encoding="utf-8"))[:200]:
        texts += [row["instruction"], row["output"]]
    return texts
