"""Assembly: mixture weights, token budgets, domain prefixes and a deterministic global
shuffle, with Polars, in bounded memory.

The runner first writes the kept rows to a staging folder. Assembly then makes two
streaming passes:

1. each row gets ``copies`` = floor(weight) plus one more with probability
   frac(weight), decided by a stable hash of (source, id) and the seed, so sampling
   is the same on every machine; each copy gets a 64-bit shuffle key (XXH3 of
   source, id, copy and seed) and is appended to one of B bucket files by the key's
   top bits;
2. the buckets are read in key order, each sorted in memory, which gives a global
   sort by key, i.e. a seeded shuffle, with memory bounded by one bucket. Token
   budgets keep, per source, the rows whose cumulative token count in that order
   stays within the budget; the prefix is added; rows go to the shard writer.

Assembly is the run's last stage in the manifest (:class:`assay.manifest.AssembleCounts`):
``rows_in + upsampled = rows_out + sum(removed)``, with the reasons ``mix_downsample``
and ``token_budget``; the rows it removes go to ``rejects/NN-assemble-*.parquet`` like
the steps' rejects.
"""
from __future__ import annotations

import math
import shutil
import string
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay import _core
from assay.manifest import AssembleCounts, SourceCounts
from assay.selection.rules import SelectionConfig, resolve_rule, selected

__all__ = ["AssembleConfig", "assemble"]

_SAMPLE_SALT = 0x5A17_5A17_5A17_5A17
_KEY_SEP = "\x1f"


class AssembleConfig(BaseModel):
    """The ``assemble:`` section of a pipeline."""

    model_config = ConfigDict(extra="forbid")
    mix: dict[str, float] = Field(default_factory=dict)
    """Sampling weight per source (default 1.0): 0.5 keeps about half, 2.0 doubles, 0 drops."""
    prefix: str | None = None
    """Template of a domain prefix, e.g. ``"{domain}\\n"``; fields: domain, source. It is put
    before each row's ``text`` and written to a ``prefix`` column, which the trainer puts
    before an instruction's prompt and into a chat's system line. Rows whose domain is
    null get none."""
    token_budget: dict[str, int] = Field(default_factory=dict)
    """Maximum tokens per source, counted in shuffled order."""
    chars_per_token: float = Field(4.0, gt=0)
    """Token estimate when no tokenizer is given: ceil(characters / chars_per_token)."""
    tokenizer: str | None = None
    """Path of a Hugging Face ``tokenizer.json`` for exact token counts (needs ``tokenizers``)."""
    select: SelectionConfig | None = None
    """Keep the best rows by a rule (``{rule: instructmining-7b, top_k: 1000}``, see
    :mod:`assay.selection.rules`) before mixing; the others are removed as ``selection``
    (``unscored`` where an indicator is null)."""
    shuffle: bool = True
    shuffle_seed: int = Field(0, ge=0)
    bucket_bytes: int = Field(256 << 20, gt=0)
    """Bytes of staged Parquet per shuffle bucket (bounds memory)."""

    @field_validator("mix")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for source, weight in value.items():
            if weight < 0 or not math.isfinite(weight):
                raise ValueError(f"weight of {source!r} must be a finite number >= 0, got {weight}")
        return value

    @field_validator("prefix")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        if value is not None:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
            unknown = names - {"domain", "source"}
            if unknown:
                raise ValueError(f"prefix may use {{domain}} and {{source}}, not {sorted(unknown)}")
        return value


def _hash_column(df: pl.DataFrame, expr: pl.Expr, seed: int) -> pl.Series:
    keys = df.select(expr.alias("k")).to_series().to_arrow()
    return pl.Series(_core.hash64(keys, seed)).cast(pl.UInt64)


def _key(*parts: pl.Expr) -> pl.Expr:
    return pl.concat_str([p.cast(pl.Utf8) for p in parts], separator=_KEY_SEP)


class _Tokens:
    def __init__(self, cfg: AssembleConfig) -> None:
        self.cfg = cfg
        self.tokenizer = None
        if cfg.tokenizer:
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise ImportError("assemble.tokenizer needs the 'tokenizers' package: pip install tokenizers") from None
            self.tokenizer = Tokenizer.from_file(cfg.tokenizer)

    def count(self, texts: pl.Series) -> pl.Series:
        if self.tokenizer is None:
            return (texts.str.len_chars() / self.cfg.chars_per_token).ceil().cast(pl.Int64)
        encoded = self.tokenizer.encode_batch(texts.to_list(), add_special_tokens=False)
        return pl.Series([len(e.ids) for e in encoded], dtype=pl.Int64)


