"""Answer extraction and scoring for multiple-choice benchmarks, each rule as its reference code.

* `can_infer` / `can_infer_option` / `can_infer_text`: the rule-based stage of VLMEvalKit's
  answer extraction (open-compass/VLMEvalKit `vlmeval/utils/matching_util.py` at commit
  18fc37a5; some revisions also require the letter among the last words and skip text matching
  for long answers), which the official MMBench and MMStar evaluations run before asking a GPT
  judge. mmbench has no judge:
  an answer the rules cannot read counts as wrong and is counted as unparsed (VLMEvalKit's own
  `exact_matching` mode, without a judge, does the same: it records option "Z").
* `circular_eval`: MMBench's CircularEval (Liu et al., 2023; VLMEvalKit / lmms-eval
  `eval_sub_data`): a question counts only if every circular shift of its options is answered
  correctly; its shifts share `index % 1_000_000`.
* `scienceqa_correct`, `ai2d_filter` + `lmms_exact_match`, `seedbench_letter`,
  `realworldqa_filter`: the lmms-eval task code for ScienceQA-IMG (`tasks/scienceqa/utils.py`:
  `sqa_process_results`), AI2D (`tasks/ai2d`: the "flexible-extract" filter, a leading "X."
  read as its letter, then exact match ignoring case and punctuation), SEED-Bench
  (`tasks/seedbench/utils.py`: `seed_process_result`) and RealWorldQA
  (`tasks/realworldqa/utils.py`: the number-word and multiple-choice filters, then exact match).
* `accuracy_breakdown`: per-category means in the `Result.breakdown` layout.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

# VLMEvalKit's refusals, read as the impossible option "Z" (a wrong, parsed answer)
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_OPTION_SEPARATORS = ".()[],:;!*#{}"
REFUSAL = "Z"
#: MMBench's circular copies of a question have index + k * CIRCULAR_STRIDE (k = 1, 2, 3)
CIRCULAR_STRIDE = 1_000_000


def can_infer_option(answer: str, choices: Mapping[str, str]) -> str | None:
    """The option letter an answer names, by VLMEvalKit's `can_infer_option`.

    `.()[],:;!*#{}` become spaces and the answer is split on whitespace; when exactly one of
    the option letters (the keys of `choices`) appears as a word, that letter. A refusal
    phrase, or no letter but a lone word "Z", gives "Z". Anything else: None.
    """
    if "Failed to obtain answer via API" in answer:
        return None
    if any(phrase in answer for phrase in _REFUSALS):
        return REFUSAL
    for char in _OPTION_SEPARATORS:
        answer = answer.replace(char, " ")
    words = [w.strip() for w in answer.split()]
    named = [letter for letter in choices if letter in words]
    if len(named) == 1:
        return named[0]
    if not named and REFUSAL in words:
        return REFUSAL
    return None


def can_infer_text(answer: str, choices: Mapping[str, str]) -> str | None:
    """The option whose text occurs in the answer (case-insensitive), when exactly one does."""
    lowered = answer.lower()
    found = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return found[0] if len(found) == 1 else None


def can_infer(answer: str, choices: Mapping[str, str]) -> str | None:
    """VLMEvalKit's rule-based extraction: a letter (`can_infer_option`), else an option text
    (`can_infer_text`); None where VLMEvalKit would ask its GPT judge."""
    answer = str(answer)
    return can_infer_option(answer, choices) or can_infer_text(answer, choices)


def circular_eval(groups: Sequence[str], correct: Sequence[bool]) -> dict[str, bool]:
    """CircularEval: group -> True when every row of the group (the circular shifts of one
    question) is correct. Rows are grouped by `groups` (e.g. `str(index % CIRCULAR_STRIDE)`)."""
    out: dict[str, bool] = {}
    for group, ok in zip(groups, correct, strict=True):
        out[group] = out.get(group, True) and bool(ok)
    return out


def scienceqa_correct(prediction: str, target: str) -> bool:
    """lmms-eval's ScienceQA rule (LLaVA's): the prediction equals the target letter, or starts
    with an upper-case letter and a period ("B. ...") and that letter is the target."""
    if prediction == target:
        return True
    if len(prediction) >= 2 and prediction[0].isupper() and prediction[1] == ".":
        return prediction[0] == target
    return False


def scienceqa_letter(prediction: str, letters: str) -> str | None:
    """The option letter `scienceqa_correct` reads (None when it reads none)."""
    if prediction in letters and len(prediction) == 1:
        return prediction
    if len(prediction) >= 2 and prediction[0].isupper() and prediction[1] == ".":
        return prediction[0] if prediction[0] in letters else None
    return None


_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)


def normalize_exact(text: str) -> str:
    """lm-eval's `exact_match` with ignore_case and ignore_punctuation: lower-cased, ASCII
    punctuation removed, nothing else (whitespace is kept)."""
    return text.lower().translate(_PUNCTUATION_TABLE)


def lmms_exact_match(prediction: str, target: str) -> bool:
    """lm-eval / lmms-eval `exact_match` (ignore_case, ignore_punctuation), as AI2D and
    RealWorldQA use it."""
    return normalize_exact(prediction) == normalize_exact(target)


_LEADING_LETTER = re.compile(r"^\s*([A-Z])\.")


def ai2d_filter(prediction: str) -> str:
    """lmms-eval's AI2D "flexible-extract" filter (`MultiChoiceRegexFilter` in
    `tasks/ai2d/utils.py`): an answer starting with "X." becomes "X"; any other answer is kept
    as it is, for `lmms_exact_match`."""
    match = _LEADING_LETTER.match(prediction)
    return match.group(1) if match else prediction


def seedbench_letter(prediction: str) -> str:
    """lmms-eval's SEED-Bench reading: the stripped prediction's first character."""
    prediction = prediction.strip()
    return prediction[0] if len(prediction) > 1 else prediction


_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_LISTED_OPTION = re.compile(r"\b([A-Z])\.\s+([^\n]*)")


def realworldqa_filter(prediction: str, question: str) -> str:
    """lmms-eval's RealWorldQA filters, in order: a whole answer that is a number word
    ("Three") becomes its digits; then non-word characters are removed and, when the cleaned
    answer contains the text of an option listed in the question as "X. text" (options
    lettered A, B, ... in order of listing), it becomes that option's letter."""
    prediction = _NUMBER_WORDS.get(prediction.lower(), prediction)
    texts: dict[str, str] = {}
    for offset, (_, text) in enumerate(_LISTED_OPTION.findall(question)):
        texts[text.strip()] = chr(ord("A") + offset)
    cleaned = re.sub(r"[^\w\s]", "", prediction).strip()
    pattern = re.compile("|".join(re.escape(t) for t in texts))
    match = pattern.search(cleaned)
    if match and match.group() in texts:
        return texts[match.group()]
    return cleaned


def accuracy_breakdown(
    values: Sequence[float], categories: Sequence[str | None], metric: str = "accuracy"
) -> dict[str, dict[str, float]]:
    """{category: {metric: mean, "n": count}} over the samples of each category (None: none)."""
    sums: dict[str, list[float]] = {}
    for value, category in zip(values, categories, strict=True):
        if category is not None:
            sums.setdefault(category, []).append(float(value))
    return {c: {metric: sum(v) / len(v), "n": len(v)} for c, v in sorted(sums.items())}
