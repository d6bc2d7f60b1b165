"""--resume after kill -9 gives the same shards as an uninterrupted run; threads do not change bytes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from slow_step import SleepStep
from assay.manifest import Manifest
from assay.pipeline import PipelineError, run_pipeline
from assay.steps import registered

from conftest import ROOT, SAMPLES


@pytest.fixture(scope="module", autouse=True)
def _sleep_step():
    """_test_sleep in this process too (the child processes register it themselves)."""
    with registered(SleepStep):
        yield


@pytest.fixture()
def many_files(tmp_path):
    """The BELLE sample split into 20 input files, and a pipeline over them."""
    lines = (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()[:300]
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
output: {{dir: "{tmp_path}/unused", shard_rows: 70, row_group_rows: 20, checkpoint_seconds: 0}}
""")
    return pipeline


def _with_checkpoints(pipeline, seconds: float):
    """The same pipeline, saving its resumable state at most every `seconds`."""
    other = pipeline.with_name(f"p-{seconds}.yaml")
    other.write_text(pipeline.read_text().replace("checkpoint_seconds: 0", f"checkpoint_seconds: {seconds}"))
    return other


def _assert_same_run(resumed, reference):
    assert [s.sha256 for s in resumed.shards] == [s.sha256 for s in reference.shards]
    resumed, reference = resumed.model_dump(), reference.model_dump()
    for key in ("rows_in", "rows_out", "removed", "quarantined", "sources", "steps"):
        if key == "steps":
            resumed[key] = [{**s, "seconds": 0} for s in resumed[key]]
            reference[key] = [{**s, "seconds": 0} for s in reference[key]]
        assert resumed[key] == reference[key], key


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
    resumed = Manifest.load(out)
    _assert_same_run(resumed, reference)
    assert reference.removed["exact_duplicate"] >= 19 and reference.removed["near_duplicate"] >= 10
    assert reference.rows_in == 300 + 38 + 1
    assert (out / "quarantine" / "quarantine.jsonl").read_bytes() == (
        tmp_path / "reference" / "quarantine" / "quarantine.jsonl").read_bytes()
    assert not (out / ".staging").exists()


def test_resume_redoes_the_files_finished_since_the_last_checkpoint(many_files, tmp_path):
    # State saved at most every second (units take ~0.2 s): killed while some finished
    # units are staged but not yet marked done, the resumed run redoes them from the last
    # saved state and still writes the same bytes.
    pipeline = _with_checkpoints(many_files, 1.0)
    reference = run_pipeline(many_files, output_dir=tmp_path / "reference")
    out = tmp_path / "killed"
    proc = _cli("run", str(pipeline), "-o", str(out), "--no-progress")
    staging = out / ".staging"
    deadline = time.time() + 120
    marked = staged = 0
    while time.time() < deadline:
        marked = len(list((staging / "units").glob("*.json")))
        staged = len({p.name[:7] for p in (staging / "kept").glob("u*")})
        if marked >= 2 and staged >= marked + 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= marked < staged < 20, (marked, staged)
    assert len(list((staging / "state").iterdir())) == 1  # only the last checkpoint is kept

    proc = _cli("run", str(pipeline), "-o", str(out), "--no-progress", "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    _assert_same_run(Manifest.load(out), reference)


def test_resume_after_every_file_was_done_still_finishes_the_steps(many_files, tmp_path, monkeypatch):
    # Interrupted after the last input file but before the manifest: the resumed run skips
    # every file, and the steps still need their state for finish() (save_index here).
    import assay
    from assay.pipeline import runner

    pipeline = tmp_path / "with-index.yaml"
    pipeline.write_text(many_files.read_text().replace(
        "near_dedup: {threshold: 0.7}", f"near_dedup: {{threshold: 0.7, save_index: {tmp_path}/near.idx}}"))
    reference = run_pipeline(pipeline, output_dir=tmp_path / "reference")
    reference_index = assay.DedupIndex.load(tmp_path / "near.idx")
    (tmp_path / "near.idx").unlink()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(pipeline, output_dir=tmp_path / "o")
    monkeypatch.undo()
    _assert_same_run(run_pipeline(pipeline, output_dir=tmp_path / "o", resume=True), reference)
    index = assay.DedupIndex.load(tmp_path / "near.idx")
    assert (index.rows_seen, index.num_clusters) == (reference_index.rows_seen, reference_index.num_clusters)
    assert index.rows_seen > 300


def test_a_kill_while_the_markers_of_a_checkpoint_are_written_is_resumed(many_files, tmp_path, monkeypatch):
    # One checkpoint, after the last unit: killed once its state and five of its twenty markers
    # are written, the resume redoes the marked units (their state's own marker is missing).
    from assay.pipeline import runner

    reference = run_pipeline(many_files, output_dir=tmp_path / "reference")
    pipeline = _with_checkpoints(many_files, 600)
    written = []
    write_json = runner._write_json

    def dying(path, data):
        if path.parent.name == "units":
            written.append(path.name)
            if len(written) == 6:
                raise KeyboardInterrupt
        write_json(path, data)

    monkeypatch.setattr(runner, "_write_json", dying)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(pipeline, output_dir=tmp_path / "o")
    monkeypatch.undo()
    staging = tmp_path / "o" / ".staging"
    assert len(list((staging / "units").glob("*.json"))) == 5 and (staging / "state" / "u000019").is_dir()
    _assert_same_run(run_pipeline(pipeline, output_dir=tmp_path / "o", resume=True), reference)


def test_checkpoint_interval_is_not_part_of_the_pipeline_identity(many_files):
    from assay.pipeline import load_pipeline

    assert load_pipeline(many_files).fingerprint() == load_pipeline(_with_checkpoints(many_files, 600)).fingerprint()


def test_resume_refuses_a_changed_pipeline(many_files, tmp_path):
    out = tmp_path / "o"
    staging = out / ".staging"
    staging.mkdir(parents=True)
    (staging / "run.json").write_text(json.dumps({"config_hash": "0" * 64}))
    with pytest.raises(PipelineError, match="the pipeline changed since the interrupted run"):
        run_pipeline(many_files, output_dir=out, resume=True)


def test_resume_without_an_interrupted_run_starts_fresh(many_files, tmp_path):
    m = run_pipeline(many_files, output_dir=tmp_path / "fresh", resume=True)
    assert m.rows_in == 339 and m.quarantined == 1


def test_one_and_two_threads_give_identical_shards(tmp_path):
    hashes = []
    for threads in (1, 2):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = tmp_path / f"t{threads}"
        subprocess.run([sys.executable, "-m", "assay.cli", "run", str(ROOT / "pipelines" / "quickstart.yaml"),
                        "-o", str(out), "--no-progress"], env=env, check=True, cwd=ROOT, capture_output=True)
        manifest = Manifest.load(out)
        assert manifest.threads == threads
        hashes.append([s.sha256 for s in manifest.shards])
    assert hashes[0] == hashes[1]
