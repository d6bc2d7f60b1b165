"""Type stubs for the Rust extension ``assay._core`` (see rust_core/py)."""
from typing import Any

import pyarrow as pa

__version__: str

class RustPanic(RuntimeError):
    """A bug inside assay's Rust core (a panic), caught before it could abort Python."""

def text_stats(texts: Any) -> pa.Table:
    """Per-row text statistics of an Arrow string array or stream."""

def thread_count() -> int:
    """Threads in rayon's global pool."""

def init_thread_pool(num_threads: int) -> int:
    """Start rayon's global pool with ``num_threads`` threads."""

def _panic_for_tests(message: str) -> None:
    """Panic inside a rayon worker (tests the panic guard)."""
