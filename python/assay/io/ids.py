"""Unique ids within a source: a record whose (source, id) was already seen is a duplicate."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pyarrow as pa

from assay import _core


class IdRegistry:
    """The (source, id) pairs read so far (128-bit hashes, about 50 bytes each).

    ``seen_before`` marks the pairs met earlier, in this call or an earlier one, so a
    streaming reader can set a repeated id aside; the same id in two sources is not a
    duplicate. ``save``/``load`` carry it across a resumed run.

    >>> ids = IdRegistry()
    >>> ids.seen_before(["s"] * 3, ["a", "b", "a"]).tolist(), ids.seen_before(["s", "t"], ["b", "b"]).tolist()
    ([False, False, True], [True, False])
    """

    def __init__(self) -> None:
        self._index = _core.ExactIndex()

    def __len__(self) -> int:
        return len(self._index)

    def seen_before(self, sources: Sequence[str] | pa.Array, ids: Sequence[str] | pa.Array) -> np.ndarray:
        """One bool per row: true when its (source, id) was already registered."""
        columns = [c if isinstance(c, pa.Array) else pa.array(c, pa.string()) for c in (sources, ids)]
        if len(columns[1]) == 0:
            return np.zeros(0, dtype=bool)
        _, _, duplicate = self._index.add([c.cast(pa.string()) for c in columns], False)
        return np.asarray(duplicate, dtype=bool)

    def save(self, path: str | os.PathLike[str]) -> None:
        self._index.save(os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "IdRegistry":
        registry = cls()
        registry._index = _core.ExactIndex.load(os.fspath(path))
        return registry
