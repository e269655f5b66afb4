"""GQA exact match as lmms-eval's `gqa` task scores it (lmms_eval/tasks/gqa/gqa.yaml: metric
`exact_match` with `ignore_case: true, ignore_punctuation: true`, i.e. the Hugging Face
`evaluate` exact-match rule that lmms-eval's `exact_match_hf_evaluate` ports).

Both the prediction and the single ground-truth answer are lower-cased and lose every ASCII
punctuation character (`string.punctuation`, deleted, not replaced by a space); the results must
then be equal. Surrounding whitespace is stripped first, as lmms-eval's model wrappers strip the
decoded text before scoring; inner spaces count ("red car" is not "redcar"). Numbers are kept.
GQA's official `eval.py` compares the raw strings; lmms-eval's normalisation is what papers
reporting lmms-eval numbers use.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def gqa_normalize(text: str) -> str:
    """Strip, lower-case and delete ASCII punctuation.

    >>> gqa_normalize(" Yes."), gqa_normalize("T-shirt")
    ('yes', 'tshirt')
    """
    return text.strip().lower().translate(_DROP_PUNCTUATION)


def gqa_exact_match(predictions: Sequence[str], answers: Sequence[str]) -> dict[str, Any]:
    """`{"per_question": [1.0 | 0.0], "mean": float}` under `gqa_normalize`."""
    if len(predictions) != len(answers):
        raise MMBenchError(f"{len(predictions)} predictions but {len(answers)} GQA answers")
    scores = [
        float(gqa_normalize(p) == gqa_normalize(a))
        for p, a in zip(predictions, answers, strict=True)
    ]
    return {"per_question": scores, "mean": sum(scores) / len(scores) if scores else 0.0}
