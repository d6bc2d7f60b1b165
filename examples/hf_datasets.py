"""assay on a Hugging Face dataset, as in a notebook: language decisions, quality filters and
near-dedup on a `datasets.Dataset`, then on a streamed `IterableDataset`, then a whole
cleaning pipeline fed with a Dataset.

    .venv/bin/python examples/hf_datasets.py
"""
import tempfile
from pathlib import Path

import datasets

import assay

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# BELLE's eval set (JSON Lines in a .json file) as a Hugging Face dataset.
ds = datasets.load_dataset("json", data_files=str(SAMPLES / "belle" / "eval_set.json"), split="train")
ds = ds.rename_columns({"question": "instruction", "std_answer": "output"})
ds = ds.map(lambda row: {"kind": "instruction", "text": f"{row['instruction']}\n\n{row['output']}"})

# The kernels take the Dataset itself (its Arrow table, no copy).
clusters = assay.near_duplicates(ds, threshold=0.8)
print(f"{ds.num_rows} rows, {sum(clusters.column('is_duplicate').to_pylist())} near-duplicates")

# Dataset.map with assay's functions adds columns, batch by batch.
ds = ds.map(assay.hf.langid, batched=True)
ds = ds.map(assay.hf.filters(["instruction"]), batched=True)
kept = ds.filter(lambda batch: [lang == "zh" and reason is None for lang, reason in zip(batch["lang"], batch["reason"])],
                 batched=True)
print(f"kept {kept.num_rows} Chinese rows with a usable answer")

# The same on a stream: nothing is materialised.
stream = datasets.load_dataset("json", data_files=str(SAMPLES / "belle" / "eval_set.json"), split="train",
                               streaming=True).rename_columns({"question": "text"})
first = next(iter(stream.map(assay.hf.langid, batched=True)))
print("first streamed row:", first["lang"], first["text"][:20])
# The functions take the stream itself too: results come back batch by batch.
for batch in assay.text_stats(stream):
    print(f"first result batch: {batch.num_rows} rows, {sum(batch.column('chars').to_pylist())} characters")
    break

# A pipeline fed from Python: Alpaca's seed tasks as a Dataset stand in for the file the
# quickstart reads, with the same shards and accounting.
seed = datasets.load_dataset("json", data_files=str(SAMPLES / "seed_tasks" / "alpaca_seed_tasks.jsonl"), split="train")
out = Path(tempfile.mkdtemp()) / "quickstart"
manifest = assay.run_pipeline(SAMPLES.parent / "pipelines" / "quickstart.yaml", output_dir=out,
                              inputs={"alpaca-seed": seed})
print(f"pipeline: {manifest.rows_in} rows in, {manifest.rows_out} out, balances: {manifest.balances()}")
