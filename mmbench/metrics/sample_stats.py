"""Per-sample statistics of a metric, read from a run's samples JSONL records.

`statistic(name, samples)` builds the `mmbench.metrics.paired.Statistic` that recomputes metric
`name` from per-sample weights, following the metric's registry declaration
(`mmbench.metrics.registry`): which fields hold its per-sample values and how they aggregate.
`binary_units` gives the 0/1 values an exact McNemar test pairs, `groups` the resampling groups.
Fields that a metric needs but the samples lack raise `Unavailable` with the reason, so callers can
report the test as not available instead of guessing.

Field names follow the samples JSONL schema: `rank_visual_to_text` and `ranks_text_to_visual`
(retrieval; rank 0 = a query without positives, left out as the metric leaves it out), `label`,
`top5`, `correct` (classification), `prediction`, `references` or `answers` (generation),
per-sample scores either as a top-level field named like the metric or under `scores`, and
`group`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmbench.metrics.paired import ClassMean, MeanRatio, Statistic, WeightedMedian, ratio
from mmbench.metrics.registry import MetricInfo, family_k, metric_info

RSUM_KS = (1, 5, 10)


class Unavailable(Exception):
    """The samples do not hold what recomputing this metric needs (the message says what)."""


def statistic(name: str, samples: Sequence[dict[str, Any]]) -> Statistic:
    """The per-sample statistic that recomputes metric `name` on resamples of `samples`."""
    info = metric_info(name)
    if not samples:
        raise Unavailable("no samples")
    reader = _READERS.get(info.recompute)
    if reader is None:
        raise Unavailable(f"{name} is not recomputable from per-sample values ({info.per_sample})")
    return reader(info, samples)


def bootstrap_interval(
    name: str,
    samples: Sequence[dict[str, Any]],
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of metric `name` recomputed on resamples of `samples`.

    The resamples are exactly those `bootstrap_ci` draws for `len(samples)` items and `seed`, and
    the metric's own aggregate is recomputed on each (a median for MdR, summed n-gram counts for
    BLEU, ...), so for a mean it equals `bootstrap_ci(values, np.mean)` up to float rounding.
    """
    from mmbench.metrics.bootstrap import _check, _percentile_interval, _resamples
    from mmbench.metrics.paired import _counts

    _check(n, alpha)
    stat = statistic(name, samples)
    values = [stat.on(_counts(draws, len(samples))) for draws in _resamples(len(samples), n, seed)]
    return _percentile_interval(np.concatenate(values), alpha)


