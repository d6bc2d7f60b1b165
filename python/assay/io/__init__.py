"""Reading inputs into record batches of the record schema, streaming.

>>> import assay
>>> reader = assay.read("samples/belle/eval_set.json", format="belle", source="belle-eval")
>>> table = reader.read_all()
>>> table.num_rows, reader.quarantined_count
(1000, 0)
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from assay.io.files import InputFile, MemoryInput, expand_inputs, file_type, open_binary
from assay.io.formats import FORMATS, RecordContext, RecordError, adapt
from assay.io.ids import IdRegistry
from assay.io.readers import MAX_RECORD_BYTES, BadRecord, RawRecord, iter_csv, iter_json, text_stream
from assay.io.rust_lines import AdaptedRows, rust_lines_reader, rust_records_reader, uses_rust_reader
from assay.schema import RECORD_SCHEMA

__all__ = ["IdRegistry", "RecordReader", "read"]

QuarantineHandler = Callable[[dict[str, Any]], None]


class RecordReader:
    """A stream of ``pyarrow.RecordBatch`` in the record schema from one input.

    Iterate it for batches. Malformed records never stop the stream: each goes to
    ``on_quarantine`` (default: kept in ``.quarantined``) as a dict with ``source``,
    ``file``, ``line``, ``record``, ``error`` and ``raw``. ``rows_read`` counts the
    rows produced and ``quarantined_count`` the records set aside. Memory is bounded
    by ``batch_rows`` / ``batch_bytes``, whatever the input size, plus ``ids``.

    Ids that records carry themselves must be unique within a source: a record whose id
    is already in ``ids`` (an :class:`IdRegistry`, shared by every reader of one source;
    a new one by default) is quarantined as a duplicate id. Generated ids
    (``source:file:row``) are unique by construction and not registered. ``ids=False``
    turns the check off (and its memory, about 50 bytes per id).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str,
        *,
        source: str | None = None,
        domain: str | None = None,
        id_field: str = "id",
        text_field: str | list[str] = "text",
        domain_field: str | None = None,
        batch_rows: int = 8192,
        batch_bytes: int = 64 << 20,
        base_dir: Path | None = None,
        on_quarantine: QuarantineHandler | None = None,
        files: list[InputFile | MemoryInput] | None = None,
        ids: IdRegistry | bool = True,
        max_record_bytes: int = MAX_RECORD_BYTES,
        coerce_scalars: bool = False,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected one of {sorted(FORMATS)}")
        self.format = FORMATS[format]
        # ``files``: a subset of what ``path`` matches, already expanded (the runner's work units).
        self.files: list[InputFile | MemoryInput] = files if files is not None else expand_inputs(path, base_dir)
        for file in self.files:
            if not isinstance(file, MemoryInput):
                file_type(file.path)  # an unknown file type is an error now, not halfway through a run
        self.source = source or Path(self.files[0].name).name.split(".")[0]
        self.domain = domain
        self.id_field = id_field
        self.text_field = text_field
        self.domain_field = domain_field
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.quarantined: list[dict[str, Any]] = []
        self._on_quarantine = on_quarantine or self.quarantined.append
        self.max_record_bytes = max_record_bytes
        self.coerce_scalars = coerce_scalars
        self.coerced = 0
        self.rows_read = 0
        self.quarantined_count = 0
        self.bytes_total = sum(f.size for f in self.files)
        self.bytes_done = 0
        self._bytes_before_file = 0
        self._counter: Any = None
        self.ids: IdRegistry | None = IdRegistry() if ids is True else (None if ids is False else ids)

    def _quarantine(self, file: InputFile, bad: BadRecord) -> None:
        self.quarantined_count += 1
        entry = {"source": self.source, "file": file.path.as_posix(), "line": bad.line,
                 "record": bad.index, "error": bad.error, "raw": bad.raw}
        if bad.size is not None:
            entry["size"] = bad.size
        self._on_quarantine(entry)

    def _records(self, file: InputFile) -> Iterator[RawRecord | BadRecord]:
        kind = file_type(file.path)
        stream, self._counter = open_binary(file.path, file.span)
        # a byte range after the first is JSON Lines (byte_ranges checked), numbered from where it starts
        lines_from = file.numbering if file.span is not None and file.span[0] > 0 else None
        with stream:
            if kind in ("json", "jsonl"):  # the layout (array, lines, objects) is decided by content
                adapter = self._rust_adapter(file)
                yield from iter_json(
                    stream, self.format.items_path, self.max_record_bytes,
                    lines_reader=adapter and rust_lines_reader(adapter, self.max_record_bytes),
                    records_reader=adapter and rust_records_reader(adapter, self.max_record_bytes),
                    lines_from=lines_from)
            else:
                yield from iter_csv(stream, "\t" if kind == "tsv" else ",", self.max_record_bytes)

    def _rust_adapter(self, file: InputFile) -> Any:
        """The Rust adapter of this file's JSON records, or None when this input is read in Python."""
        if self.format.items_path != "item" or not uses_rust_reader(
                self.format.name, domain_field=self.domain_field, coerce_scalars=self.coerce_scalars):
            return None
        from assay._core import JsonLinesAdapter

        fields = [self.text_field] if isinstance(self.text_field, str) else list(self.text_field)
        return JsonLinesAdapter(self.format.name, self.source, file.name, self.id_field, fields,
                                self.domain, self.max_record_bytes)

    def _file_fields(self, file: InputFile | MemoryInput) -> dict[str, Any]:
        if (not self.format.file_fields or isinstance(file, MemoryInput)
                or file_type(file.path) not in ("json", "jsonl")):
            return {}
        import ijson

        found: dict[str, Any] = {}
        stream, _ = open_binary(file.path)
        with stream:
            # file-level fields come before the records; looked for in the first
            # max_record_bytes only, so a hostile file costs no more than one record
            head = io.BytesIO(text_stream(stream).read(self.max_record_bytes))
            try:
                for prefix, event, value in ijson.parse(head, multiple_values=True):
                    if prefix in self.format.file_fields and event in ("string", "number", "boolean"):
                        found[prefix] = value
                    if len(found) == len(self.format.file_fields):
                        break
            except ijson.JSONError:
                pass  # the record stream reports the damage
        return found

    def _parquet_batches(self, file: InputFile) -> Iterator[pa.RecordBatch | BadRecord]:
        from assay.storage import parquet_file

        index = 0
        try:
            parquet = parquet_file(file.path)
            for batch in parquet.iter_batches(batch_size=self.batch_rows):
                yield batch
                index += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            yield BadRecord(index, None, f"corrupt Parquet file after row {index}: {exc}")

    def _rows_of_arrow(self, batches: Iterator[pa.RecordBatch | BadRecord]) -> Iterator[RawRecord | BadRecord | pa.RecordBatch]:
        """Arrow batches (of a Parquet file or a Python input) as records, or as record batches
        as they are when they are already in the record schema."""
        fast = self.format.name == "assay"
        index = 0
        for item in batches:
            if isinstance(item, BadRecord):
                yield item
                continue
            if fast and set(item.schema.names) == set(RECORD_SCHEMA.names):
                try:
                    yield pa.RecordBatch.from_arrays(
                        [item.column(n).cast(f.type) for n, f in zip(RECORD_SCHEMA.names, RECORD_SCHEMA)],
                        schema=RECORD_SCHEMA,
                    )
                    index += item.num_rows
                    continue
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    pass  # fall back to row by row, which names the bad field
            for value in item.to_pylist():
                yield RawRecord(index, None, value)
                index += 1

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        # The rows read and not yet yielded, in order: runs of rows adapted in Python and
        # slices of rows adapted in Rust (see ``_flush``).
        parts: list[_PythonRows | tuple[InputFile, AdaptedRows]] = []
        run = _PythonRows()
        count = size = 0
        for file in self.files:
            ctx = RecordContext(
                source=self.source, file=file.name, index=0, domain=self.domain,
                id_field=self.id_field, text_field=self.text_field, domain_field=self.domain_field,
                file_fields=self._file_fields(file), coerce_scalars=self.coerce_scalars,
            )
            self._counter = None
            if isinstance(file, MemoryInput):
                items = self._rows_of_arrow(file.batches(self.batch_rows))
            elif file_type(file.path) == "parquet":
                items = self._rows_of_arrow(self._parquet_batches(file))
            else:
                items = self._records(file)
            batch_start = 0  # row index in the file of the next Parquet batch
            for item in items:
                if isinstance(item, pa.RecordBatch):
                    if count:
                        yield from self._flush([*parts, run])
                        parts, run, count, size = [], _PythonRows(), 0, 0
                    batch_start += item.num_rows
                    item = self._without_duplicate_ids(file, item, batch_start - item.num_rows)
                    self.rows_read += item.num_rows
                    if item.num_rows:
                        yield item
                    continue
                if isinstance(item, BadRecord):
                    self._quarantine(file, item)
                    continue
                if isinstance(item, AdaptedRows):
                    if run.rows:
                        parts.append(run)
                        run = _PythonRows()
                    done = 0
                    while done < item.batch.num_rows:
                        piece = item.slice(done, min(item.batch.num_rows, done + self.batch_rows - count))
                        parts.append((file, piece))
                        done += piece.batch.num_rows
                        count += piece.batch.num_rows
                        size += piece.batch.column("text").nbytes
                        if count >= self.batch_rows or size >= self.batch_bytes:
                            yield from self._flush(parts)
                            parts, count, size = [], 0, 0
                    continue
                ctx.index = item.index
                ctx.own_id = False
                try:
                    new_rows = adapt(self.format.name, item.value, ctx)
                except RecordError as exc:
                    raw = item.value
                    self._quarantine(file, BadRecord(item.index, item.line, str(exc), _json_text(raw)))
                    continue
                run.rows.extend(new_rows)
                origin = (file, item.index, item.line, item.value) if ctx.own_id else None
                run.origins.extend([origin] * len(new_rows))
                count += len(new_rows)
                size += sum(len(r["text"]) for r in new_rows)
                if count >= self.batch_rows or size >= self.batch_bytes:
                    yield from self._flush([*parts, run])
                    parts, run, count, size = [], _PythonRows(), 0, 0
            self.coerced += ctx.coerced
            self._bytes_before_file += file.size
            self.bytes_done = self._bytes_before_file
        if count:
            yield from self._flush([*parts, run])

    @staticmethod
    def _duplicate_id_error(row: dict[str, Any]) -> str:
        return (f"duplicate id {row['id']!r}: an earlier record of source {row['source']!r} has it "
                "(ids must be unique within a source)")

    def _without_duplicate_ids(self, file: InputFile, batch: pa.RecordBatch, start: int) -> pa.RecordBatch:
        """A Parquet batch of the record schema, less the rows whose id was seen before."""
        if self.ids is None or batch.num_rows == 0:
            return batch
        import pyarrow.compute as pc

        ids = batch.column("id")
        own = pc.is_valid(ids)
        duplicate = np.zeros(batch.num_rows, dtype=bool)
        duplicate[own.to_numpy(zero_copy_only=False)] = self.ids.seen_before(
            pc.fill_null(batch.column("source"), self.source).filter(own), ids.filter(own))
        if not duplicate.any():
            return batch
        for row in np.flatnonzero(duplicate):
            record = batch.slice(int(row), 1).to_pylist()[0]
            self._quarantine(file, BadRecord(start + int(row), None, self._duplicate_id_error(record),
                                             _json_text(record)))
        return batch.filter(pa.array(~duplicate))

    def _flush(self, parts: list[_PythonRows | tuple[InputFile, AdaptedRows]]) -> Iterator[pa.RecordBatch]:
        """One batch of the pending rows, in order, less those whose own id was seen before."""
        if self._counter is not None:
            self.bytes_done = self._bytes_before_file + self._counter.consumed
        batches = []
        for part in parts:
            batch = self._python_rows(part) if isinstance(part, _PythonRows) else self._rust_rows(*part)
            if batch is not None and batch.num_rows:
                batches.append(batch)
        if batches:
            batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
            self.rows_read += batch.num_rows
            yield batch

    def _python_rows(self, run: _PythonRows) -> pa.RecordBatch | None:
        rows, origins = run.rows, run.origins
        if self.ids is not None:
            own = [i for i, origin in enumerate(origins) if origin is not None]
            upsampled = self.format.name == "assay"  # assembled shards: copies of a row share its id
            keys = [_id_key(rows[i]["id"], origins[i][3]) if upsampled else rows[i]["id"] for i in own]  # type: ignore[index]
            duplicate = self.ids.seen_before([rows[i]["source"] for i in own], keys)
            if duplicate.any():
                dropped = set()
                for i in np.asarray(own)[duplicate]:
                    file, index, line, raw = origins[i]  # type: ignore[misc]
                    self._quarantine(file, BadRecord(index, line, self._duplicate_id_error(rows[i]),
                                                     _json_text(raw)))
                    dropped.add(int(i))
                rows = [row for i, row in enumerate(rows) if i not in dropped]
        return pa.RecordBatch.from_pylist(rows, schema=RECORD_SCHEMA) if rows else None

    def _rust_rows(self, file: InputFile, rows: AdaptedRows) -> pa.RecordBatch:
        batch = rows.batch
        if self.ids is None or not rows.own_id.any():
            return batch
        own = np.flatnonzero(rows.own_id)
        duplicate = self.ids.seen_before(batch.column("source").take(own), batch.column("id").take(own))
        if not duplicate.any():
            return batch
        import orjson

        for row in own[duplicate]:
            record = {"id": batch.column("id")[int(row)].as_py(), "source": self.source}
            self._quarantine(file, BadRecord(int(rows.indices[row]), int(rows.lines[row]) or None, self._duplicate_id_error(record),
                                             _json_text(orjson.loads(rows.raw(int(row))))))
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[own[duplicate]] = False
        return batch.filter(pa.array(keep))

    def read_all(self) -> pa.Table:
        """Read everything into one ``pyarrow.Table`` (for small inputs and notebooks)."""
        return pa.Table.from_batches(list(self), schema=RECORD_SCHEMA)


