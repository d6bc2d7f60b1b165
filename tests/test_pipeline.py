"""The pipeline runner, its configuration and the CLI, on the shipped samples."""
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import assay
from assay.cli import main
from assay.pipeline import PipelineError, load_pipeline, run_pipeline
from assay.pipeline.output import sha256_of
from assay.steps import REASON, STEPS, Step, StepParams, mark_removed, registered

from conftest import ROOT, SAMPLES

QUICKSTART = ROOT / "pipelines" / "quickstart.yaml"


def _balanced(m):
    return m.balances() and m.rows_in + m.upsampled == m.rows_out + sum(m.removed.values()) + m.quarantined


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "out"
    return run_pipeline(QUICKSTART, output_dir=out), out


def test_quickstart_writes_shards_manifest_and_stats(quickstart):
    manifest, out = quickstart
    assert manifest.rows_in == 1000 + 175 + 100 + 300 + 175 + 400 and manifest.quarantined == 0
    assert 0 < manifest.removed_total and manifest.upsampled > 0 and _balanced(manifest)
    assert set(manifest.sources) == {"belle-eval", "belle-seed", "gaokao", "flan-cot", "alpaca-seed", "reuters"}
    assert assay.Manifest.load(out) == manifest
    assert json.loads((out / "manifest.json").read_text())["rows_out"] == manifest.rows_out
    for shard in manifest.shards:
        path = out / shard.path
        assert sha256_of(path) == shard.sha256
        assert pq.ParquetFile(path).metadata.num_rows == shard.rows
    table = pl.read_parquet(out / "data")
    assert table.height == manifest.rows_out
    assert {"id", "source", "domain", "kind", "text", "meta", "chars", "words", "cjk_ratio"} <= set(table.columns)
    assert table.filter(pl.col("source") == "belle-eval")["domain"].unique().to_list() == ["github.com/LianjiaTech/BELLE"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"] == manifest.rows_out
    assert stats["columns"]["chars"]["max"] == table["chars"].max()
    assert stats["by_source"]["belle-eval"]["cjk_ratio_mean"] > 0.5 > stats["by_source"]["flan-cot"]["cjk_ratio_mean"]
    assert len(manifest.config_hash) == 64 and manifest.versions["assay"] == assay.__version__


def test_row_keys_name_rows_by_file_and_record_and_clusters_by_their_survivor(quickstart):
    manifest, out = quickstart
    shards = pl.read_parquet(out / "data")
    assert shards.filter(pl.col("copy") == 0)["row_key"].is_duplicated().sum() == 0
    files = (shards["row_key"] // (1 << 40)).unique().sort().to_list()
    assert files == list(range(len(files))) and len(files) >= 6  # every input file of quickstart, numbered in order
    # the first input's file is file 0
    assert shards.filter(pl.col("source") == "belle-eval")["row_key"].min() < 1 << 40
    for step in ("exact_dedup", "near_dedup"):
        index = next(i for i, s in enumerate(manifest.steps) if s.step == step)
        rejects = pl.concat([pl.read_parquet(p) for p in sorted((out / "rejects").glob(f"{index:02d}-{step}-*.parquet"))])
        assert rejects.height > 0
        # a duplicate names its survivor by the survivor's row key: an earlier row of the run
        assert (rejects["cluster_id"] < rejects["row_key"]).all()
    exact = next(i for i, s in enumerate(manifest.steps) if s.step == "exact_dedup")
    rejects = pl.concat([pl.read_parquet(p) for p in sorted((out / "rejects").glob(f"{exact:02d}-exact_dedup-*.parquet"))])
    survivors = rejects.join(shards.select(pl.col("row_key").alias("cluster_id"), pl.col("text").alias("kept")),
                             on="cluster_id", how="inner")
    assert survivors.height > 0  # survivors that reached the shards are found by that key


def test_shards_load_with_hugging_face_datasets_and_polars(quickstart, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    manifest, out = quickstart
    files = [str(out / s.path) for s in manifest.shards]
    dataset = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    frame = pl.read_parquet(files)
    assert dataset.num_rows == frame.height == manifest.rows_out
    assert dataset.column_names == frame.columns
    first = dataset[0]
    assert first["id"] == frame["id"][0] and first["text"] == frame["text"][0]
    assert dataset.features["messages"] == datasets.List({"role": datasets.Value("string"),
                                                          "content": datasets.Value("string")})


def test_same_input_gives_byte_identical_shards(quickstart, tmp_path):
    manifest, _ = quickstart
    again = run_pipeline(QUICKSTART, output_dir=tmp_path / "again")
    assert [s.sha256 for s in again.shards] == [s.sha256 for s in manifest.shards]


def test_shards_roll_over_at_shard_rows(tmp_path):
    config = load_pipeline(QUICKSTART)
    config.output.shard_rows = 400
    config.output.row_group_rows = 100
    m = run_pipeline(config, output_dir=tmp_path / "o")
    full, rest = divmod(m.rows_out, 400)
    assert [s.rows for s in m.shards] == [400] * full + ([rest] if rest else []) and full >= 2
    assert pq.ParquetFile(tmp_path / "o" / m.shards[0].path).metadata.num_row_groups == 4


def test_quarantine_accounting_with_broken_lines(tmp_path):
    lines = (SAMPLES / "belle" / "eval_set.json").read_bytes().splitlines()[:20]
    lines[3] = lines[3][:30]  # cut a JSON line
    lines[7] = b'{"question": "\xff", "std_answer": "x"}'  # invalid UTF-8
    lines[11] = b'{"question": "no answer"}'  # missing field
    (tmp_path / "broken.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    pipeline = _write(tmp_path, f"""
name: broken
inputs:
  - {{path: "{tmp_path}/broken.jsonl", format: belle, source: belle}}
steps: [text_stats: {{}}]
output: {{dir: "{tmp_path}/out"}}
""")
    m = run_pipeline(pipeline)
    assert (m.rows_in, m.rows_out, m.quarantined) == (20, 17, 3) and _balanced(m)
    assert m.sources["belle"].quarantined == 3
    bad = [json.loads(l) for l in (tmp_path / "out" / "quarantine" / "quarantine.jsonl").read_text().splitlines()]
    assert [b["line"] for b in bad] == [4, 8, 12]
    assert all(b["file"].endswith("broken.jsonl") and b["error"] for b in bad)


@pytest.mark.parametrize("unique_ids", [True, False])
def test_duplicate_ids_across_files_of_a_source(tmp_path, unique_ids):
    seeds = (SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl").read_text().splitlines()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.jsonl").write_text("\n".join(seeds[:10]) + "\n")
    (tmp_path / "in" / "2.jsonl").write_text("\n".join(seeds[8:12]) + "\n")  # repeats seed_task_8 and _9
    pipeline = _write(tmp_path, f"""
name: dup-ids
inputs:
  - {{path: "{tmp_path}/in/*.jsonl", format: seed_tasks, source: alpaca-seed, unique_ids: {str(unique_ids).lower()}}}
  - {{path: "{SAMPLES}/belle/zh_seed_tasks.json", format: seed_tasks, source: belle-seed}}
output: {{dir: "{tmp_path}/out"}}
""")
    m = run_pipeline(pipeline)
    assert _balanced(m) and m.sources["belle-seed"].quarantined == 0  # same ids as alpaca-seed: fine
    assert m.sources["alpaca-seed"].quarantined == (2 if unique_ids else 0)
    if unique_ids:
        bad = [json.loads(l) for l in (tmp_path / "out" / "quarantine" / "quarantine.jsonl").read_text().splitlines()]
        assert [(b["file"].rsplit("/", 1)[1], b["line"]) for b in bad] == [("2.jsonl", 1), ("2.jsonl", 2)]
        assert bad[0]["error"].startswith("duplicate id 'seed_task_8:0'")
    ids = pl.read_parquet(tmp_path / "out" / "data").select("source", "id")
    assert ids.is_duplicated().any() == (not unique_ids)


def test_the_documented_example_pipeline_runs(tmp_path, monkeypatch):
    """The YAML shape of the pipelines issue, on the shipped samples."""
    monkeypatch.chdir(ROOT)
    pipeline = _write(tmp_path, f"""
name: instruct-zh
inputs:
  - {{path: "samples/belle/eval_set.json", format: belle, source: belle-eval, domain: github.com/LianjiaTech/BELLE}}
  - {{path: "samples/flan_cot/*.json", format: alpaca, source: flan-cot, domain: github.com/google-research/FLAN}}
steps:
  - normalize: {{nfkc: true, t2s: false}}
  - langid: {{keep: [zh, en], min_score: 0.5}}
  - filter: {{filters: [instruction], language: auto}}
  - exact_dedup: {{key: prompt}}
  - near_dedup: {{threshold: 0.8}}
  - select: {{where: "chars > 10"}}
assemble:
  mix: {{belle-eval: 1.0, flan-cot: 0.5}}
  prefix: "{{domain}}\\n"
  shuffle_seed: 0
output: {{dir: "{tmp_path}/out", shard_rows: 100000, compression: zstd, rejects: true}}
""")
    m = run_pipeline(pipeline)
    assert _balanced(m) and m.rows_out > 100
    assert [s.step for s in m.steps] == ["normalize", "langid", "filter", "exact_dedup", "near_dedup", "select"]
    frame = pl.read_parquet(tmp_path / "out" / "data")
    assert "chars" not in frame.columns and (frame["text"].str.len_chars() > 10).all()
    assert frame.filter(pl.col("source") == "flan-cot")["text"].str.starts_with("github.com/google-research/FLAN\n").all()
    assert 0.1 < m.sources["flan-cot"].rows_out / max(m.sources["belle-eval"].rows_out, 1) < 0.5
    assert m.assemble.removed["mix_downsample"] > 0 and m.removed["mix_downsample"] == m.assemble.removed["mix_downsample"]


class _DropShort(Step):
    """A test-only filtering step: removes texts shorter than min_chars."""

    name = "_test_drop_short"

    class Params(StepParams):
        min_chars: int = 100

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow.compute as pc

        return mark_removed(batch, pc.less(pc.utf8_length(batch.column("text")), self.params.min_chars), "too_short")


@pytest.fixture()
def drop_short():
    with registered(_DropShort):
        yield


def test_removed_rows_go_to_rejects_with_reason(tmp_path, drop_short):
    pipeline = _write(tmp_path, f"""
name: filtered
inputs:
  - {{path: "{SAMPLES}/flan_cot/*.json", format: alpaca, source: flan}}
steps:
  - _test_drop_short: {{min_chars: 200}}
  - text_stats: {{}}
output: {{dir: "{tmp_path}/out", rejects: true}}
""")
    m = run_pipeline(pipeline)
    n_short = m.removed["too_short"]
    assert 0 < n_short < 300 and m.rows_out == 300 - n_short and _balanced(m)
    rejects = pl.read_parquet(tmp_path / "out" / "rejects")
    assert rejects.height == n_short and set(rejects["reason"].unique()) == {"too_short"}
    assert (rejects["text"].str.len_chars() < 200).all()
    assert "reason" not in pl.read_parquet(tmp_path / "out" / "data").columns
    assert m.steps[0].model_dump() == {"step": "_test_drop_short", "rows_in": 300, "rows_out": 300 - n_short,
                                       "removed": {"too_short": n_short}, "seconds": m.steps[0].seconds,
                                       "columns": []}


@pytest.mark.parametrize("body, message", [
    ("name: x\ninputs:\n  - {path: a.jsonl, fromat: belle, source: s}\noutput: {dir: o}\n",
     "line 3: inputs[0].fromat: unknown key"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: bellle, source: s}\noutput: {dir: o}\n", "inputs[0].format"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: ../evil}\noutput: {dir: o}\n", "no '/' or '..'"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\nsteps: [nope: {}]\noutput: {dir: o}\n",
     "unknown step 'nope'"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\nsteps: [text_stats: {colum: t}]\noutput: {dir: o}\n",
     "line 4: steps[0].text_stats.colum: unknown key"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\nsteps:\n  - text_stats: {}\n"
     "  - near_dedup: {threshold: 1.5}\noutput: {dir: o}\n",
     "line 6: steps[1].near_dedup.threshold: Input should be less than or equal to 1"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\nsteps:\n  - langid:\n      min_score: -2\n"
     "output: {dir: o}\n", "line 6: steps[0].langid.min_score: Input should be greater than or equal to 0"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\nsteps:\n  - filter: {filters: [gopher]}\n"
     "output: {dir: o}\n", "line 5: steps[0].filter.filters: Value error, unknown filter 'gopher'"),
    ("name: x\ninputs:\n  - {path: a.jsonl, format: belle, source: s}\noutput: {dir: o, shard_rows: 0}\n",
     "output.shard_rows"),
    ("name: x\ninputs: [\n", "invalid YAML"),
    ("name: x\ninputs:\n  - !!python/object/apply:os.system [echo hacked]\noutput: {dir: o}\n", "invalid YAML"),
])
def test_bad_pipelines_name_the_key(tmp_path, body, message):
    with pytest.raises(PipelineError, match=message.replace(".", r"\.").replace("[", r"\[")):
        load_pipeline(_write(tmp_path, body))


def test_a_step_that_cannot_be_built_names_its_key_and_line(tmp_path):
    path = _write(tmp_path, f"""name: x
inputs:
  - {{path: "{SAMPLES}/flan_cot/*.json", format: alpaca, source: s}}
steps:
  - text_stats: {{}}
  - classify: {{model: "{tmp_path}/missing.bin"}}
output: {{dir: "{tmp_path}/o"}}
""")
    with pytest.raises(PipelineError, match=r"p\.yaml: line 6: steps\[1\]\.classify: .*missing\.bin"):
        run_pipeline(path)


def test_refuses_to_overwrite_a_folder_that_is_not_an_output(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    config = load_pipeline(QUICKSTART)
    with pytest.raises(PipelineError, match="not an assay output"):
        run_pipeline(config, output_dir=tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


def test_cli_run_and_inspect(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(QUICKSTART), "-o", str(tmp_path / "cli"), "--no-progress"])
    assert result.exit_code == 0, result.output
    m = assay.Manifest.load(tmp_path / "cli")
    assert "manifest:" in result.output and "report:" in result.output and "2,150" in result.output
    assert "funnel" in result.output and "exact_duplicate" in result.output and "5. exact_dedup" in result.output
    result = runner.invoke(main, ["inspect", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert f"rows: in 2,150, out {m.rows_out:,}, removed {m.removed_total:,}" in result.output
    assert "accounting: balances" in result.output and "cjk_ratio: double" in result.output
    result = runner.invoke(main, ["inspect", str(SAMPLES / "flan_cot" / "*.json")])
    assert result.exit_code == 0, result.output
    assert "3 file(s), format alpaca: 300 rows, 0 malformed" in result.output
    result = runner.invoke(main, ["inspect", str(tmp_path / "cli" / "data" / "part-00000.parquet")])
    assert result.exit_code == 0 and f"format assay: {m.rows_out:,} rows" in result.output


def test_cli_help_version_and_errors(tmp_path):
    runner = CliRunner()
    for args in (["--help"], ["run", "--help"], ["inspect", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output
    assert assay.__version__ in runner.invoke(main, ["--version"]).output
    bad = _write(tmp_path, "name: x\n")
    result = runner.invoke(main, ["run", str(bad)])
    assert result.exit_code == 2 and "inputs: Field required" in result.output


def test_cli_threads_option_in_a_fresh_process(tmp_path):
    code = ("import sys; from assay.cli import main; sys.argv=['assay','run',sys.argv[1],'-o',sys.argv[2],"
            "'--threads','1','--no-progress']; main()")
    proc = subprocess.run([sys.executable, "-c", code, str(QUICKSTART), str(tmp_path / "t1")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "t1" / "manifest.json").read_text())["threads"] == 1


def test_import_and_print_as_in_the_readme():
    proc = subprocess.run([sys.executable, "-c", "import assay; print(assay.text_stats(['你好 world']))"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "words: [[3]]" in proc.stdout


@pytest.mark.parametrize("recipe", sorted((ROOT / "pipelines").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_runs_on_the_samples(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    m = run_pipeline(recipe, output_dir=tmp_path / recipe.stem)
    assert m.rows_out > 0 and m.quarantined == 0
    assert m.rows_in + m.upsampled == m.rows_out + sum(m.removed.values()) + m.quarantined


def test_every_step_adds_exactly_the_columns_it_declares(tmp_path):
    batch = assay.read(SAMPLES / "belle" / "eval_set.json", format="belle", source="b").read_all().slice(0, 200)
    batch = batch.combine_chunks().to_batches()[0]
    params = {"classify": {"model": str(assay.LID176_PATH), "label_column": "lid", "score_column": "lid_score"},
              "filter": {"filters": ["instruction"]}, "select": {"where": "chars > 10"},
              "decontaminate": {"eval": ["belle-eval"], "action": "redact"}, "score": {"indicators": ["mtld"]}}
    assert set(STEPS) == {"text_stats", "normalize", "langid", "classify", "exact_dedup", "near_dedup", "filter",
                          "select", "pii", "decontaminate", "score"}
    for name, cls in STEPS.items():
        step = cls(**params.get(name, {}))
        out = step(batch)
        added = [c for c in out.schema.names if c not in batch.schema.names and c != REASON]
        assert added == list(step.adds()), name
        assert out.num_rows == batch.num_rows, name
