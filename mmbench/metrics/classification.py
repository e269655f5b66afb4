"""Classification metrics: top-K accuracy and mean per-class recall (balanced accuracy).

Conventions (as CLIP_benchmark `zeroshot_classification.py` reports them; user summary in
docs/metrics.md):

* **Ranking and ties.** Classes are ranked by descending score; tied classes are ordered by
  class index, lowest first. This is `logits.argsort(dim=1, descending=True, stable=True)` and
  `logits.argmax(1)`, made explicit because `torch.topk`'s order among ties is unspecified.
  sklearn's `top_k_accuracy_score` puts the *highest* index first among ties (it reverses a
  stable ascending sort), so on tied scores the two can differ.
* **K larger than the number of classes** is clipped to C (top-5 of a 3-way task = top-3 = 1.0),
  as `torch.topk(min(k, C))` would; sklearn warns and also returns 1.0.
* **Mean per-class recall** = the top-1 recall of every class present in `labels`, averaged
  (sklearn `balanced_accuracy_score`, the metric CLIP_benchmark reports for datasets like
  FGVC-Aircraft, Oxford Pets, Caltech-101 and Flowers-102).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from mmbench.errors import MMBenchError


def classification_accuracy(
    logits: Tensor | np.ndarray, labels: Tensor | np.ndarray, ks: Iterable[int] = (1, 5)
) -> dict[str, float]:
    """Top-K accuracy for each K in `ks`.

    Args:
        logits: `[N, C]` class scores (logits, probabilities or similarities).
        labels: `[N]` true class indices in [0, C).
        ks: the K values; K > C is clipped to C.

    Returns:
        `{"top1": fraction, "top5": fraction, ...}`: the share of samples whose true class is
        among the K best-scored classes, ties broken towards the lower class index.
    """
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise MMBenchError(f"ks must be positive integers, got {ks!r}")
    rank = class_ranks(logits, labels)
    n_classes = _as_logits(logits).shape[1]
    return {f"top{k}": float((rank <= min(k, n_classes)).double().mean()) for k in ks}


def mean_per_class_recall(logits: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """Balanced accuracy: top-1 recall per class present in `labels`, averaged over classes.

    Equals sklearn's `balanced_accuracy_score(labels, logits.argmax(1))`. Classes that never
    occur in `labels` are left out (they have no recall); the top-1 prediction breaks ties
    towards the lower class index.
    """
    rank = class_ranks(logits, labels)
    labels = _as_labels(labels, len(rank), _as_logits(logits).shape[1])
    present, per_class_count = labels.unique(return_counts=True)
    hits = torch.zeros(int(labels.max()) + 1, dtype=torch.float64)
    hits.index_add_(0, labels, (rank == 1).double())
    return float((hits[present] / per_class_count).mean())


def class_ranks(logits: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> Tensor:
    """1-based rank of each sample's true class (1 = top-1), ties towards lower indices.

    rank = 1 + #classes scored higher + #lower-index classes scored equal: the position of the
    true class in `logits.argsort(dim=1, descending=True, stable=True)`, without sorting.
    """
    scores = _as_logits(logits)
    labels = _as_labels(labels, len(scores), scores.shape[1])
    true_score = scores.gather(1, labels[:, None])
    higher = (scores > true_score).sum(1)
    lower_index = torch.arange(scores.shape[1]) < labels[:, None]
    tied_before = ((scores == true_score) & lower_index).sum(1)
    return 1 + higher + tied_before


def _as_logits(logits: Tensor | np.ndarray) -> Tensor:
    scores = torch.as_tensor(logits).detach().cpu()
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise MMBenchError(
            f"logits must be a non-empty [N, C] matrix, got shape {tuple(scores.shape)}"
        )
    if not scores.is_floating_point():
        scores = scores.double()
    if not bool(torch.isfinite(scores).all()):
        raise MMBenchError("logits contain NaN or infinite values; check the model's outputs")
    return scores


def _as_labels(labels: Tensor | np.ndarray, n: int, n_classes: int) -> Tensor:
    target = torch.as_tensor(labels).detach().cpu()
    if target.ndim != 1 or len(target) != n:
        raise MMBenchError(f"labels must be a 1-D tensor of {n} class indices (one per row)")
    if target.is_floating_point() or target.dtype == torch.bool:
        raise MMBenchError(f"labels must be integer class indices, got {target.dtype}")
    target = target.long()
    if int(target.min()) < 0 or int(target.max()) >= n_classes:
        raise MMBenchError(f"labels must lie in [0, {n_classes}) for {n_classes} classes")
    return target