class _PythonRows:
    """A run of rows adapted in Python, with where each came from when it carries its own id
    (to quarantine it if the id turns out to be a duplicate)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.origins: list[tuple[InputFile, int, int | None, Any] | None] = []


def _id_key(row_id: str, raw: Any) -> str:
    """The id check's key for a row of an assay output: the id, and the copy number of a row
    that assembly upsampled (the copies of one row share its id, so that they stay on one
    side of a held-out split)."""
    copy = raw.get("copy") if isinstance(raw, dict) else None
    return row_id if copy is None else f"{row_id}\x1f{copy}"


def _json_text(value: Any) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


def read(path: str | os.PathLike[str], format: str, **options: Any) -> RecordReader:
    """Open a file or glob of JSONL/JSON/Parquet/CSV(.gz/.zst) files in a known format.

    Options: ``source``, ``domain``, ``id_field``, ``text_field``, ``domain_field``,
    ``batch_rows``, ``batch_bytes``, ``base_dir``, ``on_quarantine``
    (see :class:`RecordReader`).

    >>> import assay
    >>> t = assay.read("samples/flan_cot/*.json", format="alpaca", source="flan-cot").read_all()
    >>> t.num_rows, t.column("id")[0].as_py()
    (300, 'flan-cot:aqua_train.json:0')
    """
    return RecordReader(path, format, **options)
