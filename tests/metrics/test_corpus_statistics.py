"""Corpus metrics `compare` recomputes from the samples (MME totals, ChartQA parts, OCRBench's
count, MMBench's vanilla accuracy) equal hand-computed values, on real samples JSONL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.openqa_schemas import BUILDERS
from helpers.runs import run_task

from mmbench.metrics.sample_stats import statistic

#: hand-computed from the canned answers of helpers.openqa_schemas (as in test_openqa_tasks)
EXPECTED = {
    # existence: acc 3/4, acc+ 1/2 -> 125; code_reasoning: 100 + 100
    "mme": {"perception": 125.0, "cognition": 200.0, "total": 325.0},
    # human: 104 within 5% of 100, "yes" = "Yes"; augmented: "1,000" is text, 50% = 0.5
    "chartqa-test": {"relaxed_accuracy": 0.75, "relaxed_human": 1.0, "relaxed_augmented": 0.5},
    # contained "hello"; "hel lo" not; HME spaces removed; HME case-sensitive
    "ocrbench": {"score": 2.0},
}


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_recomputed_from_the_samples(task: str, tmp_path: Path) -> None:
    data_dir, _ = BUILDERS[task](tmp_path / "data")
    model = "py:helpers.openqa_schemas:CannedModel"
    samples = run_task(tmp_path / "out", task, model, data_dir=data_dir)["samples"]
    for name, value in EXPECTED[task].items():
        stat = statistic(name, samples)
        assert stat.full() == pytest.approx(value, abs=1e-12), name
        # a resample drawing every sample twice: the same ratios, twice the count
        doubled = 2 * value if name == "score" else value
        assert stat.on(np.full((1, len(samples)), 2.0))[0] == pytest.approx(doubled, abs=1e-12)


def test_vanilla_accuracy_counts_only_unshifted_questions() -> None:
    samples = [
        {"id": "0", "scores": {"accuracy": 1.0}},
        {"id": "1000000", "scores": {"accuracy": 0.0}},  # a shift of question 0
        {"id": "1", "scores": {"accuracy": 0.0}},
        {"id": "1000001", "scores": {"accuracy": 1.0}},
        {"id": "2", "scores": {"accuracy": 1.0}},
    ]
    stat = statistic("vanilla_accuracy", samples)
    assert stat.full() == pytest.approx(2 / 3)  # questions 0, 1, 2: right, wrong, right
    # drawing question 1 three times and nothing else: 0
    assert stat.on(np.asarray([[0, 0, 3, 0, 0]], dtype=float))[0] == 0.0
