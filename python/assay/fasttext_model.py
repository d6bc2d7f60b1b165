"""fastText supervised models (``.bin`` and quantized ``.ftz``), run by assay's Rust core.

:class:`FastTextModel` reads a model trained with the official fastText and predicts
exactly what the official ``fasttext`` Python package predicts for the same text
(same labels, same order, probabilities equal to float precision), without the C++
library. ``lid.176.ftz`` (fastText's 176-language identifier, CC BY-SA 3.0, Facebook
AI Research; see ``assay/models/NOTICE.md``) ships inside the package.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Union

import pyarrow as pa

from assay import _core
from assay._data import column_of

__all__ = ["FastTextModel", "LID176_PATH", "load_model"]

LID176_PATH = Path(__file__).resolve().parent / "models" / "lid.176.ftz"
"""The bundled language-ID model (176 languages, CC BY-SA 3.0, Facebook AI Research)."""

LABEL_PREFIX = "__label__"

ModelLike = Union["FastTextModel", str, os.PathLike, None]


def _check_line(entry: Any) -> str:
    if not isinstance(entry, str):
        raise TypeError(f"predict takes str or a list of str, got {type(entry).__name__}")
    if "\n" in entry:
        raise ValueError("predict processes one line at a time (remove '\\n')")
    return entry


class FastTextModel:
    """A fastText supervised model loaded from a ``.bin`` or ``.ftz`` file.

    A file that is truncated, corrupt, of an unsupported version or not a supervised
    model raises ``ValueError`` (a missing file ``FileNotFoundError``).

    >>> import assay
    >>> model = assay.FastTextModel(assay.LID176_PATH)
    >>> model.predict("Ceci est une phrase en français.")[0]
    ('__label__fr',)
    >>> len(model.labels), model.dim
    (176, 16)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._model = _core.FastTextModel(os.fspath(path))

    @property
    def labels(self) -> list[str]:
        """The labels with their ``__label__`` prefix, in the model's order."""
        return self._model.labels

    @property
    def dim(self) -> int:
        """The dimension of the model's vectors."""
        return self._model.dim

    @property
    def loss(self) -> str:
        """The training loss: ``hs``, ``ns``, ``softmax`` or ``ova``."""
        return self._model.loss

    @property
    def quantized(self) -> bool:
        """True for a product-quantized (``.ftz``) model."""
        return self._model.quantized

    def args(self) -> dict[str, Any]:
        """The training arguments stored in the file (and its format ``version``)."""
        return self._model.args()

    def get_labels(self) -> list[str]:
        """Alias of :attr:`labels` (the official package's name)."""
        return self.labels

    def get_dimension(self) -> int:
        """Alias of :attr:`dim` (the official package's name)."""
        return self.dim

    def predict(self, text: str | list[str], k: int = 1, threshold: float = 0.0):
        """Predict the ``k`` most likely labels, as the official ``fasttext`` does.

        A ``str`` gives ``(labels_tuple, float64 ndarray)``; a ``list`` of str gives
        ``(list of label lists, list of float32 ndarrays)``, computed in parallel.
        ``k=-1`` returns every label above ``threshold``. A text containing ``\\n``
        raises ``ValueError`` (replace newlines first, as :func:`assay.langid` does).

        >>> import assay
        >>> labels, probs = assay.FastTextModel(assay.LID176_PATH).predict(["Hallo Welt", "你好"], k=2)
        >>> [row[0] for row in labels]
        ['__label__de', '__label__zh']
        >>> probs[0].dtype
        dtype('float32')
        """
        if isinstance(text, list):
            lines = [_check_line(entry) for entry in text]
            return self._model.predict_lines(lines, int(k), float(threshold))
        return self._model.predict_line(_check_line(text), int(k), float(threshold))

    def predict_table(
        self,
        data: Any,
        *,
        column: str = "text",
        k: int = 1,
        threshold: float = 0.0,
        lists: bool | None = None,
    ) -> pa.Table:
        """Predict every row of a text column; newlines are read as spaces.

        Columns: ``label`` (without the ``__label__`` prefix) and ``score`` (float64)
        of the best label, null for null text; with ``k > 1`` (or ``lists=True``) also
        ``labels`` and ``scores`` lists. ``data`` is anything :func:`assay.langid` takes.

        >>> import assay
        >>> model = assay.FastTextModel(assay.LID176_PATH)
        >>> model.predict_table(["Buenos días a todos", None]).column("label").to_pylist()
        ['es', None]
        """
        if lists is None:
            lists = k != 1
        return self._model.predict_arrow(column_of(data, column), int(k), float(threshold), bool(lists))

    def predict_content(self, data: Any, *, column: str = "text") -> pa.Table:
        """The best label and score of each text's natural-language content (code, math,
        URLs, e-mail addresses and markup masked, as :func:`assay.content_langid.content_text`
        gives it), with that content's script counts (``letters``, ``han``, ``kana``,
        ``hangul``, ``other_words``), in one parallel pass; newlines are read as spaces.

        >>> import assay
        >>> t = assay.FastTextModel(assay.LID176_PATH).predict_content(["Guten Morgen, `ls -l` wie geht es?"])
        >>> t.column("label").to_pylist(), t.column("other_words").to_pylist()
        (['de'], [5])
        """
        return self._model.predict_content(column_of(data, column))

    def __getstate__(self) -> dict[str, Any]:
        # The Rust object is not picklable: ship the path, reload on the other side.
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    def __repr__(self) -> str:
        return repr(self._model)


_CACHE: dict[tuple[str, int, int], FastTextModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(model: ModelLike = None) -> FastTextModel:
    """A :class:`FastTextModel` for ``model``: the object itself, a path (loaded once
    and cached while the file is unchanged) or ``None`` for the bundled ``lid.176.ftz``.

    >>> import assay
    >>> assay.load_model() is assay.load_model(assay.LID176_PATH)
    True
    """
    if isinstance(model, FastTextModel):
        return model
    path = Path(LID176_PATH if model is None else model).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _CACHE[key] = FastTextModel(path)
        return cached


