"""The Ray Data executor gives the local engine's output, byte for byte, on a two-node cluster."""
import gzip
import hashlib
import json
import random
from pathlib import Path

import polars as pl
import pytest

ray = pytest.importorskip("ray")

from assay.pipeline import run_pipeline  # noqa: E402
from assay.pipeline.ray_engine import plan_segments  # noqa: E402
from assay.steps import STEPS  # noqa: E402

from conftest import ROOT, SAMPLES  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster(s3_server):
    """A head and one more node, one CPU each, on this machine; shut down after the module.
    (Started after the S3 server, so that its nodes have its credentials.)"""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _files(root: Path) -> dict[str, str]:
    """sha256 of every file of an output, the report and the run's timings aside."""
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file() and f.name not in ("report.html", "manifest.json", "stats.json")}


def _same_outputs(local, on_ray, local_dir: Path, ray_dir: Path) -> None:
    assert _files(local_dir) == _files(ray_dir)
    assert local.model_dump(exclude={"created", "seconds", "steps"}) == on_ray.model_dump(exclude={"created", "seconds", "steps"})
    assert [s.model_dump(exclude={"seconds"}) for s in local.steps] == [s.model_dump(exclude={"seconds"}) for s in on_ray.steps]
    stats = [json.loads((d / "stats.json").read_text()) for d in (local_dir, ray_dir)]
    for s in stats:
        for step in s["steps"]:
            step.pop("seconds")
    assert stats[0] == stats[1]


def test_segments_cut_at_global_steps():
    steps = [STEPS["normalize"](), STEPS["exact_dedup"](), STEPS["near_dedup"](), STEPS["text_stats"]()]
    assert [(s.opens, s.maps, s.closes) for s in plan_segments(steps)] == [(None, (0,), 1), (1, (), 2), (2, (3,), None)]
    assert [(s.opens, s.maps, s.closes) for s in plan_segments([STEPS["text_stats"]()])] == [(None, (0,), None)]


