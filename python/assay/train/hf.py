"""Loading transformers models and tokenizers from local files only.

assay is offline: ``assay.train`` sets ``HF_HUB_OFFLINE=1`` (unless already set), and a
folder or file that transformers cannot load is a :class:`~assay.errors.TrainError` naming
the config key, without the hub's advice to look for the files online.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from assay.errors import TrainError

__all__ = ["local_load", "local_message"]

_HUB_SENTENCE = re.compile(r"[^.\n]*(?:https?://|huggingface\.co|hf\.co/|[Cc]heckout )[^.\n]*(?:\.|$)")


def local_message(error: BaseException) -> str:
    """The error's message without sentences that point to the hub.

    >>> local_message(OSError("x does not appear to have a file named y.gguf. Checkout 'https://huggingface.co/x/tree/main' for available files."))
    'x does not appear to have a file named y.gguf.'
    """
    text = _HUB_SENTENCE.sub("", str(error)).strip()
    return re.sub(r"\s+", " ", text) or type(error).__name__


def local_load(key: str, loader: Callable[..., Any], path: str | Path, **kwargs: Any) -> Any:
    """``loader(path, **kwargs)`` (a ``from_pretrained``); a failure names ``key`` and the path."""
    try:
        return loader(str(path), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        what = f"{path}/{kwargs['gguf_file']}" if "gguf_file" in kwargs else str(path)
        raise TrainError(f"{key}: cannot load {what}: {local_message(exc)}") from exc
