"""Paired significance tests of two runs on the same samples: exact McNemar, paired bootstrap, Holm.

* `mcnemar_exact(b, c)`: the exact two-sided McNemar test (McNemar 1947; the exact form is the
  binomial sign test on the discordant pairs): with b pairs right only in the baseline and c right
  only in the new run, p = min(1, 2 * P[X <= min(b, c)]) for X ~ Binomial(b + c, 1/2), computed
  with integers (no normal approximation, no floating-point sum of tiny terms).
* `paired_bootstrap(...)`: resample the evaluated units (samples, or whole groups of samples) with
  replacement, recompute each metric's own aggregate on the *same* resample for both runs, and
  take the percentile interval of the difference new - baseline (Efron & Tibshirani 1993, ch. 13
  and 16). Its two-sided p-value inverts the percentile interval: twice the smaller share of
  resampled differences on either side of 0, each share counted as (count + 1) / (n + 1) so that
  a p-value is never exactly 0. Resamples are drawn exactly as `bootstrap_ci` draws them for the
  same seed, in batches, and every aggregate is evaluated on a whole batch at once (numpy).
* `holm(pvalues)`: Holm's step-down adjustment (Holm 1979): sort the m p-values ascending,
  multiply the i-th (0-based) by m - i, take the running maximum, cap at 1.

A `Statistic` holds one run's per-sample statistics of one metric and recomputes the metric from
per-sample weights (how often each sample is drawn): `MeanRatio` (any ratio of weighted sums: a
mean, a mean over captions, RSUM, corpus BLEU), `WeightedMedian` (MdR) and `ClassMean` (mean
per-class recall). The readers that build them from a samples JSONL live in
`mmbench.metrics.sample_stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mmbench.errors import MMBenchError
from mmbench.metrics.bootstrap import _resamples

#: Resamples of the paired bootstrap in `compare`.
DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
# Half-width, in quantiles, of the band of values the weighted median counts one by one.
_MEDIAN_BAND = 0.1
# A resampled difference this close to 0 counts on both sides (float noise of equal sums).
_ZERO = 1e-12


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b and c discordant pairs (see the module docstring)."""
    if b < 0 or c < 0:
        raise MMBenchError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    term, tail = 1, 1  # C(n, 0)
    for i in range(min(b, c)):
        term = term * (n - i) // (i + 1)
        tail += term
    # Python's int / int is correctly rounded even for numbers beyond the float range.
    return min(1.0, 2 * tail / 2**n)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values in the input order; None entries stay None and do not count."""
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


class Statistic:
    """One run's per-sample statistics of one metric (samples in a fixed, paired order)."""

    n_samples: int

    def on(self, weights: np.ndarray) -> np.ndarray:
        """The metric for each row of `weights` (`[B, n_samples]` draw counts) -> `[B]`."""
        linear = self.linear()
        if linear is None:
            raise NotImplementedError
        return self.from_sums(weights @ linear, weights)

    def linear(self) -> np.ndarray | None:
        """`[n_samples, d]` per-sample statistics whose weighted sums determine the metric, or
        None. `paired_bootstrap` multiplies the weights by all metrics' matrices at once."""
        return None

    def from_sums(self, sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The metric from `weights @ self.linear()` (and the weights, where needed)."""
        raise NotImplementedError

    def full(self) -> float:
        """The metric on every sample once (what the run reported)."""
        return float(self.on(np.ones((1, self.n_samples)))[0])


@dataclass
class MeanRatio(Statistic):
    """`formula(weights @ sums)`: any metric computed from sums of per-sample statistics.

    `sums` is `[n_samples, d]`; `formula` maps the `[B, d]` weighted sums to `[B]` values. A mean
    of per-sample values is `sums = [[value, 1], ...]`, `formula = s[:, 0] / s[:, 1]`.
    """

    sums: np.ndarray
    formula: Callable[[np.ndarray], np.ndarray]

    @property
    def n_samples(self) -> int:  # type: ignore[override]
        return len(self.sums)

    def linear(self) -> np.ndarray:
        return self.sums

    def from_sums(self, sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.formula(sums)


def ratio(sums: np.ndarray) -> np.ndarray:
    """Column 0 over column 1 (a mean from (sum, count) pairs)."""
    return sums[:, 0] / sums[:, 1]


@dataclass
class WeightedMedian(Statistic):
    """numpy's median (mean of the two middle values for an even count) of the units drawn.

    `values[u]` belongs to sample `owner[u]`; a sample drawn w times contributes its units w times.
    Resample medians stay near the full-data median, so draw counts are kept per distinct value
    only inside a band of values around it (one small matmul), with everything below and above
    the band counted in two buckets; a resample whose median falls outside the band is recomputed
    over every distinct value. Either way the result is exact.
    """

    values: np.ndarray
    owner: np.ndarray
    n: int

    @property
    def n_samples(self) -> int:  # type: ignore[override]
        return self.n

    def __post_init__(self) -> None:
        self._distinct, self._slot = np.unique(self.values, return_inverse=True)
        lo, hi = np.quantile(self.values, [0.5 - _MEDIAN_BAND, 0.5 + _MEDIAN_BAND])
        first = int(np.searchsorted(self._distinct, lo, side="left"))
        last = int(np.searchsorted(self._distinct, hi, side="right"))
        # Columns: below the band, each distinct value of the band, above the band.
        self._band = (first, last)
        column = np.clip(self._slot - first + 1, 0, last - first + 1)
        self._histogram = _per_sample_counts(self.owner, column, self.n, last - first + 2)
        self._full: np.ndarray | None = None  # every distinct value: built on first need

    def linear(self) -> np.ndarray:
        return self._histogram

    def from_sums(self, sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        first, last = self._band
        counts = np.cumsum(sums, axis=1)
        total = counts[:, -1]
        out = np.zeros(len(weights))
        outside = np.zeros(len(weights), dtype=bool)
        for k in ((total - 1) // 2, total // 2):
            column = _position(counts, k)
            outside |= (column == 0) | (column == last - first + 1)
            out += self._distinct[np.clip(column + first - 1, 0, len(self._distinct) - 1)]
        out /= 2.0
        if outside.any():
            out[outside] = self._exact(weights[outside])
        return out

    def _exact(self, weights: np.ndarray) -> np.ndarray:
        if self._full is None:
            self._full = _per_sample_counts(self.owner, self._slot, self.n, len(self._distinct))
        counts = np.cumsum(weights @ self._full, axis=1)
        total = counts[:, -1]
        lower = self._distinct[_position(counts, (total - 1) // 2)]
        return (lower + self._distinct[_position(counts, total // 2)]) / 2.0


def _per_sample_counts(owner: np.ndarray, column: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`[rows, cols]` float counts of (owner, column) pairs."""
    flat = np.bincount(owner * cols + column, minlength=rows * cols)
    return flat.reshape(rows, cols).astype(float)


def _position(cumulative: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Index of the k-th (0-based) element of each expanded row: first cumulative count > k."""
    return (cumulative <= k[:, None]).sum(axis=1).clip(max=cumulative.shape[1] - 1)


@dataclass
class ClassMean(Statistic):
    """Mean over classes of each class's mean per-sample value (mean per-class recall).

    Classes absent from a resample are left out of its mean, as for classes absent from the data.
    """

    labels: np.ndarray  # int class index per sample
    values: np.ndarray  # per-sample value (1.0 = correct)

    @property
    def n_samples(self) -> int:  # type: ignore[override]
        return len(self.labels)

    def on(self, weights: np.ndarray) -> np.ndarray:
        order = np.argsort(self.labels, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(self.labels[order]) != 0])
        drawn = weights[:, order]
        counts = np.add.reduceat(drawn, starts, axis=1)
        hits = np.add.reduceat(drawn * self.values[order], starts, axis=1)
        present = counts > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            per_class = np.where(present, hits / np.where(present, counts, 1), 0.0)
        return per_class.sum(axis=1) / present.sum(axis=1)


@dataclass
class BootstrapOutcome:
    """Percentile interval of new - baseline, its two-sided p-value, and how it was drawn."""

    interval: tuple[float, float]
    p_value: float
    resamples: int
    seed: int


def paired_bootstrap(
    pairs: dict[str, tuple[Statistic, Statistic]],
    groups: np.ndarray | None = None,
    n: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> dict[str, BootstrapOutcome]:
    """Paired percentile bootstrap of `new - baseline` for each metric in `pairs`.

    `pairs[name] = (baseline, new)`, both over the same samples in the same order. `groups`
    (`[n_samples]` ints) resamples whole groups: every sample of a drawn group is drawn with it.
    All metrics share the same resamples.
    """
    if not pairs:
        return {}
    n_samples = next(iter(pairs.values()))[0].n_samples
    if groups is None:
        group_index, n_groups = None, n_samples
    else:
        _, group_index = np.unique(groups, return_inverse=True)
        n_groups = int(group_index.max()) + 1
    deltas: dict[str, list[np.ndarray]] = {name: [] for name in pairs}
    # Every metric with linear statistics reads one product of the weights with all of them:
    # one pass over the weights matrix instead of one per metric and run.
    stats = [stat for pair in pairs.values() for stat in pair]
    blocks = [stat.linear() for stat in stats]
    joint = (
        np.concatenate([b for b in blocks if b is not None], axis=1)
        if any(b is not None for b in blocks)
        else None
    )
    columns, start = {}, 0
    for stat, block in zip(stats, blocks, strict=True):
        if block is not None:
            columns[id(stat)] = slice(start, start + block.shape[1])
            start += block.shape[1]
    for draws in _resamples(n_groups, n, seed):
        weights = _counts(draws, n_groups)
        if group_index is not None:
            weights = weights[:, group_index]
        sums = None if joint is None else weights @ joint
        for name, (base, new) in pairs.items():
            deltas[name].append(
                _value(new, sums, weights, columns) - _value(base, sums, weights, columns)
            )
    alpha = 1.0 - level
    out = {}
    for name, chunks in deltas.items():
        delta = np.concatenate(chunks)
        if not np.all(np.isfinite(delta)):
            raise MMBenchError(f"{name}: the paired bootstrap met an empty resample")
        lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
        below = (np.count_nonzero(delta <= _ZERO) + 1) / (n + 1)
        above = (np.count_nonzero(delta >= -_ZERO) + 1) / (n + 1)
        out[name] = BootstrapOutcome(
            (float(lo), float(hi)), min(1.0, 2 * min(below, above)), n, seed
        )
    return out


def _value(
    stat: Statistic, sums: np.ndarray | None, weights: np.ndarray, columns: dict[int, slice]
) -> np.ndarray:
    """`stat` on one batch: from its columns of the joint product when it has linear sums."""
    if sums is not None and id(stat) in columns:
        return stat.from_sums(sums[:, columns[id(stat)]], weights)
    return stat.on(weights)


def _counts(draws: np.ndarray, n_groups: int) -> np.ndarray:
    """How often each group was drawn in each resample: `[B, n_groups]` float counts."""
    counts = np.empty((len(draws), n_groups))
    for row, drawn in zip(counts, draws, strict=True):
        # Row by row: each bincount stays in cache (several times faster than one flat bincount).
        row[:] = np.bincount(drawn, minlength=n_groups)
    return counts
