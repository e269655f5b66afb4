"""The metric registry: every metric a task type declares is in it, with the facts the papers'
conventions fix (direction, scale, aggregation)."""

from __future__ import annotations

import pytest

from mmbench.metrics.registry import SCALES, describe, metric_info
from mmbench.tasks import TASK_TYPES, get_task_type


def test_every_task_metric_is_declared() -> None:
    for type_name in TASK_TYPES:
        for metric, description in get_task_type(type_name).metrics.items():
            info = metric_info(metric)
            assert info.known, f"{type_name}: {metric} is not in mmbench.metrics.registry"
            assert info.scale in SCALES and description


@pytest.mark.parametrize(
    ("name", "higher", "scale", "aggregation"),
    [
        ("i2t_R@5", True, "fraction", "mean"),
        ("t2v_R@10", True, "fraction", "mean"),
        ("v2t_MdR", False, "rank", "corpus"),
        ("t2i_MnR", False, "rank", "mean"),
        ("RSUM", True, "percentage", "corpus"),  # a sum of six recalls in percent, 0..600
        ("top5", True, "fraction", "mean"),
        ("mean_per_class_recall", True, "fraction", "corpus"),
        ("Bleu_4", True, "fraction", "corpus"),  # pycocoevalcap sums n-gram counts first
        ("CIDEr", True, "cider", "mean"),
        ("vqa_accuracy", True, "fraction", "mean"),
        ("circular_accuracy", True, "fraction", "corpus"),
        ("unparsed", False, "score", "corpus"),
    ],
)
def test_declared_facts(name: str, higher: bool, scale: str, aggregation: str) -> None:
    info = metric_info(name)
    assert (info.higher_is_better, info.scale, info.aggregation) == (higher, scale, aggregation)


def test_points_binary_groups_and_unknown_names() -> None:
    assert metric_info("RSUM").to_points(440.0) == 440.0
    assert metric_info("CIDEr").to_points(1.358) == pytest.approx(135.8)
    assert metric_info("i2t_MdR").to_points(3.0) == 3.0
    assert metric_info("exact_match").binary and not metric_info("vqa_accuracy").binary
    assert metric_info("circular_accuracy").group == "group"
    assert not metric_info("METEOR").bootstrap and metric_info("i2t_MdR").bootstrap
    unknown = metric_info("my_score")
    assert (unknown.known, unknown.higher_is_better, unknown.scale) == (False, True, "fraction")
    assert describe(["t2i_R@5"]) == {
        "t2i_R@5": "text query: share of queries with a positive in the top 5"
    }


def test_a_diagnostic_without_direction_is_reported_never_judged(tmp_path) -> None:
    from helpers.result_files import write_result

    from mmbench.compare import compare

    base = write_result(tmp_path / "b.json", {"yes_ratio": 0.50, "accuracy": 0.8}, task="pope")
    new = write_result(tmp_path / "n.json", {"yes_ratio": 0.70, "accuracy": 0.8}, task="pope")
    rows = {r.metric: r for r in compare(base, new).rows}
    assert rows["yes_ratio"].delta == pytest.approx(20.0) and rows["yes_ratio"].status == "ok"
    assert metric_info("yes_ratio").higher_is_better is None
