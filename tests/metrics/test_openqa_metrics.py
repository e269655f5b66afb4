"""POPE, MME, ANLS, ChartQA relaxed accuracy, OCRBench and GQA scoring against the rules of each
benchmark's official evaluation code, on hand-worked cases (expected values computed by hand
from the rules written in each module's docstring, not by the code under test)."""

from __future__ import annotations

import pytest

from mmbench.errors import MMBenchError
from mmbench.metrics.anls import anls, anls_score, levenshtein
from mmbench.metrics.gqa import gqa_exact_match, gqa_normalize
from mmbench.metrics.mme import mme_parse, mme_scores
from mmbench.metrics.ocrbench import ocrbench_correct, ocrbench_scores
from mmbench.metrics.pope import pope_metrics, pope_says_no, pope_scores
from mmbench.metrics.relaxed_accuracy import relaxed_accuracy, relaxed_correctness

# ---------------------------------------------------------------------------------------- POPE


@pytest.mark.parametrize(
    ("answer", "no"),
    [
        ("Yes, there is a dog.", False),
        ("No.", True),
        ("no", True),
        ("There is no cat in the image.", True),
        ("NO", False),  # only "No", "no" and "not" are negative words
        ("Not sure", False),  # "Not" is not "not"
        ("no!", False),  # punctuation other than "," sticks to the word
        ("no\n", False),  # words are split on single spaces only
        ("Yes. But no.", False),  # only the first sentence counts
        ("3.5 no", False),  # ... even when the "." is a decimal point
        ("I do not, however, know", True),
        ("No,it is not", True),  # "," removed: "Noit", but "not" is still a word
        ("", False),  # an empty answer is a yes
    ],
)
def test_pope_answer_parsing(answer: str, no: bool) -> None:
    assert pope_says_no(answer) is no


ROWS = [  # (prediction, label, category) -> TP, FN, TN, FP, FN, FP
    ("Yes, there is a dog.", "yes", "adversarial"),
    ("No.", "yes", "adversarial"),
    ("There is no cat in the image.", "no", "popular"),
    ("NO", "no", "popular"),
    ("I do not think so, but maybe.", "yes", "random"),
    ("3.5 no", "no", "random"),
]


def test_pope_pooled_and_per_category_metrics() -> None:
    preds, labels, cats = zip(*ROWS, strict=True)
    out = pope_scores(list(preds), list(labels), list(cats))
    m = out["metrics"]
    # pooled: TP 1, FN 2, TN 1, FP 2
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)
    assert m["yes_ratio"] == pytest.approx(3 / 6)  # of the predictions, not of the labels
    adv, pop, rnd = (out["breakdown"][c] for c in ("adversarial", "popular", "random"))
    assert (adv["accuracy"], adv["precision"], adv["recall"]) == (0.5, 1.0, 0.5)
    assert adv["f1"] == pytest.approx(2 / 3) and adv["n"] == 2
    # popular: no positive label and no true positive; the script would divide by zero
    assert (pop["precision"], pop["recall"], pop["f1"], pop["yes_ratio"]) == (0.0, 0.0, 0.0, 0.5)
    assert (rnd["accuracy"], rnd["f1"]) == (0.0, 0.0)
    assert m["mean_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert out["per_question"] == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_pope_all_yes_answers() -> None:
    out = pope_metrics(["Yes"] * 4, ["yes", "no", "yes", "no"])
    assert (out["precision"], out["recall"], out["yes_ratio"]) == (0.5, 1.0, 1.0)
    assert out["f1"] == pytest.approx(2 / 3)


def test_pope_bad_label_is_an_error() -> None:
    with pytest.raises(MMBenchError, match="neither 'yes' nor 'no'"):
        pope_metrics(["yes"], ["maybe"])


# ----------------------------------------------------------------------------------------- MME


@pytest.mark.parametrize(
    ("answer", "parsed"),
    [
        ("Yes", "yes"),
        ("no", "no"),
        ("Yes, it is.", "yes"),
        ("No, there isn't", "no"),
        ("Not really", "no"),  # "not " contains "no"
        ("nobody", "no"),
        ("yesno", "yes"),  # "yes" is tested first
        ("The answer is yes", "other"),  # only the first four characters are read
        (" yes", "yes"),  # not stripped, but " yes" still holds "yes"
        ("  no", "no"),
        ("   no", "other"),  # "   n"
        ("y", "other"),  # lmms-eval reads "y" as yes; the official tool does not
        ("", "other"),
        ("Yes.", "yes"),
    ],
)
def test_mme_answer_parsing(answer: str, parsed: str) -> None:
    assert mme_parse(answer) == parsed


def test_mme_scores_acc_plus_and_totals() -> None:
    rows = [  # (prediction, label, subtask, image)
        ("Yes", "Yes", "existence", "a.jpg"),
        ("no, there isn't", "No", "existence", "a.jpg"),
        ("The answer is yes", "Yes", "existence", "b.jpg"),  # "other": wrong
        ("No", "No", "existence", "b.jpg"),
        (" yes", "Yes", "code_reasoning", "c.png"),
        ("Not", "No", "code_reasoning", "c.png"),
    ]
    preds, labels, subtasks, images = (list(c) for c in zip(*rows, strict=True))
    out = mme_scores(preds, labels, subtasks, images)
    existence = out["breakdown"]["existence"]
    assert (existence["acc"], existence["acc_plus"], existence["n"]) == (0.75, 0.5, 4)
    assert existence["score"] == pytest.approx(125.0)
    assert out["breakdown"]["code_reasoning"]["score"] == pytest.approx(200.0)
    assert out["metrics"]["perception"] == pytest.approx(125.0)
    assert out["metrics"]["cognition"] == pytest.approx(200.0)
    assert out["metrics"]["total"] == pytest.approx(325.0)
    assert out["metrics"]["unparsed"] == 1.0
    assert out["per_question"] == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]


