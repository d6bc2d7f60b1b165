"""Pipelines fed from Python (``run_pipeline(config, inputs={source: data})``): the same
shards, byte for byte, and the same accounting as reading the files themselves."""
import hashlib

import orjson
import polars as pl
import pyarrow as pa
import pytest

import assay
from assay.pipeline import PipelineError, load_pipeline
from assay.pipeline.python_inputs import attach_python_inputs

from conftest import SAMPLES

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()

QUICKSTART = SAMPLES.parent / "pipelines" / "quickstart.yaml"
SEED = SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl"
REUTERS = SAMPLES / "web" / "reuters_sample.jsonl.gz"


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    return [_untimed(v) for v in value] if isinstance(value, list) else value


def _files(out):
    """Every file a run writes (shards, rejects, quarantine) by path, as a digest; stats.json
    without its timings."""
    files = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file() and p.suffix != ".json" and p.name != "report.html"}
    return files | {"stats.json": _untimed(orjson.loads((out / "stats.json").read_bytes()))}


def _counts(manifest):
    data = manifest.model_dump(mode="json")
    for step in data["steps"]:
        step.pop("seconds")
    return {k: data[k] for k in ("rows_in", "rows_out", "removed", "quarantined", "upsampled", "sources", "steps")}


@pytest.fixture(scope="module")
def from_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("files")
    return out, assay.run_pipeline(QUICKSTART, output_dir=out)


def _load(path, streaming=False):
    return datasets.load_dataset("json", data_files=str(path), split="train", streaming=streaming)


HANDOVERS = {
    "Dataset": lambda: {"alpaca-seed": _load(SEED), "reuters": _load(REUTERS)},
    "IterableDataset": lambda: {"alpaca-seed": _load(SEED, streaming=True), "reuters": _load(REUTERS, streaming=True)},
    "Dataset with a filter": lambda: {"alpaca-seed": _load(SEED).filter(lambda r: True),
                                      "reuters": _load(REUTERS).shuffle(seed=1).sort("newid")},
    "polars and pyarrow": lambda: {"alpaca-seed": pl.read_ndjson(SEED),
                                   "reuters": pa.Table.from_pylist([orjson.loads(line) for line in
                                                                    __import__("gzip").open(REUTERS)])},
}


@pytest.mark.parametrize("kind", list(HANDOVERS))
def test_data_from_python_gives_the_shards_the_files_give(from_files, tmp_path, kind):
    files_out, files_manifest = from_files
    manifest = assay.run_pipeline(QUICKSTART, output_dir=tmp_path, inputs=HANDOVERS[kind]())
    assert manifest.balances()
    assert _counts(manifest) == _counts(files_manifest)
    assert _files(tmp_path) == _files(files_out)
    paths = [inp["path"] for inp in manifest.config["inputs"]]
    assert paths[:4] == [inp["path"] for inp in files_manifest.config["inputs"]][:4]
    assert all(p.startswith("python:") for p in paths[4:])


def test_bad_rows_from_python_are_quarantined_with_where_they_were(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: py\ninputs:\n  - {format: text, source: notes}\nsteps:\n  - text_stats: {}\n"
                        f"output: {{dir: {tmp_path / 'out'}}}\n")
    rows = datasets.Dataset.from_dict({"id": ["a", "b", "a", "c"], "text": ["one", None, "three", "four"]})
    manifest = assay.run_pipeline(pipeline, inputs={"notes": rows})
    assert (manifest.rows_in, manifest.rows_out, manifest.quarantined) == (4, 2, 2)
    assert manifest.balances()
    entries = [orjson.loads(line) for line in (tmp_path / "out" / "quarantine" / "quarantine.jsonl").open("rb")]
    assert [(e["file"], e["record"]) for e in entries] == [("<python:Dataset>", 1), ("<python:Dataset>", 2)]
    assert "missing field 'text'" in entries[0]["error"] and "duplicate id 'a'" in entries[1]["error"]


def test_an_input_without_a_path_needs_its_data(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: py\ninputs:\n  - {format: text, source: notes}\nsteps: []\n"
                        f"output: {{dir: {tmp_path / 'out'}}}\n")
    with pytest.raises(PipelineError, match=r"inputs\[0\] \(source notes\) has no path.*inputs=\{'notes': data\}"):
        assay.run_pipeline(pipeline)
    with pytest.raises(PipelineError, match="no input with source 'other'.*its sources: \\['notes'\\]"):
        assay.run_pipeline(pipeline, inputs={"other": pa.table({"text": ["x"]})})
    with pytest.raises(PipelineError, match="expected a datasets.Dataset.*got dict"):
        assay.run_pipeline(pipeline, inputs={"notes": {"text": ["x"]}})
    with pytest.raises(PipelineError, match="run on the local engine"):
        assay.run_pipeline(pipeline, inputs={"notes": pa.table({"text": ["x"]})}, engine="ray")


def test_the_fingerprint_names_the_data_so_resume_refuses_other_data(tmp_path):
    config = load_pipeline(QUICKSTART)
    seed = _load(SEED)
    same = attach_python_inputs(config, {"alpaca-seed": seed})[0].fingerprint()
    assert same == attach_python_inputs(config, {"alpaca-seed": _load(SEED)})[0].fingerprint()
    assert same != attach_python_inputs(config, {"alpaca-seed": seed.select(range(10))})[0].fingerprint()
    assert same != config.fingerprint()
    table = pa.table({"text": ["a", "b"]})
    assert (attach_python_inputs(config, {"reuters": table})[0].fingerprint()
            != attach_python_inputs(config, {"reuters": table.slice(1)})[0].fingerprint())


def test_a_stream_cannot_resume(tmp_path):
    config = load_pipeline(QUICKSTART)
    inputs = {"reuters": _load(REUTERS, streaming=True)}
    interrupted = attach_python_inputs(config, inputs)[0]
    from assay.pipeline.runner import _Staging

    _Staging(tmp_path).start(interrupted.fingerprint())  # as a killed run leaves it
    with pytest.raises(PipelineError, match="a stream input .* cannot be checked"):
        assay.run_pipeline(config, output_dir=tmp_path, inputs=inputs, resume=True)
