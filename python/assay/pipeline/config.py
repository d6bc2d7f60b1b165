"""The YAML pipeline file, validated with pydantic.

>>> cfg = load_pipeline("pipelines/quickstart.yaml")
>>> cfg.name, [s.name for s in cfg.steps][:1]
('quickstart', ['normalize'])
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from assay.errors import ConfigError
from assay.io.formats import FORMATS
from assay.io.ranges import SPLIT_BYTES
from assay.io.readers import MAX_RECORD_BYTES
from assay.pipeline.assemble import AssembleConfig
from assay.steps import STEPS, Step, StepParams
from assay.storage import StorageConfig

__all__ = ["InputConfig", "OutputConfig", "PipelineConfig", "PipelineError", "StepConfig", "load_pipeline",
           "parse_steps"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PipelineError(ConfigError):
    """A pipeline file that cannot be run; the message names the key (and line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    path: str | None = None
    """A file or glob (``**`` recurses), relative to the working directory (not to the pipeline
    file). Left out for an input whose data Python hands over
    (``run_pipeline(..., inputs={source: data})``)."""
    format: Literal["alpaca", "belle", "seed_tasks", "gaokao", "sharegpt", "text", "assay", "parquet"]
    source: str
    """Source tag on every row, e.g. ``belle-eval``."""
    domain: str | None = None
    """Domain of every row, e.g. ``zhihu.com``; see ``domain_field`` for per-row domains."""
    domain_field: str | None = None
    """A field holding each record's URL or host name; its host becomes the row's domain."""
    id_field: str = "id"
    text_field: str | list[str] = "text"
    """For ``format: text``: the field (or fields, joined by a blank line) holding the text."""
    unique_ids: bool = True
    """Quarantine a record whose own id an earlier record of the same source has. Costs about
    50 bytes of memory per id; turn it off for huge inputs whose ids are known unique."""
    max_record_bytes: int = Field(MAX_RECORD_BYTES, gt=0)
    """Longest record read (a JSON Lines or CSV line, a JSON array item); a longer one is
    skipped while streaming and quarantined as ``record_too_large``. Default 64 MiB."""
    coerce_scalars: bool = False
    """Read a number or boolean where a string is expected as its JSON text (``{"input": 5}``
    gives ``"5"``) instead of quarantining the record; counted as ``coerced`` in the manifest."""
    split_bytes: int = Field(SPLIT_BYTES, ge=0)
    """A JSON Lines file larger than this is read as ranges of this many bytes, each a work
    unit of its own (run in parallel on Ray, resumed one by one); 0: every file whole. Row
    keys count work units, so a run's ``row_key`` / ``cluster_id`` values depend on it."""

    @field_validator("source")
    @classmethod
    def _safe_source(cls, value: str) -> str:
        if not _SAFE_NAME.match(value):
            raise ValueError("a source name uses letters, digits, '.', '_' and '-' only (no '/' or '..')")
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        assert value in FORMATS
        return value


class OutputConfig(_Strict):
    dir: str
    shard_rows: int = Field(100_000, gt=0)
    """Rows per Parquet shard."""
    row_group_rows: int = Field(10_000, gt=0)
    """Rows per Parquet row group (what streaming readers load at once)."""
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    rejects: bool = True
    """Write removed rows, with their ``reason``, to ``rejects/``."""
    checkpoint_seconds: float = Field(60.0, ge=0)
    """Save what ``--resume`` needs (the steps' state, the id check) at most this often,
    and never sooner than ten times the last save took; a resumed run redoes the input
    files finished since the last save. 0: after every input file."""


class EngineConfig(_Strict):
    """Where the steps run: ``local`` (this process; rayon threads in the kernels) or
    ``ray`` (a Ray cluster; same output, byte for byte)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    """Ray: the cluster to join (``auto``, ``HOST:PORT``); none starts a local Ray."""
    workers: int | None = Field(None, gt=0)
    """Ray: CPUs of the local Ray it starts (the machine's cores by default)."""


class StepConfig(BaseModel):
    """One step: its registered name and validated parameters."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    params: StepParams
    _where: str = PrivateAttr("")
    """Where the step is written, for errors: ``p.yaml: line 7: steps[2].langid``."""

    def build(self) -> Step:
        """The step object; an error of its parameters (a model that cannot be read, say)
        becomes a :class:`PipelineError` that names the step and its line."""
        try:
            return STEPS[self.name](self.params)
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise PipelineError(f"{self._where or self.name}: {exc}") from None


def _key(loc: tuple[Any, ...]) -> str:
    """A key path as users write it: ``steps[0].near_dedup.threshold``, ``inputs[1].format``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class StepErrors(ValueError):
    """Errors of a ``steps:`` list, each with its key path (a tuple) and message."""

    def __init__(self, errors: list[tuple[tuple[Any, ...], str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{_key(loc)}: {msg}" for loc, msg in errors))


def parse_steps(value: Any) -> list[StepConfig]:
    """The ``steps:`` list of a pipeline as :class:`StepConfig` objects; raises
    :class:`StepErrors` naming every bad entry as ``steps[i].name.key``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise StepErrors([(("steps",), "must be a list of {step_name: {params}}")])
    steps, errors = [], []
    for i, item in enumerate(value):
        if isinstance(item, StepConfig):
            steps.append(item)
            continue
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            errors.append((("steps", i), "must be a mapping with exactly one step name, e.g. '- text_stats: {}'"))
            continue
        (name, params), = item.items()
        if name not in STEPS:
            errors.append((("steps", i, name), f"unknown step {name!r}; known steps: {sorted(STEPS)}"))
            continue
        if params is not None and not isinstance(params, dict):
            errors.append((("steps", i, name), "the parameters of a step are a mapping"))
            continue
        try:
            steps.append(StepConfig(name=name, params=STEPS[name].Params(**(params or {}))))
        except ValidationError as exc:
            errors += [(("steps", i, name, *err["loc"]), _message(err)) for err in exc.errors()]
    if errors:
        raise StepErrors(errors)
    return steps


def _message(err: Any) -> str:
    return "unknown key" if err["type"] == "extra_forbidden" else err["msg"]


class PipelineConfig(_Strict):
    name: str
    inputs: list[InputConfig] = Field(min_length=1)
    steps: list[StepConfig] = Field(default_factory=list)
    assemble: AssembleConfig | None = None
    """Mixture weights, token budgets, domain prefix and shuffle (see ``assay.pipeline.assemble``)."""
    output: OutputConfig
    engine: EngineConfig = Field(default_factory=EngineConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """How to reach the object store of ``s3://``-style paths (see :mod:`assay.storage`)."""
    batch_rows: int = Field(8192, gt=0)
    """Rows per record batch flowing through the steps (bounds memory)."""

    @field_validator("steps", mode="before")
    @classmethod
    def _parse_steps(cls, value: Any) -> list[StepConfig]:
        return parse_steps(value)

    @model_validator(mode="after")
    def _mix_names_known_sources(self) -> "PipelineConfig":
        if self.assemble is not None:
            known = {i.source for i in self.inputs}
            for section in ("mix", "token_budget"):
                unknown = sorted(set(getattr(self.assemble, section)) - known)
                if unknown:
                    raise ValueError(f"assemble.{section} names unknown source(s) {unknown}; the inputs' sources are {sorted(known)}")
        return self

    def fingerprint(self) -> str:
        """sha256 of the canonical configuration (what the manifest calls the config hash)."""
        data = self.model_dump(mode="json", exclude={"engine", "storage"})  # neither changes the output
        data["output"].pop("checkpoint_seconds")  # nor does when state is saved
        data["steps"] = [{s.name: s.params.model_dump(mode="json")} for s in self.steps]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path of a YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = path + (key.value,)
            lines[sub] = key.start_mark.line + 1
            for k, v in _line_index(value, sub).items():
                lines.setdefault(k, v)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_line_index(value, path + (i,)))
    return lines


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline YAML file (plain data: no YAML tags run code).

    Errors name the key and its line, e.g.
    ``pipeline.yaml: line 5: inputs[0].fromat: unknown key`` or
    ``pipeline.yaml: line 9: steps[2].near_dedup.threshold: Input should be less than or equal to 1``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"pipeline file not found: {path}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: a pipeline is a mapping with keys name, inputs, steps, output")
    lines = _line_index(node) if node is not None else {}

    def where(loc: tuple[Any, ...]) -> str:
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        return f"line {line}: " if line else ""

    messages = []
    try:  # steps first, so that their errors name steps[i].step.key and the line
        data = {**data, "steps": parse_steps(data.get("steps"))}
        for i, step in enumerate(data["steps"]):
            step._where = f"{path}: {where(('steps', i, step.name))}steps[{i}].{step.name}"
    except StepErrors as exc:
        messages += [f"{where(loc)}{_key(loc)}: {msg}" for loc, msg in exc.errors]
        data = {**data, "steps": []}
    try:
        config = PipelineConfig(**data)
    except ValidationError as exc:
        messages += [f"{where(tuple(err['loc']))}{_key(tuple(err['loc']))}: {_message(err)}" for err in exc.errors()]
    except TypeError as exc:
        raise PipelineError(f"{path}: invalid pipeline: {exc}") from None
    if messages:
        raise PipelineError(f"{path}: invalid pipeline:\n  " + "\n  ".join(messages))
    return config
