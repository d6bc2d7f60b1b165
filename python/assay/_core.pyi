"""Type stubs for the Rust extension ``assay._core`` (see rust_core/py)."""
from typing import Any

import pyarrow as pa

__version__: str

class RustPanic(RuntimeError):
    """A bug inside assay's Rust core (a panic), caught before it could abort Python."""

def text_stats(texts: Any) -> pa.Table:
    """Per-row text statistics of an Arrow string array or stream."""

def apply_filters(texts: Any, filters: list[tuple[str, str]], language: str) -> pa.Table:
    """Run web-text quality filters ``(name, params_json)`` in order: a (keep, reason) table."""

def quality_signals(texts: Any, language: str) -> pa.Table:
    """The raw quality signals of each text."""

def instruction_filter(
    instruction: Any | None,
    input: Any | None,
    output: Any | None,
    messages: Any | None,
    rows: int,
    params_json: str,
) -> pa.Table:
    """The instruction/chat filter over the record-schema columns: a (keep, reason) table."""

def thread_count() -> int:
    """Threads in rayon's global pool."""

def init_thread_pool(num_threads: int) -> int:
    """Start rayon's global pool with ``num_threads`` threads."""

def _panic_for_tests(message: str) -> None:
    """Panic inside a rayon worker (tests the panic guard)."""

def _quality_words(text: str, language: str) -> list[str]:
    """The words the quality filters count (tests and debugging)."""
