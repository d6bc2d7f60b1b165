"""Object storage: pipelines read s3:// inputs and write s3:// outputs on a real S3-compatible
server (moto's server mode on 127.0.0.1), with the same bytes as on local disk."""
import json
import os
import signal
import subprocess
import sys
import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.manifest import Manifest
from assay.pipeline import load_pipeline
from assay.steps import registered
from slow_step import SleepStep

from conftest import ROOT, SAMPLES

pytest.importorskip("s3fs")
pytest.importorskip("moto")
from s3_server import S3Server  # noqa: E402  (a second server, stopped, for the unreachable endpoint)


@pytest.fixture(scope="module")
def s3(s3_server):
    """The session's server with two buckets: ``corpus`` holding the samples as they ship,
    ``out`` for outputs."""
    client = s3_server.client()
    for bucket in ("corpus", "out"):
        client.create_bucket(Bucket=bucket)
    s3_server.upload("corpus", SAMPLES, "samples/")
    yield s3_server
    for bucket in ("corpus", "out"):
        for key in s3_server.keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def parquet_input(tmp_path_factory, s3):
    """Alpaca's seed tasks as a Parquet file, on disk and in the bucket (the same bytes)."""
    rows = [json.loads(line) for line in (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl").open(encoding="utf-8")]
    path = tmp_path_factory.mktemp("parquet") / "seed_tasks.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=40)
    s3.client().upload_file(str(path), "corpus", "parquet/seed_tasks.parquet")
    return path


def _pipeline(tmp_path, root: str, parquet: str, out: str):
    """The quickstart's inputs (JSON arrays, JSON Lines in a .json, a ** glob, gzip) plus a
    Parquet input, under ``root``."""
    config = load_pipeline(ROOT / "pipelines" / "quickstart.yaml")
    for inp in config.inputs:
        inp.path = f"{root}/{inp.path}"
    config.inputs.append(config.inputs[4].model_copy(update={"path": parquet, "source": "alpaca-parquet"}))
    config.output.dir = out
    config.output.shard_rows = 700  # several shards
    return config


def _untimed(manifest: Manifest) -> dict:
    data = manifest.model_dump(mode="json")
    for step in data["steps"]:
        step.pop("seconds")
    return {k: data[k] for k in ("rows_in", "rows_out", "removed", "quarantined", "upsampled", "sources", "steps",
                                 "shards", "rejects")}


def test_a_run_from_and_to_a_bucket_writes_the_bytes_a_local_run_writes(s3, tmp_path, parquet_input):
    local = assay.run_pipeline(_pipeline(tmp_path, str(ROOT), str(parquet_input), str(tmp_path / "local")))
    remote = assay.run_pipeline(_pipeline(tmp_path, "s3://corpus", "s3://corpus/parquet/seed_tasks.parquet",
                                          "s3://out/run"))
    assert len(remote.shards) >= 2 and remote.balances()
    assert _untimed(remote) == _untimed(local)  # shard and reject digests included
    keys = s3.keys("out", "run/")
    written = {p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local").rglob("*") if p.is_file()}
    assert {k[len("run/"):] for k in keys} == written  # no staging left, nothing else
    for name in written - {"manifest.json", "stats.json", "report.html"}:
        assert s3.read("out", f"run/{name}") == (tmp_path / "local" / name).read_bytes(), name
    stats = orjson.loads(s3.read("out", "run/stats.json"))
    assert stats["columns"] == orjson.loads((tmp_path / "local" / "stats.json").read_bytes())["columns"]
    assert b"<svg" in s3.read("out", "run/report.html")
    # what the run wrote never holds the secret
    for key in keys:
        assert s3.secret.encode() not in s3.read("out", key), key


def test_the_cli_and_the_trainer_read_an_output_in_a_bucket(s3, tmp_path):
    env = dict(os.environ)
    run = subprocess.run([sys.executable, "-m", "assay.cli", "run", str(ROOT / "pipelines" / "quickstart.yaml"),
                          "-o", "s3://out/cli", "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "s3://out/cli/manifest.json" in run.stdout
    assert s3.secret not in run.stdout + run.stderr
    inspect = subprocess.run([sys.executable, "-m", "assay.cli", "inspect", "s3://out/cli"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert inspect.returncode == 0, inspect.stderr
    assert "1,539" in inspect.stdout
    raw = subprocess.run([sys.executable, "-m", "assay.cli", "inspect", "s3://corpus/samples/gaokao/**/*.json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert raw.returncode == 0 and "gaokao" in raw.stdout, raw.stderr
    report = subprocess.run([sys.executable, "-m", "assay.cli", "report", "s3://out/cli"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and report.stdout.strip() == "s3://out/cli/report.html", report.stderr

    pytest.importorskip("torch")
    dry = subprocess.run([sys.executable, "-m", "assay.cli", "train", str(ROOT / "pipelines" / "train" / "tiny.yaml"),
                          "--set", "data.train=s3://out/cli/manifest.json", "--dry-run", "2"], env=env,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "### Instruction" in dry.stdout or "Instruction" in dry.stdout

    from assay.train.data import iter_rows, resolve_shards

    files = resolve_shards("s3://out/cli")
    assert [f.name for f in files] == [s.path.split("/")[-1] for s in Manifest.load("s3://out/cli").shards]
    local = assay.run_pipeline(ROOT / "pipelines" / "quickstart.yaml", output_dir=tmp_path / "local")
    assert list(iter_rows(files, held_out_fraction=0.1)) == list(
        iter_rows(resolve_shards(str(tmp_path / "local")), held_out_fraction=0.1))
    assert local.rows_out == 1539


def test_an_output_prefix_with_foreign_objects_is_refused(s3):
    s3.client().put_object(Bucket="out", Key="foreign/notes.txt", Body=b"mine")
    with pytest.raises(assay.PipelineError, match="holds files that are not an assay output"):
        assay.run_pipeline(ROOT / "pipelines" / "quickstart.yaml", output_dir="s3://out/foreign")
    assert s3.keys("out", "foreign/") == ["foreign/notes.txt"]


def _cli(args, env, **kw):
    path = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "slow_step.py"), *args],
                            env=dict(env, PYTHONPATH=path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def test_kill_9_then_resume_on_the_bucket_is_byte_identical(s3, tmp_path):
    lines = (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()[:240]
    client = s3.client()
    for k in range(16):
        part = lines[k * 15:(k + 1) * 15] + ([lines[k * 15 - 1]] if k else [])  # an exact copy across files
        client.put_object(Bucket="corpus", Key=f"many/part-{k:02d}.jsonl", Body="\n".join(part).encode() + b"\n")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("""
name: resumable-s3
inputs:
  - {path: "s3://corpus/many/*.jsonl", format: belle, source: belle}
steps:
  - _test_sleep: {seconds: 0.2}
  - exact_dedup: {key: prompt_response}
  - near_dedup: {threshold: 0.7}
output: {dir: "s3://out/unused", shard_rows: 60, row_group_rows: 20, checkpoint_seconds: 0}
""")
    with registered(SleepStep):
        reference = assay.run_pipeline(pipeline, output_dir=tmp_path / "reference")
    proc = _cli(["run", str(pipeline), "-o", "s3://out/killed", "--no-progress"], dict(os.environ))
    deadline = time.time() + 180
    while time.time() < deadline and len(s3.keys("out", "killed/.staging/units/")) < 5:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(s3.keys("out", "killed/.staging/units/"))
    assert 5 <= done < 16, "the run was not killed mid-way"
    assert "killed/manifest.json" not in s3.keys("out", "killed/")

    proc = _cli(["run", str(pipeline), "-o", "s3://out/killed", "--no-progress", "--resume"], dict(os.environ))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    resumed = Manifest.load("s3://out/killed")
    assert [s.sha256 for s in resumed.shards] == [s.sha256 for s in reference.shards]
    assert resumed.removed == reference.removed and resumed.removed["exact_duplicate"] == 15
    assert not [k for k in s3.keys("out", "killed/") if "/.staging/" in k]


def _one_line_error(args, env, timeout=90):
    started = time.time()
    run = subprocess.run([sys.executable, "-m", "assay.cli", *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    seconds = time.time() - started
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0], seconds, run


def test_storage_failures_are_one_line_and_never_show_the_secret(s3, tmp_path):
    quickstart = str(ROOT / "pipelines" / "quickstart.yaml")
    env = dict(os.environ)
    line, _, run = _one_line_error(["run", quickstart, "-o", "s3://no-such-bucket/run"], env)
    assert line == "error: s3://no-such-bucket/run: the bucket does not exist"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text('name: p\ninputs:\n  - {path: "s3://no-such-bucket/x/*.jsonl", format: text, source: x}\n'
                        f'output: {{dir: "{tmp_path / "o"}"}}\n')
    line, _, _ = _one_line_error(["run", str(pipeline)], env)
    assert line == "error: s3://no-such-bucket/x/*.jsonl: the bucket does not exist"
    line, _, run = _one_line_error(["run", quickstart, "-o", "s3://out/denied"],
                                   dict(env, AWS_SECRET_ACCESS_KEY="not-the-secret"))
    assert line.startswith("error: s3://out/denied: access denied") and "AWS_ACCESS_KEY_ID" in line
    assert s3.secret not in run.stdout + run.stderr

    stopped = S3Server().start()
    stopped.stop()  # an endpoint that no longer answers: bounded retries, then one line
    line, seconds, _ = _one_line_error(["run", quickstart, "-o", "s3://out/gone"], dict(env, AWS_ENDPOINT_URL=stopped.url))
    assert line.startswith("error: s3://out/gone: cannot reach the endpoint") and seconds < 60
    assert stopped.url in line


def test_the_storage_section_reaches_a_store_without_the_environment(s3, tmp_path):
    """endpoint_url and region from the YAML, no AWS_ENDPOINT_URL (an S3-compatible store)."""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""name: yaml-storage
inputs:
  - {{path: "s3://corpus/samples/web/reuters_sample.jsonl.gz", format: text, text_field: [title, body],
     id_field: newid, source: reuters}}
steps:
  - text_stats: {{}}
storage: {{endpoint_url: "{s3.url}", region: us-east-1}}
output: {{dir: "s3://out/yaml"}}
""")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    run = subprocess.run([sys.executable, "-m", "assay.cli", "run", str(pipeline), "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    manifest = Manifest.load("s3://out/yaml")
    assert manifest.rows_out == 400
    assert manifest.config["storage"]["endpoint_url"] == s3.url
    assert s3.secret not in s3.read("out", "yaml/manifest.json").decode()


def test_a_large_json_lines_file_in_a_bucket_is_read_by_byte_ranges(s3, tmp_path):
    from test_ranges import _pipeline as split_pipeline

    local = assay.run_pipeline(split_pipeline(tmp_path, 500), output_dir=tmp_path / "local")
    for name in ("a.jsonl", "b.jsonl"):
        s3.client().upload_file(str(tmp_path / "in" / name), "corpus", f"split/{name}")
    config = load_pipeline(split_pipeline(tmp_path, 500))
    config.inputs[0].path = "s3://corpus/split/*.jsonl"
    from assay.pipeline.runner import _work_units

    assert len(_work_units(config)) > 20  # ranges of the files in the bucket, read by seeking
    remote = assay.run_pipeline(config, output_dir=tmp_path / "remote")
    assert _untimed(remote) == _untimed(local) and remote.quarantined == 6
