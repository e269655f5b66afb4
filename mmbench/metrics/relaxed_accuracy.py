"""ChartQA relaxed accuracy (Masry et al., Findings of ACL 2022), as pix2struct's
`relaxed_correctness` computes it (google-research/pix2struct `pix2struct/metrics.py`; lmms-eval's
ChartQA task and Qwen-VL's `evaluate_vqa.py` carry the same function).

Reproduced rule for rule:

* A string is a number when Python's `float()` reads it (surrounding whitespace allowed; "1e3",
  "nan" and "inf" are numbers, "1,000" and "$5" are not), or, when it ends in "%", when the text
  before the trailing "%" signs does; "50%" is then 0.5.
* When the prediction is a number and the target a *non-zero* number, the prediction is right
  if |prediction - target| / |target| <= 0.05. So "50%" matches a target of 0.5 (and of 0.51),
  but not of 50.
* Otherwise (either side not a number, or a target of 0) the two must be equal ignoring case;
  nothing is stripped: "Yes " is not "yes", and "0" is right only for "0".
* A question with several targets takes the best one (pix2struct's `aggregate_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

MAX_RELATIVE_CHANGE = 0.05


#: ChartQA's `type` values (lmms-lab/ChartQA) and the metric of each part
CHARTQA_PARTS = {"human_test": "relaxed_human", "augmented_test": "relaxed_augmented"}


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(
    target: str, prediction: str, max_relative_change: float = MAX_RELATIVE_CHANGE
) -> bool:
    """pix2struct's relaxed correctness of one prediction against one target.

    >>> relaxed_correctness("100", "104"), relaxed_correctness("0.5", "50%")
    (True, True)
    >>> relaxed_correctness("1,000", "1000"), relaxed_correctness("Yes", "yes")
    (False, True)
    """
    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def relaxed_accuracy(
    predictions: Sequence[str], targets: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Relaxed accuracy of every question (best target) and the mean, in [0, 1]."""
    if len(predictions) != len(targets):
        raise MMBenchError(f"{len(predictions)} predictions but {len(targets)} target lists")
    scores = []
    for prediction, options in zip(predictions, targets, strict=True):
        if not options:
            raise MMBenchError("a ChartQA question needs at least one target answer")
        scores.append(float(any(relaxed_correctness(t, prediction) for t in options)))
    return {"per_question": scores, "mean": sum(scores) / len(scores) if scores else 0.0}
