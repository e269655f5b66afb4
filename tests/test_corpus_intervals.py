"""`run --bootstrap N` intervals of corpus metrics (median ranks, RSUM, mean per-class recall,
BLEU): each equals the plain bootstrap that recomputes the metric on the resampled data, drawn
with the same seed (`bootstrap_ci` / `bootstrap_ci_indices`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmbench.metrics.bootstrap import bootstrap_ci, bootstrap_ci_indices
from mmbench.metrics.sample_stats import bootstrap_interval


def retrieval_samples(seed: int = 4, n: int = 30) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": str(i),
            "rank_visual_to_text": int(rng.integers(1, 20)),
            "ranks_text_to_visual": rng.integers(1, 25, rng.integers(1, 4)).tolist(),
        }
        for i in range(n)
    ]


def test_median_rank_intervals_equal_the_plain_bootstrap() -> None:
    samples = retrieval_samples()
    visual = np.array([s["rank_visual_to_text"] for s in samples], dtype=float)
    assert bootstrap_interval("i2t_MdR", samples, n=300, seed=2) == bootstrap_ci(
        visual, np.median, n=300, seed=2
    )
    # Text queries: an image is drawn with all its captions.
    expected = bootstrap_ci_indices(
        len(samples),
        lambda idx: np.median([r for i in idx for r in samples[i]["ranks_text_to_visual"]]),
        n=300,
        seed=2,
    )
    assert bootstrap_interval("t2i_MdR", samples, n=300, seed=2) == pytest.approx(expected)


def test_rsum_and_class_recall_intervals_equal_the_plain_bootstrap() -> None:
    from mmbench.metrics.retrieval import recall_from_ranks

    samples = retrieval_samples()

    def rsum(idx: np.ndarray) -> float:
        i2t = [samples[i]["rank_visual_to_text"] for i in idx]
        t2i = [r for i in idx for r in samples[i]["ranks_text_to_visual"]]
        return recall_from_ranks(i2t, t2i)["RSUM"]

    expected = bootstrap_ci_indices(len(samples), rsum, n=200, seed=1)
    assert bootstrap_interval("RSUM", samples, n=200, seed=1) == pytest.approx(expected, rel=1e-12)

    labels = ["cat", "dog", "cat", "bird", "dog", "cat", "bird", "cat"] * 3
    correct = [1, 0, 1, 1, 1, 0, 0, 1] * 3
    records = [
        {"id": str(i), "label": lab, "correct": bool(c)}
        for i, (lab, c) in enumerate(zip(labels, correct, strict=True))
    ]

    def balanced(idx: np.ndarray) -> float:
        per_class: dict[str, list[int]] = {}
        for i in idx:
            per_class.setdefault(labels[i], []).append(correct[i])
        return float(np.mean([np.mean(v) for v in per_class.values()]))

    expected = bootstrap_ci_indices(len(records), balanced, n=200, seed=3)
    got = bootstrap_interval("mean_per_class_recall", records, n=200, seed=3)
    assert got == pytest.approx(expected, rel=1e-12)


def test_bleu_interval_equals_bleu_of_the_resampled_corpus() -> None:
    from mmbench.metrics import caption_scores

    preds = ["a dog runs on grass", "a cat sleeps", "two people walk", "a red bus", "a boat"]
    refs = [
        ["a dog running on the grass", "dog on grass"],
        ["a cat is sleeping on a bed"],
        ["two people walking down a street", "people walk"],
        ["a red bus on the road"],
        ["a small boat on a lake", "a boat in water"],
    ]
    records = [{"prediction": p, "references": r} for p, r in zip(preds, refs, strict=True)]

    def bleu4(idx: np.ndarray) -> float:
        chosen = {f"d{j}": i for j, i in enumerate(idx)}
        return caption_scores(
            {k: preds[i] for k, i in chosen.items()},
            {k: refs[i] for k, i in chosen.items()},
            metrics=("bleu",),
        )["corpus"]["Bleu_4"]

    expected = bootstrap_ci_indices(len(records), bleu4, n=40, seed=0)
    got = bootstrap_interval("Bleu_4", records, n=40, seed=0)
    assert got == pytest.approx(expected, rel=1e-9)


def test_run_reports_intervals_for_every_retrieval_metric(tmp_path: Path) -> None:
    from mmbench.cli import main

    code = main(
        [
            "run",
            "--model",
            "builtin:random",
            "--task",
            "mini-retrieval",
            "--bootstrap",
            "200",
            "--output-dir",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
        ]
    )
    assert code == 0
    (path,) = [p for p in tmp_path.glob("*.json")]
    result = json.loads(path.read_text(encoding="utf-8"))
    assert set(result["ci"]) == set(result["metrics"])
    for name, (lo, hi) in result["ci"].items():
        assert lo <= hi, name
