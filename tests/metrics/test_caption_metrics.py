"""BLEU, ROUGE-L, CIDEr-D, METEOR, SPICE and caption_scores against pycocoevalcap 1.2.

pycocoevalcap's scorers are run in the tests on the same inputs; scores must agree to 1e-9
(corpus and per id). Captions are generated here (no shared data is read).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import stat
import time

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from mmbench.errors import MMBenchError
from mmbench.metrics import bleu, caption_scores, cider_d, rouge_l
from mmbench.metrics.ptb_tokenizer import tokenized_lines

ATOL = 1e-9
HAS_JAVA = shutil.which("java") is not None

_SUBJECTS = ["a man", "a woman", "two dogs", "the child", "a brown dog", "people", "a girl"]
_VERBS = ["runs", "is running", "jumps over", "sits on", "plays with", "walks along", "holds"]
_OBJECTS = ["the grass", "a ball", "the beach", "a red car", "the snow", "a frisbee", "water"]
_EXTRAS = ["", "", " in the park", " near a lake", " while smiling", ", and a cat watches"]


def _w(text: str) -> list[str]:
    return text.split()


def raw_caption(rng: random.Random) -> str:
    """A caption-like sentence with capitals and punctuation (tokenisation matters)."""
    text = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    text += rng.choice(_EXTRAS) + rng.choice([".", " .", "", "!", "..."])
    return text[0].upper() + text[1:] if rng.random() < 0.7 else text


def tokens(rng: random.Random, n: int | None = None) -> list[str]:
    words = " ".join([raw_caption(rng) for _ in range(3)]).lower().replace(",", "").split()
    words = [w.strip(".!") for w in words if w.strip(".!")]
    return words[: n if n is not None else rng.randint(1, 14)]


def token_dataset(n_images: int = 300, seed: int = 0):
    """Tokenised predictions and references with the edge cases mixed in."""
    rng = random.Random(seed)
    preds, refs = {}, {}
    for i in range(n_images):
        key = f"img{i}" if i % 2 else i  # mixed id types
        rs = [tokens(rng) for _ in range(rng.randint(1, 6))]
        kind = i % 10
        if kind == 0:
            pred = list(rs[0])  # identical to a reference
        elif kind == 1:
            pred = []  # empty prediction
        elif kind == 2:
            rs = [rs[0]] * 3  # duplicate references
            pred = tokens(rng)
        elif kind == 3:
            pred = tokens(rng, 150)  # long: multi-word LCS rows
            rs.append(tokens(rng, 130))
        elif kind == 4:
            pred = ["café", "naïve", "日本語", "über", *tokens(rng, 3)]
            rs.append(["日本語", "café", "dog"])
        elif kind == 5:
            pred = tokens(rng, 1)
        else:
            pred = tokens(rng)
        preds[key], refs[key] = pred, rs
    return preds, refs


def pycoco(scorer, preds, refs):
    """Run a pycocoevalcap scorer on the space-joined token lists."""
    gts = {k: [" ".join(r) for r in refs[k]] for k in preds}
    res = {k: [" ".join(preds[k])] for k in preds}
    if isinstance(scorer, Bleu):
        return scorer.compute_score(gts, res, verbose=0)
    return scorer.compute_score(gts, res)


def close(a, b):
    return np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# Token-level scorers against pycocoevalcap.


def test_bleu_matches_pycocoevalcap():
    preds, refs = token_dataset()
    ref_score, ref_per = pycoco(Bleu(4), preds, refs)
    score, per = bleu(preds, refs)
    close(score, ref_score)
    close([per[k] for k in preds], np.array(ref_per).T)


@pytest.mark.parametrize(("scorer", "ours"), [(Rouge, rouge_l), (Cider, cider_d)])
def test_rouge_and_cider_match_pycocoevalcap(scorer, ours):
    preds, refs = token_dataset()
    ref_score, ref_per = pycoco(scorer(), preds, refs)
    score, per = ours(preds, refs)
    close(score, ref_score)
    close([per[k] for k in preds], ref_per)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_sets_match_pycocoevalcap(seed):
    preds, refs = token_dataset(n_images=random.Random(seed).randint(2, 12), seed=seed)
    for scorer, ours in ((Bleu(4), bleu), (Rouge(), rouge_l), (Cider(), cider_d)):
        ref_score, ref_per = pycoco(scorer, preds, refs)
        score, per = ours(preds, refs)
        close(score, ref_score)
        per = [per[k] for k in preds]
        close(per, np.array(ref_per).T if isinstance(scorer, Bleu) else ref_per)


def test_pycocoevalcap_style_single_element_predictions():
    preds, refs = token_dataset(20)
    wrapped = {k: [v] for k, v in preds.items()}
    assert bleu(wrapped, refs) == bleu(preds, refs)


# ---------------------------------------------------------------------------------------------
# Hand-computed values.


def test_bleu_by_hand():
    pred = {1: _w("the cat sat on the mat")}
    ref = {1: [_w("the cat is on the mat")]}
    scores, per = bleu(pred, ref)
    # clipped unigram matches 5/6, bigram 3/5, trigram 1/4, 4-gram 0 (pycocoevalcap's epsilons:
    # (m + 1e-15) / (n + 1e-9); equal lengths still give ratio (6 + 1e-15) / (6 + 1e-9) < 1).
    penalty = math.exp(1 - (6 + 1e-9) / (6 + 1e-15))
    p = [(5 + 1e-15) / (6 + 1e-9), (3 + 1e-15) / (5 + 1e-9), (1 + 1e-15) / (4 + 1e-9)]
    p.append(1e-15 / (3 + 1e-9))
    expected = [np.prod(p[: k + 1]) ** (1 / (k + 1)) * penalty for k in range(4)]
    close(scores, expected)
    close(per[1], expected)
    assert abs(scores[0] - 5 / 6) < 1e-9 and abs(scores[1] - math.sqrt(0.5)) < 1e-9


def test_bleu_closest_reference_length_tie_goes_to_the_shorter():
    # Candidate of 4 tokens, references of 3 and 5 tokens: both 1 away; pycocoevalcap picks 3,
    # so there is no brevity penalty (a "shortest"/"longer" rule would give a different score).
    pred = {0: _w("a b c d")}
    refs = {0: [_w("a b c"), _w("a b c d e")]}
    scores, _ = bleu(pred, refs)
    close(scores[0], (4 + 1e-15) / (4 + 1e-9))
    close(pycoco(Bleu(4), pred, refs)[0], scores)


def test_rouge_takes_max_precision_and_max_recall_separately():
    pred = {0: _w("a b c d")}
    refs = {0: [_w("a b c d e f g h"), ["d"]]}
    # ref 1: P = 4/4, R = 4/8; ref 2: P = 1/4, R = 1/1 -> max P = 1, max R = 1 -> F = 1
    score, per = rouge_l(pred, refs)
    assert score == per[0] == 1.0
    close(pycoco(Rouge(), pred, refs)[0], 1.0)
    # one reference: P = 5/6, R = 5/6 -> F = 5/6 with beta = 1.2
    score, _ = rouge_l({0: _w("the cat sat on the mat")}, {0: [_w("the cat is on the mat")]})
    close(score, 5 / 6)


def test_cider_by_hand_and_its_dependence_on_the_evaluated_set():
    preds = {"A": ["a", "b"], "B": ["c", "d"]}
    refs = {"A": [["a", "b"]], "B": [["c", "d"]]}
    # idf = log 2 for every n-gram; n=1 and n=2 similarities are 1, n=3 and n=4 have no n-grams;
    # equal bigram counts, no length penalty: 10 * mean([1, 1, 0, 0]) = 5.
    score, per = cider_d(preds, refs)
    close([score, per["A"], per["B"]], [5.0, 5.0, 5.0])
    # The same image alone: every idf is log(1) - log(1) = 0, so CIDEr-D is 0.
    assert cider_d({"A": preds["A"]}, {"A": refs["A"]}) == (0.0, {"A": 0.0})
    close(pycoco(Cider(), preds, refs)[0], 5.0)


# ---------------------------------------------------------------------------------------------
# Edge cases.


def test_empty_prediction_and_empty_references():
    preds = {0: [], 1: ["a", "dog"]}
    refs = {0: [["a", "dog"]], 1: [[], ["a", "dog"]]}
    for scorer, ours in ((Bleu(4), bleu), (Rouge(), rouge_l), (Cider(), cider_d)):
        ref_score, _ = pycoco(scorer, preds, refs)
        close(ours(preds, refs)[0], ref_score)
    assert rouge_l({0: []}, {0: [[]]})[0] == 1.0  # pycocoevalcap: "" vs "" is [""] vs [""]


def test_no_reference_tokens_at_all_scores_zero():
    # pycocoevalcap's CIDEr crashes here (max() of an empty document-frequency table).
    preds, refs = {0: ["a"], 1: ["b"]}, {0: [[]], 1: [[]]}
    assert cider_d(preds, refs) == (0.0, {0: 0.0, 1: 0.0})
    assert rouge_l(preds, refs)[0] == 0.0
    assert bleu(preds, refs)[0][0] < 1e-6


# ---------------------------------------------------------------------------------------------
# caption_scores: raw captions, tokenisation, families, errors.


def raw_dataset(n_images: int = 120, seed: int = 0):
    rng = random.Random(seed)
    preds = {i: raw_caption(rng) for i in range(n_images)}
    refs = {i: [raw_caption(rng) for _ in range(rng.randint(1, 5))] for i in range(n_images)}
    preds[0] = "..."  # only punctuation: tokenised to nothing
    preds[1] = refs[1][0].upper()  # same words, other case
    refs[2] = [refs[2][0]] * 4  # duplicate references
    preds[3] = "Un café naïve 😀 au bord de l'eau, près du 日本語."
    preds[4] = " ".join([raw_caption(rng) for _ in range(15)])  # very long
    return preds, refs


def test_caption_scores_equals_pycocoevalcap_on_its_tokenised_strings():
    preds, refs = raw_dataset()
    out = caption_scores(preds, refs, metrics=("bleu", "rouge_l", "cider_d"))
    ids = list(preds)
    flat = tokenized_lines([r for k in ids for r in refs[k]])
    pred_lines = tokenized_lines([preds[k] for k in ids])
    gts, at = {}, 0
    for k in ids:
        gts[k], at = flat[at : at + len(refs[k])], at + len(refs[k])
    res = {k: [line] for k, line in zip(ids, pred_lines, strict=True)}
    expected = {}
    score, per = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        expected[f"Bleu_{n + 1}"] = (score[n], per[n])
    expected["ROUGE_L"] = Rouge().compute_score(gts, res)
    expected["CIDEr"] = Cider().compute_score(gts, res)
    assert list(out["corpus"]) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"]
    for name, (score, per) in expected.items():
        close(out["corpus"][name], score)
        close([out["per_id"][k][name] for k in ids], per)
    assert out["errors"] == {}


@pytest.mark.skipif(not HAS_JAVA, reason="java not on PATH")
def test_caption_scores_equals_the_java_pipeline():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    preds, refs = raw_dataset(60, seed=4)
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs[k]] for k in preds})
    res = tokenizer.tokenize({k: [{"caption": preds[k]}] for k in preds})
    out = caption_scores(preds, refs, metrics=("cider_d", "bleu", "rouge_l"))
    score, per = Cider().compute_score(gts, res)
    close(out["corpus"]["CIDEr"], score)
    close([out["per_id"][k]["CIDEr"] for k in preds], per)
    score, per = Bleu(4).compute_score(gts, res, verbose=0)
    close([out["corpus"][f"Bleu_{n}"] for n in range(1, 5)], score)
    close(out["corpus"]["ROUGE_L"], Rouge().compute_score(gts, res)[0])


def test_caption_scores_untokenised_input_and_irregular_spacing():
    preds = {0: "a  dog runs", 1: "", 2: " two cats"}
    refs = {0: ["a dog runs", "dog"], 1: ["a cat"], 2: ["two cats sit ", "cats"]}
    out = caption_scores(preds, refs, metrics=("bleu", "rouge_l", "cider_d"), tokenize=False)
    gts = {k: list(v) for k, v in refs.items()}
    res = {k: [v] for k, v in preds.items()}
    close(out["corpus"]["ROUGE_L"], Rouge().compute_score(gts, res)[0])
    close(out["corpus"]["CIDEr"], Cider().compute_score(gts, res)[0])
    close(out["corpus"]["Bleu_4"], Bleu(4).compute_score(gts, res, verbose=0)[0][3])


def test_caption_scores_shapes_and_order():
    preds, refs = raw_dataset(10)
    out = caption_scores(preds, refs, metrics=("rouge_l", "bleu"))
    assert list(out["corpus"]) == ["ROUGE_L", "Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"]
    assert list(out["per_id"]) == list(preds)
    assert set(out["per_id"][0]) == set(out["corpus"])
    one = caption_scores({"x": "A dog."}, {"x": "A dog runs."}, metrics="cider_d")
    assert one["corpus"] == {"CIDEr": 0.0}  # a single image always scores 0


@pytest.mark.parametrize(
    ("preds", "refs", "metrics", "fragment"),
    [
        ({1: "a", 2: "b"}, {1: ["a"], 3: ["c"]}, ("bleu",), "2"),
        ({1: "a"}, {1: []}, ("bleu",), "at least one reference"),
        ({1: "a"}, {1: ["a"]}, ("blue",), "did you mean 'bleu'"),
        ({1: 3}, {1: ["a"]}, ("bleu",), "must be a caption string"),
        ({1: "a"}, {1: [None]}, ("bleu",), "must be caption strings"),
        ({}, {}, ("bleu",), "at least one id"),
    ],
)
def test_invalid_input_is_a_one_line_error(preds, refs, metrics, fragment):
    with pytest.raises(MMBenchError) as err:
        caption_scores(preds, refs, metrics=metrics)
    message = str(err.value)
    assert fragment in message and "\n" not in message


def test_missing_ids_are_named():
    with pytest.raises(MMBenchError, match=r"prediction id\(s\) have no references: 'b'"):
        bleu({"a": ["x"], "b": ["y"]}, {"a": [["x"]]})
    with pytest.raises(MMBenchError, match="expects a list of tokens"):
        bleu({"a": "x y"}, {"a": [["x"]]})


# ---------------------------------------------------------------------------------------------
# METEOR and SPICE (Java).


@pytest.fixture
def no_meteor_process():
    from mmbench.metrics import meteor

    meteor.close()
    yield
    meteor.close()


def _fake_java(tmp_path, monkeypatch, script: str) -> None:
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\n" + script + "\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")


def test_meteor_without_java_is_reported_and_other_metrics_still_run(
    monkeypatch, no_meteor_process
):
    from mmbench.metrics import meteor

    monkeypatch.setattr(meteor.shutil, "which", lambda name: None)
    out = caption_scores({1: "A dog."}, {1: ["A dog runs."]}, metrics=("bleu", "meteor"))
    assert "Bleu_4" in out["corpus"] and "METEOR" not in out["corpus"]
    message = out["errors"]["METEOR"]
    assert message.startswith("METEOR needs Java") and "\n" not in message
    assert "apt-get install default-jre" in message


def test_meteor_stuck_jvm_times_out(tmp_path, monkeypatch, no_meteor_process):
    from mmbench.metrics import meteor

    _fake_java(tmp_path, monkeypatch, "sleep 30")
    start = time.monotonic()
    with pytest.raises(MMBenchError, match="no answer within 1 s"):
        meteor.meteor({1: "a dog"}, {1: ["a dog runs"]}, timeout=1)
    assert time.monotonic() - start < 10


def test_meteor_dead_jvm_is_reported(tmp_path, monkeypatch, no_meteor_process):
    from mmbench.metrics import meteor

    _fake_java(tmp_path, monkeypatch, "echo 'Error: Could not reserve heap' >&2; exit 1")
    with pytest.raises(MMBenchError) as err:
        meteor.meteor({1: "a dog"}, {1: ["a dog runs"]}, timeout=10)
    message = str(err.value)
    assert "exit code 1" in message and "Could not reserve heap" in message
    assert "\n" not in message


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAVA, reason="java not on PATH")
def test_meteor_matches_pycocoevalcap(no_meteor_process):
    from pycocoevalcap.meteor.meteor import Meteor

    preds, refs = raw_dataset(25, seed=7)
    ids = list(preds)
    lines = tokenized_lines([preds[k] for k in ids])
    flat = tokenized_lines([r for k in ids for r in refs[k]])
    gts, at = {}, 0
    for k in ids:
        gts[k], at = flat[at : at + len(refs[k])], at + len(refs[k])
    res = {k: [line] for k, line in zip(ids, lines, strict=True)}
    expected, expected_per = Meteor().compute_score(gts, res)
    out = caption_scores(preds, refs, metrics=("meteor", "bleu"))
    assert out["errors"] == {}
    close(out["corpus"]["METEOR"], expected)
    close([out["per_id"][k]["METEOR"] for k in ids], expected_per)
    # the JVM is reused: the second call talks to the same process (no second start-up)
    from mmbench.metrics import meteor

    jvm = meteor._PROCESS
    again = caption_scores(preds, refs, metrics=("meteor",))
    assert again["corpus"]["METEOR"] == out["corpus"]["METEOR"]
    assert jvm is not None and meteor._PROCESS is jvm


def test_spice_failure_is_one_line_and_other_metrics_still_run(tmp_path, monkeypatch):
    from mmbench.metrics import spice

    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "cache"))
    # A port nobody listens on: the download fails at once, whatever the network.
    monkeypatch.setattr(spice, "CORENLP_URL", "http://127.0.0.1:9/corenlp.zip")
    if any((spice._spice_dir() / "lib" / name).is_file() for name in spice.CORENLP_JARS):
        pytest.skip("CoreNLP models are installed; SPICE would run")
    start = time.monotonic()
    out = caption_scores(
        {1: "A dog."}, {1: ["A dog runs."]}, metrics=("spice", "bleu"), spice_download_timeout=2
    )
    assert time.monotonic() - start < 10
    assert set(out["corpus"]) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"}
    message = out["errors"]["SPICE"]
    assert message.startswith("SPICE needs") and "\n" not in message
    if HAS_JAVA:
        assert "Stanford CoreNLP" in message and "internet" in message
