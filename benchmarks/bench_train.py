"""Trainer throughput: assay's trainer vs TRL's SFTTrainer, same model, data and settings.

A Llama-shaped random model (``--size 0.6b``: hidden 1536, 20 layers, 12 heads / 4 KV heads,
MLP 4096, vocab 32000, ~0.6B parameters; ``--size 1b``: hidden 2048, 16 layers, 32/8 heads,
MLP 5632, ~0.85B) trained on FLAN chain-of-thought + BELLE instruction data rendered with the
alpaca template, sequence length 2048 with packing, LoRA (r 16 on all linear layers) and full
fine-tuning. Both trainers get the very same token ids and loss masks (tokenized once by
assay), bf16 weights on a GPU, the same batch size and learning rate.

Reported per trainer and method: median tokens/s (non-padding tokens) after warm-up steps,
MFU (same FLOP count for both: 6N per token for full FT, 4N + 2N_trainable for LoRA, plus
causal attention), padding waste, and peak memory.

    python benchmarks/bench_train.py               # the real run, on one GPU
    python benchmarks/bench_train.py --tiny        # a tiny model on CPU: proves the script works
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")

SIZES = {
    "tiny": dict(family="llama", hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128,
                 max_position=4096, vocab_size=512),
    "0.6b": dict(family="llama", hidden_size=1536, num_layers=20, num_heads=12, num_kv_heads=4, intermediate_size=4096,
                 max_position=4096, vocab_size=32000),
    "1b": dict(family="llama", hidden_size=2048, num_layers=16, num_heads=32, num_kv_heads=8, intermediate_size=5632,
               max_position=4096, vocab_size=32000),
}


def instruction_rows(limit: int) -> list[dict]:
    """Instruction records (assay schema) from the shared data, else from the repo's samples."""
    rows: list[dict] = []
    flan = sorted((SHARED / "instruct" / "flan_cot_alpaca_format").glob("*.json")) or sorted((ROOT / "samples" / "flan_cot").glob("*.json"))
    for f in flan:
        for i, r in enumerate(json.loads(f.read_text(encoding="utf-8"))):
            rows.append(dict(id=f"flan:{f.stem}:{i}", source="flan-cot", kind="instruction", instruction=r["instruction"].replace("\\n", "\n"),
                             input=r["input"] or None, output=r["output"].replace("\\n", "\n")))
    belle = SHARED / "instruct" / "belle_eval_zh" / "eval_set.json"
    belle = belle if belle.is_file() else ROOT / "samples" / "belle" / "eval_set.json"
    for i, line in enumerate(belle.read_text(encoding="utf-8").splitlines()):
        r = json.loads(line)
        rows.append(dict(id=f"belle:{i}", source="belle-eval", kind="instruction", instruction=r["question"], input=None, output=r["std_answer"]))
    import random

    random.Random(0).shuffle(rows)
    return rows[:limit]


def write_shard(rows: list[dict], folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assay.schema import RECORD_SCHEMA, render_text

    full = [dict(r, domain=None, messages=None, meta="{}",
                 text=render_text("instruction", instruction=r["instruction"], input=r["input"], output=r["output"])) for r in rows]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(full, schema=RECORD_SCHEMA), folder / "data" / "part-00000.parquet")
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"shards": [{"path": "data/part-00000.parquet", "rows": len(full), "sha256": "-"}]}))
    return manifest


def run_assay(manifest: Path, out: Path, args, method: str) -> dict:
    from assay.train import Trainer

    cfg = {
        "model": {"random": SIZES[args.size], "dtype": "auto", "gradient_checkpointing": args.grad_ckpt},
        "tokenizer": "byte",
        "data": {"train": str(manifest), "template": "alpaca", "max_length": args.seq_len, "packing": True,
                 "shuffle_buffer": 1000, "pack_window": args.pack_window},
        "method": method,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "train": {"steps": args.steps, "batch_size": args.batch_size, "grad_accum": 1, "lr": 1e-4, "warmup_steps": 0,
                  "log_every": 1, "save_every": 10**9, "eval_every": 0, "seed": 0, "compile": args.compile},
        "output": {"dir": str(out / f"assay-{method}"), "tensorboard": False, "progress": False},
    }
    trainer = Trainer(cfg)
    trainer.setup()
    trainer.save_checkpoint = lambda: None  # throughput only
    records = [r for r in trainer.train() if "loss" in r][args.warmup:]
    mfus = [r["mfu"] for r in records if r["mfu"] is not None]
    return {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in records),
        "mfu": statistics.median(mfus) if mfus else None,
        "padding": statistics.median(r["padding_fraction"] for r in records),
        "peak_mem_gb": max(r["peak_mem_gb"] for r in records),
        "final_loss": records[-1]["loss"],
    }


