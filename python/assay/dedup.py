"""Exact and near-duplicate detection (MinHash LSH, bit-compatible with datasketch 2.x).

Shingles
    :func:`shingles` gives the byte strings that get hashed. Text is normalized first:
    NFKC, lowercase, then white space, punctuation, control characters and math /
    currency / modifier symbols separate tokens (a run of them is one boundary), format
    characters (zero-width joiner, soft hyphen) are dropped, emoji and other symbols are
    kept. ``unit="word"``: word n-grams joined by one space. ``unit="auto"``: each
    character of an unspaced script (Han, Hiragana, Katakana, Bopomofo, Thai, Lao, Khmer,
    Myanmar, Tibetan, Yi, Javanese, Balinese) is a token of its own and n-grams of
    tokens are written as in the normalized text (CJK characters join with nothing,
    other tokens with one space), so Chinese gives character n-grams and English word
    n-grams inside one document. ``unit="char"``: code-point n-grams of the normalized
    text. A text with fewer than n units gives one shingle, the whole normalized text;
    an empty text (or one of separators only) gives none.

Signatures
    :func:`minhash` row i equals ``datasketch.MinHash(num_perm, seed, scheme).hashvalues``
    after ``update_batch(shingles(text_i))``, for ``scheme="affine32"`` (uint32) and
    ``"legacy"`` (uint64).

Near duplicates
    :class:`DedupIndex` / :func:`near_duplicates` band ``affine32`` signatures into an
    LSH index and verify every candidate against its cluster's survivor: a document
    joins a cluster only when the estimated Jaccard similarity with the survivor is at
    least ``threshold``. Defaults are chosen for recall (see :func:`lsh_params`):
    128 permutations, 8 bands of 5 rows for threshold 0.8, which makes 95.8% of the
    pairs at J = 0.8 candidates (datasketch's optimum (9, 13) makes 40%):

    ====  ==========  ====================
    J     assay (8,5)  datasketch opt. (9,13)
    ====  ==========  ====================
    0.5   0.224       0.001
    0.6   0.477       0.012
    0.7   0.771       0.084
    0.8   0.958       0.399
    0.85  0.991       0.686
    0.9   0.9992      0.929
    0.95  1.0000      0.9985
    ====  ==========  ====================
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay import _core
from assay._data import _to_arrow_table_like, column_of, is_stream, per_batch, row_ids_of, stream_batches

__all__ = [
    "DEFAULT_NUM_PERM",
    "DedupIndex",
    "ExactDedupIndex",
    "KEY_FIELDS",
    "exact_duplicates",
    "key_columns",
    "key_text",
    "lsh_params",
    "minhash",
    "near_duplicates",
    "normalize_text",
    "optimal_lsh_params",
    "shingles",
]

DEFAULT_NUM_PERM = 128
"""Permutations of the near-duplicate defaults."""

_UNITS = ("word", "char", "auto")
_SCHEMES = ("affine32", "legacy", "xxh3")


def _check_unit(unit: str) -> None:
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}")


def normalize_text(text: str) -> str:
    """The normalized text that shingles and normalized exact keys are made from.

    >>> normalize_text("Hello,  WORLD! 你好，世界")
    'hello world 你好世界'
    """
    return _core.normalize_text(text)


def shingles(text: str, *, ngram: int = 5, unit: str = "auto") -> list[bytes]:
    """The shingles of one text: the exact byte strings MinHash hashes (see module doc).

    >>> shingles("The quick, brown fox!", ngram=2)
    [b'the quick', b'quick brown', b'brown fox']
    >>> [s.decode() for s in shingles("我用iPhone拍照", ngram=3)]
    ['我用 iphone', '用 iphone 拍', 'iphone 拍照']
    >>> shingles("short", ngram=5), shingles("", ngram=5)
    ([b'short'], [])
    """
    if not isinstance(text, str):
        raise TypeError(f"shingles takes one str, got {type(text).__name__}")
    _check_unit(unit)
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    return _core.shingles(text, ngram, unit)


@per_batch
def minhash(
    data: Any,
    *,
    column: str = "text",
    num_perm: int = 128,
    seed: int = 1,
    scheme: str = "affine32",
    ngram: int = 5,
    unit: str = "auto",
) -> np.ndarray:
    """MinHash signatures, shape (rows, num_perm), equal to datasketch's ``hashvalues``.

    Row i is ``datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=scheme)`` after
    ``update_batch(shingles(text_i, ngram=ngram, unit=unit))``: uint32 for
    ``"affine32"``, uint64 for ``"legacy"``. ``"xxh3"`` is assay's own, not datasketch's:
    each shingle hashed with 64-bit XXH3 (halves xor-ed to 32 bits) instead of SHA-1, then
    ``affine32``'s permutations; uint32, several times faster, as good an estimate. A null or empty text gives the empty
    sketch (every value 2**32 - 1). Runs on all Rust threads.

    >>> sig = minhash(["hello world", None], num_perm=4)
    >>> sig.shape, sig.dtype, int(sig[1, 0])
    ((2, 4), dtype('uint32'), 4294967295)
    """
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    _check_unit(unit)
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    flat = _core.minhash(column_of(data, column), num_perm, seed, scheme, ngram, unit)
    return flat.reshape(-1, num_perm)


def optimal_lsh_params(
    threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """datasketch's ``MinHashLSH`` (bands, rows) for a threshold (``_optimal_param``).

    >>> optimal_lsh_params(0.8, 128), optimal_lsh_params(0.7, 128)
    ((9, 13), (14, 9))
    """
    return _core.optimal_lsh_params(threshold, num_perm, weights[0], weights[1])


def lsh_params(
    threshold: float = 0.8,
    num_perm: int | None = None,
    bands: int | None = None,
    rows: int | None = None,
) -> tuple[int, int, int]:
    """Resolve (num_perm, bands, rows) the way the dedup functions do.

    ``num_perm`` defaults to :data:`DEFAULT_NUM_PERM`. With neither ``bands`` nor
    ``rows``: 8 bands (the band tables stay under 100 bytes per document) of the most
    rows that still make at least 95% of the pairs at exactly ``threshold`` candidates;
    candidate probability is ``1 - (1 - J**rows)**bands``. With one of them, the other
    is ``num_perm // given``.

    >>> lsh_params(0.8), lsh_params(0.7), lsh_params(0.9, 256)
    ((128, 8, 5), (128, 8, 3), (256, 8, 11))
    >>> lsh_params(0.8, 128, bands=16)
    (128, 16, 8)
    """
    num_perm = DEFAULT_NUM_PERM if num_perm is None else int(num_perm)
    if bands is None and rows is None:
        bands, rows = _core.recall_lsh_params(threshold, num_perm)
    elif bands is None:
        bands = num_perm // rows
    elif rows is None:
        rows = num_perm // bands
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"bands * rows must be between 1 and num_perm={num_perm}, got {bands} * {rows}")
    return num_perm, int(bands), int(rows)


def _to_chunked(column: Any) -> pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray):
        return column
    if isinstance(column, pa.Array):
        return pa.chunked_array([column])
    return pa.chunked_array(column)


def _keep_order(data: Any, texts: Any, keep: str) -> np.ndarray | None:
    """Processing order for a keep policy: highest priority first, ties by input order."""
    if keep == "first":
        return None
    if keep == "longest":
        lengths = pc.utf8_length(_to_chunked(texts).cast(pa.large_string()))
        values = pc.fill_null(lengths, -1).to_numpy().astype(np.float64)
    else:
        table = _to_arrow_table_like(data)
        if table is None or keep not in table.schema.names:
            raise ValueError(f"keep must be 'first', 'longest' or the name of a numeric column of the data, got {keep!r}")
        column = table.column(keep)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise ValueError(f"keep column {keep!r} must be numeric, got {column.type}")
        values = pc.fill_null(column.cast(pa.float64()), -np.inf).to_numpy().astype(np.float64)
        values = np.where(np.isnan(values), -np.inf, values)
    return np.argsort(-values, kind="stable").astype(np.int64)


def _result_table(data: Any, cluster_id: np.ndarray, cluster_size: np.ndarray, is_duplicate: np.ndarray) -> pa.Table:
    columns: dict[str, Any] = {}
    ids = row_ids_of(data)
    if ids is not None:
        columns["id"] = ids
    columns["cluster_id"] = pa.array(cluster_id, pa.int64())
    columns["cluster_size"] = pa.array(cluster_size, pa.int64())
    columns["is_duplicate"] = pa.array(is_duplicate, pa.bool_())
    return pa.table(columns)


def _int64s(values: Any) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy()
    return np.ascontiguousarray(values, dtype=np.int64)


def _final_sizes(cluster_id: np.ndarray) -> np.ndarray:
    if len(cluster_id) == 0:
        return cluster_id.copy()
    _, inverse, counts = np.unique(cluster_id, return_inverse=True, return_counts=True)
    return counts[inverse].astype(np.int64)


class DedupIndex:
    """Streaming near-duplicate index: ``add(batch)`` returns that batch's table.

    The state carries across batches, so a document is compared with every earlier one;
    the first document of a cluster is its survivor (``keep="first"``). Each output
    row has ``id`` (when the batch has one), ``cluster_id`` (global row number of the
    survivor, counting every row ever added, including a loaded corpus),
    ``cluster_size`` (the cluster's size right after the row joined it) and
    ``is_duplicate``. Results do not depend on batch size or thread count.
    :meth:`save` / :meth:`load` keep an index for a later run.

    >>> index = DedupIndex(threshold=0.8)
    >>> index.add(["the cat sat on the mat today", "x"]).column("is_duplicate").to_pylist()
    [False, False]
    >>> index.add(["The cat sat on the mat, today!"]).to_pylist()
    [{'cluster_id': 0, 'cluster_size': 2, 'is_duplicate': True}]
    """

    def __init__(
        self,
        *,
        column: str = "text",
        threshold: float = 0.8,
        num_perm: int | None = None,
        bands: int | None = None,
        rows: int | None = None,
        ngram: int = 5,
        unit: str = "auto",
        verify: bool = True,
        seed: int = 1,
        scheme: str = "affine32",
    ) -> None:
        _check_unit(unit)
        if scheme not in ("affine32", "xxh3"):
            raise ValueError(f"scheme must be 'affine32' or 'xxh3', got {scheme!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        num_perm, bands, rows = lsh_params(threshold, num_perm, bands, rows)
        self.column = column
        self._index = _core.DedupIndex(threshold, num_perm, bands, rows, seed, ngram, unit, verify, scheme)

    @classmethod
    def _wrap(cls, index: Any, column: str) -> "DedupIndex":
        self = cls.__new__(cls)
        self.column = column
        self._index = index
        return self

    @property
    def config(self) -> dict:
        """threshold, num_perm, bands, rows, seed, ngram, unit, verify and scheme."""
        return self._index.config()

    @property
    def rows_seen(self) -> int:
        """Rows added so far (the next row's global number)."""
        return self._index.rows_seen

    @property
    def num_clusters(self) -> int:
        """Clusters (survivors) so far."""
        return self._index.num_clusters

    @property
    def band_table_bytes(self) -> int:
        """Bytes of the LSH band tables."""
        return self._index.band_table_bytes

    @property
    def signature_bytes(self) -> int:
        """Bytes of the survivors' signatures kept to verify candidates."""
        return self._index.signature_bytes

    def add(self, data: Any, *, order: np.ndarray | None = None, row_keys: np.ndarray | None = None) -> pa.Table:
        """Add a batch; returns its rows' ``cluster_id``, ``cluster_size``, ``is_duplicate``.

        ``row_keys`` (distinct int64 >= 0, one per row) names the rows instead of their
        running numbers, so a ``cluster_id`` is the survivor's row key."""
        texts = column_of(data, self.column)
        cluster_id, cluster_size, is_duplicate = self._index.add(texts, order, _int64s(row_keys))
        return _result_table(data, cluster_id, cluster_size, is_duplicate)

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` (a versioned binary file)."""
        self._index.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, column: str = "text") -> "DedupIndex":
        """Read an index written by :meth:`save`; new rows continue its row numbers."""
        return cls._wrap(_core.DedupIndex.load(os.fspath(path)), column)


def near_duplicates(
    data: Any,
    *,
    column: str = "text",
    threshold: float = 0.8,
    num_perm: int | None = None,
    bands: int | None = None,
    rows: int | None = None,
    ngram: int = 5,
    unit: str = "auto",
    verify: bool = True,
    keep: str = "first",
    seed: int = 1,
    scheme: str = "affine32",
) -> pa.Table:
    """Cluster near-duplicate rows (MinHash LSH, then verification against the survivor).

    Returns the input's ``id`` column when it has one, ``cluster_id`` (int64, the row
    index of the cluster's survivor), ``cluster_size`` and ``is_duplicate`` (true for
    every member but the survivor). ``keep``: ``"first"`` (input order),
    ``"longest"`` (most characters), or a numeric column's name (highest wins); ties
    break by input order. ``verify=True`` drops candidates whose estimated Jaccard
    similarity with the survivor is below ``threshold``. Texts without shingles (null,
    empty) are never duplicates. A stream (``datasets.IterableDataset``,
    ``pyarrow.RecordBatchReader``) is read batch by batch into the index, with
    ``keep="first"``; the result is the same table. ``scheme``: ``"affine32"``
    (datasketch's signatures) or ``"xxh3"`` (faster; see :func:`minhash`).

    >>> docs = ["a b c d e f g h i j", "A b c d e f g h i j!", "something else entirely"]
    >>> near_duplicates(docs, keep="longest").to_pylist()[0]
    {'cluster_id': 1, 'cluster_size': 2, 'is_duplicate': True}
    """
    index = DedupIndex(
        column=column, threshold=threshold, num_perm=num_perm, bands=bands, rows=rows,
        ngram=ngram, unit=unit, verify=verify, seed=seed, scheme=scheme,
    )
    if is_stream(data):
        return _stream_duplicates(index, data, keep)
    texts = column_of(data, column)
    order = _keep_order(data, texts, keep)
    cluster_id, _, is_duplicate = index._index.add(texts, order)
    return _result_table(data, cluster_id, _final_sizes(cluster_id), is_duplicate)


# ---------------------------------------------------------------------------------
# Exact duplicates

KEYS = ("text", "prompt", "prompt_response", "messages")
"""Dedup keys for records: ``prompt`` = instruction + input, ``prompt_response`` adds
output, ``messages`` = the whole chat; rows without the key's fields fall back to text."""

KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "prompt": ("instruction", "input"),
    "prompt_response": ("instruction", "input", "output"),
    "messages": ("messages",),
}


def _as_array(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_string(column.type):
            column = column.cast(pa.large_string())
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _render_messages(column: Any) -> pa.Array:
    """Chat messages as one string per row: ``role: content`` lines joined by newlines."""
    messages = _as_array(column)
    if pa.types.is_string(messages.type) or pa.types.is_large_string(messages.type):
        return messages
    flat = messages.flatten()
    lines = pc.binary_join_element_wise(
        pc.fill_null(flat.field("role").cast(pa.large_string()), ""),
        pc.fill_null(flat.field("content").cast(pa.large_string()), ""),
        pa.scalar(": ", pa.large_string()),
    )
    offsets = pc.subtract(messages.offsets, messages.offsets[0])
    rebuilt = pa.ListArray.from_arrays(offsets, lines, mask=messages.is_null())
    return pc.binary_join(rebuilt, pa.scalar("\n", pa.large_string()))


def _string_column(table: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    if name not in table.schema.names:
        return pa.nulls(table.num_rows, pa.large_string())
    column = _as_array(table.column(name))
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return _render_messages(column)
    return column.cast(pa.large_string())


def _key_fields(data: Any, key: str) -> tuple[list[pa.Array], pa.Array | None]:
    """The key's fields as strings, and which rows have them all empty (None for ``text``)."""
    if key not in KEY_FIELDS:
        raise ValueError(f"key must be one of {KEYS}, got {key!r}")
    table = _to_arrow_table_like(data)
    if table is None:
        raise TypeError("a record key needs a table (pyarrow Table/RecordBatch, polars or pandas frame)")
    parts = [_string_column(table, name) for name in KEY_FIELDS[key]]
    if key == "text":
        return parts, None
    lengths = [pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(p)), 0) for p in parts]
    empty = pc.equal(lengths[0] if len(lengths) == 1 else pc.max_element_wise(*lengths), 0)
    return parts, empty


def key_columns(data: Any, key: str = "text") -> list[pa.Array]:
    """The key fields of each row for a record key (``text``, ``prompt``,
    ``prompt_response``, ``messages``), one array per field; chat ``messages`` become
    their ``role: content`` lines. A row whose key fields are all empty (e.g. a text row
    under ``key="prompt"``) has its ``text`` as the first field instead and the others null.
    Exact dedup hashes these fields framed one by one (in Rust, as :func:`exact_duplicates`
    does with ``columns``), so ``("a b", "c")`` and ``("a", "b c")`` stay apart.

    >>> import pyarrow as pa
    >>> t = pa.table({"instruction": ["Add", None], "input": ["1+1", None],
    ...               "output": ["2", None], "text": ["Add\\n1+1\\n2", "plain"]})
    >>> [c.to_pylist() for c in key_columns(t, "prompt")]
    [['Add', 'plain'], ['1+1', None]]
    """
    parts, empty = _key_fields(data, key)
    if empty is None:
        return parts
    text = _string_column(_to_arrow_table_like(data), "text")
    none = pa.scalar(None, pa.large_string())
    return [pc.if_else(empty, text, parts[0])] + [pc.if_else(empty, none, p) for p in parts[1:]]


def key_text(data: Any, key: str = "text", *, separator: str = "\n") -> pa.Array:
    """One string per row for a record key (what near-dedup shingles): the fields of
    :func:`key_columns` joined by ``separator``; a row whose key fields are all empty
    uses its ``text``.

    >>> import pyarrow as pa
    >>> t = pa.table({"instruction": ["Add", None], "input": ["1+1", None],
    ...               "output": ["2", None], "text": ["Add\\n1+1\\n2", "plain"]})
    >>> key_text(t, "prompt").to_pylist()
    ['Add\\n1+1', 'plain']
    """
    parts, empty = _key_fields(data, key)
    parts = [pc.fill_null(p, "") for p in parts]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, pa.scalar(separator, pa.large_string()))
    if empty is None:
        return joined
    return pc.if_else(empty, _string_column(_to_arrow_table_like(data), "text"), joined)


def _key_arrays(data: Any, columns: Sequence[str]) -> list[pa.Array]:
    table = _to_arrow_table_like(data)
    if table is None:
        if len(columns) != 1:
            raise ValueError("several key columns need table-shaped data")
        return [_as_array(_to_chunked(column_of(data))).cast(pa.large_string())]
    for name in columns:
        if name not in table.schema.names:
            raise KeyError(f"column {name!r} not found; the data has columns {table.schema.names}")
    return [_string_column(table, name) for name in columns]


class ExactDedupIndex:
    """Streaming exact-duplicate index (128-bit XXH3 keys), like :class:`DedupIndex`.

    >>> index = ExactDedupIndex()
    >>> index.add(["Hello, world", "other"]).column("is_duplicate").to_pylist()
    [False, False]
    >>> index.add(["hello world!"]).column("cluster_id").to_pylist()
    [0]
    """

    def __init__(self, *, columns: Iterable[str] = ("text",), normalize: bool = True) -> None:
        self.columns = list(columns)
        if not self.columns:
            raise ValueError("columns must name at least one key column")
        self.normalize = normalize
        self._index = _core.ExactIndex()

    @property
    def rows_seen(self) -> int:
        return self._index.rows_seen

    def add(self, data: Any, *, order: np.ndarray | None = None, row_keys: np.ndarray | None = None) -> pa.Table:
        """Add a batch; returns its rows' ``cluster_id``, ``cluster_size``, ``is_duplicate``
        (rows named by ``row_keys`` when given, as in :meth:`DedupIndex.add`)."""
        arrays = _key_arrays(data, self.columns)
        cluster_id, cluster_size, is_duplicate = self._index.add(arrays, self.normalize, order, _int64s(row_keys))
        return _result_table(data, cluster_id, cluster_size, is_duplicate)

    def save(self, path: str | os.PathLike) -> None:
        """Write the keys seen so far (binary, versioned) for a later :meth:`load`."""
        self._index.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, columns: Iterable[str] = ("text",),
             normalize: bool = True) -> "ExactDedupIndex":
        """Read an index written by :meth:`save`; new rows are deduplicated against it.

        >>> import tempfile, os
        >>> index = ExactDedupIndex()
        >>> _ = index.add(["same text"])
        >>> path = os.path.join(tempfile.mkdtemp(), "exact.idx")
        >>> index.save(path)
        >>> ExactDedupIndex.load(path).add(["Same text!"]).column("is_duplicate").to_pylist()
        [True]
        """
        index = cls(columns=columns, normalize=normalize)
        index._index = _core.ExactIndex.load(os.fspath(path))
        return index


def exact_duplicates(
    data: Any,
    *,
    columns: Sequence[str] = ("text",),
    normalize: bool = True,
    keep: str = "first",
) -> pa.Table:
    """Cluster rows whose key is identical: a 128-bit hash (XXH3-128) of the values of
    ``columns`` (each normalized like shingles when ``normalize``: NFKC, lowercase,
    punctuation and white space folded). A null value counts as empty; a row whose
    key values are all empty is never a duplicate. A list column (chat ``messages``)
    is keyed on its ``role: content`` lines. Same output columns and ``keep`` policies
    as :func:`near_duplicates`. For instruction rows use
    ``columns=["instruction", "input"]`` (prompt) or add ``"output"``. Streams as in
    :func:`near_duplicates`.

    >>> exact_duplicates(["Hello, World", "hello world!", "bye"]).column("cluster_id").to_pylist()
    [0, 0, 2]
    """
    index = ExactDedupIndex(columns=columns, normalize=normalize)
    if is_stream(data):
        return _stream_duplicates(index, data, keep)
    arrays = _key_arrays(data, index.columns)
    order = _keep_order(data, arrays[0], keep) if keep != "first" else None
    cluster_id, _, is_duplicate = index._index.add(arrays, normalize, order)
    return _result_table(data, cluster_id, _final_sizes(cluster_id), is_duplicate)


def _stream_duplicates(index: DedupIndex | ExactDedupIndex, data: Any, keep: str) -> pa.Table:
    """Dedup a stream batch by batch through ``index``: the same table as for the whole data
    at once (``cluster_size`` is the final size), with only the index held in memory."""
    if keep != "first":
        raise ValueError(f"keep={keep!r} orders rows across the whole data, which a stream cannot "
                         "revisit; use keep='first' or pass in-memory data")
    parts = [index.add(batch) for batch in stream_batches(data)]
    if not parts:
        return _result_table([], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    table = pa.concat_tables(parts, promote_options="default")
    cluster_id = table.column("cluster_id").to_numpy()
    return table.set_column(table.schema.get_field_index("cluster_size"), "cluster_size",
                            pa.array(_final_sizes(cluster_id), pa.int64()))
