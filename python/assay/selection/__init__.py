"""Data selection: score examples with indicators, then keep the best by a rule.

:func:`indicators` scores rows (lengths, MTLD, perplexities and IFD, UniEval-style yes/no
questions, kNN distance, reward); the ``score`` pipeline step adds the same columns.
"""
from __future__ import annotations

from assay.selection.indicators import INDICATORS, MODEL_INDICATORS, indicators, prompt_and_response

__all__ = ["INDICATORS", "MODEL_INDICATORS", "indicators", "prompt_and_response"]
