"""Answer extraction of the video multiple-choice benchmarks, each as its reference code.

* `videomme_letter`: Video-MME's `extract_characters_regex` (BradyFU/Video-MME
  `evaluation/eval_your_results.py`; lmms-eval `tasks/videomme/utils.py` has the same function).
* `mvbench_read` / `mvbench_correct`: lmms-eval's MVBench rule (`tasks/mvbench/utils.py`,
  `mcq_acc` with its inner `process` and `processPunctuation`), which reads the prediction and
  the gold option letter the same way and compares the results.

Both return what the reference reads; an answer from which no option letter is read counts as
wrong, and the task reports how many there were (`unparsed`).
"""

from __future__ import annotations

import re

# Video-MME's list of prefixes is missing two commas, so Python joins the last four strings
# into two; the reference therefore never removes "The best option is" or "Best answer:" alone.
VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)
_VIDEOMME_LETTER = re.compile(r"[ABCD]")


def videomme_letter(response: str) -> str:
    """The option letter Video-MME's `extract_characters_regex` reads, or "" when none.

    The response is stripped, every occurrence of each prefix in `VIDEOMME_PREFIXES` is
    removed (case-sensitive, in order), and the first upper-case A, B, C or D anywhere in what
    remains is the answer, even inside a word ("Answer: C" reads "A"). The reference also
    returns "" for answers of more than 10 words without any of A-D, which the search alone
    already does. Video-MME's `eval_your_results.py` leaves "" answers out of the denominator,
    lmms-eval counts them as wrong.
    """
    text = response.strip()
    for prefix in VIDEOMME_PREFIXES:
        text = text.replace(prefix, "")
    match = _VIDEOMME_LETTER.search(text)
    return match.group(0) if match else ""


# lmms-eval's MVBench punctuation list (the VQA evaluation's, without "'", ":" and ".")
_MVBENCH_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<")
_MVBENCH_PUNCT += ("@", "`", ",", "?", "!")
_COMMA_IN_NUMBER = re.compile(r"(\d)(,)(\d)")
# The reference's pattern "(?!<=\d)(\.)(?!\d)" holds a look-ahead where a look-behind was meant,
# which never fails before a ".": every period not followed by a digit is removed. It is called
# as sub("", text, re.UNICODE), so re.UNICODE (32) is the count: at most 32 are removed.
_PERIOD = re.compile(r"\.(?!\d)")
_PERIOD_COUNT = int(re.UNICODE)
_LEADING_OPTION = re.compile(r"^([A-E])\.\s*(.+)$", re.IGNORECASE)
_LONE_LETTER = re.compile(r"\b([A-E])\b", re.IGNORECASE)


def _mvbench_punctuation(text: str) -> str:
    """lmms-eval's MVBench `processPunctuation`: each mark is deleted when the ORIGINAL text has
    it next to a space (or holds a comma between digits anywhere), else replaced by a space;
    then periods not followed by a digit are deleted (at most 32)."""
    out = text
    has_number_comma = _COMMA_IN_NUMBER.search(text) is not None
    for mark in _MVBENCH_PUNCT:
        if mark + " " in text or " " + mark in text or has_number_comma:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=_PERIOD_COUNT)


def mvbench_read(answer: str) -> str:
    """What lmms-eval's MVBench `process` makes of an answer: an upper-case letter A-E, or the
    cleaned, lower-cased text when it finds none.

    1. The stripped answer as a whole is "X." + text (X in A-E, either case, the text on the
       same line): X, upper-cased.
    2. Otherwise newlines and tabs become spaces, the answer is stripped, punctuation handled as
       `_mvbench_punctuation`, then stripped of ', ", ) and ( at its ends (in that order), and
       lower-cased; the first standalone letter a-e (a word of one letter, so the article "a"
       counts) is the answer, upper-cased.
    3. Otherwise the cleaned text itself.
    """
    match = _LEADING_OPTION.match(answer.strip())
    if match:
        return match.group(1).upper()
    text = answer.replace("\n", " ").replace("\t", " ").strip()
    text = _mvbench_punctuation(text)
    text = text.strip("'").strip('"').strip(")").strip("(").strip().lower()
    letter = _LONE_LETTER.search(text)
    return letter.group(1).upper() if letter else text


def mvbench_correct(prediction: str, gold_letter: str) -> bool:
    """lmms-eval's MVBench `mcq_acc`: both read by `mvbench_read`, then compared exactly."""
    return mvbench_read(prediction) == mvbench_read(gold_letter)


def mvbench_letter(prediction: str) -> str | None:
    """The option letter `mvbench_read` finds in a prediction, or None (unparsed)."""
    read = mvbench_read(prediction)
    return read if len(read) == 1 and read in "ABCDE" else None
