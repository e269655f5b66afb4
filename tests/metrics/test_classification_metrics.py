"""Top-K accuracy and mean per-class recall against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, top_k_accuracy_score

from mmbench.errors import MMBenchError
from mmbench.metrics import classification_accuracy, mean_per_class_recall
from mmbench.metrics.classification import class_ranks


def random_case(n=300, c=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g)
    logits[torch.arange(n), labels] += 1.0  # a better-than-chance classifier
    return logits, labels


@pytest.mark.parametrize("seed", [0, 1])
def test_topk_matches_sklearn_without_ties(seed):
    logits, labels = random_case(seed=seed)
    ours = classification_accuracy(logits, labels, ks=(1, 2, 5))
    for k in (1, 2, 5):
        ref = top_k_accuracy_score(labels.numpy(), logits.numpy(), k=k, labels=np.arange(12))
        assert ours[f"top{k}"] == pytest.approx(ref)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_mean_per_class_recall_matches_balanced_accuracy():
    logits, labels = random_case(n=200, c=7, seed=3)
    labels[labels == 6] = 0  # a class that never occurs in the labels is left out
    ref = balanced_accuracy_score(labels.numpy(), logits.argmax(1).numpy())
    assert mean_per_class_recall(logits, labels) == pytest.approx(ref)


def test_hand_computed():
    logits = torch.tensor(
        [
            [0.1, 0.7, 0.2],  # label 1: rank 1
            [0.5, 0.3, 0.2],  # label 2: rank 3
            [0.3, 0.3, 0.4],  # label 0: rank 2 (tie with class 1, lower index first)
            [0.2, 0.2, 0.6],  # label 1: rank 3 (tie with class 0, which comes first)
        ]
    )
    labels = torch.tensor([1, 2, 0, 1])
    assert class_ranks(logits, labels).tolist() == [1, 3, 2, 3]
    scores = classification_accuracy(logits, labels, ks=(1, 2, 5))
    assert scores == {"top1": 0.25, "top2": 0.5, "top5": 1.0}  # k=5 > 3 classes: clipped to 3
    # recall: class 0 -> 0/1, class 1 -> 1/2, class 2 -> 0/1
    assert mean_per_class_recall(logits, labels) == pytest.approx((0 + 0.5 + 0) / 3)


def test_tie_order_equals_stable_descending_argsort():
    g = torch.Generator().manual_seed(4)
    logits = torch.randint(0, 3, (500, 6), generator=g).float()  # many ties
    labels = torch.randint(0, 6, (500,), generator=g)
    order = logits.argsort(dim=1, descending=True, stable=True)
    expected = (order == labels[:, None]).float().argmax(1) + 1
    assert torch.equal(class_ranks(logits, labels), expected)
    top1 = (logits.argmax(1) == labels).double().mean().item()
    assert classification_accuracy(logits, labels, ks=(1,))["top1"] == pytest.approx(top1)


def test_accepts_numpy():
    logits, labels = random_case(n=50, c=4)
    assert classification_accuracy(logits.numpy(), labels.numpy()) == classification_accuracy(
        logits, labels
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: classification_accuracy(torch.ones(3), torch.zeros(3, dtype=torch.long)),
            "[N, C]",
        ),
        (lambda: classification_accuracy(torch.ones(2, 3), torch.tensor([0, 3])), r"\[0, 3\)"),
        (lambda: classification_accuracy(torch.ones(2, 3), torch.tensor([0])), "2 class"),
        (lambda: classification_accuracy(torch.ones(2, 3), torch.tensor([0.0, 1.0])), "integer"),
        (lambda: classification_accuracy(torch.ones(2, 3), torch.tensor([0, 1]), ks=(0,)), "ks"),
        (
            lambda: mean_per_class_recall(torch.full((1, 2), float("nan")), torch.tensor([0])),
            "NaN",
        ),
    ],
)
def test_user_errors(call, match):
    with pytest.raises(MMBenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
