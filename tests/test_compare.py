"""`compare`: the regression gate over result JSONs and leaderboard CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.result_files import write_result

from mmbench.compare import TOLERANCE_HELP, compare
from mmbench.errors import MMBenchError
from mmbench.leaderboard import build_leaderboard
from mmbench.metrics.registry import lower_is_better, to_points


def status_of(report, metric: str, model: str | None = None) -> str:
    return next(r.status for r in report.rows if r.metric == metric and r.model == model)


def test_direction_and_units() -> None:
    for name in ("i2t_MdR", "t2i_MdR", "v2t_MnR", "t2v_MnR", "i2t_MnR"):
        assert lower_is_better(name), name
    for name in ("i2t_R@1", "t2v_R@5", "RSUM", "CIDEr", "Bleu_4", "top1", "vqa_accuracy"):
        assert not lower_is_better(name), name
    assert to_points("t2i_R@5", 0.654) == pytest.approx(65.4)
    assert to_points("CIDEr", 1.358) == pytest.approx(135.8)
    # RSUM is stored as a sum of percentages (0..600): already in points.
    assert to_points("RSUM", 440.0) == 440.0
    assert to_points("i2t_MdR", 3.0) == 3.0
    assert "points" in TOLERANCE_HELP and "0.01" in TOLERANCE_HELP and "RSUM" in TOLERANCE_HELP


def test_rsum_is_compared_in_its_own_percent_points(tmp_path: Path) -> None:
    # A 0.4-point RSUM drop: once reported as "-40.00 pts regressed" (RSUM read as a fraction).
    base = write_result(tmp_path / "base.json", {"RSUM": 440.0})
    new = write_result(tmp_path / "new.json", {"RSUM": 439.6})
    report = compare(base, new, tolerance=0.5)
    assert report.rows[0].delta == pytest.approx(-0.4)
    assert report.rows[0].status == "ok" and report.exit_code == 0
    assert "-0.40 pts" in report.format_table()
    worse = write_result(tmp_path / "worse.json", {"RSUM": 439.4})
    assert compare(base, worse, tolerance=0.5).exit_code == 1


def test_regression_exit_1(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.600, "i2t_R@5": 0.800})
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.590, "i2t_R@5": 0.800})
    report = compare(base, new, tolerance=0.5)
    assert report.exit_code == 1
    row = next(r for r in report.rows if r.metric == "i2t_R@1")
    assert row.status == "regressed"
    assert row.baseline == 0.6 and row.new == 0.59
    assert row.delta == pytest.approx(-1.0)  # points
    assert row.ci_overlap is None and row.model is None
    assert status_of(report, "i2t_R@5") == "ok"
    table = report.format_table()
    assert table.splitlines()[-1].startswith("REGRESSED: 1 of 2")
    assert "i2t_R@1" in table.splitlines()[-1]
    assert "-1.00 pts" in table


def test_improvement_exit_0(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.60})
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.62})
    report = compare(base, new)
    assert report.exit_code == 0
    assert status_of(report, "i2t_R@1") == "improved"
    assert report.format_table().splitlines()[-1].startswith("OK:")


def test_within_tolerance_and_exact_boundary(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.654, "i2t_R@5": 0.80})
    # 0.654 -> 0.649 is exactly 0.5 points (0.50000000000001 in floating point): passes.
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.649, "i2t_R@5": 0.797})
    report = compare(base, new, tolerance=0.5)
    assert report.exit_code == 0
    assert [r.status for r in report.rows] == ["ok", "ok"]
    # Just beyond the tolerance fails.
    worse = write_result(tmp_path / "worse.json", {"i2t_R@1": 0.6489, "i2t_R@5": 0.80})
    assert compare(base, worse, tolerance=0.5).exit_code == 1
    assert compare(base, worse, tolerance=1.0).exit_code == 0


def test_lower_is_better_metrics(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_MdR": 3.0, "i2t_MnR": 10.0, "i2t_R@1": 0.5})
    new = write_result(tmp_path / "new.json", {"i2t_MdR": 4.0, "i2t_MnR": 8.0, "i2t_R@1": 0.5})
    report = compare(base, new, tolerance=0.5)
    # Ranks are in their own units: MdR +1 rank is worse, MnR -2 ranks is better.
    assert status_of(report, "i2t_MdR") == "regressed"
    assert status_of(report, "i2t_MnR") == "improved"
    assert next(r.delta for r in report.rows if r.metric == "i2t_MdR") == pytest.approx(1.0)
    assert report.exit_code == 1
    # A tolerance of 1 rank allows MdR 3 -> 4.
    assert compare(base, new, tolerance=1.0).exit_code == 0


def test_metric_selection(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6, "i2t_R@5": 0.8})
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.5, "i2t_R@5": 0.8})
    report = compare(base, new, metrics=["i2t_R@5"])
    assert [r.metric for r in report.rows] == ["i2t_R@5"]
    assert report.exit_code == 0
    with pytest.raises(MMBenchError, match=r"'i2t_R@10' is in neither input"):
        compare(base, new, metrics=["i2t_R@10"])


def test_metric_missing_on_one_side(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6, "CIDEr": 1.2})
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.6})
    report = compare(base, new)
    row = next(r for r in report.rows if r.metric == "CIDEr")
    assert (row.status, row.baseline, row.new, row.delta) == ("missing", 1.2, None, None)
    assert report.exit_code == 0
    assert "1 missing" in report.format_table()


def test_use_ci(tmp_path: Path) -> None:
    base = write_result(
        tmp_path / "base.json",
        {"i2t_R@1": 0.60, "i2t_R@5": 0.80, "i2t_R@10": 0.90},
        ci={"i2t_R@1": [0.57, 0.63], "i2t_R@5": [0.79, 0.81]},
    )
    # R@1 drops 2 points but stays inside its CI; R@5 drops 2 points and leaves it;
    # R@10 has no CI and drops 2 points.
    new = write_result(tmp_path / "new.json", {"i2t_R@1": 0.58, "i2t_R@5": 0.78, "i2t_R@10": 0.88})

    plain = compare(base, new, tolerance=0.5)
    assert [r.status for r in plain.rows] == ["regressed", "regressed", "regressed"]
    assert [r.ci_overlap for r in plain.rows] == [True, False, None]

    gated = compare(base, new, tolerance=0.5, use_ci=True)
    assert [r.status for r in gated.rows] == ["ok", "regressed", "regressed"]
    assert gated.exit_code == 1
    assert any("no CI for i2t_R@10" in note for note in gated.notes)
    table = gated.format_table()
    assert "in base CI" in table and "outside the baseline CI" in table

    # Outside the CI but within tolerance: still ok.
    small = write_result(
        tmp_path / "small.json", {"i2t_R@1": 0.60, "i2t_R@5": 0.787, "i2t_R@10": 0.90}
    )
    assert compare(base, small, tolerance=1.5, use_ci=True).exit_code == 0


def test_mismatched_inputs_raise(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6})
    v2 = write_result(tmp_path / "v2.json", {"i2t_R@1": 0.6}, version=2)
    with pytest.raises(MMBenchError) as err:
        compare(base, v2)
    assert str(err.value) == (
        "task version differs (1 vs 2): numbers are not comparable; re-run the baseline"
    )
    other_data = write_result(tmp_path / "d.json", {"i2t_R@1": 0.6}, data_fingerprint="sha256:ffff")
    with pytest.raises(MMBenchError, match=r"data fingerprint differs.*re-run the baseline"):
        compare(base, other_data)
    other_task = write_result(tmp_path / "t.json", {"i2t_R@1": 0.6}, task="flickr-retrieval")
    with pytest.raises(MMBenchError, match="task differs"):
        compare(base, other_task)


def test_unusable_files_raise(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6})
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
            "hf:a": {"i2t_R@1": 0.60, "i2t_MdR": 3.0},
            "hf:b": {"i2t_R@1": 0.50, "i2t_MdR": 4.0},
            "hf:c": {"i2t_R@1": 0.1},
        },
    )
    new = _leaderboard(
        tmp_path,
        "new",
        {
            "hf:a": {"i2t_R@1": 0.61, "i2t_MdR": 3.0},
            "hf:b": {"i2t_R@1": 0.48, "i2t_MdR": 4.0},
            "hf:d": {"i2t_R@1": 0.2},
        },
    )
    report = compare(base, new, tolerance=0.5)
    assert {(r.model, r.metric): r.status for r in report.rows} == {
        ("hf:a", "i2t_R@1"): "improved",
        ("hf:a", "i2t_MdR"): "ok",
        ("hf:b", "i2t_R@1"): "regressed",
        ("hf:b", "i2t_MdR"): "ok",
    }
    assert report.exit_code == 1
    assert any("only in baseline" in n and "hf:c" in n for n in report.notes)
    assert any("only in new" in n and "hf:d" in n for n in report.notes)
    table = report.format_table()
    assert table.splitlines()[0].split()[:2] == ["model", "metric"]
    assert "hf:b: i2t_R@1" in table.splitlines()[-1]


def test_csv_with_ci_and_text_fingerprints(tmp_path: Path) -> None:
    # A fingerprint that looks like a number must survive the CSV round trip as text.
    kw = {"data_fingerprint": "00123456"}
    base = _leaderboard(tmp_path, "base", {"hf:a": {"i2t_R@1": 0.60}}, **kw)
    res = tmp_path / "ci-results"
    write_result(
        res / "a.json", {"i2t_R@1": 0.59}, model="hf:a", ci={"i2t_R@1": [0.55, 0.65]}, **kw
    )
    build_leaderboard([res], tmp_path / "new", plot=False)
    with_ci = tmp_path / "new" / "coco-retrieval.csv"
    # Baseline 0.59 with CI [0.55, 0.65]; the other file has 0.60: +1 point.
    assert compare(with_ci, base, tolerance=0.5).rows[0].status == "improved"
    row = compare(with_ci, base, tolerance=0.5, use_ci=True).rows[0]
    # Inside the baseline CI: not evidence of a change.
    assert (row.model, row.ci_overlap, row.status) == ("hf:a", True, "ok")
    assert (row.baseline, row.new) == (0.59, 0.6)


def test_csv_mismatches_raise(tmp_path: Path) -> None:
    base = _leaderboard(tmp_path, "base", {"hf:a": {"i2t_R@1": 0.6}})
    v2 = _leaderboard(tmp_path, "v2", {"hf:a": {"i2t_R@1": 0.6}}, version=2)
    with pytest.raises(MMBenchError, match=r"task version differs for hf:a \(1 vs 2\)"):
        compare(base, v2)
    other = _leaderboard(tmp_path, "other", {"hf:z": {"i2t_R@1": 0.6}})
    with pytest.raises(MMBenchError, match="no model in common"):
        compare(base, other)
    with pytest.raises(MMBenchError, match="not a per-task leaderboard CSV"):
        compare(tmp_path / "base" / "summary.csv", tmp_path / "v2" / "summary.csv")
