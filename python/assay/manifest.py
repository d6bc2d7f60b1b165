"""The manifest of a run: what ``assay run`` wrote, and the counts that account for every row.

``manifest.json`` is written last, so its presence marks a finished run. The runner
builds a :class:`Manifest`, refuses to write one that does not balance, and the report,
``assay inspect``, the trainer and the tests read it back with :meth:`Manifest.load`.
The accounting rules live in :meth:`Manifest.checks` and nowhere else:

- ``rows_in + upsampled = rows_out + sum(removed) + quarantined``, overall and per source
  (``upsampled``: the extra copies that mixture weights above 1 make; 0 without ``assemble``);
- the steps chain: the first sees ``rows_in - quarantined`` rows, each passes on
  ``rows_in - sum(removed)``, and the next (or assembly, or the shards) takes what it passed;
- the reasons summed over the steps and assembly are the manifest's ``removed``;
- the shards hold ``rows_out`` rows, and ``rejects/`` holds every removed row (when written).

>>> from assay.pipeline import run_pipeline
>>> m = run_pipeline("pipelines/quickstart.yaml", output_dir="out/doctest-manifest")
>>> m.balances(), Manifest.load("out/doctest-manifest") == m
(True, True)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import orjson
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AssembleCounts", "BalanceCheck", "Manifest", "ShardEntry", "SourceCounts", "StepCounts"]

MANIFEST_FILE = "manifest.json"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ShardEntry(_Entry):
    """One Parquet file of ``data/`` or ``rejects/``, relative to the output folder."""

    path: str
    rows: int
    bytes: int
    sha256: str


class ColumnEntry(_Entry):
    name: str
    type: str


class StepCounts(_Entry):
    """What one step saw and did, summed over the run."""

    step: str
    rows_in: int = 0
    rows_out: int = 0
    removed: dict[str, int] = Field(default_factory=dict)
    """Rows removed, by reason."""
    seconds: float = 0.0
    columns: list[str] = Field(default_factory=list)
    """The columns the step adds (its declared ``Step.adds``)."""

    def add(self, other: "StepCounts") -> None:
        """Add another unit's counts of the same step to these."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        for reason, n in other.removed.items():
            self.removed[reason] = self.removed.get(reason, 0) + n
        self.seconds += other.seconds


class AssembleCounts(_Entry):
    """What assembly (mix, budgets, prefix, shuffle) did to the rows the steps kept."""

    rows_in: int = 0
    rows_out: int = 0
    removed: dict[str, int] = Field(default_factory=dict)
    upsampled: int = 0


class SourceCounts(_Entry):
    rows_in: int = 0
    rows_out: int = 0
    removed: int = 0
    quarantined: int = 0
    upsampled: int = 0
    coerced: int = 0
    """Numbers and booleans read as text where a string was expected (``coerce_scalars``)."""


@dataclass(frozen=True)
class BalanceCheck:
    """One accounting rule applied to a manifest: whether it holds, and the rule with its numbers."""

    ok: bool
    rule: str


def _n(value: int) -> str:
    return f"{value:,}"


