"""Pure metric functions (no model code). Names resolve lazily so importing is instant.

Each function's docstring states the convention it follows and the reference it matches; the
user-facing summary is docs/metrics.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "tokenize_ptb": "mmbench.metrics.ptb_tokenizer",
    "caption_scores": "mmbench.metrics.captioning",
    "bleu": "mmbench.metrics.bleu_score",
    "rouge_l": "mmbench.metrics.rouge",
    "cider_d": "mmbench.metrics.cider",
    "retrieval_recall": "mmbench.metrics.retrieval",
    "retrieval_ranks": "mmbench.metrics.retrieval",
    "recall_from_ranks": "mmbench.metrics.retrieval",
    "l2_normalize_rows_": "mmbench.metrics.retrieval",
    "best_positive_ranks": "mmbench.metrics.retrieval",
    "vqa_accuracy": "mmbench.metrics.vqa",
    "normalize_vqa_answer": "mmbench.metrics.vqa",
    "exact_match": "mmbench.metrics.vqa",
    "pope_scores": "mmbench.metrics.pope",
    "mme_scores": "mmbench.metrics.mme",
    "anls_score": "mmbench.metrics.anls",
    "relaxed_correctness": "mmbench.metrics.relaxed_accuracy",
    "ocrbench_scores": "mmbench.metrics.ocrbench",
    "gqa_exact_match": "mmbench.metrics.gqa",
    "classification_accuracy": "mmbench.metrics.classification",
    "mean_per_class_recall": "mmbench.metrics.classification",
    "class_ranks": "mmbench.metrics.classification",
    "clip_score": "mmbench.metrics.clipscore",
    "ref_clip_score": "mmbench.metrics.clipscore",
    "bootstrap_ci": "mmbench.metrics.bootstrap",
    "bootstrap_ci_indices": "mmbench.metrics.bootstrap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmbench.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
