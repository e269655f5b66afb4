"""MMMU's own answer parsing and scoring, as in MMMU-Benchmark/MMMU `eval/eval_utils.py` (the
functions `parse_multi_choice_response`, `parse_open_response`, `eval_multi_choice`, `eval_open`
and `get_multi_choice_info` in `eval/data_utils.py`), rule for rule.

One deliberate difference, for reproducibility: where the official multiple-choice parser finds
no option in a response ("D. artery wall", "AB", an empty answer) it picks a random option from a
single `random` stream seeded 42 at import, so which option a sample gets depends on every sample
parsed before it. Here the caller passes the random generator (`fallback_rng`), and the task draws
from `random.Random(f"{seed}:{sample id}")`: the same seeded fallback, reproducible for one sample
whatever else is in the run, with the same expected accuracy. The caller counts the fallbacks.

lmms-eval 0.7.3's copy is *not* this parser: it also reads "A." and "A " forms, so it scores
"D. artery wall" as D where MMMU guesses.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: MMMU's six disciplines and their 30 subjects (the subject is part of each question id)
DISCIPLINES: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": (
        "Basic_Medical_Science",
        "Clinical_Medicine",
        "Diagnostics_and_Laboratory_Medicine",
        "Pharmacy",
        "Public_Health",
    ),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": (
        "Agriculture",
        "Architecture_and_Engineering",
        "Computer_Science",
        "Electronics",
        "Energy_and_Power",
        "Materials",
        "Mechanical_Engineering",
    ),
}
DISCIPLINE_OF = {subject: d for d, subjects in DISCIPLINES.items() for subject in subjects}

# stripped from both ends of a response, one character kind after the other (the official order)
_EDGE_PUNCTUATION = (",", ".", "!", "?", ";", ":", "'")
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


@dataclass(frozen=True)
class ChoiceParse:
    """A parsed multiple-choice response: the option letter, and whether it was a random guess."""

    letter: str
    random_fallback: bool


def multi_choice_info(options: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Letters A, B, ... for `options`: (letter -> option text, letters in order)."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    return dict(zip(letters, options, strict=True)), letters


def parse_multi_choice_response(
    response: str,
    all_choices: Sequence[str],
    index2ans: dict[str, str],
    fallback_rng: random.Random,
) -> ChoiceParse:
    """The option a response picks, by MMMU's rules.

    1. Strip `, . ! ? ; : '` from both ends (in that order) and pad with one space each side.
    2. Candidates: letters written as "(X)"; if none, letters standing alone as " X ";
       if none and the response has more than 5 words, options whose text occurs in it
       (case-insensitive).
    3. No candidate: a random letter from `fallback_rng` (`random_fallback=True`). Several: the
       one whose mark ("(X)", " X " or the option text) occurs last; on equal positions the
       first in option order (numpy argmax).
    """
    for char in _EDGE_PUNCTUATION:
        response = response.strip(char)
    response = f" {response} "
    bracketed = [c for c in all_choices if f"({c})" in response]
    candidates = bracketed or [c for c in all_choices if f" {c} " in response]
    by_text = False
    if not candidates and len(response.split()) > 5:
        lowered = response.lower()
        candidates = [k for k, text in index2ans.items() if text.lower() in lowered]
        by_text = True
    if not candidates:
        return ChoiceParse(fallback_rng.choice(list(all_choices)), True)
    if len(candidates) == 1:
        return ChoiceParse(candidates[0], False)
    if by_text:
        lowered = response.lower()
        positions = [lowered.rfind(index2ans[c].lower()) for c in candidates]
    elif bracketed:
        positions = [response.rfind(f"({c})") for c in candidates]
    else:
        positions = [response.rfind(f" {c} ") for c in candidates]
    return ChoiceParse(candidates[positions.index(max(positions))], False)


def check_is_number(text: str) -> bool:
    """True when `float()` reads `text` once commas are removed (MMMU's test, so "1e3", "inf"
    and "1_000" count as numbers, as Python's float reads them)."""
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_str(text: str) -> list[str | float]:
    """MMMU's normal form: a number becomes a float rounded to 2 decimals; other text is
    lower-cased, and a single character becomes [" x", "x "] so it cannot match inside words."""
    text = text.strip()
    if check_is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    """Numbers in `text`: with thousands commas, then scientific notation, then plain ones."""
    return (
        _NUMBER_WITH_COMMAS.findall(text)
        + _NUMBER_SCIENTIFIC.findall(text)
        + _NUMBER_SIMPLE.findall(text)
    )


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    # The official split also names ". " before a capital letter, which cannot occur in the
    # lower-cased text, so only line breaks split.
    parts = re.split(r"\.\s(?=[A-Z])|\n", response)
    indicators = list(_KEY_INDICATORS)
    keys = []
    for index, part in enumerate(parts):
        if index == len(parts) - 1:
            indicators.append("=")  # the last part may be a bare equation
        shortest = None
        for indicator in indicators:
            if indicator in part:
                tail = part.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in (":", ",", ".", "!", "?", ";", "'"):
            keys.append(shortest)
    return keys or [response]


def parse_open_response(response: str) -> list[str | float]:
    """Candidate answers of an open response, by MMMU's rules: the shortest tail after a key
    phrase ("is ", "so ", "therefore ", ..., "=" in the last line) of each line (the whole
    lower-cased response when none has one), plus every number in those tails, each normalised
    with `normalize_str`, without duplicates."""
    keys = _key_subresponses(response)
    texts = list(keys)
    for key in keys:
        texts.extend(extract_numbers(key))
    out: list[str | float] = []
    for text in texts:
        out.extend(normalize_str(text))
    return list(dict.fromkeys(out))


def eval_multi_choice(gold: str | Sequence[str], pred: str) -> bool:
    """Correct when the parsed letter equals the gold letter (or one of a list of them)."""
    if isinstance(gold, str):
        return gold == pred
    return pred in list(gold)


def eval_open(gold: str | Sequence[str], preds: Sequence[str | float]) -> bool:
    """Correct when a parsed number equals a normalised gold number, or a normalised gold
    text occurs inside a parsed text (substring, as MMMU)."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    normalised: list[str | float] = [n for g in golds for n in normalize_str(g)]
    texts = [n for n in normalised if isinstance(n, str)]
    for pred in preds:
        if isinstance(pred, str):
            if any(t in pred for t in texts):
                return True
        elif pred in normalised:
            return True
    return False


def gold_answer(answer: str) -> str | list[str]:
    """The gold answer of a hub row: a string, or a list when the cell holds a Python list
    literal (open questions with several accepted answers, e.g. "['24/7', '3.429']")."""
    text = answer.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return answer
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return answer


def subject_of(question_id: str) -> str | None:
    """The subject in an MMMU id (`validation_Art_Theory_12` -> `Art_Theory`), None otherwise."""
    split = question_id.split("_")[0]
    match = re.match(rf"^{re.escape(split)}_(.+?)_\d+$", question_id)
    return match.group(1) if match else None
