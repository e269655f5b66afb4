"""POPE (Li et al., EMNLP 2023): object-hallucination yes/no questions, scored as the benchmark's
own `evaluate.py` does (github.com/RUCAIBox/POPE; LLaVA's `llava/eval/eval_pope.py` has the same
rules).

Reproduced rule for rule:

* An answer keeps only its text before the first "." (the "first sentence"), loses every ",",
  and is split on single spaces; it means **no** when one of the words is exactly "No", "no" or
  "not", and **yes** otherwise (so "NO", "Not sure", "no!" and an empty answer all count as yes).
* A ground-truth label "no" is the negative class, anything else the positive one.
* accuracy = (TP + TN) / N, precision = TP / (TP + FP), recall = TP / (TP + FN),
  F1 = 2PR / (P + R), and the yes-ratio is the share of *predictions* that are yes (lmms-eval's
  POPE reports the ground truth's share instead, and counts an answer only when it is exactly
  "yes"/"no").

The script divides by zero when a set has no positive prediction or no positive label; here such
a ratio is 0.0 (as scikit-learn's `zero_division=0`). Papers print the mean of the three
per-category F1 (adversarial, popular, random); `pope_scores` returns it as `mean_f1` beside the
metrics pooled over all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

NEGATIVE_WORDS = ("No", "not", "no")


def pope_says_no(answer: str) -> bool:
    """True when POPE's evaluate.py reads `answer` as "no" (see the module docstring).

    >>> pope_says_no("No, there is not."), pope_says_no("Yes."), pope_says_no("NO")
    (True, False, False)
    """
    text = answer.split(".")[0] if "." in answer else answer
    words = text.replace(",", "").split(" ")
    return any(word in NEGATIVE_WORDS for word in words)


def pope_label_is_no(label: str) -> bool:
    """True for a negative ground truth ("no"); the hub copy's labels are "yes" / "no"."""
    value = str(label).strip().lower()
    if value not in ("yes", "no"):
        raise MMBenchError(f"POPE label {label!r} is neither 'yes' nor 'no'; fix the dataset")
    return value == "no"


def pope_metrics(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, precision, recall, f1, yes_ratio (fractions) and n of one set of answers.

    Returns also `per_question`: 1.0 where the parsed answer equals the label, else 0.0.
    """
    if len(predictions) != len(labels):
        raise MMBenchError(f"{len(predictions)} predictions but {len(labels)} POPE labels")
    tp = fp = tn = fn = 0
    per_question = []
    for prediction, label in zip(predictions, labels, strict=True):
        said_yes = not pope_says_no(prediction)
        is_yes = not pope_label_is_no(label)
        tp += said_yes and is_yes
        fp += said_yes and not is_yes
        tn += not said_yes and not is_yes
        fn += not said_yes and is_yes
        per_question.append(float(said_yes == is_yes))
    n = len(per_question)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "yes_ratio": _ratio(tp + fp, n),
        "n": n,
        "per_question": per_question,
    }


def pope_scores(
    predictions: Sequence[str], labels: Sequence[str], categories: Sequence[str]
) -> dict[str, Any]:
    """POPE's metrics pooled over all rows, per category, and `mean_f1` over the categories.

    Returns `{"metrics": {accuracy, precision, recall, f1, yes_ratio, mean_f1}, "breakdown":
    {category: {accuracy, precision, recall, f1, yes_ratio, "n"}}, "per_question": [...]}`.
    """
    pooled = pope_metrics(predictions, labels)
    breakdown: dict[str, dict[str, float]] = {}
    for category in sorted(set(categories)):
        rows = [i for i, c in enumerate(categories) if c == category]
        part = pope_metrics([predictions[i] for i in rows], [labels[i] for i in rows])
        part.pop("per_question")
        breakdown[category] = part
    metrics = {k: v for k, v in pooled.items() if k not in ("n", "per_question")}
    f1s = [part["f1"] for part in breakdown.values()]
    metrics["mean_f1"] = sum(f1s) / len(f1s) if f1s else 0.0
    return {"metrics": metrics, "breakdown": breakdown, "per_question": pooled["per_question"]}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0
