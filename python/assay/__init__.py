"""assay: prepare LLM training data, fast.

Library entry points (each takes a pyarrow Table/RecordBatch/Array/ChunkedArray, a
polars DataFrame/Series, a pandas frame or a list of str):

>>> import assay
>>> assay.text_stats(["你好 world"]).column("words").to_pylist()
[3]
"""
from __future__ import annotations

import os

from assay._core import RustPanic, __version__
from assay.quality import apply_filter, apply_filters, quality_signals
from assay.stats import text_stats

__all__ = [
    "RustPanic",
    "__version__",
    "apply_filter",
    "apply_filters",
    "quality_signals",
    "set_threads",
    "thread_count",
    "text_stats",
]


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
