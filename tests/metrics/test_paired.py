"""Paired tests: exact McNemar and Holm against hand-computed values, the paired bootstrap's
determinism and coverage, and every resampled aggregate against the metric computed directly on
the expanded (resampled) data."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from mmbench.metrics.paired import (
    ClassMean,
    MeanRatio,
    WeightedMedian,
    holm,
    mcnemar_exact,
    paired_bootstrap,
    ratio,
)
from mmbench.metrics.sample_stats import statistic


def binomial_two_sided(b: int, c: int) -> float:
    """2 * P[X <= min(b, c)], X ~ Binomial(b + c, 1/2), as an exact fraction, capped at 1."""
    n = b + c
    tail = Fraction(sum(comb(n, i) for i in range(min(b, c) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def test_mcnemar_hand_computed() -> None:
    # b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024.
    assert mcnemar_exact(1, 9) == 22 / 1024 == 0.021484375
    # b=0, c=5: 2 / 32.
    assert mcnemar_exact(0, 5) == 0.0625
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    # b=6, c=3: 2 * (1 + 9 + 36 + 84) / 512 = 260 / 512.
    assert mcnemar_exact(6, 3) == 260 / 512
    for b, c in ((10, 40), (40, 10), (123, 171), (0, 1), (700, 820)):
        assert mcnemar_exact(b, c) == pytest.approx(binomial_two_sided(b, c), rel=1e-12)
    assert mcnemar_exact(17, 4) == mcnemar_exact(4, 17)
    # Far beyond the float range of 2**n: still a number in [0, 1], no overflow.
    assert 0.0 <= mcnemar_exact(0, 5000) < 1e-300


def test_holm_hand_computed() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    adjusted = holm([0.01, 0.04, 0.03, None, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, None, 0.02])
    assert adjusted[3] is None
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == [] and holm([None]) == [None]


def test_weighted_median_equals_numpy_on_the_expanded_data() -> None:
    rng = np.random.default_rng(3)
    owner = np.repeat(np.arange(40), rng.integers(1, 6, size=40))
    values = rng.integers(1, 30, size=len(owner)).astype(float)
    stat = WeightedMedian(values, owner, 40)
    weights = rng.integers(0, 3, size=(50, 40)).astype(float)
    weights[0] = 0
    weights[0, :2] = 1  # two samples only: the median sits far outside the middle band
    weights[1] = 0
    weights[1, np.argmax([values[owner == i].max() for i in range(40)])] = 5
    got = stat.on(weights)
    for row, value in zip(weights, got, strict=True):
        expanded = np.repeat(values, row[owner].astype(int))
        assert value == np.median(expanded)
    assert stat.full() == np.median(values)


def test_class_mean_hand_computed() -> None:
    stat = ClassMean(np.array([0, 0, 1, 1, 1, 2]), np.array([1.0, 0, 1, 1, 0, 1]))
    assert stat.full() == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    # Class 0: (1 + 2 * 0) / 3; class 1: (0 + 1 + 0) / 2 of samples 3, 4, 5 drawn as 0, 1, 1.
    weights = np.array([[1.0, 2, 0, 1, 1, 1]])
    assert stat.on(weights)[0] == pytest.approx((1 / 3 + 1 / 2 + 1) / 3)
    # A class absent from a resample is left out of the mean.
    assert stat.on(np.array([[1.0, 0, 1, 0, 0, 0]]))[0] == pytest.approx(1.0)


def test_bleu_on_a_resample_equals_bleu_of_the_resampled_corpus() -> None:
    from mmbench.metrics import caption_scores

    preds = ["a man rides a horse", "two dogs play in the snow", "a red car on a street"]
    refs = [
        ["a man is riding a horse", "a person on a horse"],
        ["two dogs playing in snow", "dogs run in the snow"],
        ["a red car parked on the street", "a car on a road"],
    ]
    samples = [
        {"id": str(i), "prediction": p, "references": r}
        for i, (p, r) in enumerate(zip(preds, refs, strict=True))
    ]
    weights = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    drawn = [0, 0, 2]
    expected = caption_scores(
        {f"d{j}": preds[i] for j, i in enumerate(drawn)},
        {f"d{j}": refs[i] for j, i in enumerate(drawn)},
        metrics=("bleu",),
    )["corpus"]
    full = caption_scores(
        {str(i): p for i, p in enumerate(preds)},
        {str(i): r for i, r in enumerate(refs)},
        metrics=("bleu",),
    )["corpus"]
    for n in (1, 2, 3, 4):
        values = statistic(f"Bleu_{n}", samples).on(weights)
        assert values[0] == pytest.approx(expected[f"Bleu_{n}"], rel=1e-12)
        assert values[1] == pytest.approx(full[f"Bleu_{n}"], rel=1e-12)


def _mean_stat(values: np.ndarray) -> MeanRatio:
    return MeanRatio(np.stack([values, np.ones_like(values)], axis=1), ratio)


def test_paired_bootstrap_is_deterministic_and_exact_on_a_constant_shift() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(300)
    pairs = {"m": (_mean_stat(base), _mean_stat(base + 0.1))}
    first = paired_bootstrap(pairs, n=2000, seed=7)["m"]
    again = paired_bootstrap(pairs, n=2000, seed=7)["m"]
    assert first == again and first.seed == 7 and first.resamples == 2000
    # Every resample moves by exactly 0.1: the interval is that point, p is the smallest possible.
    assert first.interval == pytest.approx((0.1, 0.1))
    assert first.p_value == pytest.approx(2 / 2001)
    same = paired_bootstrap({"m": (_mean_stat(base), _mean_stat(base))}, n=500)["m"]
    assert same.interval == (0.0, 0.0) and same.p_value == 1.0
    noisy = {"m": (_mean_stat(base), _mean_stat(base + rng.normal(0, 0.1, 300)))}
    assert (
        paired_bootstrap(noisy, n=500, seed=1)["m"] != paired_bootstrap(noisy, n=500, seed=2)["m"]
    )


def test_paired_bootstrap_coverage_on_constructed_data() -> None:
    # 200 data sets whose true mean difference is 0.05; the 95% interval must cover it in about
    # 95% of them (percentile intervals of 80 samples run a little narrow).
    rng = np.random.default_rng(11)
    covered = 0
    for rep in range(200):
        base = rng.normal(0.5, 0.2, 80)
        new = base + 0.05 + rng.normal(0, 0.1, 80)
        outcome = paired_bootstrap({"m": (_mean_stat(base), _mean_stat(new))}, n=400, seed=rep)
        lo, hi = outcome["m"].interval
        covered += lo <= 0.05 <= hi
    assert 0.88 <= covered / 200 <= 0.99


def test_groups_are_resampled_whole() -> None:
    # Every group holds two samples with the same value: resampling groups of samples must give
    # exactly what resampling the groups' values gives (same seed, same number of groups).
    rng = np.random.default_rng(5)
    base_groups, new_groups = rng.random(50), rng.random(50)
    grouped = paired_bootstrap(
        {"m": (_mean_stat(np.repeat(base_groups, 2)), _mean_stat(np.repeat(new_groups, 2)))},
        groups=np.repeat(np.arange(50), 2),
        n=1000,
        seed=3,
    )["m"]
    plain = paired_bootstrap(
        {"m": (_mean_stat(base_groups), _mean_stat(new_groups))}, n=1000, seed=3
    )["m"]
    assert grouped.interval == pytest.approx(plain.interval, rel=1e-12)
    assert grouped.p_value == plain.p_value


def test_retrieval_statistics_reproduce_the_metrics() -> None:
    from mmbench.metrics.retrieval import recall_from_ranks

    rng = np.random.default_rng(2)
    i2t = rng.integers(1, 40, 60)
    t2i = [rng.integers(1, 60, rng.integers(1, 6)) for _ in range(60)]
    samples = [
        {"id": str(i), "rank_visual_to_text": int(i2t[i]), "ranks_text_to_visual": t2i[i].tolist()}
        for i in range(60)
    ]
    expected = recall_from_ranks(i2t, np.concatenate(t2i))
    for name in ("i2t_R@1", "i2t_R@10", "t2i_R@5", "i2t_MdR", "t2i_MdR", "t2i_MnR", "RSUM"):
        assert statistic(name, samples).full() == pytest.approx(expected[name], rel=1e-12), name


def test_pope_counts_on_a_resample_equal_pope_scores_of_the_resampled_answers() -> None:
    from mmbench.metrics.pope import pope_scores

    rng = np.random.default_rng(8)
    answers = ["Yes, there is.", "No, there is not.", "yes", "There is no dog.", "I think so."]
    samples = [
        {
            "id": str(i),
            "prediction": answers[int(rng.integers(0, 5))],
            "answers": ["yes" if rng.random() < 0.5 else "no"],
            "category": ("adversarial", "popular", "random")[i % 3],
        }
        for i in range(45)
    ]
    weights = rng.integers(0, 3, size=(3, 45)).astype(float)
    weights[0] = 1.0
    for row in weights:
        drawn = [s for s, w in zip(samples, row, strict=True) for _ in range(int(w))]
        expected = pope_scores(
            [s["prediction"] for s in drawn],
            [s["answers"][0] for s in drawn],
            [s["category"] for s in drawn],
        )["metrics"]
        for name in ("precision", "recall", "f1", "yes_ratio", "mean_f1"):
            got = statistic(name, samples).on(row[None])[0]
            assert got == pytest.approx(expected[name], rel=1e-12, abs=1e-15), name
