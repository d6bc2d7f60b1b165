"""assay inside Polars queries, as in a notebook: language, quality and dedup as expressions in a
lazy query over real web text, then the same query on Polars' streaming engine.

    .venv/bin/python examples/polars_queries.py
"""
from pathlib import Path

import polars as pl

import assay

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# Reuters newswire, as it ships: JSON Lines, gzip-compressed.
news = pl.read_ndjson(SAMPLES / "web" / "reuters_sample.jsonl.gz").select(
    pl.concat_str([pl.col("title").fill_null(""), pl.col("body").fill_null("")], separator="\n\n").alias("text"))

query = (
    news.lazy()
    .with_columns(assay.polars.langid("text").alias("lid"), assay.polars.text_stats("text").alias("stats"))
    .unnest("lid")
    .filter(pl.col("lang") == "en")
    .filter(~assay.polars.near_duplicates("text", threshold=0.8).struct.field("is_duplicate"))
    .filter(assay.polars.filters("text", ["gopher_repetition", "gopher_quality", "c4_quality"]).struct.field("keep"))
    .with_columns(pl.col("stats").struct.field("words"))
)
print(query.collect_schema())  # known before anything runs: the expressions declare their types
kept = query.collect()
print(f"{kept.height} rows kept of {news.height}; median words {kept['words'].median():.0f}")

streamed = query.collect(engine="streaming")
assert streamed.equals(kept)
print(kept.select("lang", "lang_score", "words").head(3))
