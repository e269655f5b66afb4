"""OCRBench (Liu et al., 2024), scored as the benchmark's repository does
(github.com/Yuliang-Liu/MultimodalOCR, the OCRBench evaluation in `scripts/`; lmms-eval's
`ocrbench` task carries the same rule).

Reproduced rule for rule:

* A question is right when one of its ground-truth answers is a substring of the prediction.
* Rows from the HME100k dataset (handwritten mathematical expressions): both sides are
  stripped, newlines become spaces and then every space is removed; the comparison is
  **case-sensitive** (lmms-eval lower-cases the prediction first, so "\\frac{A}{B}" can never
  match there; the repository does not).
* Every other row: both sides are lower-cased and stripped, and newlines become spaces.
* An empty ground-truth answer is contained in every prediction (kept, as in the script).
* The score is the number of right questions: out of 1,000 on the full benchmark, reported with
  the same count per question type (e.g. "Regular Text Recognition", out of 50).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

HANDWRITTEN_MATH = "HME100k"


def ocrbench_correct(prediction: str, answers: Sequence[str], dataset: str) -> bool:
    """OCRBench's rule for one question (`dataset` is the row's source dataset name).

    >>> ocrbench_correct("The word is HELLO.", ["hello"], "IIIT5K")
    True
    >>> ocrbench_correct("x ^ { 2 }", ["x^{2}"], "HME100k")
    True
    >>> ocrbench_correct("X^2", ["x^2"], "HME100k")
    False
    """
    if dataset == HANDWRITTEN_MATH:
        guess = prediction.strip().replace("\n", " ").replace(" ", "")
        return any(a.strip().replace("\n", " ").replace(" ", "") in guess for a in answers)
    guess = prediction.lower().strip().replace("\n", " ")
    return any(a.lower().strip().replace("\n", " ") in guess for a in answers)


def ocrbench_scores(
    predictions: Sequence[str],
    answers: Sequence[Sequence[str]],
    datasets: Sequence[str],
    question_types: Sequence[str],
) -> dict[str, Any]:
    """`{"metrics": {"score": right count, "accuracy": share}, "breakdown": {question type:
    {"score": right count, "accuracy": share, "n"}}, "per_question": [1.0 | 0.0]}`."""
    if not len(predictions) == len(answers) == len(datasets) == len(question_types):
        raise MMBenchError("OCRBench scoring needs answers, a dataset and a type per prediction")
    per_question = [
        float(ocrbench_correct(p, a, d))
        for p, a, d in zip(predictions, answers, datasets, strict=True)
    ]
    breakdown: dict[str, dict[str, float]] = {}
    for kind in sorted(set(question_types)):
        rows = [per_question[i] for i, t in enumerate(question_types) if t == kind]
        breakdown[kind] = {"score": sum(rows), "accuracy": sum(rows) / len(rows), "n": len(rows)}
    total = sum(per_question)
    metrics = {"score": total, "accuracy": total / len(per_question) if per_question else 0.0}
    return {"metrics": metrics, "breakdown": breakdown, "per_question": per_question}
