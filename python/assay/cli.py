"""The ``assay`` command line."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from assay.console import console, expected_errors, terminal_safe

DEBUG_HELP = "Show the Python traceback of an error instead of one 'error:' line."


def _set_threads(threads: int | None) -> None:
    # Must happen before the first Rust call starts rayon's pool.
    if threads is not None:
        if threads < 1:
            raise click.BadParameter("must be >= 1", param_hint="--threads")
        os.environ["RAYON_NUM_THREADS"] = str(threads)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="assay", prog_name="assay", message="%(prog)s %(version)s")
def main() -> None:
    """assay: turn raw instruction and pretraining corpora into clean, deduplicated,
    source-tagged Parquet shards.

    \b
    Quick start:
      assay run pipelines/quickstart.yaml      run a pipeline, write shards + manifest
      assay inspect out/quickstart             look at what a run wrote
      assay inspect data/*.jsonl.gz            look at raw input (format guessed)
      assay report out/quickstart              regenerate the run's report.html
      assay train pipelines/train/tiny.yaml    fine-tune on the shards (needs assay[train])
    """


@main.command()
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output_dir", default=None, metavar="DIR|URL",
              help="Output folder, or an object-store prefix such as s3://bucket/run (overrides output.dir in "
                   "the pipeline file).")
@click.option("--threads", type=int, default=None,
              help="Threads for the Rust kernels (default: all cores, or RAYON_NUM_THREADS).")
@click.option("--progress/--no-progress", default=None,
              help="Show progress bars (default: when the terminal is interactive).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run in the same output folder after its last completed input file; "
                   "the final shards are byte-identical to an uninterrupted run.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None,
              help="Where the steps run: local (this process, the default) or ray (a Ray cluster; "
                   "same output, byte for byte). Overrides the pipeline's engine: section.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="Ray: the cluster to join; without it a local Ray starts with --workers CPUs.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Ray: CPUs of the local Ray (default: this machine's cores).")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def run(pipeline: Path, output_dir: Path | None, threads: int | None, progress: bool | None, resume: bool,
        engine: str | None, address: str | None, workers: int | None, debug: bool) -> None:
    """Run the YAML PIPELINE: read its inputs, apply its steps, write Parquet shards.

    The output folder receives data/part-NNNNN.parquet, manifest.json (shards with
    rows and sha256, rows in/out, removed by reason, quarantined, config hash,
    versions), stats.json, rejects/ (removed rows with their reason) and
    quarantine/ (malformed input records with file, line and error).
    Input paths are relative to the working directory.
    """
    _set_threads(threads)
    from assay.pipeline import run_pipeline

    show = console.is_terminal if progress is None else progress
    with expected_errors(debug, also=(FileNotFoundError, ValueError)):
        manifest = run_pipeline(pipeline, output_dir=output_dir, threads=threads, progress=show, resume=resume,
                                engine=engine, address=address, workers=workers)
    out = str(output_dir or manifest.config["output"]["dir"]).rstrip("/")
    _print_funnel(manifest)
    table = Table(title=f"assay run: {manifest.name}", show_header=True)
    upsampled = bool(manifest.upsampled)
    columns = ["source", "rows in"] + (["upsampled"] if upsampled else []) + ["rows out", "removed", "quarantined"]
    for col in columns:
        table.add_column(col, justify="right" if col != "source" else "left")
    for name, c in manifest.sources.items():
        table.add_row(name, f"{c.rows_in:,}", *([f"{c.upsampled:,}"] if upsampled else []), f"{c.rows_out:,}",
                      f"{c.removed:,}", f"{c.quarantined:,}")
    table.add_row("[bold]total", f"[bold]{manifest.rows_in:,}", *([f"[bold]{manifest.upsampled:,}"] if upsampled else []),
                  f"[bold]{manifest.rows_out:,}", f"[bold]{manifest.removed_total:,}", f"[bold]{manifest.quarantined:,}")
    console.print(table)
    click.echo(f"shards:     {out}/data ({len(manifest.shards)} file(s))")
    click.echo(f"manifest:   {out}/manifest.json")
    click.echo(f"stats:      {out}/stats.json")
    click.echo(f"report:     {out}/report.html  (open it in a browser: funnel, languages, duplicates, samples)")
    if manifest.quarantined:
        click.echo(f"quarantine: {out}/{manifest.quarantine} ({manifest.quarantined:,} record(s))")


def _print_funnel(manifest: Any) -> None:
    """Rows through each stage, with what it removed by reason."""
    table = Table(title="funnel", show_header=True)
    for col in ("stage", "rows in", "rows out", "removed by reason"):
        table.add_column(col, justify="left" if col in ("stage", "removed by reason") else "right")
    table.add_row("read", f"{manifest.rows_in:,}", f"{manifest.rows_in - manifest.quarantined:,}",
                  f"quarantined {manifest.quarantined:,}" if manifest.quarantined else "")
    stages = [(f"{i + 1}. {s.step}", s) for i, s in enumerate(manifest.steps)]
    if manifest.assemble is not None:
        stages.append((f"{len(stages) + 1}. assemble", manifest.assemble))
    for label, stage in stages:
        removed = "\n".join(f"{reason} {n:,}" for reason, n in stage.removed.items())
        if getattr(stage, "upsampled", 0):
            removed = "\n".join(filter(None, [removed, f"+{stage.upsampled:,} upsampled"]))
        table.add_row(escape(label), f"{stage.rows_in:,}", f"{stage.rows_out:,}", escape(removed))
    console.print(table)


def _stats_table(stats: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("column")
    keys = ["mean", "min", "p10", "p50", "p90", "max"]
    for k in keys:
        table.add_column(k, justify="right")
    for name, values in stats.items():
        table.add_row(name, *[f"{values[k]:,.3g}" if values.get(k) is not None else "" for k in keys])
    return table


@main.command()
@click.argument("path")
@click.option("--format", "format_", default=None,
              help="Input format (alpaca, belle, seed_tasks, gaokao, sharegpt, text, assay); guessed when left out.")
@click.option("--text-field", default=None,
              help="For --format text: the field(s) holding the text, comma-separated (default: text).")
@click.option("--column", default="text", show_default=True, help="Text column to summarize.")
def inspect(path: str, format_: str | None, text_field: str | None, column: str) -> None:
    """Show the schema, row count and a text summary of PATH.

    PATH is a file (JSONL, JSON, Parquet, CSV; .gz/.zst), a quoted glob, or an
    output folder of `assay run`.
    """
    from assay.inspect import inspect_path

    with expected_errors(also=(FileNotFoundError, ValueError, KeyError)):
        options = {"text_field": text_field.split(",")} if text_field else {}
        info = inspect_path(path, format=format_, column=column, progress=console.is_terminal, **options)
    if info["kind"] == "output":
        manifest = info["manifest"]
        click.echo(f"assay output '{manifest.name}' at {info['path']} (config {manifest.config_hash[:12]})")
        click.echo(f"rows: in {manifest.rows_in:,}, out {manifest.rows_out:,}, "
                   f"removed {manifest.removed_total:,}, quarantined {manifest.quarantined:,}"
                   + (f", upsampled {manifest.upsampled:,}" if manifest.upsampled else ""))
        click.echo("accounting: " + ("balances" if manifest.balances() else "does NOT balance: " + "; ".join(
            c.rule for c in manifest.checks() if not c.ok)))
        for shard in manifest.shards:
            click.echo(f"  {shard.path}: {shard.rows:,} rows, {shard.bytes:,} bytes")
        if info["schema"] is not None:
            click.echo("schema:")
            for field in info["schema"]:
                click.echo(f"  {field.name}: {field.type}")
        console.print(_stats_table(info["stats"], "column summary (stats.json)"))
        return
    from assay.schema import RECORD_SCHEMA

    click.echo(f"{len(info['files'])} file(s), format {info['format']}: "
               f"{info['rows']:,} rows, {info['quarantined']:,} malformed record(s)")
    for bad in info["quarantine_sample"]:
        click.echo(terminal_safe(f"  malformed: {bad['file']} line {bad['line']} record {bad['record']}: "
                                 f"{bad['error']}"))
    click.echo("schema (after mapping to the record schema):")
    for field in RECORD_SCHEMA:
        click.echo(f"  {field.name}: {field.type}")
    console.print(_stats_table(info["stats"], f"text_stats of '{column}'"))


@main.command()
@click.argument("output_dir", metavar="DIR|URL")
@click.option("--samples", "sample_rows", type=click.IntRange(min=0), default=3, show_default=True,
              help="Removed rows shown per reason (and quarantined records shown).")
@click.option("--chars", "sample_chars", type=click.IntRange(min=1), default=300, show_default=True,
              help="Characters of text shown per sampled row.")
def report(output_dir: str, sample_rows: int, sample_chars: int) -> None:
    """(Re)write DIR/report.html for the output folder DIR of `assay run` and print its path.

    The page is self-contained (inline SVG, no network): funnel of rows by step and
    reason, text lengths before/after, languages, source mix, duplicate clusters,
    a sample of removed rows per reason, and the accounting check.
    """
    from assay.report import write_report

    with expected_errors(also=(FileNotFoundError, ValueError)):
        path = write_report(output_dir, sample_rows=sample_rows, sample_chars=sample_chars)
    click.echo(str(path))


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue the run in the config's output folder: finished subsets "
                                              "and size trials are kept, the rest is run.")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error instead of one 'error:' line.")
def mine(config: str, resume: bool, debug: bool) -> None:
    """Fit a selection rule on your data (InstructMining), then search the subset size.

    CONFIG (YAML) names a scored pool (shards of a run with a `score` step), an evaluation
    set, the indicators, how many random subsets to fine-tune on, an `assay train` config
    and the size search. Writes OUTPUT/rule.yaml (for `assemble: {select: {rule: ...}}`),
    fit.json, subsets.jsonl, trials.jsonl, curve.json and report.html. See
    docs/selection.md.
    """
    from assay.train.cli import _quiet_transformers

    _quiet_transformers()
    with expected_errors(debug):
        from assay.selection.mine import run_mine

        result = run_mine(config, resume=resume, log=lambda line: click.echo(terminal_safe(line)))
    fit = result["fit"]
    click.echo(f"rule: {Path(result['output']) / 'rule.yaml'}  (R² {fit.r2:.3f}, leave-one-out {fit.r2_leave_one_out:.3f})")
    if result["curve"]:
        best = min(result["curve"], key=lambda c: c["eval_loss"])
        click.echo(f"best size: top {best['size']:,} rows by the rule, eval loss {best['eval_loss']:.4f}")


# The trainer's commands (torch is imported only when one of them runs).
from assay.train.cli import generate, merge, train  # noqa: E402

main.add_command(train)
main.add_command(merge)
main.add_command(generate)

if __name__ == "__main__":  # pragma: no cover
    main()