def run_trl(manifest: Path, out: Path, args, method: str) -> dict:
    import torch
    from datasets import Dataset
    from tokenizers import Tokenizer, models
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from assay.train.config import RandomModelConfig
    from assay.train.data import IGNORE, encode_row, iter_rows, resolve_shards
    from assay.train.models import random_model_config, resolve_attn_implementation, resolve_dtype
    from assay.train.tokenizer import ByteTokenizer

    tok = ByteTokenizer()
    # the same ids as assay's byte tokenizer, as a transformers tokenizer for TRL's collator
    vocab = {f"<0x{i:02X}>": i for i in range(256)} | {name: i for name, i in tok.special_ids.items()}
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                     pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>")
    ids, masks = [], []
    for r in iter_rows(resolve_shards(str(manifest))):
        ex = encode_row(r, tok, "alpaca", args.seq_len)
        if ex is None:
            continue
        ids.append(ex.input_ids)
        masks.append([0] + [int(lab != IGNORE) for lab in ex.labels[:-1]])  # token t is a target
    dataset = Dataset.from_dict({"input_ids": ids, "completion_mask": masks})

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = resolve_dtype("auto", device)
    attn = resolve_attn_implementation("auto", device, dtype)
    config = random_model_config(RandomModelConfig(**SIZES[args.size]), tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    peft_config = None
    if method == "lora":
        from peft import LoraConfig

        from assay.train.methods import default_target_modules

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=default_target_modules("llama"), task_type="CAUSAL_LM")
    on_gpu = device.type == "cuda"
    sft = SFTConfig(
        output_dir=str(out / f"trl-{method}"), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1, learning_rate=1e-4, lr_scheduler_type="cosine", warmup_steps=0, logging_steps=1,
        save_strategy="no", report_to=[], max_length=args.seq_len, packing=True, packing_strategy="bfd",
        padding_free=attn == "flash_attention_2", bf16=on_gpu and dtype == torch.bfloat16, fp16=False,
        gradient_checkpointing=args.grad_ckpt, use_cpu=not on_gpu, dataloader_num_workers=0, seed=0,
        completion_only_loss=True, torch_compile=args.compile,
    )
    trainer = SFTTrainer(model=model, args=sft, train_dataset=dataset, processing_class=hf_tok, peft_config=peft_config)
    counted: list[int] = []
    collate = trainer.data_collator

    def counting_collator(features):
        batch = collate(features)
        mask = batch.get("attention_mask")
        counted.append(int(mask.sum()) if mask is not None else int(batch["input_ids"].numel()))
        return batch

    trainer.data_collator = counting_collator
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            if on_gpu:
                torch.cuda.synchronize()
            times.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            if on_gpu:
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    trainer.add_callback(Clock())
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    steps = len(times) // 2
    per_step = [(counted[i] / (times[2 * i + 1] - times[2 * i])) for i in range(args.warmup, min(steps, len(counted)))]
    slots = args.batch_size * args.seq_len
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens_per_s": statistics.median(per_step),
        "padding": 1 - statistics.median(counted[args.warmup:steps]) / slots,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else None,
        "final_loss": losses[-1] if losses else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny model, short sequences, few steps (CPU smoke run)")
    ap.add_argument("--size", choices=sorted(SIZES), default="0.6b")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5, help="steps left out of the medians")
    ap.add_argument("--rows", type=int, default=20000, help="instruction rows in the benchmark shard")
    ap.add_argument("--pack-window", type=int, default=2048)
    ap.add_argument("--methods", default="lora,full")
    ap.add_argument("--no-trl", action="store_true")
    ap.add_argument("--grad-ckpt", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.tiny:
        args.size, args.seq_len, args.batch_size, args.steps, args.warmup, args.rows, args.pack_window = "tiny", 256, 4, 6, 2, 400, 256

    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = write_shard(instruction_rows(args.rows), tmp / "shards")
        for method in args.methods.split(","):
            results[f"assay {method}"] = run_assay(manifest, tmp, args, method)
            if not args.no_trl:
                try:
                    results[f"trl {method}"] = run_trl(manifest, tmp, args, method)
                except ImportError as err:
                    print(f"TRL side skipped ({err}); pip install 'assay[bench]'", file=sys.stderr)
    print(f"\ndevice: {device}; model {args.size}; seq {args.seq_len}; batch {args.batch_size}; steps {args.steps} (median over steps > {args.warmup})")
    print(f"{'run':<12} {'tokens/s':>12} {'MFU':>7} {'padding':>8} {'peak GB':>8} {'loss':>7}")
    for name, r in results.items():
        mfu = r.get("mfu")
        if mfu is None and name.startswith("trl"):
            ours = results.get(name.replace("trl", "assay"), {})
            if ours.get("mfu") is not None:
                mfu = ours["mfu"] * r["tokens_per_s"] / ours["tokens_per_s"]  # same FLOPs per token
                r["mfu"] = mfu
        peak = r.get("peak_mem_gb")
        print(f"{name:<12} {r['tokens_per_s']:>12,.0f} {('%.1f%%' % (100 * mfu)) if mfu else '-':>7} {100 * r['padding']:>7.2f}% "
              f"{('%.1f' % peak) if peak else '-':>8} {r['final_loss'] if r['final_loss'] is not None else float('nan'):>7.3f}")
    for method in args.methods.split(","):
        a, t = results.get(f"assay {method}"), results.get(f"trl {method}")
        if a and t:
            print(f"{method}: assay / TRL tokens/s = {a['tokens_per_s'] / t['tokens_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "args": vars(args) | {"json": str(args.json)}, "results": results}, indent=1))


if __name__ == "__main__":
    main()
