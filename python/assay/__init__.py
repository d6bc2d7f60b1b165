"""assay: prepare LLM training data, fast.

Library entry points (each takes a pyarrow Table/RecordBatch/Array/ChunkedArray, a
polars DataFrame/Series, a Hugging Face ``datasets.Dataset``, a pandas frame or a list of
str; a ``datasets.IterableDataset`` or ``pyarrow.RecordBatchReader`` is streamed batch by
batch). :mod:`assay.hf` has functions for ``Dataset.map`` and :mod:`assay.polars`
expressions for Polars queries.

>>> import assay
>>> assay.text_stats(["你好 world"]).column("words").to_pylist()
[3]
"""
from __future__ import annotations

import os

from assay._core import RustPanic, __version__
from assay.classifier import classify, train_classifier
from assay.content_langid import langid_rows
from assay.contamination import ContaminationIndex, contamination, redact_contamination
from assay.dedup import DedupIndex, exact_duplicates, minhash, near_duplicates, shingles
from assay.errors import AssayError, ConfigError, TrainError
from assay.fasttext_model import LID176_PATH, FastTextModel, load_model
from assay.io import RecordReader, read
from assay.langid import langid
from assay.manifest import Manifest
from assay.pii import PII_KINDS, pii, redact_pii
from assay.pipeline import PipelineError, load_pipeline, run_pipeline
from assay.quality import apply_filter, apply_filters, quality_signals, row_languages
from assay.report import write_report
from assay.schema import RECORD_SCHEMA
from assay.selection import indicators
from assay.stats import text_stats
from assay import hf  # noqa: E402  (functions for datasets' Dataset.map)

__all__ = [
    "AssayError",
    "ConfigError",
    "ContaminationIndex",
    "DedupIndex",
    "FastTextModel",
    "LID176_PATH",
    "Manifest",
    "PII_KINDS",
    "PipelineError",
    "RECORD_SCHEMA",
    "RecordReader",
    "RustPanic",
    "TrainError",
    "__version__",
    "apply_filter",
    "apply_filters",
    "classify",
    "contamination",
    "exact_duplicates",
    "hf",
    "indicators",
    "langid",
    "langid_rows",
    "load_model",
    "load_pipeline",
    "minhash",
    "near_duplicates",
    "pii",
    "polars",
    "quality_signals",
    "row_languages",
    "read",
    "redact_contamination",
    "redact_pii",
    "run_pipeline",
    "set_threads",
    "shingles",
    "text_stats",
    "thread_count",
    "train_classifier",
    "write_report",
]


def __getattr__(name: str):
    # assay.polars is imported on first use: polars costs import time that most calls never need.
    if name == "polars":
        import importlib

        return importlib.import_module("assay.polars")
    raise AttributeError(f"module 'assay' has no attribute {name!r}")


def set_threads(num_threads: int) -> int:
    """Size the Rust thread pool (rayon's global pool) used by every kernel.

    Call before the first kernel runs; the pool cannot be resized once started.
    ``RAYON_NUM_THREADS`` in the environment does the same without code.

    >>> import assay
    >>> n = assay.set_threads(assay.thread_count())  # a no-op when the size is unchanged
    """
    from assay import _core

    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    os.environ["RAYON_NUM_THREADS"] = str(num_threads)
    return _core.init_thread_pool(num_threads)


def thread_count() -> int:
    """Number of threads the Rust kernels run on (starts the pool if needed)."""
    from assay import _core

    return _core.thread_count()
