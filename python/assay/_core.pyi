"""Type stubs for the Rust extension ``assay._core`` (see rust_core/py)."""
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__version__: str

class RustPanic(RuntimeError):
    """A bug inside assay's Rust core (a panic), caught before it could abort Python."""

def text_stats(texts: Any) -> pa.Table:
    """Per-row text statistics of an Arrow string array or stream."""

def content_text(texts: Any) -> pa.Table:
    """``content`` (each string with code, math, URLs, e-mail addresses and markup masked out)
    and its letters, han, kana, hangul and other_words (int64)."""

def script_counts(texts: Any) -> pa.Table:
    """Per-row letters, han, kana, hangul and other_words (int64) of an Arrow string array or stream."""

def hash64(texts: Any, seed: int = 0) -> pa.ChunkedArray:
    """XXH3-64 of each string (uint64; null stays null): stable across machines and versions."""

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
    def predict_content(self, texts: Any) -> pa.Table:
        """Per-row ``label``/``score`` of the content (see ``content_text``) and its script counts."""

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


def shingles(text: str, ngram: int, unit: str) -> list[bytes]:
    """The shingles of one text (the byte strings MinHash hashes)."""

def normalize_text(text: str) -> str:
    """The normalized text shingles and normalized exact keys are made from."""

def minhash(texts: Any, num_perm: int, seed: int, scheme: str, ngram: int, unit: str) -> np.ndarray:
    """Flat (rows * num_perm) signatures: uint32 for affine32, uint64 for legacy."""

def optimal_lsh_params(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> tuple[int, int]:
    """datasketch's `_optimal_param` (bands, rows)."""

def recall_lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """assay's recall-first (bands, rows)."""

_Assigned = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]

class DedupIndex:
    """The streaming near-duplicate index."""

    def __init__(
        self, threshold: float, num_perm: int, bands: int, rows: int, seed: int, ngram: int, unit: str, verify: bool,
        scheme: str = "affine32",
    ) -> None: ...
    def add(self, texts: Any, order: npt.NDArray[np.int64] | None = None,
            row_keys: npt.NDArray[np.int64] | None = None) -> _Assigned:
        """(cluster_id, running cluster_size, is_duplicate) per row; rows named by ``row_keys``."""
    def band_keys(self, texts: Any) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Each row's band keys (flat, rows * bands) and whether it has shingles."""
    def save(self, path: str) -> None: ...
    @staticmethod
    def load(path: str) -> DedupIndex: ...
    def config(self) -> dict[str, Any]: ...
    @property
    def rows_seen(self) -> int: ...
    @property
    def num_clusters(self) -> int: ...
    @property
    def band_table_bytes(self) -> int: ...
    @property
    def signature_bytes(self) -> int: ...

def exact_key_hashes(columns: list[Any], normalize: bool) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """The 128-bit exact-dedup key of each row (high, low halves) and whether it has one."""

class ExactIndex:
    """First-seen clustering of 128-bit exact keys."""

    def __init__(self) -> None: ...
    def add(self, columns: list[Any], normalize: bool, order: npt.NDArray[np.int64] | None = None,
            row_keys: npt.NDArray[np.int64] | None = None) -> _Assigned:
        """(cluster_id, running cluster_size, is_duplicate) per row; rows named by ``row_keys``."""
    @property
    def rows_seen(self) -> int: ...
    def __len__(self) -> int: ...
    def save(self, path: str) -> None:
        """Write the index (binary, versioned)."""
    @staticmethod
    def load(path: str) -> ExactIndex:
        """Read an index written by ``save``."""
class JsonSplitter:
    """Records cut from JSON text fed in chunks: the items of top-level arrays, other
    top-level values whole; a record over ``max_record_bytes`` is skipped and given as its size."""

    def __init__(self, max_record_bytes: int) -> None: ...
    def feed(self, chunk: bytes) -> list[bytes | int]:
        """The records that ended in ``chunk``: bytes, or the size (int) of one over the limit."""
    def finish(self) -> list[bytes | int]:
        """A record left open at the end of the text (the parser refuses it if it is cut short)."""
    @property
    def pending_bytes(self) -> int: ...
    @property
    def in_open_array(self) -> bool: ...

class JsonLinesAdapter:
    """JSON Lines of the ``text``, ``alpaca``, ``belle`` or ``sharegpt`` format adapted to
    record-schema batches (see ``assay.io.rust_lines``)."""

    def __init__(self, format: str, source: str, file: str, id_field: str, text_fields: list[str],
                 domain: str | None, max_record_bytes: int) -> None: ...
    def adapt(self, data: bytes, first_line: int, first_index: int) -> tuple[
            pa.RecordBatch, npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.bool_],
            npt.NDArray[np.uint64], npt.NDArray[np.uint64], list[tuple[int, str, int, int, int, int]], int, int]:
        """(batch, record index, line, own id, span starts, span ends, events, lines, records) of
        the complete lines ``data``: events are the lines left to Python or over the size limit."""
    def adapt_records(self, pieces: list[bytes | int], first_index: int) -> tuple[tuple[
            pa.RecordBatch, npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.bool_],
            npt.NDArray[np.uint64], npt.NDArray[np.uint64], list[tuple[int, str, int, int, int, int]], int, int], bytes]:
        """``adapt``'s tuple for the records ``JsonSplitter`` cut (``bytes``, or the ``int`` size
        of a record over the limit), spans in the pieces joined (returned last); lines are 0."""

class LineCounter:
    """Lines and records of JSON Lines text fed in pieces, numbered as ``JsonLinesAdapter.adapt``
    numbers them (a record: a line not blank, or over ``max_record_bytes``)."""

    def __init__(self, max_record_bytes: int) -> None: ...
    def feed(self, data: bytes) -> None: ...
    def finish(self) -> tuple[int, int]:
        """``(lines, records)``, a last line without its newline counted."""

class ContaminationIndex:
    """The n-grams of evaluation items (see :mod:`assay.contamination`)."""

    @staticmethod
    def build(ids: list[str], fields: list[Any], ngram: int, unit: str) -> ContaminationIndex:
        """Item ``i`` is row ``i`` of every array in ``fields`` (nulls skipped), named ``ids[i]``."""
    @staticmethod
    def from_bytes(data: bytes) -> ContaminationIndex:
        """The index ``to_bytes`` wrote; ``ValueError`` when damaged or foreign."""
    def to_bytes(self) -> bytes: ...
    def check(self, texts: Any) -> pa.Table:
        """``contam_ngrams``, ``contam_fraction``, ``contam_eval_id`` per row."""
    def redact(self, texts: Any, margin: int) -> pa.Table:
        """The cut ``text`` (null stays null) and ``contam_cut`` per row."""
    @property
    def ngram(self) -> int: ...
    @property
    def unit(self) -> str: ...
    @property
    def ids(self) -> list[str]: ...
    @property
    def item_sizes(self) -> list[int]: ...
    @property
    def memory_bytes(self) -> int: ...
    def __len__(self) -> int: ...
def pii_spans(texts: Any, kinds: list[str], public_ips_only: bool) -> pa.Table:
    """One row per match: ``row``, ``start``, ``end`` (character offsets), ``kind``, ``text``."""
def pii_redact(texts: Any, kinds: list[str], public_ips_only: bool, replacement: str, seed: int) -> pa.Table:
    """The redacted ``text``, ``pii_count`` and ``pii_kinds`` per row."""
def _quality_words(text: str, language: str) -> list[str]:
    """The words the quality filters count (tests and debugging)."""