def binary_units(name: str, samples: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """The 0/1 values of `name`'s units (one per visual query, caption or sample), or None.

    None when the metric is not a mean of 0/1 values, or when its samples are grouped (a grouped
    metric is tested with the group bootstrap instead).
    """
    info = metric_info(name)
    if groups(name, samples) is not None:
        return None
    if _is_retrieval_recall(info):
        ranks = _ranks(info, samples)
        k = family_k(name)
        flat = np.concatenate([r[r >= 1] for r in ranks]) if ranks else np.zeros(0)
        return (flat <= k).astype(float)
    if info.recompute != "mean":
        return None
    values = np.asarray([_sample_value(info, s) for s in samples], dtype=float)
    if info.binary or (not info.known and np.isin(values, (0.0, 1.0)).all()):
        return values
    return None


def groups(name: str, samples: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """Group key of each sample when metric `name` resamples whole groups, else None.

    A metric whose registry entry names a `group` field needs it (its aggregate is over groups).
    Any other metric is resampled by `group` too when every sample has one: samples of a group
    (an MME image's two questions, a CircularEval question's shifts) are not independent, and
    resampling whole groups is valid either way.
    """
    info = metric_info(name)
    key = info.group or "group"
    if all(key in s for s in samples):
        return np.asarray([str(s[key]) for s in samples])
    if info.group is not None:
        raise Unavailable(f"{name} groups samples by {key!r}, which the samples lack")
    return None


def sample_value(name: str, sample: dict[str, Any]) -> float | None:
    """One sample's own value of metric `name`, for listing samples that changed.

    Retrieval: the share of the sample's queries that hit (R@K) or their mean rank (MdR, MnR);
    mean per-class recall: `correct`; corpus metrics: the per-sample score the task wrote under
    `scores` (e.g. pycocoevalcap's per-image BLEU). None when the sample has no such value (a
    retrieval sample without positives); raises `Unavailable` when the samples never hold one.
    """
    info = metric_info(name)
    if (info.known and info.scale == "rank") or _is_retrieval_recall(info):
        ranks = _ranks(info, [sample])[0]
        ranks = ranks[ranks >= 1]
        if len(ranks) == 0:
            return None
        k = family_k(name)
        return float((ranks <= k).mean()) if k else float(ranks.mean())
    if info.recompute == "class_mean":
        return float(bool(_field(sample, "correct", info)))
    if info.recompute != "mean":
        value = (sample.get("scores") or {}).get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Unavailable(f"the samples hold no per-sample value of {name}")
        return float(value)
    return _sample_value(info, sample)


# ------------------------------------------------------------------------------------ readers


def _mean(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """A mean of per-unit values as (sum, count) per sample: R@K hits or ranks of retrieval
    queries (a sample holds one visual query or several captions), else one value per sample."""
    if _is_retrieval_recall(info) or info.name.endswith("_MnR"):
        k = family_k(info.name)
        rows = []
        for ranks in _ranks(info, samples):
            ranks = ranks[ranks >= 1]  # rank 0: a query without positives, left out
            rows.append([float((ranks <= k).sum() if k else ranks.sum()), float(len(ranks))])
        return MeanRatio(np.asarray(rows, dtype=float).reshape(-1, 2), ratio)
    values = np.asarray([_sample_value(info, s) for s in samples], dtype=float)
    return MeanRatio(np.stack([values, np.ones_like(values)], axis=1), ratio)


def _median(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    ranks = _ranks(info, samples)
    owner = np.concatenate([np.full(int((r >= 1).sum()), i) for i, r in enumerate(ranks)])
    values = np.concatenate([r[r >= 1] for r in ranks]).astype(float)
    if len(values) == 0:
        raise Unavailable(f"no {info.name} query has a positive")
    return WeightedMedian(values, owner.astype(np.int64), len(samples))


def _rsum(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    rows = []
    for sample in samples:
        visual = _as_ranks(_field(sample, "rank_visual_to_text", info))
        texts = _as_ranks(_field(sample, "ranks_text_to_visual", info))
        row = [float(((visual >= 1) & (visual <= k)).sum()) for k in RSUM_KS]
        row.append(float((visual >= 1).sum()))
        row += [float(((texts >= 1) & (texts <= k)).sum()) for k in RSUM_KS]
        row.append(float((texts >= 1).sum()))
        rows.append(row)
    return MeanRatio(np.asarray(rows, dtype=float), _rsum_formula)


def _rsum_formula(s: np.ndarray) -> np.ndarray:
    return 100.0 * (s[:, 0:3].sum(axis=1) / s[:, 3] + s[:, 4:7].sum(axis=1) / s[:, 7])


def _class_mean(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    labels = [str(_field(s, "label", info)) for s in samples]
    index = {label: i for i, label in enumerate(sorted(set(labels)))}
    correct = [float(bool(_field(s, "correct", info))) for s in samples]
    return ClassMean(np.asarray([index[x] for x in labels]), np.asarray(correct))


def _bleu(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    from mmbench.metrics._ngrams import ngram_tables
    from mmbench.metrics.bleu_score import _bleu as bleu_formula
    from mmbench.metrics.bleu_score import _closest_ref_length, clipped_matches
    from mmbench.metrics.captioning import _Captions

    n = int(info.name.rsplit("_", 1)[-1])
    ids = list(range(len(samples)))
    preds = {i: str(_field(s, "prediction", info)) for i, s in zip(ids, samples, strict=True)}
    refs = {}
    for i, sample in zip(ids, samples, strict=True):
        value = sample.get("references", sample.get("answers"))
        if not value:
            raise Unavailable(f"{info.name} needs each sample's references, which the samples lack")
        refs[i] = [value] if isinstance(value, str) else [str(v) for v in value]
    corpus = _Captions(ids, preds, refs, tokenize=True).corpora()[0]
    matches = np.stack([clipped_matches(corpus, t) for t in ngram_tables(corpus, n)], axis=1)
    test_len = corpus.lengths[corpus.pred_caption]
    guess = np.maximum(test_len[:, None] - np.arange(n)[None, :], 0)
    sums = np.concatenate(
        [matches, guess, test_len[:, None], _closest_ref_length(corpus)[:, None]], axis=1
    ).astype(float)

    def formula(s: np.ndarray) -> np.ndarray:
        return bleu_formula(s[:, :n], s[:, n : 2 * n], s[:, 2 * n], s[:, 2 * n + 1])[:, n - 1]

    return MeanRatio(sums, formula)


def _group_mean(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """The mean over groups of a value every member of a group carries (CircularEval)."""
    keys = [str(_field(s, info.group or "group", info)) for s in samples]
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    values = np.asarray([_sample_value(info, s) for s in samples], dtype=float)
    share = np.asarray([1.0 / sizes[k] for k in keys])
    return MeanRatio(np.stack([values * share, share], axis=1), ratio)


def _pope(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """POPE's precision, recall, F1, yes-ratio (pooled) and mean per-category F1 from per-sample
    counts: columns (tp, fp, fn, n, said yes) pooled, then the same per category."""
    from mmbench.metrics.pope import pope_label_is_no, pope_says_no

    categories = sorted({str(_field(s, "category", info)) for s in samples})
    rows = np.zeros((len(samples), 5 * (1 + len(categories))))
    for i, sample in enumerate(samples):
        answers = _field(sample, "answers", info)
        said_yes = not pope_says_no(str(_field(sample, "prediction", info)))
        is_yes = not pope_label_is_no(answers[0] if isinstance(answers, list) else answers)
        counts = [
            said_yes and is_yes,
            said_yes and not is_yes,
            not said_yes and is_yes,
            1,
            said_yes,
        ]
        rows[i, :5] = counts
        start = 5 * (1 + categories.index(str(sample["category"])))
        rows[i, start : start + 5] = counts
    name = info.name

    def formula(s: np.ndarray) -> np.ndarray:
        if name == "mean_f1":
            parts = [s[:, k : k + 5] for k in range(5, s.shape[1], 5)]
            present = np.stack([p[:, 3] > 0 for p in parts], axis=1)
            f1 = np.stack([_pope_value("f1", p) for p in parts], axis=1)
            return np.where(present, f1, 0.0).sum(axis=1) / present.sum(axis=1)
        return _pope_value(name, s[:, :5])

    return MeanRatio(rows, formula)


def _pope_value(name: str, c: np.ndarray) -> np.ndarray:
    """POPE's evaluate.py ratios from (tp, fp, fn, n, said yes) columns; 0 where undefined."""

    def share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    tp, fp, fn, n, yes = (c[:, k] for k in range(5))
    precision, recall = share(tp, tp + fp), share(tp, tp + fn)
    values = {
        "precision": precision,
        "recall": recall,
        "f1": share(2 * precision * recall, precision + recall),
        "yes_ratio": share(yes, n),
    }
    return values[name]


def _score_of(sample: dict[str, Any], key: str, info: MetricInfo) -> float:
    value = (sample.get("scores") or {}).get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise Unavailable(f"{info.name} needs each sample's scores.{key}, which the samples lack")
    return float(value)


def _count(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """A count of right answers (OCRBench's score): the sum of each sample's 0/1 accuracy."""
    values = np.asarray([[_score_of(s, "accuracy", info)] for s in samples])
    return MeanRatio(values, lambda s: s[:, 0])


def _vanilla(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """MMBench's vanilla accuracy: the mean accuracy of the unshifted questions, whose ids are
    below CircularEval's stride of 1,000,000 (the shifts repeat them at id + k x 1,000,000)."""
    rows = []
    for sample in samples:
        try:
            unshifted = float(int(str(_field(sample, "id", info))) < 1_000_000)
        except ValueError:
            raise Unavailable(f"{info.name} needs whole-number sample ids") from None
        rows.append([unshifted * _score_of(sample, "accuracy", info), unshifted])
    return MeanRatio(np.asarray(rows, dtype=float).reshape(-1, 2), ratio)


def _chartqa(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """ChartQA's relaxed accuracy per part (human, augmented) and their mean, as the task's
    scorer computes them: columns (value, 1) per part; a part absent from a resample is left
    out of the mean."""
    from mmbench.metrics.relaxed_accuracy import CHARTQA_PARTS

    parts = list(CHARTQA_PARTS)
    rows = np.zeros((len(samples), 2 * len(parts)))
    for i, sample in enumerate(samples):
        part = str(_field(sample, "category", info))
        if part not in parts:
            raise Unavailable(f"{info.name}: category {part!r} is not a ChartQA part")
        at = 2 * parts.index(part)
        rows[i, at : at + 2] = (_score_of(sample, "relaxed_accuracy", info), 1.0)
    wanted = [k for k, name in enumerate(CHARTQA_PARTS.values()) if name == info.name]

    def formula(s: np.ndarray) -> np.ndarray:
        means = np.stack([s[:, 2 * k] / s[:, 2 * k + 1] for k in range(len(parts))], axis=1)
        present = np.stack([s[:, 2 * k + 1] > 0 for k in range(len(parts))], axis=1)
        if wanted:
            return means[:, wanted[0]]
        return np.where(present, means, 0.0).sum(axis=1) / present.sum(axis=1)

    return MeanRatio(rows, formula)


def _mme(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> Statistic:
    """MME's perception, cognition and total: per subtask 100 x (acc + acc+), acc over its
    questions, acc+ the share of its images with every question right, summed over the
    subtasks of each part (`mmbench.metrics.mme.mme_scores`). Columns per subtask: (right,
    questions, image all right x 1/image size, 1/image size), so sums over a resample of whole
    images count its questions and images."""
    from mmbench.metrics.mme import COGNITION, PERCEPTION

    subtasks = sorted({str(_field(s, "category", info)) for s in samples})
    images: dict[tuple[str, str], list[float]] = {}
    for sample in samples:
        key = (str(sample["category"]), str(_field(sample, "group", info)))
        images.setdefault(key, []).append(_score_of(sample, "accuracy", info))
    rows = np.zeros((len(samples), 4 * len(subtasks)))
    for i, sample in enumerate(samples):
        key = (str(sample["category"]), str(sample["group"]))
        members = images[key]
        at = 4 * subtasks.index(key[0])
        right = _score_of(sample, "accuracy", info)
        rows[i, at : at + 4] = (right, 1.0, float(all(members)) / len(members), 1.0 / len(members))
    part = {"perception": PERCEPTION, "cognition": COGNITION}.get(info.name, PERCEPTION + COGNITION)
    chosen = [k for k, name in enumerate(subtasks) if name in part]

    def formula(s: np.ndarray) -> np.ndarray:
        total = np.zeros(len(s))
        for k in chosen:
            c = s[:, 4 * k : 4 * k + 4]
            present = c[:, 1] > 0
            score = 100.0 * (
                c[:, 0] / np.where(present, c[:, 1], 1) + c[:, 2] / np.where(present, c[:, 3], 1)
            )
            total += np.where(present, score, 0.0)
        return total

    return MeanRatio(rows, formula)


_READERS = {
    "count": _count,
    "vanilla": _vanilla,
    "chartqa": _chartqa,
    "mme": _mme,
    "pope": _pope,
    "group_mean": _group_mean,
    "mean": _mean,
    "median": _median,
    "rsum": _rsum,
    "class_mean": _class_mean,
    "bleu": _bleu,
}


# ------------------------------------------------------------------------------------ fields


def _is_retrieval_recall(info: MetricInfo) -> bool:
    return "_R@" in info.name and info.known


def _ranks(info: MetricInfo, samples: Sequence[dict[str, Any]]) -> list[np.ndarray]:
    """Per sample, the ranks the metric averages: the visual query's, or its captions'."""
    text_query = info.name.startswith("t2")
    key = "ranks_text_to_visual" if text_query else "rank_visual_to_text"
    return [_as_ranks(_field(s, key, info)) for s in samples]


def _as_ranks(value: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(value, dtype=np.int64))


def _field(sample: dict[str, Any], key: str, info: MetricInfo) -> Any:
    if key not in sample:
        raise Unavailable(f"{info.name} needs the samples' {key!r} field, which they lack")
    return sample[key]


def _sample_value(info: MetricInfo, sample: dict[str, Any]) -> float:
    """A sample's own value of `info`: classification top-K, a top-level field, or `scores`."""
    name = info.name
    k = family_k(name) if name.startswith("top") and info.known else None
    if k is not None:
        if k == 1 and "correct" in sample:
            return float(bool(sample["correct"]))
        top = _field(sample, "top5", info)
        if k > len(top) and len(top) < 5:
            return 1.0  # fewer classes than K: every class is in the top K
        if k > 5:
            raise Unavailable(f"{name}: the samples keep only the 5 best classes")
        return float(_field(sample, "label", info) in top[:k])
    value = sample.get(name)
    if value is None:
        value = (sample.get("scores") or {}).get(name)
    if value is None or isinstance(value, (dict, list, str)):
        raise Unavailable(f"the samples hold no per-sample value of {name}")
    return float(value)
