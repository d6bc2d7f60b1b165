"""The errors assay raises on purpose: bad configuration, data or models, never bugs.

Every message starts with what it is about: the key of a config (``data.train: ...``,
``steps[2].near_dedup.threshold: ...``) or the file. The CLI prints them as one
``error: <message>`` line and exits with status 2 (``--debug`` shows the traceback);
anything else that escapes is a bug and keeps its traceback.

>>> import assay
>>> issubclass(assay.PipelineError, assay.ConfigError), issubclass(assay.ConfigError, ValueError)
(True, True)
"""
from __future__ import annotations

__all__ = ["AssayError", "ConfigError", "TrainError"]


class AssayError(Exception):
    """Base of the errors that assay raises about its inputs (see the module doc)."""


class ConfigError(AssayError, ValueError):
    """A configuration that cannot be used; the message starts with the dotted key it is about."""


class TrainError(AssayError, RuntimeError):
    """Training data or a model that cannot be used (shards, checkpoints, model files,
    a method the device cannot run); the message starts with the key or file it is about."""
