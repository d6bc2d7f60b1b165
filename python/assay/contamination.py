"""Decontamination: evaluation items found in training text by their n-grams.

:class:`ContaminationIndex` holds the n-grams of a set of evaluation items (benchmark
questions and answers); :func:`contamination` checks training rows against it, in Rust on
all threads. Texts are normalized as MinHash shingles are (NFKC, lowercase, punctuation and
white space are token boundaries), and with ``unit="auto"`` a token is a word of a spaced
script or one character of Chinese, Japanese, Thai and the other unspaced scripts: a 13-gram
is 13 English words or 13 Chinese characters. An item shorter than ``ngram`` tokens has no
n-gram and can match nothing (:attr:`ContaminationIndex.item_sizes` shows which).

Per row, ``contam_ngrams`` counts the distinct n-grams found in the index and
``contam_fraction`` is the largest fraction of one item's distinct n-grams that the row
holds, ``contam_eval_id`` naming that item: a copied question scores 1.0, a row sharing one
stock phrase with a long item little.

>>> from assay.contamination import ContaminationIndex, contamination  # also assay.<name>
>>> index = ContaminationIndex.build(
...     [{"id": "q1", "text": "下列函数中，既是偶函数又在区间上单调递增的是"}], ngram=8)
>>> contamination(["练习：下列函数中既是偶函数又在区间上单调递增的是哪个？", "无关的文本"],
...                     index).to_pylist()  # doctest: +NORMALIZE_WHITESPACE
[{'contam_ngrams': 14, 'contam_fraction': 1.0, 'contam_eval_id': 'q1'},
 {'contam_ngrams': 0, 'contam_fraction': 0.0, 'contam_eval_id': None}]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Sequence

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from assay import _core
from assay._data import _to_arrow_table_like, column_of, per_batch
from assay.storage import location, open_file, write_atomic

__all__ = ["BUILTIN_EVAL_SETS", "ContaminationIndex", "EvalSet", "contamination"]

_REPO = Path(__file__).resolve().parents[2]


class EvalSet(BaseModel):
    """Evaluation data in a file (or glob) of a format assay reads.

    ``fields``: the record-schema columns indexed, each an item of its own; by default a
    record's ``instruction``, ``input`` and ``output`` (question and answer), else ``text``.
    A JSON Lines file of ``{"id", "text"}`` (an lm-eval-harness task dump) is
    ``format: text``.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    format: Literal["alpaca", "belle", "seed_tasks", "gaokao", "sharegpt", "text", "assay", "parquet"] = "text"
    source: str | None = None
    """Names the items (``source:id``); the file's name by default."""
    fields: list[str] | None = None
    id_field: str = "id"
    text_field: str | list[str] = "text"


BUILTIN_EVAL_SETS: dict[str, EvalSet] = {
    "gaokao-bench": EvalSet(path="samples/gaokao/**/*.json", format="gaokao", source="gaokao-bench"),
    "belle-eval": EvalSet(path="samples/belle/eval_set.json", format="belle", source="belle-eval"),
}
"""The evaluation sets whose samples ship in assay's source tree (``samples/``, with their
licences): GAOKAO-Bench questions with their analyses and BELLE's evaluation set."""


def resolve_eval_set(entry: str | EvalSet | dict[str, Any]) -> EvalSet:
    """An :class:`EvalSet` for a built-in name (``gaokao-bench``, ``belle-eval``), a path (read
    as ``format: text``), a dict or an ``EvalSet``; a built-in's path is made absolute.

    >>> resolve_eval_set("belle-eval").format
    'belle'
    """
    if isinstance(entry, EvalSet):
        return entry
    if isinstance(entry, dict):
        return EvalSet(**entry)
    if entry in BUILTIN_EVAL_SETS:
        builtin = BUILTIN_EVAL_SETS[entry]
        root = _REPO / builtin.path.split("*")[0]
        if not root.exists():
            raise FileNotFoundError(
                f"built-in eval set {entry!r} reads {builtin.path} from assay's source tree, not found "
                f"under {_REPO}; give the eval files' path instead")
        return builtin.model_copy(update={"path": str(_REPO / builtin.path)})
    if not isinstance(entry, (str, os.PathLike)):
        raise TypeError(f"an eval set is a built-in name {sorted(BUILTIN_EVAL_SETS)}, a path, a dict "
                        f"or an EvalSet, got {type(entry).__name__}")
    return EvalSet(path=os.fspath(entry))


def _eval_id(source: str, row_id: str) -> str:
    return row_id if row_id.startswith(source + ":") else f"{source}:{row_id}"


