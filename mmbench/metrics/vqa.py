"""VQA accuracy (Antol et al. 2015; Goyal et al. 2017), as the official evaluation computes it.

Reference: `vqaEval.py` of the VQA API (github.com/GT-Vision-Lab/VQA, PythonEvaluationTools),
used by VQA v2, TextVQA, VizWiz and OK-VQA. Reproduced rule for rule:

* A predicted answer has newlines and tabs replaced by spaces, is stripped, then goes through
  `processPunctuation` and `processDigitArticle` (this module's `normalize_vqa_answer`).
* Reference answers are used as given (the annotation files ship them normalised), except that
  `processPunctuation` is applied to all of a question's references when they are not all equal.
* Accuracy = mean over the 10 leave-one-out subsets of 9 annotators of min(1, #matches / 3).
  A prediction that k of 10 annotators gave scores 0.3 (k=1), 0.6 (k=2), 0.9 (k=3: the 7 subsets
  keeping all three give 1, the 3 dropping one give 2/3) or 1.0 (k >= 4).

The script's quirks are kept, because they decide scores: the period-stripping regex
`(?!<=\\d)(\\.)(?!\\d)` has a typo (a lookahead where a lookbehind was meant), so it removes every
period not followed by a digit, and it is called as `sub("", text, re.UNICODE)`, which passes 32 as
the *count*, so at most 32 periods go; a digit-comma-digit anywhere in the answer makes every
punctuation mark vanish instead of becoming a space; contraction keys with a capital I ("Im",
"Ive") never match because the text is lowercased first. Scores are fractions in [0, 1] (the
script prints percentages rounded to 2 decimals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mmbench.errors import MMBenchError

# vqaEval.py, VQAEval.__init__: data, copied verbatim (including its oddities).
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}  # fmt: skip
MANUAL_MAP = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = ("a", "an", "the")
PUNCTUATION = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
)  # fmt: skip
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: see the module docstring
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# `periodStrip.sub("", text, re.UNICODE)` in the script: re.UNICODE (= 32) lands in `count`.
_PERIOD_STRIP_COUNT = int(re.UNICODE)


def process_punctuation(text: str) -> str:
    """vqaEval.py `processPunctuation`: drop or space out punctuation, strip periods."""
    out = text
    digit_comma_digit = _COMMA_STRIP.search(text) is not None
    for p in PUNCTUATION:
        # The tests look at the *original* text, as the script does.
        if (p + " " in text or " " + p in text) or digit_comma_digit:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """vqaEval.py `processDigitArticle`: lowercase, number words -> digits, drop articles,
    restore contractions."""
    words = [MANUAL_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_vqa_answer(answer: str) -> str:
    """Normalise a predicted answer exactly as vqaEval.py does before matching.

    >>> normalize_vqa_answer("Two dogs.")
    '2 dogs'
    >>> normalize_vqa_answer("a red car")
    'red car'
    >>> normalize_vqa_answer("isnt"), normalize_vqa_answer("isn't")
    ("isn't", "isn't")
    """
    if not isinstance(answer, str):
        raise MMBenchError(f"answers must be strings, got {type(answer).__name__}: {answer!r}")
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def vqa_accuracy(
    predictions: Sequence[str],
    answers: Sequence[Sequence[str]],
    *,
    normalize_references: bool = False,
) -> dict[str, Any]:
    """Official VQA accuracy of each prediction against its annotators' answers.

    Args:
        predictions: one free-form answer per question.
        answers: per question, the annotators' answers (10 in VQA v2; at least 2, since the
            score is a leave-one-out average).
        normalize_references: False (default) treats references like vqaEval.py: as already
            normalised by the dataset, punctuation-processed only when annotators disagree. True
            also passes them through `normalize_vqa_answer`, for datasets whose references are
            raw text ("Yes", "Two") - this is not the official protocol.

    Returns:
        `{"per_question": [float], "mean": float}`, fractions in [0, 1]; see the module docstring
        for the exact rules.
    """
    _check_lengths(predictions, answers)
    scores = []
    for index, (prediction, refs) in enumerate(zip(predictions, answers, strict=True)):
        refs = _as_answer_list(refs, index)
        if len(refs) < 2:
            raise MMBenchError(
                f"question {index} has {len(refs)} reference answer(s); VQA accuracy averages "
                "over leave-one-out annotator subsets and needs >= 2: use exact_match instead"
            )
        guess = normalize_vqa_answer(prediction)
        if normalize_references:
            refs = [normalize_vqa_answer(r) for r in refs]
        elif len(set(refs)) > 1:
            refs = [process_punctuation(r) for r in refs]
        matches = [r == guess for r in refs]
        total = sum(matches)
        # Leave annotator i out: the others match `total - matches[i]` times.
        per_subset = [min(1.0, (total - m) / 3.0) for m in matches]
        scores.append(sum(per_subset) / len(per_subset))
    return {"per_question": scores, "mean": _mean(scores)}


def exact_match(
    predictions: Sequence[str],
    targets: Sequence[str] | Sequence[Sequence[str]],
    *,
    normalize: str | None = "vqa",
) -> dict[str, Any]:
    """Share of predictions equal to their target (or to any of their targets).

    For multiple-choice and short-answer QA. Both sides are normalised the same way first:
    `normalize="vqa"` uses `normalize_vqa_answer` ("The 2 dogs." == "two dogs"), `"lower"`
    strips whitespace and lowercases, `None` compares raw strings.

    Returns:
        `{"per_question": [0.0 or 1.0], "mean": float}`.
    """
    if normalize not in ("vqa", "lower", None):
        raise MMBenchError(f"normalize must be 'vqa', 'lower' or None, got {normalize!r}")
    _check_lengths(predictions, targets)

    def norm(text: str) -> str:
        if normalize == "vqa":
            return normalize_vqa_answer(text)
        if not isinstance(text, str):
            raise MMBenchError(f"answers must be strings, got {type(text).__name__}: {text!r}")
        return text.strip().lower() if normalize == "lower" else text

    scores = []
    for index, (prediction, target) in enumerate(zip(predictions, targets, strict=True)):
        options = [target] if isinstance(target, str) else _as_answer_list(target, index)
        scores.append(float(norm(prediction) in {norm(t) for t in options}))
    return {"per_question": scores, "mean": _mean(scores)}


def _check_lengths(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise MMBenchError("predictions and answers must be lists (one entry per question)")
    if len(predictions) != len(references):
        raise MMBenchError(
            f"{len(predictions)} predictions but {len(references)} answer lists; "
            "pass one answer list per prediction"
        )


def _as_answer_list(refs: Any, index: int) -> list[str]:
    if isinstance(refs, str) or not isinstance(refs, Sequence):
        raise MMBenchError(
            f"question {index}: answers must be a list of strings, got {type(refs).__name__}"
        )
    if not refs:
        raise MMBenchError(f"question {index} has no reference answer; drop it or add answers")
    for r in refs:
        if not isinstance(r, str):
            raise MMBenchError(f"question {index}: answers must be strings, got {r!r}")
    return list(refs)


def _mean(scores: list[float]) -> float:
    return sum(scores) / len(scores) if scores else 0.0