def test_mme_same_image_name_in_two_subtasks_is_two_images() -> None:
    out = mme_scores(["yes", "no"], ["yes", "yes"], ["count", "color"], ["1.jpg", "1.jpg"])
    assert out["breakdown"]["count"]["acc_plus"] == 1.0
    assert out["breakdown"]["color"]["acc_plus"] == 0.0


def test_mme_unknown_subtask_is_an_error() -> None:
    with pytest.raises(MMBenchError, match="neither a perception nor a cognition"):
        mme_scores(["yes"], ["yes"], ["colour"], ["1.jpg"])


# ---------------------------------------------------------------------------------------- ANLS


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("  Dr.  Smith ", ["dr. smith"], 1.0),  # stripped, lower-cased, spaces collapsed
        ("abd", ["abc"], 1 - 1 / 3),
        ("abd   ", ["abc"], 1 - 1 / 6),  # divided by the RAW length (6), not 3
        ("ab", ["abcd"], 0.5),  # exactly 0.5 is kept
        ("a", ["abc"], 0.0),  # 1/3 < 0.5 -> 0
        ("1999", ["1998", "nineteen"], 0.75),  # best answer
        ("", [""], 1.0),  # both empty: distance 0
        ("", ["abc"], 0.0),
    ],
)
def test_anls_score(prediction: str, answers: list[str], expected: float) -> None:
    assert anls_score(prediction, answers) == pytest.approx(expected)


def test_anls_mean() -> None:
    out = anls(["abc", "x"], [["abc"], ["y"]])
    assert out["per_question"] == [1.0, 0.0] and out["mean"] == 0.5


# --------------------------------------------------------------------------------- ChartQA


@pytest.mark.parametrize(
    ("target", "prediction", "right"),
    [
        ("100", "104", True),
        ("100", "105", True),  # exactly 5%
        ("100", "105.1", False),
        ("-5", "-5.2", True),
        ("0.5", "50%", True),  # a percentage is divided by 100
        ("50", "50%", False),  # ... so it does not match 50
        ("50%", "0.5", True),
        ("1,000", "1000", False),  # a comma makes it text: exact match
        ("1,000", "1,000", True),
        ("0", "0.0", False),  # a zero target is compared as text
        ("0", "0", True),
        ("Yes", "yes", True),  # text: case-insensitive ...
        ("Yes", "yes ", False),  # ... but not stripped
        ("12", " 12 ", True),  # float() accepts surrounding whitespace
        ("5", "nan", False),
        ("", "", True),
        ("5", "", False),
    ],
)
def test_relaxed_correctness(target: str, prediction: str, right: bool) -> None:
    assert relaxed_correctness(target, prediction) is right


def test_relaxed_accuracy_takes_the_best_target() -> None:
    out = relaxed_accuracy(["10", "blue"], [["20", "10.4"], ["red"]])
    assert out["per_question"] == [1.0, 0.0] and out["mean"] == 0.5


# ------------------------------------------------------------------------------------ OCRBench


@pytest.mark.parametrize(
    ("prediction", "answers", "dataset", "right"),
    [
        ("The word is HELLO.", ["hello"], "IIIT5K", True),  # contained, case-insensitive
        ("line1\nline2", ["Line1 line2"], "FUNSD", True),  # newline -> space
        ("hel lo", ["hello"], "IIIT5K", False),
        ("anything", [""], "IIIT5K", True),  # an empty answer is always contained
        ("x ^ { 2 }", ["x^{2}"], "HME100k", True),  # spaces removed for handwritten math
        ("X^{2}", ["x^{2}"], "HME100k", False),  # ... and case-sensitive
        ("a\nb", ["ab"], "HME100k", True),
        ("no", ["yes", "no"], "ChartQA", True),  # any of several answers
    ],
)
def test_ocrbench_rule(prediction: str, answers: list[str], dataset: str, right: bool) -> None:
    assert ocrbench_correct(prediction, answers, dataset) is right


def test_ocrbench_scores_count_per_type() -> None:
    out = ocrbench_scores(
        ["hello", "nope", "x^2"],
        [["hello"], ["yes"], ["x^2"]],
        ["IIIT5K", "IIIT5K", "HME100k"],
        ["Regular Text Recognition", "Regular Text Recognition", "Handwritten Math"],
    )
    assert out["metrics"] == {"score": 2.0, "accuracy": pytest.approx(2 / 3)}
    regular = out["breakdown"]["Regular Text Recognition"]
    assert (regular["score"], regular["accuracy"], regular["n"]) == (1.0, 0.5, 2)


# ----------------------------------------------------------------------------------------- GQA


@pytest.mark.parametrize(
    ("prediction", "answer", "right"),
    [
        (" Yes.", "yes", True),
        ("T-shirt", "tshirt", True),  # punctuation deleted, not spaced
        ("Left", "left", True),
        ("red car", "redcar", False),
        ("2", "two", False),  # no number-word mapping
        ("", "", True),
    ],
)
def test_gqa_exact_match(prediction: str, answer: str, right: bool) -> None:
    assert gqa_exact_match([prediction], [answer])["per_question"] == [float(right)]
    assert (gqa_normalize(prediction) == gqa_normalize(answer)) is right
