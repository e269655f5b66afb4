"""ANLS, Average Normalized Levenshtein Similarity (Biten et al., ICCV 2019), as the Robust
Reading Competition's DocVQA / InfographicVQA evaluation computes it (`infographicsvqa_eval.py`
from rrc.cvc.uab.es, also shipped as QwenLM/Qwen-VL `eval_mm/infographicsvqa_eval.py`).

Reproduced rule for rule:

* Both strings are stripped, lower-cased and their whitespace runs collapsed to one space before
  the Levenshtein distance is taken.
* The distance is divided by the length of the longer of the two **raw** strings (as given,
  before stripping or collapsing: `max(len(answer.upper()), len(prediction.upper()))`), so
  surrounding spaces make a near miss score higher; two empty strings have distance 0.
* A question scores 1 - (smallest normalised distance over its ground-truth answers), set to 0
  when it is below the threshold 0.5 (a score of exactly 0.5 is kept).

pix2struct's `anls_metric` divides by the lower-cased strings' length instead and keeps a score
when the distance is <= 0.5: the two agree unless an answer has surrounding or repeated spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

THRESHOLD = 0.5


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each cost 1)."""
    if len(a) > len(b):
        a, b = b, a
    previous = list(range(len(a) + 1))
    for j, cb in enumerate(b, 1):
        current = [j]
        for i, ca in enumerate(a, 1):
            current.append(min(previous[i] + 1, current[i - 1] + 1, previous[i - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls_score(prediction: str, answers: Sequence[str], threshold: float = THRESHOLD) -> float:
    """One question's ANLS against its ground-truth answers (see the module docstring).

    >>> anls_score("Dr. Smith", ["dr. smith"]), round(anls_score("abd", ["abc"]), 4)
    (1.0, 0.6667)
    """
    if not answers:
        raise MMBenchError("an ANLS question needs at least one ground-truth answer")
    guess = " ".join(prediction.strip().lower().split())
    distances = []
    for answer in answers:
        truth = " ".join(answer.strip().lower().split())
        length = max(len(answer.upper()), len(prediction.upper()))
        distances.append(0.0 if length == 0 else levenshtein(truth, guess) / length)
    score = 1.0 - min(distances)
    return 0.0 if score < threshold else score


def anls(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> dict[str, Any]:
    """ANLS of every question and their mean: `{"per_question": [...], "mean": float}`."""
    if len(predictions) != len(answers):
        raise MMBenchError(f"{len(predictions)} predictions but {len(answers)} answer lists")
    scores = [anls_score(p, a) for p, a in zip(predictions, answers, strict=True)]
    return {"per_question": scores, "mean": sum(scores) / len(scores) if scores else 0.0}
