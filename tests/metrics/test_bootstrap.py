"""Percentile bootstrap: determinism, sanity of coverage, the two entry points agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmbench.errors import MMBenchError
from mmbench.metrics import bootstrap_ci
from mmbench.metrics.bootstrap import bootstrap_ci_indices


def test_interval_contains_the_mean_and_is_deterministic():
    values = np.random.default_rng(0).normal(loc=2.0, size=200)
    lo, hi = bootstrap_ci(values, np.mean, n=500, seed=3)
    assert lo < values.mean() < hi
    assert (lo, hi) == bootstrap_ci(values, np.mean, n=500, seed=3)
    assert (lo, hi) != bootstrap_ci(values, np.mean, n=500, seed=4)


def test_width_matches_the_normal_theory_standard_error():
    values = np.random.default_rng(1).normal(size=400)
    lo, hi = bootstrap_ci(values, n=2000)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_coverage_on_normal_samples():
    # 95% intervals of the mean of N(0, 1) samples should cover 0 in roughly 95% of trials.
    rng = np.random.default_rng(2)
    covered = 0
    trials = 100
    for t in range(trials):
        lo, hi = bootstrap_ci(rng.normal(size=60), n=400, seed=t)
        covered += lo <= 0.0 <= hi
    assert 85 <= covered <= 100


def test_vectorised_and_per_resample_statistics_agree():
    values = np.random.default_rng(5).random(300)
    fast = bootstrap_ci(values, np.median, n=300)
    slow = bootstrap_ci(values, lambda x: float(np.median(x)), n=300)
    assert fast == pytest.approx(slow)


def test_indices_entry_point_draws_the_same_resamples():
    values = np.random.default_rng(6).random(50)
    direct = bootstrap_ci(values, np.mean, n=300, seed=9)
    via_indices = bootstrap_ci_indices(len(values), lambda idx: values[idx].mean(), n=300, seed=9)
    assert direct == pytest.approx(via_indices)


def test_corpus_statistic_on_indices():
    # A ratio of sums (like corpus BLEU's clipped counts / totals): not a mean of items.
    hits = np.array([3, 0, 5, 2, 4, 1, 0, 2])
    totals = np.array([5, 2, 6, 4, 4, 3, 1, 5])
    lo, hi = bootstrap_ci_indices(8, lambda i: hits[i].sum() / totals[i].sum(), n=400)
    assert lo < hits.sum() / totals.sum() < hi


def test_multi_column_values_and_tensors():
    rng = np.random.default_rng(7)
    pairs = rng.random((100, 2))
    lo, hi = bootstrap_ci(pairs, lambda x: x[:, 0].sum() / x[:, 1].sum(), n=200)
    assert lo < pairs[:, 0].sum() / pairs[:, 1].sum() < hi
    tensor_ci = bootstrap_ci(torch.tensor(pairs[:, 0]), np.mean, n=200)
    assert tensor_ci == bootstrap_ci(pairs[:, 0], np.mean, n=200)


def test_single_item_and_constant_values():
    assert bootstrap_ci([0.7], n=50) == (0.7, 0.7)
    assert bootstrap_ci([1.0] * 20, n=50) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bootstrap_ci([]), "at least one"),
        (lambda: bootstrap_ci([1.0, 2.0], n=0), "positive integer"),
        (lambda: bootstrap_ci([1.0, 2.0], alpha=1.5), "alpha"),
        (lambda: bootstrap_ci([1.0, 2.0], lambda x: x), "one number"),
        (lambda: bootstrap_ci_indices(0, lambda i: 0.0), "n_items"),
        (lambda: bootstrap_ci([1.0, 2.0], lambda x: float("nan")), "NaN"),
    ],
)
def test_user_errors(call, match):
    with pytest.raises(MMBenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
