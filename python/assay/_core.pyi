"""Type stubs for the Rust extension ``assay._core`` (see rust_core/py)."""
from typing import Any

import pyarrow as pa

__version__: str

class RustPanic(RuntimeError):
    """A bug inside assay's Rust core (a panic), caught before it could abort Python."""

def text_stats(texts: Any) -> pa.Table:
    """Per-row text statistics of an Arrow string array or stream."""

def hash64(texts: Any, seed: int = 0) -> pa.ChunkedArray:
    """XXH3-64 of each string (uint64; null stays null): stable across machines and versions."""

def thread_count() -> int:
    """Threads in rayon's global pool."""

def init_thread_pool(num_threads: int) -> int:
    """Start rayon's global pool with ``num_threads`` threads."""

def _panic_for_tests(message: str) -> None:
    """Panic inside a rayon worker (tests the panic guard)."""
