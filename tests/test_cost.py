"""Cost figures from a result JSON (`mmbench.cost`), and their columns in the leaderboard CSV."""

from __future__ import annotations

import csv

from helpers.report import write_result

from mmbench.cost import cost_of
from mmbench.leaderboard import build_leaderboard


def test_served_model_requests_tokens_and_rate():
    result = {
        "timing": {
            "total_s": 20.0,
            "items_per_s": 5.0,
            "server": {
                "requests": 100,
                "prompt_tokens": 9000,
                "completion_tokens": 500,
                "total_tokens": 9500,
            },
        },
        "environment": {"cpu": "Intel Xeon", "gpus": []},
        "config": {"device": "cpu"},
    }
    cost = cost_of(result)
    assert cost["requests"] == 100 and cost["tokens"] == 9500
    assert cost["tokens_per_s"] == 25.0  # 500 completion tokens in 20 s
    assert cost["hardware"] == "Intel Xeon" and cost["peak_gpu_memory_mb"] is None


def test_gpu_hardware_names_the_count():
    result = {"environment": {"gpus": ["NVIDIA A100", "NVIDIA A100"]}, "config": {"device": "cuda"}}
    assert cost_of(result)["hardware"] == "2x NVIDIA A100"
    assert cost_of({})["hardware"] is None and cost_of({})["items_per_s"] is None


def test_leaderboard_csv_has_cost_columns(tmp_path):
    write_result(
        tmp_path / "r",
        "t",
        "py:m",
        {"acc": 0.5},
        [{"id": "a"}],
        timing={"total_s": 4.0, "items_per_s": 2.5, "peak_gpu_memory_mb": 1536.0},
        environment={"gpus": ["NVIDIA H100"], "cpu": "x"},
        device="cuda:0",
    )
    build_leaderboard([tmp_path / "r"], tmp_path / "lb", plot=False)
    with (tmp_path / "lb" / "t.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["items_per_s"] == "2.5" and row["wall_s"] == "4.0"
    assert row["peak_gpu_memory_mb"] == "1536.0" and row["hardware"] == "NVIDIA H100"
