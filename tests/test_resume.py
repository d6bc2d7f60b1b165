"""--resume after kill -9 gives the same shards as an uninterrupted run; threads do not change bytes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import slow_step  # noqa: F401  (registers _test_sleep in this process too)
from assay.pipeline import PipelineError, run_pipeline

from conftest import ROOT, SAMPLES


@pytest.fixture()
def many_files(tmp_path):
    """The BELLE sample split into 20 input files, and a pipeline over them."""
    lines = (SAMPLES / "belle_eval_zh.jsonl").read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(20):
        part = lines[k * 15:(k + 1) * 15]
        if k:  # an exact copy and a near copy (answer cut short) of rows from the previous file
            near = json.loads(lines[k * 15 - 2])
            near["std_answer"] = near["std_answer"][: int(len(near["std_answer"]) * 0.95)]
            part += [lines[k * 15 - 1], json.dumps(near, ensure_ascii=False)]
        (folder / f"part-{k:02d}.jsonl").write_text("\n".join(part) + "\n", encoding="utf-8")
    (folder / "part-07.jsonl").write_text("{broken\n" + (folder / "part-07.jsonl").read_text(encoding="utf-8"))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""
name: resumable
inputs:
  - {{path: "{folder}/*.jsonl", format: belle, source: belle}}
steps:
  - _test_sleep: {{seconds: 0.15}}
  - exact_dedup: {{key: prompt_response}}
  - near_dedup: {{threshold: 0.7}}
  - text_stats: {{}}
output: {{dir: "{tmp_path}/unused", shard_rows: 70, row_group_rows: 20}}
""")
    return pipeline


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "slow_step.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_resume_after_kill_9_is_byte_identical(many_files, tmp_path):
    reference = run_pipeline(many_files, output_dir=tmp_path / "reference")
    out = tmp_path / "killed"
    proc = _cli("run", str(many_files), "-o", str(out), "--no-progress")
    units = out / ".staging" / "units"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(units.glob("*.json"))) < 6:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(units.glob("*.json")))
    assert 6 <= done < 20, "the run was not killed mid-way"
    assert not (out / "manifest.json").exists()

    proc = _cli("run", str(many_files), "-o", str(out), "--no-progress", "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    resumed = json.loads((out / "manifest.json").read_text())
    assert [s["sha256"] for s in resumed["shards"]] == [s["sha256"] for s in reference["shards"]]
    for key in ("rows_in", "rows_out", "removed", "quarantined", "sources", "steps"):
        if key == "steps":
            resumed[key] = [{**s, "seconds": 0} for s in resumed[key]]
            reference[key] = [{**s, "seconds": 0} for s in reference[key]]
        assert resumed[key] == reference[key], key
    assert reference["removed"]["exact_duplicate"] >= 19 and reference["removed"]["near_duplicate"] >= 10
    assert reference["rows_in"] == 300 + 38 + 1
    assert (out / "quarantine" / "quarantine.jsonl").read_bytes() == (
        tmp_path / "reference" / "quarantine" / "quarantine.jsonl").read_bytes()
    assert not (out / ".staging").exists()


def test_resume_refuses_a_changed_pipeline(many_files, tmp_path):
    out = tmp_path / "o"
    staging = out / ".staging"
    staging.mkdir(parents=True)
    (staging / "run.json").write_text(json.dumps({"config_hash": "0" * 64}))
    with pytest.raises(PipelineError, match="the pipeline changed since the interrupted run"):
        run_pipeline(many_files, output_dir=out, resume=True)


def test_resume_without_an_interrupted_run_starts_fresh(many_files, tmp_path):
    m = run_pipeline(many_files, output_dir=tmp_path / "fresh", resume=True)
    assert m["rows_in"] == 339 and m["quarantined"] == 1


def test_one_and_two_threads_give_identical_shards(tmp_path):
    hashes = []
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = tmp_path / f"t{threads}"
        subprocess.run([sys.executable, "-m", "assay.cli", "run", str(ROOT / "pipelines" / "quickstart.yaml"),
                        "-o", str(out), "--no-progress"], env=env, check=True, cwd=ROOT, capture_output=True)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["threads"] == threads
        hashes.append([s["sha256"] for s in manifest["shards"]])
    assert hashes[0] == hashes[1]
