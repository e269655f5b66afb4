"""Percentile-bootstrap confidence intervals (Efron & Tibshirani 1993, "An Introduction to the
Bootstrap", ch. 13).

Resample the N evaluated items with replacement `n` times, compute the statistic on each
resample, and report the `alpha/2` and `1 - alpha/2` quantiles of those values (numpy's default
linear interpolation). Two entry points:

* `bootstrap_ci(values, statistic)`: the statistic is a function of per-item values (mean
  accuracy, mean R@K, median rank, ...). Rows are resampled, so `values` may be `[N, ...]` when the
  statistic needs several columns per item.
* `bootstrap_ci_indices(n_items, statistic_on_indices)`: the statistic needs the whole resampled
  *corpus* (CIDEr-D recomputes document frequencies, corpus BLEU sums n-gram counts before
  dividing); it receives the resampled item indices and computes the score itself.

Both draw the same resamples for the same seed (a seeded `numpy.random.Generator`), so
`bootstrap_ci(v, f) == bootstrap_ci_indices(len(v), lambda i: f(v[i]))`. Resamples are drawn in
batches to bound memory (~`_BATCH_ELEMENTS` indices at a time), and a statistic with an `axis`
argument (np.mean, np.median, ...) is evaluated on a whole batch at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mmbench.errors import MMBenchError

# Indices drawn per batch of resamples: 4M int64 = 32 MB.
_BATCH_ELEMENTS = 1 << 22


def bootstrap_ci(
    values: Any,
    statistic: Callable[..., Any] = np.mean,
    n: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap `(lo, hi)` interval of `statistic(values)` at level `1 - alpha`.

    Args:
        values: per-item values, `[N]` or `[N, ...]` (array-like or tensor; rows are items).
        statistic: maps a resampled `[N, ...]` array to a scalar. If it accepts `axis=` (numpy
            reductions do), it is called once per batch as `statistic(batch, axis=1)` on a
            `[B, N, ...]` array and must return `[B]` values.
        n: number of resamples.
        alpha: 0.05 gives a 95% interval.
        seed: seed of the `numpy.random.Generator` (same seed, same interval).
    """
    data = _as_array(values)
    _check(n, alpha)
    vectorized = _accepts_axis(statistic)
    stats = []
    for idx in _resamples(len(data), n, seed):
        if vectorized:
            batch = np.asarray(statistic(data[idx], axis=1), dtype=float)
            if batch.shape != (len(idx),):
                raise MMBenchError(
                    f"statistic(batch, axis=1) returned shape {batch.shape}, expected "
                    f"({len(idx)},); pass a statistic without an axis argument instead"
                )
            stats.append(batch)
        else:
            stats.append(np.array([_scalar(statistic(data[row])) for row in idx], dtype=float))
    return _percentile_interval(np.concatenate(stats), alpha)


def bootstrap_ci_indices(
    n_items: int,
    statistic_on_indices: Callable[[np.ndarray], Any],
    n: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of a corpus-level statistic.

    `statistic_on_indices(idx)` receives one resample: an int64 array of `n_items` item indices
    drawn with replacement (repeats included: an item drawn twice counts twice), and returns the
    corpus score of that resampled corpus, e.g. CIDEr-D of the captions `idx`.
    """
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise MMBenchError(f"n_items must be a positive integer, got {n_items!r}")
    _check(n, alpha)
    stats = [
        _scalar(statistic_on_indices(row)) for idx in _resamples(n_items, n, seed) for row in idx
    ]
    return _percentile_interval(np.asarray(stats, dtype=float), alpha)


def _resamples(n_items: int, n: int, seed: int) -> Iterator[np.ndarray]:
    """Batches `[B, n_items]` of resampled indices; the same stream for every caller."""
    rng = np.random.default_rng(seed)
    per_batch = max(1, _BATCH_ELEMENTS // n_items)
    for start in range(0, n, per_batch):
        yield rng.integers(0, n_items, size=(min(per_batch, n - start), n_items))


def _percentile_interval(stats: np.ndarray, alpha: float) -> tuple[float, float]:
    if not np.all(np.isfinite(stats)):
        raise MMBenchError("the statistic returned NaN or infinite values on some resamples")
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _as_array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    data = np.asarray(values)
    if data.ndim == 0 or len(data) == 0:
        raise MMBenchError("values must hold at least one item (an [N] or [N, ...] array)")
    if data.dtype == object:
        raise MMBenchError("values must be numeric (an [N] or [N, ...] array of numbers)")
    return data


def _check(n: int, alpha: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MMBenchError(f"n (number of resamples) must be a positive integer, got {n!r}")
    if not 0 < alpha < 1:
        raise MMBenchError(f"alpha must be in (0, 1), got {alpha!r}; 0.05 gives a 95% interval")


def _accepts_axis(statistic: Callable[..., Any]) -> bool:
    try:
        return "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _scalar(value: Any) -> float:
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    if array.size != 1:
        raise MMBenchError(f"the statistic must return one number, got shape {array.shape}")
    return float(array.reshape(()))
