"""Type stubs for the Rust extension ``assay._core`` (see rust_core/py)."""
from typing import Any

import numpy as np
import pyarrow as pa

__version__: str

class RustPanic(RuntimeError):
    """A bug inside assay's Rust core (a panic), caught before it could abort Python."""

def text_stats(texts: Any) -> pa.Table:
    """Per-row text statistics of an Arrow string array or stream."""

class FastTextModel:
    """A fastText supervised model (``.bin`` / ``.ftz``) read and run by assay-core."""

    def __init__(self, path: str) -> None: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def dim(self) -> int: ...
    @property
    def loss(self) -> str: ...
    @property
    def quantized(self) -> bool: ...
    def args(self) -> dict[str, Any]: ...
    def predict_line(self, text: str, k: int, threshold: float) -> tuple[tuple[str, ...], np.ndarray]:
        """One line: labels and float64 probabilities (no newline check)."""
    def predict_lines(
        self, texts: list[str], k: int, threshold: float
    ) -> tuple[list[list[str]], list[np.ndarray]]:
        """Many lines in parallel: label lists and float32 probability arrays."""
    def predict_arrow(self, texts: Any, k: int = 1, threshold: float = 0.0, lists: bool = False) -> pa.Table:
        """Per-row ``label``/``score`` (and ``labels``/``scores`` lists); newlines read as spaces."""

def thread_count() -> int:
    """Threads in rayon's global pool."""

def init_thread_pool(num_threads: int) -> int:
    """Start rayon's global pool with ``num_threads`` threads."""

def _panic_for_tests(message: str) -> None:
    """Panic inside a rayon worker (tests the panic guard)."""
