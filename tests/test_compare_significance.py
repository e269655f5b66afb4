"""`compare` with the runs' samples: paired tests, Holm, the --alpha gate, --json, flipped
samples, and the refusals and warnings about what makes two runs comparable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.result_files import binary_samples, write_result

from mmbench.cli import main
from mmbench.compare import compare
from mmbench.errors import MMBenchError
from mmbench.metrics.paired import mcnemar_exact


def qa_pair(tmp_path: Path, base: list[int], new: list[int], **kw) -> tuple[Path, Path]:
    """Two QA results whose exact_match is the mean of the given 0/1 per-sample values."""
    kw.setdefault("task", "vqa-mini")
    kw.setdefault("n", len(base))
    paths = []
    for name, values in (("base", base), ("new", new)):
        metrics = {"exact_match": sum(values) / len(values)}
        paths.append(
            write_result(tmp_path / f"{name}.json", metrics, samples=binary_samples(values), **kw)
        )
    return paths[0], paths[1]


def test_mcnemar_p_value_of_the_discordant_pairs(tmp_path: Path) -> None:
    # 40 samples: 20 right in both, 10 wrong in both, 1 right only in the baseline, 9 only in new.
    base = [1] * 20 + [0] * 10 + [1] + [0] * 9
    new = [1] * 20 + [0] * 10 + [0] + [1] * 9
    report = compare(*qa_pair(tmp_path, base, new))
    row = report.rows[0]
    assert row.test == "mcnemar" and row.discordant == (1, 9)
    assert row.p_value == 22 / 1024  # 2 * (C(10,0) + C(10,1)) / 2^10
    assert row.p_adjusted == row.p_value  # one metric: Holm changes nothing
    assert row.delta == pytest.approx(20.0)  # (29 - 21) / 40 = +0.2 = +20 points
    lo, hi = row.interval
    assert lo <= 20.0 <= hi and lo > 0
    assert report.bootstrap == {"resamples": 10_000, "seed": 0, "level": 0.95}


def test_alpha_fails_a_real_regression_and_passes_noise(tmp_path: Path) -> None:
    # Real: 30 of 200 answers break, none get fixed (-15 points, McNemar p = 2 / 2^30).
    base = [1] * 120 + [0] * 80
    broken = [1] * 90 + [0] * 30 + [0] * 80
    real = compare(*qa_pair(tmp_path / "real", base, broken), alpha=0.05)
    assert real.rows[0].status == "regressed" and real.exit_code == 1
    assert real.rows[0].p_value == pytest.approx(2 / 2**30)
    # Noise: 6 break and 3 get fixed (-1.5 points, beyond the 0.5 tolerance, p = 260/512).
    noisy = [1] * 114 + [0] * 6 + [1] * 3 + [0] * 77
    gate = compare(*qa_pair(tmp_path / "noise", base, noisy), alpha=0.05)
    assert gate.rows[0].p_value == 260 / 512
    assert gate.rows[0].status == "ok" and gate.exit_code == 0
    # Without --alpha the tolerance alone calls the noise a regression.
    assert compare(*qa_pair(tmp_path / "noise2", base, noisy)).exit_code == 1


def test_holm_over_the_metrics_compared(tmp_path: Path) -> None:
    base = [1] * 20 + [0] * 10 + [1] + [0] * 9
    new = [1] * 20 + [0] * 10 + [0] + [1] * 9
    acc_base = [1] * 30 + [0] * 10
    acc_new = [1] * 25 + [0] * 15  # 5 right only in the baseline: p = 2 / 32
    samples = []
    for name, em, acc in (("base", base, acc_base), ("new", new, acc_new)):
        rows = binary_samples(em)
        for row, value in zip(rows, acc, strict=True):
            row["accuracy"] = float(value)
        metrics = {"exact_match": sum(em) / 40, "accuracy": sum(acc) / 40}
        samples.append(write_result(tmp_path / f"{name}.json", metrics, samples=rows, n=40))
    report = compare(*samples)
    by_name = {r.metric: r for r in report.rows}
    p_em, p_acc = 22 / 1024, 0.0625
    assert by_name["exact_match"].p_value == p_em and by_name["accuracy"].p_value == p_acc
    # Holm, m = 2: the smaller p times 2, the larger times 1, running maximum.
    assert by_name["exact_match"].p_adjusted == pytest.approx(2 * p_em)
    assert by_name["accuracy"].p_adjusted == pytest.approx(max(2 * p_em, p_acc))


def test_corpus_metrics_get_the_paired_bootstrap(tmp_path: Path) -> None:
    # Retrieval: MdR and RSUM are recomputed per resample; R@K is 0/1 per query (McNemar).
    base_samples, new_samples = [], []
    for i in range(60):
        rank = 1 + i % 7
        base_samples.append(
            {"id": str(i), "rank_visual_to_text": rank, "ranks_text_to_visual": [rank, rank + 1]}
        )
        better = max(1, rank - 2)
        new_samples.append(
            {"id": str(i), "rank_visual_to_text": better, "ranks_text_to_visual": [rank, rank + 1]}
        )
    from mmbench.metrics.retrieval import recall_from_ranks

    metrics = []
    for samples in (base_samples, new_samples):
        i2t = [s["rank_visual_to_text"] for s in samples]
        t2i = [r for s in samples for r in s["ranks_text_to_visual"]]
        values = recall_from_ranks(i2t, t2i)
        metrics.append({k: values[k] for k in ("i2t_R@1", "i2t_MdR", "t2i_MdR", "RSUM")})
    base = write_result(tmp_path / "b.json", metrics[0], samples=base_samples, n=60)
    new = write_result(tmp_path / "n.json", metrics[1], samples=new_samples, n=60)
    rows = {r.metric: r for r in compare(base, new).rows}
    assert rows["i2t_R@1"].test == "mcnemar" and rows["i2t_R@1"].status == "improved"
    assert rows["i2t_MdR"].test == "bootstrap" and rows["i2t_MdR"].status == "improved"
    assert rows["i2t_MdR"].interval[1] < 0  # lower ranks: a negative difference throughout
    assert rows["RSUM"].test == "bootstrap" and rows["RSUM"].interval[0] > 0
    # Nothing changed for text queries: the difference is exactly 0 on every resample.
    assert rows["t2i_MdR"].interval == (0.0, 0.0) and rows["t2i_MdR"].p_value == 1.0


def test_samples_must_reproduce_the_stored_metric(tmp_path: Path) -> None:
    base, new = qa_pair(tmp_path, [1, 0, 1, 1], [1, 1, 1, 1])
    data = json.loads(new.read_text(encoding="utf-8"))
    data["metrics"]["exact_match"] = 0.5  # not what its samples give (1.0)
    new.write_text(json.dumps(data), encoding="utf-8")
    report = compare(base, new)
    assert report.rows[0].p_value is None
    assert any("exact_match: not tested" in n and "not the stored 0.5" in n for n in report.notes)


def test_no_samples_means_null_p_values_and_alpha_is_refused(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"exact_match": 0.5}, task="vqa-mini")
    new = write_result(tmp_path / "new.json", {"exact_match": 0.4}, task="vqa-mini")
    report = compare(base, new)
    assert report.rows[0].p_value is None and report.rows[0].p_adjusted is None
    assert any("p_value is null" in n and "samples" in n for n in report.notes)
    with pytest.raises(MMBenchError, match="--alpha needs the per-sample records"):
        compare(base, new, alpha=0.05)
    assert main(["compare", str(base), str(new), "--alpha", "0.05"]) == 2


def test_alpha_is_refused_for_leaderboard_csvs(tmp_path: Path) -> None:
    from mmbench.leaderboard import build_leaderboard

    write_result(tmp_path / "res" / "a.json", {"exact_match": 0.5}, task="vqa-mini")
    build_leaderboard([tmp_path / "res"], tmp_path / "lb", plot=False)
    board = tmp_path / "lb" / "vqa-mini.csv"
    report = compare(board, board)
    assert report.rows[0].p_value is None
    with pytest.raises(MMBenchError, match="leaderboard CSVs"):
        compare(board, board, alpha=0.05)


def test_different_n_or_limit_is_refused(tmp_path: Path) -> None:
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6}, n=5000)
    limited = write_result(tmp_path / "lim.json", {"i2t_R@1": 0.9}, n=50, limit=50)
    with pytest.raises(MMBenchError, match=r"--limit differs \(none vs 50\)"):
        compare(base, limited)
    fewer = write_result(tmp_path / "fewer.json", {"i2t_R@1": 0.6}, n=4999)
    with pytest.raises(MMBenchError, match=r"n differs \(5000 vs 4999 rows selected"):
        compare(base, fewer)
    # 4,997 scored + 3 skipped with --on-error skip: the same 5,000 rows, comparable (a warning).
    skipped = write_result(tmp_path / "skip.json", {"i2t_R@1": 0.6}, n=4997, skipped=3)
    assert compare(base, skipped).warnings == ["skipped samples differ (0 vs 3)"]
    assert main(["compare", str(base), str(limited)]) == 2


def test_configuration_and_environment_differences_are_warned(tmp_path: Path, capsys) -> None:
    env = {"torch": "2.13.0", "transformers": "4.57.0", "cpu": "AMD EPYC"}
    base = write_result(tmp_path / "base.json", {"i2t_R@1": 0.6}, environment=env)
    new = write_result(
        tmp_path / "new.json",
        {"i2t_R@1": 0.6},
        dtype="bfloat16",
        seed=1,
        spec_hash="other",
        model="hf:org/other",
        n=997,
        skipped=3,
        environment={**env, "torch": "2.12.0"},
    )
    report = compare(base, new)
    assert report.warnings == [
        "spec hash differs (spec vs other)",
        "model differs (hf:org/model vs hf:org/other)",
        "dtype differs (float32 vs bfloat16)",
        "seed differs (0 vs 1)",
        "skipped samples differ (0 vs 3)",
        "environment differs: torch 2.13.0 vs 2.12.0",
    ]
    assert main(["compare", str(base), str(new)]) == 0
    assert "warning: dtype differs (float32 vs bfloat16)" in capsys.readouterr().out


def test_json_output_and_flipped_samples(tmp_path: Path, capsys) -> None:
    base_values = [1, 1, 0, 1, 0]
    new_values = [0, 1, 1, 1, 0]
    base, new = qa_pair(tmp_path, base_values, new_values)
    code = main(["compare", str(base), str(new), "--json", "--show", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    metric = out["metrics"][0]
    assert {k: metric[k] for k in ("name", "baseline", "new", "delta", "status")} == {
        "name": "exact_match",
        "baseline": 0.6,
        "new": 0.6,
        "delta": 0.0,
        "status": "ok",
    }
    assert metric["p_value"] == mcnemar_exact(1, 1) == metric["p_adjusted"] == 1.0
    assert out["exit_code"] == 0 and out["verdict"].startswith("OK")
    assert out["bootstrap"]["seed"] == 0 and out["bootstrap"]["resamples"] == 10_000
    # Two samples flipped; --show 1 lists the most informative: the one that broke.
    assert out["flipped_total"] == 2
    assert [(f["id"], f["worse"], f["baseline"], f["new"]) for f in out["flipped"]] == [
        ("q0", True, 1.0, 0.0)
    ]
    flip = out["flipped"][0]
    assert flip["baseline_prediction"] == "answer 0" and flip["references"] == ["gold 0"]

    report = compare(base, new, show=5)
    assert [(f.id, f.worse) for f in report.flipped] == [("q0", True), ("q2", False)]
    text = report.format_table()
    assert "flipped samples: 2 changed" in text and "worse q0: exact_match 1 -> 0" in text


def test_ci_note_does_not_ask_for_an_interval_mmbench_never_computes(tmp_path: Path) -> None:
    metrics = {"CIDEr": 1.2, "METEOR": 0.25, "Bleu_4": 0.3}
    base = write_result(tmp_path / "b.json", metrics, task="coco-captioning")
    new = write_result(tmp_path / "n.json", metrics, task="coco-captioning")
    notes = compare(base, new, use_ci=True).notes
    never = next(n for n in notes if "computes no bootstrap interval" in n)
    assert "METEOR" in never and "--bootstrap" not in never
    rerun = next(n for n in notes if "re-run the baseline with --bootstrap" in n)
    # MdR, RSUM and BLEU get intervals from `run --bootstrap` (recomputed per resample).
    assert "CIDEr" in rerun and "Bleu_4" in rerun and "METEOR" not in rerun


def test_compare_stays_light_and_its_defaults_are_the_paired_tests() -> None:
    import inspect
    import subprocess
    import sys

    from mmbench.metrics.paired import DEFAULT_RESAMPLES, DEFAULT_SEED

    params = inspect.signature(compare).parameters
    assert (params["resamples"].default, params["seed"].default) == (
        DEFAULT_RESAMPLES,
        DEFAULT_SEED,
    )
    # The CLI imports compare to build its --help text: no numpy until a comparison runs.
    code = "import sys, mmbench.compare; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_grouped_samples_get_the_group_bootstrap_not_mcnemar(tmp_path: Path) -> None:
    # MME-style: two questions per image; accuracy is a mean of 0/1, but the pair is one unit.
    paths = []
    for name, values in (("base", [1, 1, 1, 0] * 5), ("new", [1, 0, 0, 0] * 5)):
        samples = binary_samples(values, key="accuracy")
        for i, sample in enumerate(samples):
            sample["group"] = f"img{i // 2:02d}"
        metrics = {"accuracy": sum(values) / len(values)}
        paths.append(write_result(tmp_path / f"{name}.json", metrics, samples=samples, n=20))
    row = compare(*paths).rows[0]
    assert row.test == "bootstrap" and row.discordant is None and row.p_value is not None
