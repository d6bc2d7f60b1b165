"""Exact k-nearest-neighbour distances in an embedding space, in bounded memory.

The distance is Euclidean between the (unit-normalized) sentence embeddings; each row's own
entry is left out (a duplicate of it still counts, at distance 0). Queries and candidates go
in blocks, so memory is ``block * block`` distances whatever the pool size (1M rows: 1M x 1M
distances computed, never held), on the GPU when there is one, in float64 for accuracy.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["kth_neighbour_distance"]


def kth_neighbour_distance(embeddings: Any, k: int, *, block: int = 4096, device: Any = None,
                           progress: Callable[[int], None] | None = None) -> list[float]:
    """For each row, the distance to its ``k``-th nearest other row.

    >>> import numpy as np
    >>> kth_neighbour_distance(np.array([[0.0], [1.0], [3.0]]), 1)
    [1.0, 1.0, 2.0]
    """
    import torch

    points = torch.as_tensor(embeddings, dtype=torch.float64, device=device)
    n = points.shape[0]
    if k < 1 or k >= n:
        raise ValueError(f"k must be from 1 to the pool size - 1 ({n - 1}), got {k}")
    norms = (points * points).sum(dim=1)
    out = torch.empty(n, dtype=torch.float64, device=points.device)
    for q in range(0, n, block):
        queries = points[q:q + block]
        best = torch.full((queries.shape[0], k), float("inf"), dtype=torch.float64, device=points.device)
        for c in range(0, n, block):
            squared = norms[q:q + block, None] + norms[None, c:c + block] - 2.0 * queries @ points[c:c + block].T
            squared.clamp_(min=0.0)
            if c < q + queries.shape[0] and q < c + block:  # the block holds the queries themselves
                rows = torch.arange(queries.shape[0], device=points.device)
                cols = rows + q - c
                inside = (cols >= 0) & (cols < squared.shape[1])
                squared[rows[inside], cols[inside]] = float("inf")
            best = torch.topk(torch.cat([best, squared], dim=1), k, dim=1, largest=False).values
        out[q:q + block] = best[:, k - 1].sqrt()
        if progress:
            progress(queries.shape[0])
    return out.tolist()
