"""Click commands ``train``, ``merge`` and ``generate``, to attach to the main ``assay`` group:

    from assay.train.cli import train, merge, generate
    main.add_command(train); main.add_command(merge); main.add_command(generate)

Torch is imported only when a command runs.
"""
from __future__ import annotations

import json
import sys

import click

from assay.console import expected_errors, terminal_safe

__all__ = ["train", "merge", "generate"]

DEBUG_HELP = "Show the Python traceback of an error instead of one 'error:' line."


def _quiet_transformers() -> None:
    """No weight-loading progress bars between our own output lines."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


@click.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (dotted), e.g. train.steps=100.")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in output.dir at the exact next example.")
@click.option("--dry-run", "dry_run", type=click.IntRange(min=1), default=None, metavar="N",
              help="Print the first N training examples as the model sees them (decoded, the no-loss part "
                   "between \u27e6 \u27e7) and exit; loads the tokenizer, not the model.")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def train(config: str, overrides: tuple[str, ...], resume: bool, dry_run: int | None, debug: bool) -> None:
    """Fine-tune on the Parquet shards of `assay run` (LoRA, other PEFT methods, full).

    CONFIG is a YAML file (see docs/train.md and pipelines/train/). Errors of the config,
    the data or the model are one 'error: <key>: <message>' line (exit status 2).
    """
    _quiet_transformers()
    with expected_errors(debug):
        if dry_run is not None:
            from assay.train.preview import format_previews, preview_examples

            # the examples are the shards' text: shown with their newlines, never their escapes
            click.echo(terminal_safe(format_previews(preview_examples(config, dry_run, list(overrides))), newlines=True))
            return
        from assay.train.trainer import run_train

        records = run_train(config, list(overrides), resume)
    last = next((r for r in reversed(records) if "loss" in r), None)
    if last is not None:
        click.echo(f"step {last['step']}: loss {last['loss']:.4f}")


@click.command()
@click.argument("checkpoint_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the merged model.")
@click.option("--dtype", type=click.Choice(["float16", "bfloat16", "float32"]), default="float16", show_default=True)
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def merge(checkpoint_dir: str, out_dir: str, dtype: str, debug: bool) -> None:
    """Merge a LoRA-style adapter checkpoint into full safetensors weights."""
    from assay.train.merge import run_merge

    _quiet_transformers()
    with expected_errors(debug):
        click.echo(str(run_merge(checkpoint_dir, out_dir, dtype)))


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("-p", "--prompt", "prompts", multiple=True, help="An instruction; repeat for several. Read from stdin when absent.")
@click.option("--input", "input_text", default=None, help="The instruction's input field.")
@click.option("--template", type=click.Choice(["alpaca", "alpaca_zh", "chatml", "tokenizer", "raw"]), default="alpaca", show_default=True)
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tokenizer", default=None, help="byte or a tokenizer folder (default: the model's own).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per prompt.")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def generate(model: str, prompts: tuple[str, ...], input_text: str | None, template: str, max_new_tokens: int,
             temperature: float, top_p: float, seed: int, tokenizer: str | None, as_json: bool, debug: bool) -> None:
    """Sample from a base model, a checkpoint (base + adapter) or a merged model."""
    from assay.train.generate import run_generate

    _quiet_transformers()
    items = list(prompts) or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    with expected_errors(debug):
        outputs = run_generate(model, items, template=template, input=input_text, max_new_tokens=max_new_tokens,
                               temperature=temperature, top_p=top_p, seed=seed, tokenizer=tokenizer)
    for p, o in zip(items, outputs):
        click.echo(json.dumps({"prompt": p, "output": o}, ensure_ascii=False) if as_json else o)