PROMPT_RESPONSE_FIELDS = ("instruction", "input", "output")


def _field_items(table: pa.Table, ids: list[str], fields: Sequence[str] | None, where: str) -> tuple[list[str], list[str]]:
    """One item per record and field: its id, and the field's text (empty ones skipped).
    ``fields=None``: the prompt and response fields a record has, else its ``text``."""
    names = table.schema.names
    if fields is not None:
        missing = [f for f in fields if f not in names]
        if missing:
            raise KeyError(f"{where} has no field(s) {missing}; it has {names}")
    columns = {f: table.column(f).to_pylist() for f in (fields or [*PROMPT_RESPONSE_FIELDS, "text"]) if f in names}
    item_ids: list[str] = []
    texts: list[str] = []
    for row, item_id in enumerate(ids):
        chosen = fields
        if chosen is None:
            chosen = [f for f in PROMPT_RESPONSE_FIELDS if f in columns and columns[f][row]] or ["text"]
        for field in chosen:
            value = columns.get(field, [None] * (row + 1))[row]
            if isinstance(value, str) and value.strip():
                item_ids.append(item_id)
                texts.append(value)
    return item_ids, texts


def _items_of_file(spec: EvalSet) -> tuple[list[str], list[str]]:
    from assay.io import read

    reader = read(spec.path, spec.format, source=spec.source, id_field=spec.id_field,
                  text_field=spec.text_field, ids=False)
    batches = list(reader)
    if reader.quarantined:
        first = reader.quarantined[0]
        raise ValueError(
            f"eval set {spec.path}: {len(reader.quarantined)} record(s) could not be read, so the index "
            f"would miss them; first: {first['file']} line {first['line']}: {first['error']}")
    if not batches:
        raise ValueError(f"eval set {spec.path} holds no records")
    table = pa.Table.from_batches(batches)
    ids = [_eval_id(reader.source, i) for i in table.column("id").to_pylist()]
    return _field_items(table, ids, spec.fields, f"eval set {spec.path} ({spec.format})")