def test_label_propagation_in_memory_finds_scipys_components():
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from assay.pipeline.ray_engine import propagate_labels

    rng = np.random.default_rng(3)
    rows = rng.choice(1 << 45, 3_000, replace=False)  # row keys, sparse as the engine's are
    edges_rows = np.concatenate([rng.integers(0, 3_000, 4_000), np.arange(0, 400)])  # random links, and a chain
    edges_buckets = np.concatenate([rng.integers(0, 2_500, 4_000), np.arange(0, 400) // 2 + 10_000])
    edges_rows = np.concatenate([edges_rows, np.arange(1, 400)])
    edges_buckets = np.concatenate([edges_buckets, np.arange(1, 400) // 2 + 10_000 + 1000 * (np.arange(1, 400) % 2)])
    labels, rounds = propagate_labels(rows[edges_rows], edges_buckets)
    nodes = 3_000 + 12_000
    graph = coo_matrix((np.ones(len(edges_rows)), (edges_rows, 3_000 + edges_buckets)), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    least = {}
    for row, comp in zip(edges_rows, component[edges_rows]):
        least[comp] = min(least.get(comp, 1 << 62), rows[row])
    assert labels.tolist() == [least[c] for c in component[edges_rows]]
    assert rounds > 2


@pytest.mark.parametrize("recipe", sorted((ROOT / "pipelines").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_gives_the_local_output_on_ray(recipe, cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    local = run_pipeline(recipe, output_dir=tmp_path / "local")
    on_ray = run_pipeline(recipe, output_dir=tmp_path / "ray", engine="ray")
    assert local.rows_out > 0
    _same_outputs(local, on_ray, tmp_path / "local", tmp_path / "ray")


def _planted(tmp_path: Path) -> Path:
    """Reuters articles in three files of two sources, with exact and near copies planted
    across files and sources (and a repeated id within a source)."""
    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        articles = [json.loads(line) for line in f]
    articles = [a for a in articles if len((a.get("body") or "").split()) > 150][:120]
    rng = random.Random(7)

    def near(article: dict, tag: str) -> dict:
        words = article["body"].split()
        for i in rng.sample(range(len(words)), 2):
            words[i] = rng.choice(["plainly", "reportedly", "notably"])
        return {**article, "newid": f"{article['newid']}-{tag}", "body": " ".join(words)}

    folder = tmp_path / "in"
    folder.mkdir()
    a1 = articles[:60]
    a2 = articles[60:100] + [{**a, "newid": f"{a['newid']}-x"} for a in articles[:10]] + [near(a, "n") for a in articles[10:20]]
    a2.append(articles[70])  # the same id again in source news: quarantined, as locally
    b1 = articles[100:] + [near(a, "m") for a in articles[5:15]] + [{**a, "newid": f"{a['newid']}-y"} for a in articles[60:70]]
    rng.shuffle(b1)
    for name, rows in (("news/a1.jsonl", a1), ("news/a2.jsonl", a2), ("wire/b1.jsonl", b1)):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    pipeline = tmp_path / "planted.yaml"
    pipeline.write_text(f"""
name: planted
inputs:
  - {{path: "{folder}/news/*.jsonl", format: text, text_field: [title, body], id_field: newid, source: news}}
  - {{path: "{folder}/wire/*.jsonl", format: text, text_field: [title, body], id_field: newid, source: wire}}
steps:
  - normalize: {{}}
  - exact_dedup: {{}}
  - near_dedup: {{threshold: 0.8}}
  - text_stats: {{}}
output: {{dir: "{tmp_path}/out", shard_rows: 50, row_group_rows: 20}}
""")
    return pipeline


def test_planted_copies_across_files_and_sources_give_the_same_survivors(cluster, tmp_path, monkeypatch):
    from assay.pipeline import ray_engine

    pipeline = _planted(tmp_path)
    local = run_pipeline(pipeline, output_dir=tmp_path / "local")
    assert local.removed["exact_duplicate"] >= 20 and local.removed["near_duplicate"] >= 10 and local.quarantined == 1
    # three partitionings of every shuffle: 2 and 6 partitions (label propagation on the
    # driver), then as many as the rows ask for at 16 rows a partition (dozens: most
    # components split across partitions; label propagation as Ray Data groupbys)
    for workers, partition_rows in ((1, None), (3, None), (1, 16)):
        if partition_rows:
            monkeypatch.setattr(ray_engine, "PARTITION_ROWS", partition_rows)
            monkeypatch.setattr(ray_engine, "KEY_PARTITION_ROWS", partition_rows)
            monkeypatch.setattr(ray_engine, "DRIVER_EDGES", 0)  # the rounds as Ray Data groupbys
        out = tmp_path / f"ray-{workers}-{partition_rows}"
        on_ray = run_pipeline(pipeline, output_dir=out, engine="ray", workers=workers)
        _same_outputs(local, on_ray, tmp_path / "local", out)
    rejects = pl.read_parquet(tmp_path / "ray-3-None" / "rejects")
    kept = pl.read_parquet(tmp_path / "ray-3-None" / "data")
    # a duplicate names its survivor by its row key: near_dedup's survivors reached the shards;
    # an exact_dedup survivor may have been removed later, as a near duplicate
    assert rejects.filter(pl.col("reason") == "near_duplicate")["cluster_id"].is_in(kept["row_key"]).all()
    survivors = rejects.filter(pl.col("reason") == "exact_duplicate")["cluster_id"]
    assert survivors.is_in(pl.concat([kept["row_key"], rejects["row_key"]])).all()


def test_large_files_read_as_byte_ranges_give_the_local_output(cluster, tmp_path):
    from test_ranges import _pipeline

    from assay.pipeline.config import load_pipeline
    from assay.pipeline.runner import _work_units

    pipeline = _pipeline(tmp_path, 500)
    assert len(_work_units(load_pipeline(pipeline))) > 20  # two files, cut into ranges
    local = run_pipeline(pipeline, output_dir=tmp_path / "local")
    on_ray = run_pipeline(pipeline, output_dir=tmp_path / "ray", engine="ray")
    assert local.quarantined == 6
    _same_outputs(local, on_ray, tmp_path / "local", tmp_path / "ray")


def test_cli_runs_on_ray(cluster, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from assay.cli import main

    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["run", "pipelines/quickstart.yaml", "-o", str(tmp_path / "o"), "--engine", "ray",
                                       "--address", cluster.address, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "manifest.json").exists()


def test_a_killed_driver_resumes_to_the_same_output(cluster, tmp_path):
    import subprocess
    import sys
    import time

    pipeline = _planted(tmp_path)
    local = run_pipeline(pipeline, output_dir=tmp_path / "local")
    out = tmp_path / "resumed"
    code = ("import sys; from assay.pipeline import run_pipeline; "
            "run_pipeline(sys.argv[1], output_dir=sys.argv[2], engine='ray', address=sys.argv[3])")
    driver = subprocess.Popen([sys.executable, "-c", code, str(pipeline), str(out), cluster.address], cwd=ROOT)
    marker = out / ".staging" / "ray" / "segment-01.json"
    deadline = time.monotonic() + 300
    while not marker.exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.kill()
    driver.wait()
    assert marker.exists() and not (out / "manifest.json").exists()  # killed between two stages
    resumed = run_pipeline(pipeline, output_dir=out, engine="ray", resume=True)
    _same_outputs(local, resumed, tmp_path / "local", out)


def test_a_node_lost_mid_run_gives_the_same_output(cluster, tmp_path):
    import threading
    import time

    pipeline = _planted(tmp_path)
    local = run_pipeline(pipeline, output_dir=tmp_path / "local")
    out = tmp_path / "ray"
    done: dict = {}
    runner = threading.Thread(target=lambda: done.setdefault("m", run_pipeline(pipeline, output_dir=out, engine="ray")))
    runner.start()
    started = out / ".staging" / "ray" / "ids.json"
    deadline = time.monotonic() + 300
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = next(node for node in cluster.list_all_nodes() if node is not cluster.head_node)
    cluster.remove_node(worker)  # the segments' tasks on it are lost mid-run
    cluster.add_node(num_cpus=1)
    runner.join(timeout=600)
    assert "m" in done
    _same_outputs(local, done["m"], tmp_path / "local", out)


def test_a_run_on_ray_reads_and_writes_a_bucket(cluster, s3_server, tmp_path, monkeypatch):
    """Inputs and output (with its staging) in a bucket: the workers read and write through
    the storage layer, and the shards are the local engine's."""
    from assay.pipeline import load_pipeline

    monkeypatch.chdir(ROOT)
    client = s3_server.client()
    client.create_bucket(Bucket="ray-corpus")
    s3_server.upload("ray-corpus", SAMPLES, "samples/")
    config = load_pipeline(ROOT / "pipelines" / "quickstart.yaml")
    local = run_pipeline(config, output_dir=tmp_path / "local")
    for inp in config.inputs:
        inp.path = f"s3://ray-corpus/{inp.path}"
    on_ray = run_pipeline(config, output_dir="s3://ray-corpus/out", engine="ray")
    assert [s.sha256 for s in on_ray.shards] == [s.sha256 for s in local.shards]
    assert [s.sha256 for s in on_ray.rejects] == [s.sha256 for s in local.rejects]
    assert on_ray.removed == local.removed and on_ray.quarantined == local.quarantined
    assert not [k for k in s3_server.keys("ray-corpus", "out/") if "/.staging/" in k]


def test_a_local_path_is_refused_on_a_cluster_across_machines(cluster, tmp_path, monkeypatch):
    from assay.pipeline import PipelineError, load_pipeline
    from assay.pipeline.ray_engine import check_reachable

    config = load_pipeline(ROOT / "pipelines" / "quickstart.yaml")
    check_reachable(config, tmp_path / ".staging")  # both nodes are on this machine: fine
    nodes = ray.nodes() + [{"Alive": True, "NodeManagerAddress": "192.0.2.7"}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    with pytest.raises(PipelineError, match=r"is a local path, but the Ray cluster has nodes on other machines "
                                            r"\(192.0.2.7\).*shared_local: true"):
        check_reachable(config, tmp_path / ".staging")
    config.storage.shared_local = True
    check_reachable(config, tmp_path / ".staging")
