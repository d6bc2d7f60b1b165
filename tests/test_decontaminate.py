"""Decontamination: the index against a brute-force reference (every n-gram of every eval item
looked up), datatrove's n-gram decontamination on English, and pipelines with planted
contaminated rows (verbatim copies, edited copies, fragments) among clean ones."""
import gzip
import json
import pickle
import random
import re
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.contamination import resolve_eval_set

from conftest import SAMPLES


def _rows(path, format, source):
    return assay.read(path, format, source=source, ids=False).read_all().to_pylist()


GAOKAO = _rows(SAMPLES / "gaokao" / "**" / "*.json", "gaokao", "gaokao-bench")
BELLE_EVAL = _rows(SAMPLES / "belle" / "eval_set.json", "belle", "belle-eval")
CLEAN = (_rows(SAMPLES / "flan_cot" / "*.json", "alpaca", "flan-cot")
         + _rows(SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl", "seed_tasks", "alpaca-seed")
         + _rows(SAMPLES / "belle" / "zh_seed_tasks.json", "seed_tasks", "belle-seed"))


def _tokens(text):
    return len(assay.shingles(text, ngram=1)) if text else 0


def _grams(text, n):
    return set(assay.shingles(text, ngram=n)) if _tokens(text) >= n else set()


def _brute_force(items, texts, n):
    """Every n-gram of every item looked up in every text, as the module doc defines it."""
    item_grams = [_grams(t, n) for _, t in items]
    everything = set().union(*item_grams)
    out = []
    for text in texts:
        grams = _grams(text, n)
        best = (0.0, None)
        for (item_id, _), g in zip(items, item_grams):
            if g:
                fraction = len(grams & g) / len(g)
                if fraction > best[0]:
                    best = (fraction, item_id)
        out.append({"contam_ngrams": len(grams & everything), "contam_fraction": best[0], "contam_eval_id": best[1]})
    return out


def _edited(text, rng, every=40):
    """One Han character in ``every`` swapped (each edit breaks the n-grams over it)."""
    chars, han = list(text), 0
    for i, c in enumerate(chars):
        if "\u4e00" <= c <= "\u9fff":
            han += 1
            if han % every == every // 2:
                chars[i] = "某" if c != "某" else "甲"
    return "".join(chars)


@pytest.mark.parametrize("n", [8, 13])
def test_index_equals_brute_force_on_gaokao_and_belle(n):
    rng = random.Random(n)
    items = [(r["id"], r[f]) for r in GAOKAO + BELLE_EVAL for f in ("instruction", "input", "output")
             if r[f] and r[f].strip()]
    index = assay.ContaminationIndex.build(
        pa.table({"id": [i for i, _ in items], "text": [t for _, t in items]}), ngram=n)
    picked = rng.sample(items, 60)
    texts = ([t for _, t in picked[:20]]                                   # verbatim
             + [_edited(t, rng) for _, t in picked[20:40]]                 # small edits
             + [t[len(t) // 4: 3 * len(t) // 4] for _, t in picked[40:]]  # fragments
             + [r["text"] for r in rng.sample(CLEAN, 60)])                 # training rows
    ours = assay.contamination(texts, index).to_pylist()
    assert ours == _brute_force(items, texts, n)
    assert sum(o["contam_fraction"] == 1.0 for o in ours[:20]) >= 19  # a verbatim copy holds all of an item
    assert len(index) == len(set().union(*[_grams(t, n) for _, t in items]))


def _fold(text):
    """What datatrove folds and assay does not (every number to 0), and what assay folds and
    datatrove's spaCy tokens keep (math, currency and modifier symbols: separators here)."""
    text = re.sub(r"\d+([.,]\d+)?", "0", text)
    return "".join(" " if unicodedata.category(c) in ("Sm", "Sc", "Sk") else c for c in text)


def test_decisions_equal_datatrove_ngram_decontamination_on_english(tmp_path):
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.text import ngrams, simplify_text

    flan = [r for r in CLEAN if r["source"] == "flan-cot"]
    evaluation, rest = flan[:80], flan[80:]
    with gzip.open(SAMPLES / "web" / "reuters_sample.jsonl.gz", "rt") as f:
        web = [json.loads(line)["body"] or "" for line in f][:300]
    rng = random.Random(0)
    texts = ([r["text"] for r in rest] + web
             + [f"{web[i]}\n{evaluation[i]['output']}\n{web[i + 1]}" for i in range(0, 40, 2)]
             + [evaluation[i]["instruction"].replace(" the ", " a ", 1) for i in range(40, 60)])
    rng.shuffle(texts)

    config = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=False)
    dt = NGramsDecontFilter(index_folder=str(tmp_path), config=config)
    import numpy as np

    def theirs(fold):
        hashes = {dt.hash_func(" ".join(g)) for r in evaluation for field in ("instruction", "output")
                  for g in ngrams(dt.tokenizer.word_tokenize(simplify_text(fold(r[field]), config.norm_config)), 13)}
        np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(tmp_path / "flan.index.hashes")
        dt._index_hashes = None
        # filter() gives True to keep, (False, "contaminated") to drop
        return [dt.filter(Document(text=fold(t), id=str(i))) is not True for i, t in enumerate(texts)]

    def ours(fold):
        items = pa.table({"id": [r["id"] for r in evaluation],
                          "instruction": [fold(r["instruction"]) for r in evaluation],
                          "output": [fold(r["output"]) for r in evaluation]})
        index = assay.ContaminationIndex.build(items, ngram=13)
        hits = assay.contamination([fold(t) for t in texts], index).column("contam_ngrams").to_pylist()
        return [h > 0 for h in hits]  # datatrove drops a document at its first matched n-gram

    # With the two normalizations' differences folded on both sides, the decisions are the
    # same row for row; on the raw texts they differ only where those differences matter.
    folded = theirs(_fold)
    assert sum(folded) >= 40  # the planted copies, and whatever else datatrove finds
    assert ours(_fold) == folded
    raw_ours, raw_theirs = ours(lambda t: t), theirs(lambda t: t)
    assert sum(raw_ours) >= 40
    differ = [t for t, a, b in zip(texts, raw_ours, raw_theirs) if a != b]
    assert all(_fold(t) != t for t in differ)


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Training rows in alpaca format: eval questions copied verbatim, with small edits, as
    fragments, inside longer clean answers; and clean rows (the shipped instruction samples)."""
    rng = random.Random(7)
    folder = tmp_path_factory.mktemp("planted")
    questions = [r for r in GAOKAO + BELLE_EVAL if _tokens(r["instruction"]) >= 40]
    chosen = rng.sample(questions, 40)
    rows, expected = [], {}
    for i, item in enumerate(chosen):
        q = item["instruction"]
        kind = ("verbatim", "edited", "fragment", "embedded")[i % 4]
        instruction = {"verbatim": q, "edited": _edited(q, rng), "fragment": q[: int(len(q) * 0.7)],
                       "embedded": "请看下面的练习。"}[kind]
        output = "这道题的思路如下：先审题，再列式计算，最后检验答案。" if kind != "embedded" else (
            "这是一段很长的、与评测无关的讲解，讲的是学习方法、复习计划和考试心态。" * 20 + q)
        rid = f"planted-{kind}-{i}"
        rows.append({"id": rid, "instruction": instruction, "input": "", "output": output})
        expected[rid] = (kind, item["id"])
    clean = [r for r in CLEAN if r["id"] != "seed_task_46:0"]
    rows += [{"id": f"clean-{i}", "instruction": r["instruction"], "input": r["input"] or "", "output": r["output"]}
             for i, r in enumerate(clean)]
    rng.shuffle(rows)
    _write_jsonl(folder / "train.jsonl", rows)
    return folder, expected, len(clean)


def _run(folder, tmp_path, step):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f'name: decontam\ninputs:\n  - {{path: "{folder / "train.jsonl"}", format: alpaca, source: train}}\n'
        f"steps:\n  - decontaminate: {json.dumps(step)}\noutput: {{dir: \"{tmp_path / 'out'}\"}}\n")
    manifest = assay.run_pipeline(pipeline)
    kept = pa.concat_tables([pq.read_table(tmp_path / "out" / s.path) for s in manifest.shards])
    rejects = pq.read_table(next((tmp_path / "out" / "rejects").glob("*.parquet")))
    return manifest, kept, rejects


def test_drop_removes_every_planted_row_and_no_clean_one(planted, tmp_path):
    folder, expected, clean = planted
    manifest, kept, rejects = _run(folder, tmp_path, {"eval": ["gaokao-bench", "belle-eval"], "action": "drop"})
    removed = {r["id"]: r for r in rejects.to_pylist()}
    assert set(removed) == set(expected)  # a row holding a whole question is contaminated however long
    for rid in expected:
        assert removed[rid]["reason"] == "contaminated"
        assert removed[rid]["contam_eval_id"] == expected[rid][1]
        assert removed[rid]["contam_fraction"] >= 0.5
    assert manifest.removed == {"contaminated": len(expected)}
    assert manifest.rows_in == manifest.rows_out + len(expected)
    assert all(r["contam_fraction"] < 0.5 for r in kept.to_pylist())
    assert sum(1 for r in kept.to_pylist() if r["id"].startswith("clean-")) == clean
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    section = report[report.index('<section id="contamination">'):]
    section = section[: section.index("</section>")]
    sets = {i.split(":")[0] for _, i in expected.values()}
    assert sets == {"gaokao-bench", "belle-eval"} and all(f"<td>{s}</td>" in section for s in sets)
    assert f"{len(expected)} contaminated row(s) removed" in section


def test_redact_cuts_the_copied_question_and_keeps_the_rest(planted, tmp_path):
    folder, expected, clean = planted
    manifest, kept, rejects = _run(folder, tmp_path, {"eval": ["gaokao-bench", "belle-eval"], "action": "redact"})
    kept_rows = {r["id"]: r for r in kept.to_pylist()}
    eval_text = {r["id"]: r["instruction"] for r in GAOKAO + BELLE_EVAL}
    for rid, (kind, item) in expected.items():
        if kind == "embedded":
            row = kept_rows[rid]  # most of the row is the clean explanation: kept, question cut
            assert eval_text[item] not in row["output"] and row["output"].startswith("这是一段很长的")
            assert 0 < row["contam_cut"] <= 0.5
            assert eval_text[item][:20] not in row["text"]
        else:
            assert rid not in kept_rows  # the question was most of the row
    assert set(rejects.column("reason").to_pylist()) == {"contaminated"}
    assert all(kept_rows[f"clean-{i}"]["contam_cut"] == 0.0 for i in range(clean))


def test_a_real_contamination_between_belle_seed_tasks_and_belle_eval():
    index = assay.ContaminationIndex.build("belle-eval")
    seeds = _rows(SAMPLES / "belle" / "zh_seed_tasks.json", "seed_tasks", "belle-seed")
    hits = assay.contamination(pa.Table.from_pylist(seeds), index).to_pylist()
    found = [(s["id"], h["contam_eval_id"]) for s, h in zip(seeds, hits) if h["contam_fraction"] >= 0.5]
    assert found == [("seed_task_46:0", "belle-eval:eval_set.json:410")]


def test_save_load_pickle_and_damage(tmp_path):
    index = assay.ContaminationIndex.build(["gaokao-bench", "belle-eval"])
    path = tmp_path / "eval.index"
    index.save(path)
    back = assay.ContaminationIndex.load(path)
    assert (len(back), back.ids, back.item_sizes, back.ngram, back.unit) == (
        len(index), index.ids, index.item_sizes, 13, "auto")
    copy = pickle.loads(pickle.dumps(index))
    texts = [r["text"] for r in BELLE_EVAL[:50]] + [r["text"] for r in CLEAN[:50]]
    assert assay.contamination(texts, copy).equals(assay.contamination(texts, index))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or truncated"):
        assay.ContaminationIndex.load(path)
    (tmp_path / "x.parquet").write_bytes(b"PAR1" + b"\0" * 64)
    with pytest.raises(ValueError, match="not a contamination index"):
        assay.ContaminationIndex.load(tmp_path / "x.parquet")


def test_step_loads_a_saved_index_and_checks_its_parameters(tmp_path):
    from assay.steps.decontaminate import DecontaminateStep

    index = assay.ContaminationIndex.build("belle-eval", ngram=10)
    index.save(tmp_path / "belle.index")
    batch = pa.record_batch({"text": [BELLE_EVAL[5]["text"], CLEAN[0]["text"]]})
    step = DecontaminateStep(index=str(tmp_path / "belle.index"), ngram=10)
    assert step(batch).column("reason").to_pylist() == ["contaminated", None]
    with pytest.raises(ValueError, match="ngram=10"):
        DecontaminateStep(index=str(tmp_path / "belle.index"))
    with pytest.raises(ValueError, match="needs eval sets"):
        DecontaminateStep()


def test_eval_data_in_every_shape(tmp_path):
    dump = tmp_path / "task.jsonl"  # an lm-eval-harness style dump: {"id", "text"}
    _write_jsonl(dump, [{"id": "arc-1", "text": "Which gas do plants take in from the air to make their food in sunlight?"}])
    row = ["Quiz. Which gas do plants take in from the air to make their food in sunlight? Carbon dioxide."]
    for data in (str(dump), {"path": str(dump), "format": "text", "source": "arc"},
                 [{"id": "arc-1", "text": "Which gas do plants take in from the air to make their food in sunlight?"}]):
        index = assay.ContaminationIndex.build(data, ngram=8)
        hit = assay.contamination(row, index).to_pylist()[0]
        assert hit["contam_fraction"] == 1.0 and hit["contam_eval_id"].endswith("arc-1")
    with pytest.raises(FileNotFoundError):
        assay.ContaminationIndex.build(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{broken\n')
    with pytest.raises(ValueError, match="could not be read"):
        assay.ContaminationIndex.build(str(bad))
    with pytest.raises(ValueError, match="unit must be"):
        assay.ContaminationIndex.build(["a b c"], unit="char")
    assert resolve_eval_set("gaokao-bench").format == "gaokao"


def test_memory_per_ngram_is_as_documented():
    rng = random.Random(1)
    words = [f"w{i}" for i in range(50_000)]
    texts = [" ".join(rng.choice(words) for _ in range(1_012)) for _ in range(1_000)]  # ~1M 13-grams
    index = assay.ContaminationIndex.build(texts)
    assert len(index) > 990_000
    per_ngram = index.memory_bytes / len(index)
    assert 17 <= per_ngram <= 40, per_ngram


def test_redact_cuts_chat_turns_of_contaminated_rows_only():
    from assay.steps.decontaminate import DecontaminateStep

    question = BELLE_EVAL[0]["instruction"]
    messages = pa.array([
        [{"role": "user", "content": "先说点别的：今天天气很好，我们去公园散步，看看湖边的柳树和花。" * 8},
         {"role": "assistant", "content": "好的。" + question}],
        [{"role": "user", "content": "今天天气怎么样？"}, {"role": "assistant", "content": "晴天。"}],
    ], pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))
    text = ["\n".join(t["content"] for t in row) for row in messages.to_pylist()]
    batch = pa.record_batch({"text": text, "messages": messages})
    out = DecontaminateStep(eval=["belle-eval"], action="redact", min_fraction=0.9, margin=0)(batch).to_pylist()
    assert question not in out[0]["messages"][1]["content"] and out[0]["messages"][1]["content"].startswith("好的")
    assert out[0]["messages"][0]["content"] == messages[0][0]["content"].as_py()
    assert out[1]["messages"] == messages[1].as_py() and out[1]["contam_cut"] == 0.0
    assert out[0]["reason"] is None and 0 < out[0]["contam_cut"] < 0.5