def _items_of_data(data: Any, fields: Sequence[str] | None) -> tuple[list[str], list[str]]:
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, dict) for d in data):
        data = pa.Table.from_pylist(list(data))
    table = _to_arrow_table_like(data)
    if table is None:
        texts = column_of(data)
        texts = texts.to_pylist() if hasattr(texts, "to_pylist") else pa.array(texts).to_pylist()
        keep = [(str(i), t) for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        return [i for i, _ in keep], [t for _, t in keep]
    table = pa.table(table) if isinstance(table, pa.RecordBatch) else table
    if "id" in table.schema.names:
        ids = [str(i) for i in table.column("id").to_pylist()]
    else:
        ids = [str(i) for i in range(table.num_rows)]
    return _field_items(table, ids, fields, "eval data")


def _is_eval_set(entry: Any, *, alone: bool) -> bool:
    """Whether ``entry`` names eval files. A str does when given alone (a path or a built-in
    name); inside a list only a built-in name does (a list of other str is a list of texts)."""
    if isinstance(entry, str):
        return alone or entry in BUILTIN_EVAL_SETS
    return isinstance(entry, (os.PathLike, EvalSet)) or (isinstance(entry, dict) and "path" in entry)


class ContaminationIndex:
    """The n-grams of evaluation items, built in parallel in Rust.

    Memory: one 16-byte hash-table entry (and a control byte) per distinct n-gram at a load
    of at most 7/8, so 19-39 bytes per n-gram (:attr:`memory_bytes` gives one index's
    figure), plus 4 bytes per extra item of an n-gram several items share.

    >>> index = ContaminationIndex.build(["the quick brown fox jumps over the lazy dog"], ngram=5)
    >>> len(index), index.item_sizes, index.ids
    (5, [5], ['0'])
    """

    def __init__(self, core: _core.ContaminationIndex) -> None:
        self._core = core

    @classmethod
    def build(cls, eval_data: Any, *, ngram: int = 13, unit: str = "auto",
              fields: Sequence[str] | None = None) -> ContaminationIndex:
        """The index of ``eval_data``: a built-in eval set's name (:data:`BUILTIN_EVAL_SETS`),
        a path or glob of ``{"id", "text"}`` JSON Lines, an :class:`EvalSet` (any format assay
        reads), or a list of these (in a list, a plain str is a built-in name only: a list of
        other str is a list of texts); or data: a table or frame with the ``fields`` (and an
        ``id`` column), a list of dicts, a list of str.

        Each field of a record is an item of its own (its n-grams counted apart), so a row
        holding a test question scores 1.0 however long the reference answer. ``fields``:
        the columns indexed; by default ``instruction``, ``input`` and ``output`` where a
        record has them (question and answer), else ``text``. Items from files are named
        ``source:id``; from data, by their ``id`` column (else their row number).

        >>> ContaminationIndex.build("belle-eval", ngram=13).ids[0]
        'belle-eval:eval_set.json:0'
        """
        ids: list[str] = []
        texts: list[str] = []
        if _is_eval_set(eval_data, alone=True) or (isinstance(eval_data, (list, tuple)) and eval_data
                                                   and all(_is_eval_set(e, alone=False) for e in eval_data)):
            entries = list(eval_data) if isinstance(eval_data, (list, tuple)) else [eval_data]
            for entry in entries:
                spec = resolve_eval_set(entry)
                if fields is not None and spec.fields is None:
                    spec = spec.model_copy(update={"fields": list(fields)})
                part_ids, part_texts = _items_of_file(spec)
                ids += part_ids
                texts += part_texts
        else:
            ids, texts = _items_of_data(eval_data, None if fields is None else list(fields))
        return cls(_core.ContaminationIndex.build(ids, [pa.array(texts, pa.large_string())], int(ngram), unit))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` (a local path or a bucket URL): a checksummed binary
        file that :meth:`load` reads back on any platform."""
        write_atomic(location(path), self._core.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ContaminationIndex:
        """The index :meth:`save` wrote (a damaged or foreign file is a ``ValueError``)."""
        with open_file(location(path)) as f:
            data = f.read()
        try:
            return cls(_core.ContaminationIndex.from_bytes(data))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @property
    def ngram(self) -> int:
        return self._core.ngram

    @property
    def unit(self) -> str:
        return self._core.unit

    @property
    def ids(self) -> list[str]:
        """The items' names, in the order they were added."""
        return self._core.ids

    @property
    def item_sizes(self) -> list[int]:
        """Distinct n-grams of each item (0: shorter than one n-gram, never matched)."""
        return self._core.item_sizes

    @property
    def memory_bytes(self) -> int:
        return self._core.memory_bytes

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return (f"ContaminationIndex({len(self.ids)} items, {len(self)} n-grams, ngram={self.ngram}, "
                f"unit={self.unit!r}, {self.memory_bytes / 2**20:.1f} MiB)")

    def __reduce__(self) -> tuple[Any, ...]:
        # Ray and multiprocessing send the index to workers as its bytes.
        return (_from_bytes, (self._core.to_bytes(),))


def _from_bytes(data: bytes) -> ContaminationIndex:
    return ContaminationIndex(_core.ContaminationIndex.from_bytes(data))


@per_batch
def contamination(data: Any, index: ContaminationIndex, *, column: str = "text") -> pa.Table:
    """Per row of ``data``'s text column: ``contam_ngrams`` (distinct n-grams found in
    ``index``), ``contam_fraction`` (the largest fraction of one eval item's n-grams in the
    row) and ``contam_eval_id`` (that item; null when none).

    >>> index = ContaminationIndex.build(["what is the boiling point of water at sea level"], ngram=4)
    >>> # 4 of the item's 7 four-grams: what is the boiling ... boiling point of water
    >>> contamination(["Q: What is the boiling point of water?"], index).to_pylist()
    [{'contam_ngrams': 4, 'contam_fraction': 0.5714285714285714, 'contam_eval_id': '0'}]
    """
    if not isinstance(index, ContaminationIndex):
        raise TypeError(f"index must be a ContaminationIndex, got {type(index).__name__}")
    return index._core.check(column_of(data, column))


@per_batch
def redact_contamination(data: Any, index: ContaminationIndex, *, column: str = "text",
                         margin: int | None = None) -> pa.Table:
    """Each text with the eval n-grams it shares with ``index`` cut out (each matched n-gram's
    tokens and ``margin`` tokens either side, ``ngram`` by default, as lm-eval-harness's
    Janitor cuts a window around each 13-gram; a cut becomes one space), and ``contam_cut``,
    the fraction of its characters cut.

    >>> index = ContaminationIndex.build(["the quick brown fox jumps over the lazy dog"], ngram=4)
    >>> redact_contamination(["Intro. The quick brown fox jumps over the lazy dog! Outro."], index,
    ...                      margin=0).to_pylist()
    [{'text': 'Intro. ! Outro.', 'contam_cut': 0.7413793103448276}]
    """
    return index._core.redact(column_of(data, column), index.ngram if margin is None else int(margin))
