"""`assay train --dry-run`: training examples as the model sees them, domain prefixes included,
and the held-out split keyed by (source, id)."""
import gzip
import json

import pytest
import xxhash
from click.testing import CliRunner

from assay.cli import main
from assay.pipeline import PipelineConfig, run_pipeline
from assay.train.data import HELD_OUT_SEED, held_out_mask, is_held_out
from assay.train.preview import NO_LOSS_CLOSE, NO_LOSS_OPEN, preview_examples

from conftest import ROOT, SAMPLES

DOMAINS = {"belle-eval": "github.com/LianjiaTech/BELLE", "belle-chat": "github.com/LianjiaTech/BELLE",
           "reuters": "reuters.com"}


@pytest.fixture(scope="module")
def prefixed_run(tmp_path_factory):
    """Instruction (BELLE), chat (BELLE questions as ShareGPT chats, some with a system turn) and
    text (Reuters) rows through `assemble: {prefix: "{domain}\\n"}`."""
    tmp = tmp_path_factory.mktemp("prefixed")
    rows = [json.loads(line) for line in (SAMPLES / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["std_answer"].strip()][:60]
    with open(tmp / "chats.jsonl", "w", encoding="utf-8") as f:
        for i, r in enumerate(rows[30:]):
            turns = ([{"from": "system", "value": "你是一个乐于助人的助手。"}] if i % 2 else [])
            turns += [{"from": "human", "value": r["question"]}, {"from": "gpt", "value": r["std_answer"]}]
            f.write(json.dumps({"conversations": turns}, ensure_ascii=False) + "\n")
    with open(tmp / "belle.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:30])
    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt", encoding="utf-8") as src, \
            open(tmp / "reuters.jsonl", "w", encoding="utf-8") as dst:
        dst.writelines(line for _, line in zip(range(30), src))
    config = PipelineConfig(
        name="prefixed",
        inputs=[{"path": str(tmp / "belle.jsonl"), "format": "belle", "source": "belle-eval", "domain": DOMAINS["belle-eval"]},
                {"path": str(tmp / "chats.jsonl"), "format": "sharegpt", "source": "belle-chat", "domain": DOMAINS["belle-chat"]},
                {"path": str(tmp / "reuters.jsonl"), "format": "text", "text_field": ["title", "body"],
                 "id_field": "newid", "source": "reuters", "domain": DOMAINS["reuters"]}],
        assemble={"prefix": "{domain}\n", "shuffle_seed": 0},
        output={"dir": str(tmp / "out")})
    manifest = run_pipeline(config)
    assert manifest.rows_out == 90 and manifest.balances()
    return tmp / "out" / "manifest.json"


def _config(manifest, template: str) -> dict:
    return {"model": {"random": {"family": "llama"}}, "tokenizer": "byte", "method": "lora",
            "data": {"train": str(manifest), "template": template, "max_length": 4096},
            "output": {"dir": "unused"}}


@pytest.mark.parametrize("template", ["alpaca", "chatml"])
def test_the_prefix_reaches_every_kind_of_row(prefixed_run, template):
    previews = preview_examples(_config(prefixed_run, template), 90)
    assert {p.source for p in previews} == set(DOMAINS) and len(previews) == 90
    for p in previews:
        domain = DOMAINS[p.source]
        text = p.marked()
        if p.source == "reuters":  # text rows: learned from the second token on (nothing predicts the first)
            assert "".join(t for t, _ in p.pieces).startswith(domain + "\n")
            assert [loss for _, loss in p.pieces] == [False, True] and p.pieces[0][0] == domain[0]
        elif template == "alpaca" and p.source == "belle-eval":  # before the prompt, without loss
            assert text.startswith(f"{NO_LOSS_OPEN}{domain}\nBelow is an instruction")
        else:  # a system line of its own, or the first line of the chat's system turn
            assert f"{domain}\n" in p.pieces[0][0] or f"{domain}<|im_end|>" in p.pieces[0][0], text[:200]
            assert not p.pieces[0][1] and text.startswith(NO_LOSS_OPEN)
    chats = [p.marked() for p in previews if p.source == "belle-chat"]
    if template == "chatml":
        assert any(f"<|im_start|>system\n{DOMAINS['belle-chat']}\n你是一个乐于助人的助手。<|im_end|>" in t for t in chats)
        assert any(f"<|im_start|>system\n{DOMAINS['belle-chat']}<|im_end|>" in t for t in chats)
    assert all(NO_LOSS_CLOSE in t for t in chats)


def test_cli_dry_run_on_the_demo_shards_shows_the_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    shards = tmp_path / "quickstart"
    result = runner.invoke(main, ["run", "pipelines/quickstart.yaml", "-o", str(shards), "--no-progress"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["train", "pipelines/train/tiny.yaml", "--dry-run", "2",
                                  "--set", f"data.train={shards / 'manifest.json'}", "--set", f"output.dir={tmp_path / 't'}"])
    assert result.exit_code == 0, result.output
    examples = result.output.split("--- example ")[1:]
    assert len(examples) == 2 and "2 training example(s) as the model sees them" in result.output
    for example in examples:
        body = example.split("---\n", 1)[1]
        text = body.replace(NO_LOSS_OPEN, "").replace(NO_LOSS_CLOSE, "")
        assert text.startswith(("github.com/", "reuters.com\n")), body[:100]
        assert body.startswith(NO_LOSS_OPEN)  # the prefix is prompt (instruction rows) or the first token (text)
    assert not (tmp_path / "t").exists()  # a dry run trains nothing and writes nothing


def test_held_out_split_is_keyed_by_source_and_id_with_xxh3():
    ids = [f"seed_task_{i}" for i in range(400)]
    a, b = held_out_mask(["alpaca-seed"] * 400, ids, 0.3), held_out_mask(["belle-seed"] * 400, ids, 0.3)
    assert 80 < a.sum() < 160 and 80 < b.sum() < 160 and (a != b).any()  # the same ids, other sources
    for source, row_id in [("alpaca-seed", "seed_task_1"), ("belle-eval", "belle-eval:eval_set.json:7"), ("", "")]:
        digest = xxhash.xxh3_64_intdigest(f"{source}\x1f{row_id}".encode(), seed=HELD_OUT_SEED)
        assert is_held_out(source, row_id, 0.3) == (digest < 0.3 * 2**64)
