"""Assembly: mixture weights, token budgets, domain prefixes and the seeded shuffle."""
from collections import Counter

import polars as pl
import pytest

from assay.pipeline import PipelineError, load_pipeline, run_pipeline

from conftest import SAMPLES


def _pipeline(tmp_path, assemble: str, name="asm", out="out") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
name: {name}
inputs:
  - {{path: "{SAMPLES}/belle/eval_set.json", format: belle, source: belle-eval, domain: github.com/LianjiaTech/BELLE}}
  - {{path: "{SAMPLES}/flan_cot/*.json", format: alpaca, source: flan-cot}}
assemble: {assemble}
output: {{dir: "{tmp_path}/{out}", shard_rows: 250, row_group_rows: 50}}
""")
    return str(path)


def _balanced(m):
    return m.balances() and m.rows_in + m.upsampled == m.rows_out + sum(m.removed.values()) + m.quarantined


def test_mix_weights_down_and_upsample_deterministically(tmp_path):
    m = run_pipeline(_pipeline(tmp_path, "{mix: {belle-eval: 0.5, flan-cot: 2.0}, shuffle_seed: 3}"))
    assert _balanced(m)
    assert m.upsampled == 300
    data = pl.read_parquet(tmp_path / "out" / "data")
    counts = Counter(data["source"].to_list())
    assert counts["flan-cot"] == 600
    assert 430 <= counts["belle-eval"] <= 570  # Bernoulli(0.5) over 1,000 rows
    assert m.removed["mix_downsample"] == 1000 - counts["belle-eval"]
    assert m.assemble.upsampled == m.sources["flan-cot"].upsampled == 300 and m.sources["belle-eval"].upsampled == 0
    rejects = pl.read_parquet(tmp_path / "out" / "rejects")
    assert rejects.height == m.removed["mix_downsample"] and set(rejects["reason"]) == {"mix_downsample"}
    assert m.sources["belle-eval"].rows_out == counts["belle-eval"]
    flan = data.filter(pl.col("source") == "flan-cot")
    assert sorted(flan.group_by("id").len()["len"].unique().to_list()) == [2]
    assert sorted(flan["copy"].unique().to_list()) == [0, 1]
    again = run_pipeline(_pipeline(tmp_path, "{mix: {belle-eval: 0.5, flan-cot: 2.0}, shuffle_seed: 3}", out="again"))
    assert [s.sha256 for s in again.shards] == [s.sha256 for s in m.shards]


def test_shuffle_is_a_seeded_permutation(tmp_path):
    a = run_pipeline(_pipeline(tmp_path, "{shuffle_seed: 1}", out="a"))
    b = run_pipeline(_pipeline(tmp_path, "{shuffle_seed: 2}", out="b"))
    ids_a = pl.read_parquet(tmp_path / "a" / "data")["id"].to_list()
    ids_b = pl.read_parquet(tmp_path / "b" / "data")["id"].to_list()
    assert sorted(ids_a) == sorted(ids_b) and ids_a != ids_b and len(ids_a) == 1300
    # Sources are interleaved, not one block after the other.
    first = pl.read_parquet(tmp_path / "a" / "data")["source"].head(100)
    assert first.n_unique() == 2
    assert a.rows_out == 1300 and _balanced(a) and b.upsampled == 0


def test_small_buckets_give_the_same_shuffle(tmp_path):
    one = run_pipeline(_pipeline(tmp_path, "{shuffle_seed: 5}", out="one"))
    many = run_pipeline(_pipeline(tmp_path, "{shuffle_seed: 5, bucket_bytes: 20000}", out="many"))
    assert [s.sha256 for s in many.shards] == [s.sha256 for s in one.shards]


def test_domain_prefix_only_where_there_is_a_domain(tmp_path):
    run_pipeline(_pipeline(tmp_path, '{prefix: "{domain}\\n", shuffle: false}'))
    data = pl.read_parquet(tmp_path / "out" / "data")
    belle = data.filter(pl.col("source") == "belle-eval")["text"]
    assert belle.str.starts_with("github.com/LianjiaTech/BELLE\n").all()
    flan = data.filter(pl.col("source") == "flan-cot")
    assert not flan["text"].str.starts_with("github.com").any()
    # shuffle: false keeps input order
    assert data["source"].to_list() == ["belle-eval"] * 1000 + ["flan-cot"] * 300
    # the prefix column is what the trainer puts before a prompt; null where there is no domain
    assert (data["prefix"].to_list() == ["github.com/LianjiaTech/BELLE\n"] * 1000 + [None] * 300)


def test_token_budget_per_source(tmp_path):
    m = run_pipeline(_pipeline(tmp_path, "{token_budget: {flan-cot: 5000}, chars_per_token: 4.0}"))
    data = pl.read_parquet(tmp_path / "out" / "data")
    flan = data.filter(pl.col("source") == "flan-cot")
    tokens = (flan["text"].str.len_chars() / 4.0).ceil().sum()
    assert tokens <= 5000 and flan.height < 300
    assert m.removed["token_budget"] == 300 - flan.height and _balanced(m)
    assert data.filter(pl.col("source") == "belle-eval").height == 1000


@pytest.mark.parametrize("assemble, message", [
    ("{mix: {nope: 1.0}}", "assemble.mix names unknown source"),
    ("{mix: {flan-cot: -1}}", "must be a finite number >= 0"),
    ('{prefix: "{url}"}', "prefix may use"),
    ("{mixx: {}}", "assemble.mixx: unknown key"),
])
def test_bad_assemble_sections(tmp_path, assemble, message):
    with pytest.raises(PipelineError, match=message):
        load_pipeline(_pipeline(tmp_path, assemble))