class Manifest(_Entry):
    """A finished run: its shards, rejects, quarantine, counts and configuration."""

    name: str
    config_hash: str
    config: dict[str, Any]
    versions: dict[str, str]
    threads: int
    columns: list[ColumnEntry] = Field(default_factory=list, alias="schema")
    """The shards' schema."""
    shards: list[ShardEntry] = Field(default_factory=list)
    rejects: list[ShardEntry] = Field(default_factory=list)
    quarantine: Optional[str] = None
    """``quarantine/quarantine.jsonl`` when any input record was malformed."""
    rows_in: int
    rows_out: int
    removed: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    upsampled: int = 0
    coerced: int = 0
    """Values read as text by inputs with ``coerce_scalars: true`` (per source in ``sources``)."""
    sources: dict[str, SourceCounts] = Field(default_factory=dict)
    steps: list[StepCounts] = Field(default_factory=list)
    assemble: Optional[AssembleCounts] = None
    created: Optional[str] = None
    seconds: Optional[float] = None

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())

    @property
    def rejects_written(self) -> bool:
        return bool(self.config.get("output", {}).get("rejects", True))

    def checks(self) -> list[BalanceCheck]:
        """Every accounting rule (see the module doc), each with the numbers it compared."""
        removed = self.removed_total
        checks = [BalanceCheck(
            self.rows_in + self.upsampled == self.rows_out + removed + self.quarantined,
            f"rows_in + upsampled = rows_out + sum(removed) + quarantined: {_n(self.rows_in)} + "
            f"{_n(self.upsampled)} = {_n(self.rows_out)} + {_n(removed)} + {_n(self.quarantined)}")]
        shard_rows = sum(s.rows for s in self.shards)
        checks.append(BalanceCheck(shard_rows == self.rows_out,
                                   f"rows in the shards = rows_out: {_n(shard_rows)} = {_n(self.rows_out)}"))
        if self.sources:
            source_in = sum(c.rows_in for c in self.sources.values())
            checks.append(BalanceCheck(source_in == self.rows_in, f"sum of rows_in over {len(self.sources)} "
                                       f"source(s) = rows_in: {_n(source_in)} = {_n(self.rows_in)}"))
            unbalanced = [name for name, c in self.sources.items()
                          if c.rows_in + c.upsampled != c.rows_out + c.removed + c.quarantined]
            checks.append(BalanceCheck(not unbalanced, "every source balances (in + upsampled = out + removed + "
                                       "quarantined)" + (f"; not: {', '.join(unbalanced)}" if unbalanced else "")))
        stages = [(s.step, s.rows_in, s.rows_out, s.removed, 0) for s in self.steps]
        if self.assemble is not None:
            a = self.assemble
            stages.append(("assemble", a.rows_in, a.rows_out, a.removed, a.upsampled))
        if stages:
            expected_in, broken = self.rows_in - self.quarantined, []
            by_reason: dict[str, int] = {}
            for name, rows_in, rows_out, stage_removed, upsampled in stages:
                if rows_in != expected_in or rows_in + upsampled != rows_out + sum(stage_removed.values()):
                    broken.append(name)
                for reason, n in stage_removed.items():
                    by_reason[reason] = by_reason.get(reason, 0) + n
                expected_in = rows_out
            if expected_in != self.rows_out:
                broken.append("output")
            checks.append(BalanceCheck(not broken, f"the {len(stages)} stage(s) chain: each takes the rows the one "
                                       "before passed on and passes on rows_in + upsampled - removed; the last "
                                       "passes on rows_out" + (f"; broken at: {', '.join(broken)}" if broken else "")))
            checks.append(BalanceCheck({k: v for k, v in by_reason.items() if v} ==
                                       {k: v for k, v in self.removed.items() if v},
                                       "removed by reason summed over the stages = the manifest's removed"))
        if self.rejects_written:
            reject_rows = sum(r.rows for r in self.rejects)
            checks.append(BalanceCheck(reject_rows == removed, f"rows in rejects/ = sum(removed): "
                                       f"{_n(reject_rows)} = {_n(removed)}"))
        return checks

    def balances(self) -> bool:
        """True when every rule of :meth:`checks` holds."""
        return all(check.ok for check in self.checks())

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True),
                            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``<folder>/manifest.json`` atomically and return its path."""
        from assay.storage import location, write_atomic

        path = location(folder) / MANIFEST_FILE
        write_atomic(path, self.to_json())  # written last by a run: its commit marker
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Manifest":
        """Read ``manifest.json``, or the one inside an output folder; a clear error if it is not one."""
        from assay.storage import location, storage_errors

        path = location(path)
        with storage_errors(path):
            if path.is_dir():
                path = path / MANIFEST_FILE
            if not path.is_file():
                raise FileNotFoundError(f"{path.parent} is not an assay output folder: {path} is missing")
            payload = path.read_bytes()
        try:
            return cls.model_validate_json(payload)
        except ValueError as exc:
            raise ValueError(f"{path} is not a manifest written by assay run: {exc}") from None
