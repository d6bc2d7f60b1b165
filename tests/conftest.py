import json
from pathlib import Path

import pytest

from assay.steps import STEPS

# Helper modules that tests import (not test files; kept out of doctest collection).
collect_ignore = ["slow_step.py", "s3_server.py"]

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


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) for the session, its credentials in
    this process's environment (and so in the Ray nodes a later fixture starts)."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    import os

    import s3fs
    from s3_server import S3Server

    with S3Server() as server:
        saved = {k: os.environ.get(k) for k in server.env}
        os.environ.update(server.env)
        s3fs.S3FileSystem.clear_instance_cache()
        yield server
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()
