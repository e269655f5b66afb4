"""Scorers of the `multiple_choice` task type: one per benchmark's official answer rule.

A task YAML names its scorer (`options: {scorer: mmmu}`). Each scorer reads one prediction
against one prepared `Question` and returns a `Judged`: right or wrong, the option it read, and
whether it read none (unparsed: where the official pipeline would ask a GPT judge, the sample
counts as wrong) or guessed (MMMU's seeded random fallback). The rules live in
`mmbench.metrics.multiple_choice` and `mmbench.metrics.mmmu`; this module only maps a question's
fields onto them. Registry values name functions of this module, so no if/elif over scorers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from mmbench.errors import registry_entry


@dataclass(frozen=True)
class Question:
    """One prepared row: what the model is asked and what its answer is scored against."""

    id: str
    question: str
    prompt: str
    #: option letter -> option text, in the order shown (empty where the options are not known)
    choices: dict[str, str]
    #: the gold answer: an option letter, or an open answer (a string, or a list of accepted ones)
    answer: Any
    open: bool = False
    #: breakdown key -> category of this question
    categories: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Judged:
    """How one prediction was read and scored."""

    correct: bool
    parsed: Any
    unparsed: bool = False
    random_fallback: bool = False


@dataclass(frozen=True)
class ScorerInfo:
    """A registry entry: the function's name, the rule it follows, and whether the gold answer
    must be one of the question's option letters."""

    function: str
    description: str
    letter_answers: bool = True


SCORERS: dict[str, ScorerInfo] = {
    "mmmu": ScorerInfo(
        "score_mmmu",
        "MMMU eval_utils: parse_multi_choice_response (seeded fallback), parse_open_response",
        letter_answers=False,
    ),
    "vlmevalkit": ScorerInfo(
        "score_vlmevalkit",
        "VLMEvalKit can_infer (option letter, else option text); no judge: unparsed is wrong",
    ),
    "scienceqa": ScorerInfo(
        "score_scienceqa", "lmms-eval ScienceQA: the letter, or 'X.' at the start"
    ),
    "ai2d": ScorerInfo(
        "score_ai2d",
        "lmms-eval AI2D: a leading 'X.' read as X, then exact match ignoring case and punctuation",
    ),
    "seedbench": ScorerInfo("score_seedbench", "lmms-eval SEED-Bench: the first character"),
    "realworldqa": ScorerInfo(
        "score_realworldqa",
        "lmms-eval RealWorldQA: number words and option texts to letters, then exact match",
        letter_answers=False,
    ),
    "videomme": ScorerInfo(
        "score_videomme",
        "Video-MME extract_characters_regex: answer prefixes removed, then the first A-D",
    ),
    "mvbench": ScorerInfo(
        "score_mvbench",
        "lmms-eval MVBench mcq_acc: a leading 'X.', else the first lone letter A-E",
    ),
}


def scorer(name: str, task: str) -> Any:
    """The scoring function registered as `name` (a one-line error names the known ones)."""
    info = registry_entry(SCORERS, name, f"task {task!r}: unknown scorer", "known")
    return globals()[info.function]


def score_mmmu(prediction: str, q: Question, seed: int) -> Judged:
    """MMMU: open questions by `parse_open_response` + `eval_open`; multiple choice by
    `parse_multi_choice_response`, whose random fallback draws from Random(f"{seed}:{id}")."""
    from mmbench.metrics.mmmu import (
        eval_multi_choice,
        eval_open,
        parse_multi_choice_response,
        parse_open_response,
    )

    if q.open:
        parsed = parse_open_response(prediction)
        return Judged(eval_open(q.answer, parsed), [str(p) for p in parsed])
    rng = random.Random(f"{seed}:{q.id}")
    choice = parse_multi_choice_response(prediction, list(q.choices), q.choices, rng)
    return Judged(
        eval_multi_choice(q.answer, choice.letter),
        choice.letter,
        random_fallback=choice.random_fallback,
    )


def score_vlmevalkit(prediction: str, q: Question, seed: int) -> Judged:
    """VLMEvalKit's rule-based extraction (MMBench, MMStar); None is unparsed and wrong."""
    from mmbench.metrics.multiple_choice import can_infer

    letter = can_infer(prediction, dict(q.choices))
    return Judged(letter == q.answer, letter, unparsed=letter is None)


def score_scienceqa(prediction: str, q: Question, seed: int) -> Judged:
    from mmbench.metrics.multiple_choice import scienceqa_correct, scienceqa_letter

    letter = scienceqa_letter(prediction, "".join(q.choices))
    return Judged(scienceqa_correct(prediction, q.answer), letter, unparsed=letter is None)


def score_ai2d(prediction: str, q: Question, seed: int) -> Judged:
    from mmbench.metrics.multiple_choice import ai2d_filter, lmms_exact_match, normalize_exact

    read = ai2d_filter(prediction)
    letter = normalize_exact(read).upper()
    letter = letter if letter in q.choices else None
    return Judged(lmms_exact_match(read, q.answer), letter, unparsed=letter is None)


def score_seedbench(prediction: str, q: Question, seed: int) -> Judged:
    from mmbench.metrics.multiple_choice import seedbench_letter

    letter = seedbench_letter(prediction)
    return Judged(letter == q.answer, letter, unparsed=letter not in q.choices)


def score_realworldqa(prediction: str, q: Question, seed: int) -> Judged:
    """RealWorldQA (no official scorer: lmms-eval's filters and exact match). Unparsed: a
    question that lists options got an answer that is none of their letters."""
    from mmbench.metrics.multiple_choice import (
        lmms_exact_match,
        normalize_exact,
        realworldqa_filter,
    )

    read = realworldqa_filter(prediction, q.question)
    unparsed = bool(q.choices) and normalize_exact(read).upper() not in q.choices
    return Judged(lmms_exact_match(read, str(q.answer)), read, unparsed=unparsed)


def score_videomme(prediction: str, q: Question, seed: int) -> Judged:
    """Video-MME: `extract_characters_regex`, compared with the gold letter ignoring case (as
    lmms-eval's `videomme_process_results`); no letter read is unparsed and wrong."""
    from mmbench.metrics.video_mcq import videomme_letter

    letter = videomme_letter(prediction)
    correct = bool(letter) and letter.lower() == str(q.answer).lower()
    return Judged(correct, letter or None, unparsed=not letter)


def score_mvbench(prediction: str, q: Question, seed: int) -> Judged:
    """MVBench: lmms-eval's `mcq_acc` against the gold option's letter; a prediction in which it
    reads no letter A-E is unparsed (and wrong)."""
    from mmbench.metrics.video_mcq import mvbench_correct, mvbench_letter

    letter = mvbench_letter(prediction)
    return Judged(mvbench_correct(prediction, q.answer), letter, unparsed=letter is None)
