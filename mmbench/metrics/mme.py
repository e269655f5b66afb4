"""MME (Fu et al., 2023): yes/no questions, two per image, scored as the benchmark's own
`eval_tool/calculation.py` does (MME_Benchmark_release_version; the same tool LLaVA and
InternVL run).

Reproduced rule for rule:

* Answer parsing (`parse_pred_ans`): the answer is lower-cased (not stripped); it is "yes" or
  "no" when it equals that word, else "yes" when its first four characters contain "yes", else
  "no" when they contain "no", else "other" (wrong whatever the label). So "Yes, it is" and
  "Not at all" parse, "The answer is yes" and "  no" (two leading spaces) are "other".
  lmms-eval strips the answer and removes "." first and reads a lone "y"/"n"; this module
  follows the official tool.
* Per subtask: acc = share of questions answered right; acc+ = share of images with *both*
  questions right; score = 100 x (acc + acc+), at most 200.
* Perception = the sum of its 10 subtask scores (max 2000); cognition = the sum of its 4
  (max 800). On a subset (`--limit`) only the subtasks present are summed.

The tool asserts two questions per image; here an image's questions must all be right for acc+
(the same for pairs), so a subset that cuts a pair in two still scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

PERCEPTION = (
    "existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
    "artwork", "OCR",
)  # fmt: skip
COGNITION = (
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
)  # fmt: skip


def mme_parse(answer: str) -> str:
    """'yes', 'no' or 'other', as MME's calculation.py reads a model's answer.

    >>> mme_parse("Yes, it is."), mme_parse("Not really"), mme_parse("The answer is yes")
    ('yes', 'no', 'other')
    """
    text = answer.lower()
    if text in ("yes", "no"):
        return text
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def mme_scores(
    predictions: Sequence[str],
    labels: Sequence[str],
    subtasks: Sequence[str],
    images: Sequence[str],
) -> dict[str, Any]:
    """MME's perception and cognition totals and its per-subtask acc, acc+ and score.

    Args:
        predictions: model answers; labels: "Yes"/"No" (any case, surrounding spaces ignored);
            subtasks: MME's category
            names (see PERCEPTION, COGNITION); images: the image each question is about.

    Returns:
        `{"metrics": {"perception", "cognition", "total", "unparsed"}, "breakdown": {subtask:
        {"acc", "acc_plus", "score", "n"}}, "per_question": [1.0 | 0.0]}`; acc and acc_plus are
        fractions, scores are on MME's 0..200 per-subtask scale; `unparsed` counts "other".
    """
    if not len(predictions) == len(labels) == len(subtasks) == len(images):
        raise MMBenchError("MME scoring needs one label, subtask and image per prediction")
    per_question = []
    unparsed = 0
    by_subtask: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for prediction, label, subtask, image in zip(
        predictions, labels, subtasks, images, strict=True
    ):
        truth = str(label).strip().lower()
        if truth not in ("yes", "no"):
            raise MMBenchError(f"MME label {label!r} is neither 'yes' nor 'no'; fix the dataset")
        parsed = mme_parse(prediction)
        unparsed += parsed == "other"
        right = float(parsed == truth)
        per_question.append(right)
        by_subtask[subtask][image].append(right)
    breakdown: dict[str, dict[str, float]] = {}
    for subtask in sorted(by_subtask):
        image_scores = list(by_subtask[subtask].values())
        answers = [s for scores in image_scores for s in scores]
        acc = sum(answers) / len(answers)
        acc_plus = sum(all(scores) for scores in image_scores) / len(image_scores)
        breakdown[subtask] = {
            "acc": acc,
            "acc_plus": acc_plus,
            "score": 100.0 * (acc + acc_plus),
            "n": len(answers),
        }
    perception = sum(v["score"] for k, v in breakdown.items() if k in PERCEPTION)
    cognition = sum(v["score"] for k, v in breakdown.items() if k in COGNITION)
    unknown = sorted(set(breakdown) - set(PERCEPTION) - set(COGNITION))
    if unknown:
        raise MMBenchError(
            f"MME subtask {unknown[0]!r} is neither a perception nor a cognition subtask;"
            f" known: {', '.join(PERCEPTION + COGNITION)}"
        )
    metrics = {
        "perception": perception,
        "cognition": cognition,
        "total": perception + cognition,
        "unparsed": float(unparsed),
    }
    return {"metrics": metrics, "breakdown": breakdown, "per_question": per_question}
