"""`compare`: the regression gate over result JSONs and leaderboard CSVs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmbench.compare import TOLERANCE_HELP, compare, lower_is_better, to_points
from mmbench.errors import MMBenchError
from mmbench.leaderboard import build_leaderboard


def write_result(
    path: Path,
    metrics: dict[str, float],
    ci: dict[str, list[float]] | None = None,
    model: str = "hf:org/model",
    task: str = "coco-retrieval",
    version: int = 1,
    data_fingerprint: str = "sha256:0123456789abcdef",
    created_at: str = "2024-05-01T12:00:00+00:00",
) -> Path:
    """Write a result JSON with the documented schema (mmbench/results.py)."""
    data: dict[str, Any] = {
        "mmbench_version": "0.1.0",
        "task": {
            "name": task,
            "version": version,
            "spec_hash": "spec",
            "data_fingerprint": data_fingerprint,
            "n": 1000,
            "limit": None,
        },
        "model": {"uri": model, "fingerprint": "fp"},
        "config": {
            "device": "cpu",
            "dtype": "float32",
            "batch_size": 8,
            "world_size": 1,
            "seed": 0,
        },
        "metrics": metrics,
        "ci": ci or {},
        "timing": {"total_s": 1.0, "model_s": 0.5, "items_per_s": 100.0},
        "failures": {"count": 0, "examples": []},
        "created_at": created_at,
        "git_commit": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def status_of(report, metric: str, model: str | None = None) -> str:
    return next(r.status for r in report.rows if r.metric == metric and r.model == model)


def test_direction_and_units() -> None:
    for name in (
        "MdR",
        "MnR",
        "t2i_MdR",
        "i2t_MnR",
        "median_rank",
        "mean_rank",
        "loss",
        "val_loss",
    ):
        assert lower_is_better(name), name
    for name in ("R@1", "t2i_R@5", "RSUM", "CIDEr-D", "BLEU-4", "vqa_acc", "top-1"):
        assert not lower_is_better(name), name
    assert to_points("R@5", 0.654) == pytest.approx(65.4)
    assert to_points("MdR", 3.0) == 3.0
    assert "points" in TOLERANCE_HELP and "0.01" in TOLERANCE_HELP


def test_regression_exit_1(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.600, "R@5": 0.800})
    new = write_result(tmp_path / "new.json", {"R@1": 0.590, "R@5": 0.800})
    report = compare(base, new, tolerance=0.5)
    assert report.exit_code == 1
    row = next(r for r in report.rows if r.metric == "R@1")
    assert row.status == "regressed"
    assert row.baseline == 0.6 and row.new == 0.59
    assert row.delta == pytest.approx(-1.0)  # points
    assert row.ci_overlap is None and row.model is None
    assert status_of(report, "R@5") == "ok"
    table = report.format_table()
    assert table.splitlines()[-1].startswith("REGRESSED: 1 of 2")
    assert "R@1" in table.splitlines()[-1]
    assert "-1.00 pts" in table


def test_improvement_exit_0(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.60})
    new = write_result(tmp_path / "new.json", {"R@1": 0.62})
    report = compare(base, new)
    assert report.exit_code == 0
    assert status_of(report, "R@1") == "improved"
    assert report.format_table().splitlines()[-1].startswith("OK:")


def test_within_tolerance_and_exact_boundary(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.654, "R@5": 0.80})
    # 0.654 -> 0.649 is exactly 0.5 points (0.50000000000001 in floating point): passes.
    new = write_result(tmp_path / "new.json", {"R@1": 0.649, "R@5": 0.797})
    report = compare(base, new, tolerance=0.5)
    assert report.exit_code == 0
    assert [r.status for r in report.rows] == ["ok", "ok"]
    # Just beyond the tolerance fails.
    worse = write_result(tmp_path / "worse.json", {"R@1": 0.6489, "R@5": 0.80})
    assert compare(base, worse, tolerance=0.5).exit_code == 1
    assert compare(base, worse, tolerance=1.0).exit_code == 0


def test_lower_is_better_metrics(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"MdR": 3.0, "MnR": 10.0, "R@1": 0.5})
    new = write_result(tmp_path / "new.json", {"MdR": 4.0, "MnR": 8.0, "R@1": 0.5})
    report = compare(base, new, tolerance=0.5)
    # Ranks are in their own units: MdR +1 rank is worse, MnR -2 ranks is better.
    assert status_of(report, "MdR") == "regressed"
    assert status_of(report, "MnR") == "improved"
    assert next(r.delta for r in report.rows if r.metric == "MdR") == pytest.approx(1.0)
    assert report.exit_code == 1
    # A tolerance of 1 rank allows MdR 3 -> 4.
    assert compare(base, new, tolerance=1.0).exit_code == 0


def test_metric_selection(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.6, "R@5": 0.8})
    new = write_result(tmp_path / "new.json", {"R@1": 0.5, "R@5": 0.8})
    report = compare(base, new, metrics=["R@5"])
    assert [r.metric for r in report.rows] == ["R@5"]
    assert report.exit_code == 0
    with pytest.raises(MMBenchError, match=r"'R@10' is in neither input"):
        compare(base, new, metrics=["R@10"])


def test_metric_missing_on_one_side(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.6, "CIDEr-D": 1.2})
    new = write_result(tmp_path / "new.json", {"R@1": 0.6})
    report = compare(base, new)
    row = next(r for r in report.rows if r.metric == "CIDEr-D")
    assert (row.status, row.baseline, row.new, row.delta) == ("missing", 1.2, None, None)
    assert report.exit_code == 0
    assert "1 missing" in report.format_table()


def test_use_ci(tmp_path: Path) -> None:
    base = write_result(
        tmp_path / "base.json",
        {"R@1": 0.60, "R@5": 0.80, "R@10": 0.90},
        ci={"R@1": [0.57, 0.63], "R@5": [0.79, 0.81]},
    )
    # R@1 drops 2 points but stays inside its CI; R@5 drops 2 points and leaves it;
    # R@10 has no CI and drops 2 points.
    new = write_result(tmp_path / "new.json", {"R@1": 0.58, "R@5": 0.78, "R@10": 0.88})

    plain = compare(base, new, tolerance=0.5)
    assert [r.status for r in plain.rows] == ["regressed", "regressed", "regressed"]
    assert [r.ci_overlap for r in plain.rows] == [True, False, None]

    gated = compare(base, new, tolerance=0.5, use_ci=True)
    assert [r.status for r in gated.rows] == ["ok", "regressed", "regressed"]
    assert gated.exit_code == 1
    assert any("no CI for R@10" in note for note in gated.notes)
    table = gated.format_table()
    assert "in base CI" in table and "outside the baseline CI" in table

    # Outside the CI but within tolerance: still ok.
    small = write_result(tmp_path / "small.json", {"R@1": 0.60, "R@5": 0.787, "R@10": 0.90})
    assert compare(base, small, tolerance=1.5, use_ci=True).exit_code == 0


def test_mismatched_inputs_raise(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.6})
    v2 = write_result(tmp_path / "v2.json", {"R@1": 0.6}, version=2)
    with pytest.raises(MMBenchError) as err:
        compare(base, v2)
    assert str(err.value) == (
        "task version differs (1 vs 2): numbers are not comparable; re-run the baseline"
    )
    other_data = write_result(tmp_path / "d.json", {"R@1": 0.6}, data_fingerprint="sha256:ffff")
    with pytest.raises(MMBenchError, match=r"data fingerprint differs.*re-run the baseline"):
        compare(base, other_data)
    other_task = write_result(tmp_path / "t.json", {"R@1": 0.6}, task="flickr-retrieval")
    with pytest.raises(MMBenchError, match="task differs"):
        compare(base, other_task)


def test_unusable_files_raise(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"R@1": 0.6})
    not_result = tmp_path / "config.json"
    not_result.write_text('{"seed": 0}', encoding="utf-8")
    with pytest.raises(MMBenchError, match="not an mmbench result"):
        compare(base, not_result)
    array = tmp_path / "array.json"
    array.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(MMBenchError, match="not an mmbench result"):
        compare(array, base)
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(MMBenchError, match="not valid JSON"):
        compare(base, broken)
    with pytest.raises(MMBenchError, match="does not exist"):
        compare(base, tmp_path / "missing.json")
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("model,R@1\nm,0.5\n", encoding="utf-8")
    with pytest.raises(MMBenchError, match="two result JSONs or two"):
        compare(base, csv_file)
    with pytest.raises(MMBenchError, match="--tolerance"):
        compare(base, base, tolerance=-1)


def test_unreadable_csvs_raise(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(MMBenchError, match="cannot read"):
        compare(empty, empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01\x80\x81" * 50)
    with pytest.raises(MMBenchError):
        compare(binary, binary)
    plain = tmp_path / "plain.csv"
    plain.write_text("model,R@1\nm,0.5\n", encoding="utf-8")
    with pytest.raises(MMBenchError, match="not a per-task leaderboard CSV"):
        compare(plain, plain)


def _leaderboard(tmp_path: Path, name: str, rows: dict[str, dict[str, float]], **kw: Any) -> Path:
    """Build a real leaderboard from one result per model and return its task CSV."""
    res = tmp_path / f"{name}-results"
    for model, metrics in rows.items():
        write_result(res / f"{model.replace(':', '_')}.json", metrics, model=model, **kw)
    build_leaderboard([res], tmp_path / name, plot=False)
    return tmp_path / name / f"{kw.get('task', 'coco-retrieval')}.csv"


def test_csv_vs_csv(tmp_path: Path) -> None:
    base = _leaderboard(
        tmp_path,
        "base",
        {
            "hf:a": {"R@1": 0.60, "MdR": 3.0},
            "hf:b": {"R@1": 0.50, "MdR": 4.0},
            "hf:c": {"R@1": 0.1},
        },
    )
    new = _leaderboard(
        tmp_path,
        "new",
        {
            "hf:a": {"R@1": 0.61, "MdR": 3.0},
            "hf:b": {"R@1": 0.48, "MdR": 4.0},
            "hf:d": {"R@1": 0.2},
        },
    )
    report = compare(base, new, tolerance=0.5)
    assert {(r.model, r.metric): r.status for r in report.rows} == {
        ("hf:a", "R@1"): "improved",
        ("hf:a", "MdR"): "ok",
        ("hf:b", "R@1"): "regressed",
        ("hf:b", "MdR"): "ok",
    }
    assert report.exit_code == 1
    assert any("only in baseline" in n and "hf:c" in n for n in report.notes)
    assert any("only in new" in n and "hf:d" in n for n in report.notes)
    table = report.format_table()
    assert table.splitlines()[0].split()[:2] == ["model", "metric"]
    assert "hf:b: R@1" in table.splitlines()[-1]


def test_csv_with_ci_and_text_fingerprints(tmp_path: Path) -> None:
    # A fingerprint that looks like a number must survive the CSV round trip as text.
    kw = {"data_fingerprint": "00123456"}
    base = _leaderboard(tmp_path, "base", {"hf:a": {"R@1": 0.60}}, **kw)
    res = tmp_path / "ci-results"
    write_result(res / "a.json", {"R@1": 0.59}, model="hf:a", ci={"R@1": [0.55, 0.65]}, **kw)
    build_leaderboard([res], tmp_path / "new", plot=False)
    with_ci = tmp_path / "new" / "coco-retrieval.csv"
    # Baseline 0.59 with CI [0.55, 0.65]; the other file has 0.60: +1 point.
    assert compare(with_ci, base, tolerance=0.5).rows[0].status == "improved"
    row = compare(with_ci, base, tolerance=0.5, use_ci=True).rows[0]
    # Inside the baseline CI: not evidence of a change.
    assert (row.model, row.ci_overlap, row.status) == ("hf:a", True, "ok")
    assert (row.baseline, row.new) == (0.59, 0.6)


def test_csv_mismatches_raise(tmp_path: Path) -> None:
    base = _leaderboard(tmp_path, "base", {"hf:a": {"R@1": 0.6}})
    v2 = _leaderboard(tmp_path, "v2", {"hf:a": {"R@1": 0.6}}, version=2)
    with pytest.raises(MMBenchError, match=r"task version differs for hf:a \(1 vs 2\)"):
        compare(base, v2)
    other = _leaderboard(tmp_path, "other", {"hf:z": {"R@1": 0.6}})
    with pytest.raises(MMBenchError, match="no model in common"):
        compare(base, other)
    with pytest.raises(MMBenchError, match="not a per-task leaderboard CSV"):
        compare(tmp_path / "base" / "summary.csv", tmp_path / "v2" / "summary.csv")
