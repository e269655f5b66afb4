"""`build_leaderboard`: tables, summary, Markdown, plots, grouping rules, duplicates, locking."""

from __future__ import annotations

import csv
import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.result_files import result_data

from mmbench import leaderboard
from mmbench.errors import MMBenchError
from mmbench.leaderboard import build_leaderboard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_result(
    directory: Path,
    model: str,
    task: str = "coco-retrieval",
    metrics: dict[str, float] | None = None,
    name: str | None = None,
    **fields: Any,
) -> Path:
    """Write a result JSON with the documented schema (mmbench/results.py) and return its path;
    `fields` are `helpers.result_files.result_data`'s (ci, version, n, headline, task_type, ...)."""
    fields = {
        "data_fingerprint": "sha256:aaaaaaaabbbbbbbb",
        "n": 100,
        "spec_hash": "spec123",
    } | fields
    metrics = metrics if metrics is not None else {"t2i_R@5": 0.5, "i2t_R@5": 0.6}
    data = result_data(metrics, model=model, task=task, **fields)
    data["timing"]["items_per_s"] = 200.0
    stem = name or f"{task}__{model.replace(':', '_').replace('/', '_')}"
    path = directory / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Three models on a retrieval task (one with CIs) and two on a captioning task."""
    res = tmp_path / "results"
    write_result(
        res,
        "hf:a",
        metrics={"t2i_R@5": 0.50, "i2t_R@5": 0.61, "t2i_MdR": 3.0},
        ci={"t2i_R@5": [0.45, 0.55]},
        task_type="retrieval",
    )
    write_result(res, "hf:b", metrics={"t2i_R@5": 0.70, "i2t_R@5": 0.55, "t2i_MdR": 2.0})
    write_result(res / "nested", "builtin:random", metrics={"t2i_R@5": 0.01, "i2t_R@5": 0.02})
    captioning = {"task": "coco-captions", "headline": "CIDEr", "task_type": "captioning"}
    for model, bleu, cider in (("hf:a", 0.30, 1.10), ("hf:b", 0.35, 1.05)):
        write_result(res, model, metrics={"Bleu_4": bleu, "CIDEr": cider}, **captioning)
    # Things a results folder also holds, which must be skipped.
    (res / "coco-retrieval__hf_a.samples.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    (res / "config.json").write_text('{"seed": 0}', encoding="utf-8")
    return res


def test_task_csv_columns_order_and_values(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb"
    report = build_leaderboard([results], out, plot=False)

    path = out / "coco-retrieval.csv"
    assert header_of(path) == [
        "model",
        "t2i_R@5",
        "t2i_R@5_ci_lo",
        "t2i_R@5_ci_hi",
        "i2t_R@5",
        "t2i_MdR",
        "n",
        "limit",
        "skipped",
        "config",
        "dtype",
        "seed",
        "items_per_s",
        "wall_s",
        "peak_gpu_memory_mb",
        "tokens_per_s",
        "requests",
        "tokens",
        "hardware",
        "task",
        "task_version",
        "data_fingerprint",
        "model_fingerprint",
        "mmbench_version",
        "date",
    ]
    rows = read_csv(path)
    # Sorted by the headline (first metric: t2i_R@5), best first.
    assert [r["model"] for r in rows] == ["hf:b", "hf:a", "builtin:random"]
    a = rows[1]
    assert float(a["t2i_R@5"]) == 0.50
    assert (float(a["t2i_R@5_ci_lo"]), float(a["t2i_R@5_ci_hi"])) == (0.45, 0.55)
    assert a["n"] == "100" and a["task_version"] == "1" and a["task"] == "coco-retrieval"
    assert a["data_fingerprint"] == "sha256:aaaaaaaabbbbbbbb"
    assert a["model_fingerprint"] == "fp-hf:a" and a["mmbench_version"] == "0.1.0"
    assert a["date"] == "2024-05-01T12:00:00+00:00"
    assert rows[0]["t2i_R@5_ci_lo"] == "" and rows[2]["t2i_MdR"] == ""  # absent, not zero
    assert report.n_results == 5
    assert report.warnings == []


def test_headline_from_task_field_goes_first(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb"
    build_leaderboard([results], out, plot=False)
    path = out / "coco-captions.csv"
    assert header_of(path)[:3] == ["model", "CIDEr", "Bleu_4"]
    assert [r["model"] for r in read_csv(path)] == ["hf:a", "hf:b"]  # by CIDEr, not Bleu_4


def test_lower_is_better_headline_sorts_ascending(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", metrics={"t2i_MdR": 4.0})
    write_result(res, "m2", metrics={"t2i_MdR": 2.0})
    build_leaderboard([res], tmp_path / "lb", plot=False)
    assert [r["model"] for r in read_csv(tmp_path / "lb" / "coco-retrieval.csv")] == ["m2", "m1"]


def test_summary_csv_and_markdown(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb"
    report = build_leaderboard([results], out, plot=False)

    assert header_of(out / "summary.csv") == [
        "model",
        "coco-captions/CIDEr",
        "coco-captions/n",
        "coco-retrieval/t2i_R@5",
        "coco-retrieval/n",
    ]
    rows = {r["model"]: r for r in read_csv(out / "summary.csv")}
    assert list(rows) == ["builtin:random", "hf:a", "hf:b"]
    assert float(rows["hf:a"]["coco-captions/CIDEr"]) == 1.10
    assert float(rows["hf:b"]["coco-retrieval/t2i_R@5"]) == 0.70
    assert rows["builtin:random"]["coco-captions/CIDEr"] == ""
    assert (
        rows["hf:a"]["coco-captions/n"] == "100" and rows["builtin:random"]["coco-captions/n"] == ""
    )

    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| model | coco-captions/CIDEr | coco-retrieval/t2i_R@5 |" in md
    assert "|---|---:|---:|" in md
    # The headline's interval in the same cell, and n in every cell.
    assert "| hf:a | 1.1000 (n=100) | 0.5000 [0.4500, 0.5500] (n=100) |" in md
    assert "| builtin:random |  | 0.0100 (n=100) |" in md

    task_md = (out / "coco-retrieval.md").read_text(encoding="utf-8")
    assert "| model | t2i_R@5 | i2t_R@5 | t2i_MdR | n |" in task_md
    assert "| hf:a | 0.5000 [0.4500, 0.5500] | 0.6100 | 3.0000 | 100 |" in task_md
    assert "| hf:b | 0.7000 | 0.5500 | 2.0000 | 100 |" in task_md
    # Provenance lives in the CSV, not in the Markdown view.
    assert "fp-hf:a" not in task_md and "_ci_lo" not in task_md
    assert "Sorted by `t2i_R@5` (higher is better)" in task_md
    assert {p.name for p in report.written} >= {
        "coco-retrieval.csv",
        "coco-retrieval.md",
        "coco-captions.csv",
        "coco-captions.md",
        "summary.csv",
        "summary.md",
    }


def test_png_per_task_family(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb"
    report = build_leaderboard([results], out)
    pngs = sorted(p.name for p in out.glob("*.png"))
    # coco-retrieval's newest result says type "retrieval"; coco-captions is "captioning".
    assert pngs == ["captioning.png", "retrieval.png"]
    for name in pngs:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
        assert out / name in report.written
    from matplotlib.image import imread

    image = imread(out / "retrieval.png")
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_family_falls_back_to_task_name_and_no_plot_flag(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", task="vqa-mini", metrics={"vqa_accuracy": 0.4})
    build_leaderboard([res], tmp_path / "lb")
    assert (tmp_path / "lb" / "vqa-mini.png").read_bytes().startswith(PNG_MAGIC)
    build_leaderboard([res], tmp_path / "noplot", plot=False)
    assert not list((tmp_path / "noplot").glob("*.png"))


def test_versions_and_fingerprints_kept_apart(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", version=2, metrics={"i2t_R@1": 0.30}, name="new1")
    write_result(res, "m2", version=2, metrics={"i2t_R@1": 0.20}, name="new2")
    write_result(res, "m1", version=1, metrics={"i2t_R@1": 0.90}, name="old1")
    write_result(
        res,
        "m3",
        version=2,
        data_fingerprint="sha256:ccccccccdddd",
        created_at="2024-01-01T00:00:00+00:00",
        metrics={"i2t_R@1": 0.99},
        name="otherdata",
    )
    out = tmp_path / "lb"
    report = build_leaderboard([res], out, plot=False)

    main = read_csv(out / "coco-retrieval.csv")
    assert [(r["model"], r["task_version"]) for r in main] == [("m1", "2"), ("m2", "2")]
    assert {r["data_fingerprint"] for r in main} == {"sha256:aaaaaaaabbbbbbbb"}
    old = read_csv(out / "coco-retrieval@v1-aaaaaaaa.csv")
    assert [(r["model"], r["i2t_R@1"]) for r in old] == [("m1", "0.9")]
    other = read_csv(out / "coco-retrieval@v2-cccccccc.csv")
    assert [(r["model"], r["i2t_R@1"]) for r in other] == [("m3", "0.99")]
    assert (out / "coco-retrieval@v1-aaaaaaaa.md").exists()

    # The summary only carries the newest group: the 0.99 / 0.90 never mix with version 2 data.
    summary = {r["model"]: r["coco-retrieval/i2t_R@1"] for r in read_csv(out / "summary.csv")}
    assert summary == {"m1": "0.3", "m2": "0.2"}
    assert len(report.warnings) == 2
    v1 = next(w for w in report.warnings if "@v1-" in w)
    assert "task version 1" in v1 and "old1.json" in v1
    assert any("otherdata.json" in w and "@v2-cccccccc.csv" in w for w in report.warnings)


def test_version_ordering_is_numeric(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", version=10, metrics={"i2t_R@1": 0.1}, created_at="2024-01-01T00:00:00Z")
    write_result(res, "m2", version=9, metrics={"i2t_R@1": 0.2}, created_at="2024-06-01T00:00:00Z")
    build_leaderboard([res], tmp_path / "lb", plot=False)
    assert read_csv(tmp_path / "lb" / "coco-retrieval.csv")[0]["task_version"] == "10"


def test_duplicates_keep_newest_with_warning(tmp_path: Path) -> None:
    res = tmp_path / "res"
    older = write_result(
        res, "m1", metrics={"i2t_R@1": 0.1}, created_at="2024-05-01T10:00:00+00:00", name="run1"
    )
    newer = write_result(
        res, "m1", metrics={"i2t_R@1": 0.2}, created_at="2024-05-02T10:00:00+00:00", name="run2"
    )
    out = tmp_path / "lb"
    # Passing a file and its folder must not count it twice.
    report = build_leaderboard([res, newer], out, plot=False)
    rows = read_csv(out / "coco-retrieval.csv")
    assert [(r["model"], r["i2t_R@1"], r["date"]) for r in rows] == [
        ("m1", "0.2", "2024-05-02T10:00:00+00:00")
    ]
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert "duplicate" in warning and str(older) in warning and str(newer) in warning
    assert warning.index(str(newer)) < warning.index(str(older))  # "kept <new>, ignored <old>"


def test_limited_runs_left_out_unless_asked_and_then_marked(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", metrics={"t2i_R@5": 0.5}, n=1000, name="full")
    # A --limit 50 run of the same model, newer and better: must never replace the full row.
    write_result(
        res,
        "m1",
        metrics={"t2i_R@5": 0.9},
        n=50,
        limit=50,
        created_at="2024-06-01T00:00:00+00:00",
        name="limited",
    )
    report = build_leaderboard([res], tmp_path / "lb", plot=False)
    rows = read_csv(tmp_path / "lb" / "coco-retrieval.csv")
    assert [(r["model"], r["t2i_R@5"], r["n"], r["limit"]) for r in rows] == [
        ("m1", "0.5", "1000", "")
    ]
    assert any("left out 1 --limit run" in w and "limited.json" in w for w in report.warnings)

    build_leaderboard([res], tmp_path / "all", plot=False, include_limited=True)
    rows = read_csv(tmp_path / "all" / "coco-retrieval.csv")
    assert sorted((r["t2i_R@5"], r["n"], r["limit"]) for r in rows) == [
        ("0.5", "1000", ""),
        ("0.9", "50", "50"),
    ]
    md = (tmp_path / "all" / "coco-retrieval.md").read_text(encoding="utf-8")
    assert "| m1 (limit 50) | 0.9000 | 50 |" in md and "| m1 | 0.5000 | 1000 |" in md

    only = tmp_path / "only"
    write_result(only, "m1", metrics={"t2i_R@5": 0.9}, limit=50)
    with pytest.raises(MMBenchError, match="--include-limited"):
        build_leaderboard([only], tmp_path / "x", plot=False)


def test_other_configurations_are_kept_as_rows_with_a_note(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "hf:a", metrics={"t2i_R@5": 0.50}, name="fp32")
    write_result(
        res,
        "hf:a",
        metrics={"t2i_R@5": 0.49},
        dtype="bfloat16",
        created_at="2024-06-01T00:00:00+00:00",
        name="bf16",
    )
    write_result(res, "hf:b", metrics={"t2i_R@5": 0.40})
    report = build_leaderboard([res], tmp_path / "lb", plot=False)
    rows = read_csv(tmp_path / "lb" / "coco-retrieval.csv")
    assert [(r["model"], r["config"], r["dtype"], r["t2i_R@5"]) for r in rows] == [
        ("hf:a", "dtype=float32", "float32", "0.5"),
        ("hf:a", "dtype=bfloat16", "bfloat16", "0.49"),
        ("hf:b", "", "float32", "0.4"),
    ]
    assert any(
        "hf:a on coco-retrieval: 2 configurations kept as separate rows" in w
        for w in report.warnings
    )
    summary = read_csv(tmp_path / "lb" / "summary.csv")
    assert [r["model"] for r in summary] == [
        "hf:a [dtype=bfloat16]",
        "hf:a [dtype=float32]",
        "hf:b",
    ]
    # compare reads such a CSV row by row (model and configuration).
    from mmbench.compare import compare

    report = compare(tmp_path / "lb" / "coco-retrieval.csv", tmp_path / "lb" / "coco-retrieval.csv")
    assert {r.model for r in report.rows} == {
        "hf:a [dtype=float32]",
        "hf:a [dtype=bfloat16]",
        "hf:b",
    }


def test_plot_labels_n_whiskers_and_values_at_the_bar() -> None:
    from dataclasses import dataclass, field

    from matplotlib.figure import Figure

    from mmbench.leaderboard_plot import _bars

    @dataclass
    class Row:
        label: str
        n: int
        metrics: dict
        ci: dict = field(default_factory=dict)

    rows = [
        Row("hf:a", 500, {"t2i_R@5": 0.6}, {"t2i_R@5": (0.5, 0.7)}),
        Row("hf:b", 500, {"t2i_R@5": 0.05}),
    ]
    ax = Figure().subplots()
    _bars(ax, "coco-retrieval (v1)", "t2i_R@5", rows)
    assert "95% bootstrap interval" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["hf:a (n=500)", "hf:b (n=500)"]
    labels = {t.get_text().strip(): t.get_position()[0] for t in ax.texts}
    # At the bar's end (0.6), not at the whisker's end (0.7).
    assert labels == {"0.6000": 0.6, "0.0500": 0.05}


def test_inputs_errors(tmp_path: Path) -> None:
    with pytest.raises(MMBenchError, match="does not exist"):
        build_leaderboard([tmp_path / "nope"], tmp_path / "lb")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(MMBenchError, match="no mmbench result JSON found"):
        build_leaderboard([empty], tmp_path / "lb")
    with pytest.raises(MMBenchError, match="not an mmbench result"):
        build_leaderboard([empty / "x.json"], tmp_path / "lb")
    other = tmp_path / "other.json"
    other.write_text('{"seed": 1}', encoding="utf-8")
    with pytest.raises(MMBenchError, match="not an mmbench result"):
        build_leaderboard([other], tmp_path / "lb")


def test_broken_json_in_folder_is_a_warning(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_result(res, "m1", metrics={"i2t_R@1": 0.1})
    (res / "truncated.json").write_text('{"task": {"name": ', encoding="utf-8")
    report = build_leaderboard([res], tmp_path / "lb", plot=False)
    assert report.n_results == 1
    assert len(report.warnings) == 1 and "truncated.json" in report.warnings[0]


def test_no_temp_files_left(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb"
    build_leaderboard([results], out)
    build_leaderboard([results], out)
    assert not list(out.glob(".*.tmp"))


# ------------------------------------------------------------------------------ concurrency


def _writer(inputs: list[str], out: str, rounds: int, plot: bool) -> None:
    """Child process body: rebuild the same leaderboard `rounds` times."""
    for _ in range(rounds):
        build_leaderboard([Path(p) for p in inputs], Path(out), plot=plot)


def test_writes_wait_for_the_lock(results: Path, tmp_path: Path, monkeypatch) -> None:
    from filelock import FileLock

    out = tmp_path / "lb"
    out.mkdir()
    holder = FileLock(str(out / ".leaderboard.lock"))
    holder.acquire()
    try:
        worker = threading.Thread(target=build_leaderboard, args=([results], out, False))
        worker.start()
        time.sleep(0.5)
        assert not (out / "summary.csv").exists()  # blocked on the lock, nothing written yet
    finally:
        holder.release()
    worker.join(timeout=30)
    assert (out / "summary.csv").exists()

    holder.acquire()
    try:
        monkeypatch.setattr(leaderboard, "LOCK_TIMEOUT_S", 0.2)
        with pytest.raises(MMBenchError, match=r"\.leaderboard\.lock"):
            build_leaderboard([results], out, plot=False)
    finally:
        holder.release()


@pytest.mark.slow
def test_concurrent_writers_leave_valid_csvs(results: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    build_leaderboard([results], reference, plot=False)
    expected = {
        name: (reference / name).read_text(encoding="utf-8")
        for name in ("coco-retrieval.csv", "coco-captions.csv", "summary.csv", "summary.md")
    }

    out = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    writers = [
        ctx.Process(target=_writer, args=([str(results)], str(out), 20, False)) for _ in range(2)
    ]
    for proc in writers:
        proc.start()
    # Meanwhile read continually: an atomic rename means a reader never sees a partial file.
    reads = 0
    deadline = time.monotonic() + 120
    while any(p.is_alive() for p in writers) and time.monotonic() < deadline:
        for name, text in expected.items():
            path = out / name
            if path.exists():
                assert path.read_text(encoding="utf-8") == text
                reads += 1
    for proc in writers:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    for name, text in expected.items():
        assert (out / name).read_text(encoding="utf-8") == text
    assert not list(out.glob(".*.tmp"))
    assert reads > 0