# Columns assembly adds while it works; none of them reaches the shards or rejects.
_WORK_COLUMNS = ("copies", "_order", "_tokens", "_keep")


class _Assembler:
    def __init__(self, cfg: AssembleConfig, writer: Any, sources: dict[str, SourceCounts], rejects: Any,
                 schema: pa.Schema | None) -> None:
        self.schema = schema
        self.cfg = cfg
        self.writer = writer
        self.rejects = rejects
        self.sources = sources
        self.counts = AssembleCounts()
        self.tokens_used: Counter = Counter()
        self.token_counter = _Tokens(cfg)

    def arrow(self, df: pl.DataFrame) -> pa.Table:
        """``df`` in the staged rows' Arrow types (Polars makes every string a large_string),
        so assembled shards have the schema of unassembled ones; new columns get plain strings."""
        table = df.to_arrow()
        types = {f.name: f.type for f in self.schema} if self.schema is not None else {}
        fields = [pa.field(f.name, types.get(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type))
                  for f in table.schema]
        return table.cast(pa.schema(fields))

    def reject(self, df: pl.DataFrame, reason: str) -> None:
        """Count rows removed for ``reason`` (per source too) and write them to the rejects."""
        if df.height == 0:
            return
        self.counts.removed[reason] = self.counts.removed.get(reason, 0) + df.height
        for source, n in df.group_by("source").len().iter_rows():
            self.sources[source].removed += n
        if self.rejects is not None:
            df = df.drop([c for c in _WORK_COLUMNS if c in df.columns])
            if "copy" not in df.columns:  # a row sampled out had no copy; budget rejects are copies
                df = df.with_columns(copy=pl.lit(None, pl.Int32))
            df = df.with_columns(reason=pl.lit(reason))
            for batch in self.arrow(df).to_batches():
                self.rejects.write(batch)

    def choose(self, staged: list[Path]) -> None:
        """Rank every staged row by the selection rule (reading only the columns it needs) and
        remember the row keys it keeps."""
        from assay.storage import parquet_file

        cfg = self.cfg.select
        rule_columns = resolve_rule(cfg.rule).columns()
        names = parquet_file(staged[0]).schema_arrow.names if staged else []
        with_lengths = "len_prompt" in names and "len_response" in names
        wanted = ["row_key", "source", *rule_columns]
        if cfg.budget_tokens is not None:
            wanted += ["len_prompt", "len_response"] if with_lengths else ["text"]
        columns = [c for c in dict.fromkeys(wanted) if c in names]
        frames = [pl.from_arrow(parquet_file(p).read(columns=columns)) for p in staged]
        df = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        tokens = None
        if cfg.budget_tokens is not None and df.height:
            tokens = ((df["len_prompt"].fill_null(0) + df["len_response"].fill_null(0)) if with_lengths
                      else self.token_counter.count(df["text"]))
        keep, reason = selected(df, cfg, tokens) if df.height else (pl.Series([], dtype=pl.Boolean), None)
        self.kept_keys = df["row_key"].filter(keep) if df.height else pl.Series([], dtype=pl.Int64)
        self.unscored_keys = df["row_key"].filter(reason == "unscored") if df.height else pl.Series([], dtype=pl.Int64)

    def apply_selection(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` without the rows the selection does not keep (counted and rejected)."""
        if self.cfg.select is None or df.height == 0:
            return df
        keep = df["row_key"].is_in(self.kept_keys.implode())
        out = df.filter(~keep)
        self.counts.rows_in += out.height
        unscored = out["row_key"].is_in(self.unscored_keys.implode())
        self.reject(out.filter(unscored), "unscored")
        self.reject(out.filter(~unscored), "selection")
        return df.filter(keep)

    def sample(self, df: pl.DataFrame) -> pl.DataFrame:
        """Rows repeated by their source's weight; a copy column numbers the repeats."""
        weight = pl.col("source").replace_strict(self.cfg.mix, default=1.0, return_dtype=pl.Float64)
        u = _hash_column(df, _key(pl.col("source"), pl.col("id")), self.cfg.shuffle_seed ^ _SAMPLE_SALT)
        df = df.with_columns(
            copies=(weight.floor() + (pl.Series(u).cast(pl.Float64) / 2.0**64 < weight - weight.floor()).cast(pl.Float64))
            .cast(pl.Int64)
        )
        self.counts.rows_in += df.height
        self.reject(df.filter(pl.col("copies") == 0), "mix_downsample")
        df = df.filter(pl.col("copies") > 0)
        for source, extra in df.group_by("source").agg((pl.col("copies") - 1).sum()).iter_rows():
            self.sources[source].upsampled += extra
            self.counts.upsampled += extra
        return df.with_columns(copy=pl.int_ranges(0, pl.col("copies"), dtype=pl.Int32)).explode("copy").drop("copies")

    def finish(self, df: pl.DataFrame) -> None:
        """Apply budgets and prefix to rows already in final order, and write them."""
        if df.height == 0:
            return
        if self.cfg.token_budget:
            tokens = self.token_counter.count(df["text"])
            df = df.with_columns(_tokens=tokens)
            cum = pl.col("_tokens").cum_sum().over("source")
            offset = pl.col("source").replace_strict(dict(self.tokens_used), default=0, return_dtype=pl.Int64)
            budget = pl.col("source").replace_strict(self.cfg.token_budget, default=None, return_dtype=pl.Int64)
            df = df.with_columns(_keep=budget.is_null() | (offset + cum <= budget))
            for source, n in df.group_by("source").agg(pl.col("_tokens").sum()).iter_rows():
                self.tokens_used[source] += n
            self.reject(df.filter(~pl.col("_keep")), "token_budget")
            df = df.filter(pl.col("_keep")).drop("_tokens", "_keep")
        if self.cfg.prefix:
            pieces = []
            for literal, name, _, _ in string.Formatter().parse(self.cfg.prefix):
                pieces += ([pl.lit(literal)] if literal else []) + ([pl.col(name)] if name else [])
            rendered = pl.concat_str(pieces)
            prefix = pl.when(pl.col("domain").is_not_null()).then(rendered).otherwise(pl.lit(None, pl.String))
            # text rows are trained on their text; the trainer puts the prefix column before
            # an instruction's prompt and into a chat's system line
            df = df.with_columns(prefix=prefix).with_columns(text=pl.col("prefix").fill_null("") + pl.col("text"))
        for source, n in df.group_by("source").len().iter_rows():
            self.sources[source].rows_out += n
        self.counts.rows_out += df.height
        for batch in self.arrow(df).to_batches():
            self.writer.write(batch)


def assemble(staged: list[Path], cfg: AssembleConfig, writer: Any, sources: dict[str, SourceCounts],
             work_dir: Path, rejects: Any = None) -> AssembleCounts:
    """Mix, shuffle, budget and prefix the staged rows into ``writer``; returns the counts.

    ``sources`` (per-source counts of the run) get their ``rows_out``, ``removed`` and
    ``upsampled`` updated; removed rows go to ``rejects`` (a shard writer) when given.
    ``work_dir`` holds the shuffle buckets and is removed afterwards.
    """
    for counts in sources.values():
        counts.rows_out = 0
    from assay.storage import parquet_file

    asm = _Assembler(cfg, writer, sources, rejects, parquet_file(staged[0]).schema_arrow if staged else None)
    if cfg.select is not None:
        asm.choose(staged)
    batches = (b for path in staged for b in parquet_file(path).iter_batches(batch_size=65_536))
    if not cfg.shuffle:
        for batch in batches:
            asm.finish(asm.sample(asm.apply_selection(pl.from_arrow(pa.Table.from_batches([batch])))))
        return asm.counts

    staged_bytes = sum(p.stat().st_size for p in staged)
    bits = max(0, math.ceil(math.log2(max(1, staged_bytes * 2 // cfg.bucket_bytes + 1))))
    n_buckets = 1 << bits
    work_dir.mkdir(parents=True, exist_ok=True)
    writers: dict[int, pq.ParquetWriter] = {}
    schema = None
    try:
        for batch in batches:
            df = asm.sample(asm.apply_selection(pl.from_arrow(pa.Table.from_batches([batch]))))
            if df.height == 0:
                continue
            order = _hash_column(df, _key(pl.col("source"), pl.col("id"), pl.col("copy")), cfg.shuffle_seed)
            bucket = pl.Series(order.to_numpy() >> np.uint64(64 - bits)) if bits else pl.lit(0, pl.UInt64)
            df = df.with_columns(_order=order, _bucket=bucket)
            for (bucket,), part in df.partition_by("_bucket", as_dict=True).items():
                table = part.drop("_bucket").to_arrow()
                if schema is None:
                    schema = table.schema
                table = table.cast(schema)
                if bucket not in writers:
                    writers[bucket] = pq.ParquetWriter(work_dir / f"bucket-{bucket:05d}.parquet", schema)
                writers[bucket].write_table(table)
        for w in writers.values():
            w.close()
        for bucket in range(n_buckets):
            path = work_dir / f"bucket-{bucket:05d}.parquet"
            if path.exists():
                df = pl.read_parquet(path).sort(["_order", "source", "id", "copy"]).drop("_order")
                asm.finish(df)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return asm.counts
