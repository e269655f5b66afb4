"""Builders for `mmbench report` tests: result JSONs and samples written by hand (no model runs),
and a small captioning task whose images are generated PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: a prediction and a reference that would run script if a page parsed them as HTML
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "</script><script>window.__xss=2</script>"
XSS_MODEL = "py:evil<b onmouseover=alert(1)>model</b>"
TOY_TASK = "report-toy"
TOY_IDS = ("s0", "s1", "s2", "s3", "s4", "s5")
#: per-sample CIDEr of the two toy models: A fails s1, s3; B fails s0, s3 (a score of 0)
CIDER_A = (1.2, 0.0, 0.5, 0.0, 0.3, 0.9)
CIDER_B = (0.0, 0.4, 0.5, 0.0, 0.8, 0.9)
PRED_A = ("a red square", "a blank", XSS_IMG, "same", "a yellow square", "same five")
PRED_B = ("nothing", "a green square", "a blue square", "same", XSS_SCRIPT, "same five")
COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (200, 30, 200), (9, 9, 9))


def write_toy_task(folder: Path) -> Path:
    """A captioning task YAML `report-toy` over 6 generated 48x32 PNGs; returns its folder
    (put it on MMBENCH_TASKS_PATH)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for rid, colour in zip(TOY_IDS, COLOURS, strict=True):
        Image.new("RGB", (48, 32), colour).save(folder / f"{rid}.png")
        refs = [f"a square number {rid}", XSS_SCRIPT if rid == "s0" else "a coloured square"]
        rows.append({"id": rid, "image": f"{rid}.png", "captions": refs})
    (folder / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / f"{TOY_TASK}.yaml").write_text(
        f"name: {TOY_TASK}\ntype: captioning\nversion: 1\n"
        "source: {local: toy.jsonl}\ncolumns: {id: id, image: image, references: captions}\n"
        "metrics: [CIDEr, Bleu_1]\nheadline: CIDEr\n"
    )
    return folder


def write_result(
    out: Path,
    task: str,
    model: str,
    metrics: dict[str, float],
    samples: list[dict[str, Any]],
    *,
    ci: dict[str, list[float]] | None = None,
    headline: str = "",
    fingerprint: str = "",
    timing: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
    device: str = "cpu",
    created_at: str = "2026-01-01T00:00:00+00:00",
    stem: str | None = None,
) -> Path:
    """A result JSON in `mmbench run`'s schema plus its `.samples.jsonl`; returns the JSON path."""
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or f"{task}__{abs(hash(model)) % 10**8}"
    data = {
        "mmbench_version": "0.1.0",
        "task": {
            "name": task,
            "version": 1,
            "spec_hash": "x",
            "data_fingerprint": fingerprint,
            "n": len(samples),
            "limit": None,
            "type": "captioning",
            "headline": headline or next(iter(metrics)),
        },
        "model": {"uri": model, "fingerprint": model},
        "config": {"device": device, "dtype": "float32", "batch_size": 8, "world_size": 1},
        "metrics": metrics,
        "ci": ci or {},
        "timing": timing or {"total_s": 1.0, "items_per_s": float(len(samples))},
        "failures": {"count": 0, "examples": []},
        "created_at": created_at,
        "git_commit": None,
    }
    if environment is not None:
        data["environment"] = environment
    lines = "".join(json.dumps(s) + "\n" for s in samples)
    (out / f"{stem}.samples.jsonl").write_text(lines)
    path = out / f"{stem}.json"
    path.write_text(json.dumps(data))
    return path


def toy_samples(preds: tuple[str, ...], cider: tuple[float, ...]) -> list[dict[str, Any]]:
    return [
        {"id": rid, "prediction": p, "scores": {"CIDEr": c, "Bleu_1": c / 2}}
        for rid, p, c in zip(TOY_IDS, preds, cider, strict=True)
    ]


def read_data(path: Path) -> Any:
    """The JSON value of a report data file (`mmbenchData(key, value);`)."""
    text = path.read_text()
    assert text.startswith("mmbenchData(") and text.endswith(");\n")
    _key, _, value = text[len("mmbenchData(") : -3].partition(",")
    return json.loads(value)


def build_toy_inputs(root: Path) -> tuple[Path, Path]:
    """Results of two models on `report-toy` (images available) and of one model on a task
    whose data is not available; returns (results folder, task folder). The caller puts the task
    folder on MMBENCH_TASKS_PATH."""
    from mmbench.data.sources import open_source
    from mmbench.tasks import read_spec

    tasks = write_toy_task(root / "tasks")
    spec = read_spec(tasks / f"{TOY_TASK}.yaml")
    fingerprint = open_source(spec.source).fingerprint
    results = root / "results"
    write_result(
        results,
        TOY_TASK,
        "py:toy_a",
        {"CIDEr": 0.483, "Bleu_1": 0.5},
        toy_samples(PRED_A, CIDER_A),
        ci={"CIDEr": [0.2, 0.8]},
        fingerprint=fingerprint,
        timing={"total_s": 3.2, "items_per_s": 12.5, "peak_gpu_memory_mb": 2048.0},
        environment={"gpus": ["NVIDIA H100 80GB HBM3"], "cpu": "Some CPU"},
        device="cuda:0",
        stem="toy_a",
    )
    write_result(
        results,
        TOY_TASK,
        XSS_MODEL,
        {"CIDEr": 0.417, "Bleu_1": 0.6},
        toy_samples(PRED_B, CIDER_B),
        ci={"CIDEr": [0.1, 0.7]},
        fingerprint=fingerprint,
        environment={"gpus": [], "cpu": "Some CPU"},
        stem="toy_b",
    )
    write_result(
        results,
        "ghost-task",
        "py:toy_a",
        {"accuracy": 0.5},
        [{"id": "g0", "correct": True}, {"id": "g1", "correct": False}],
        stem="ghost",
    )
    return results, tasks


def build_toy_report(root: Path) -> tuple[Path, Any]:
    """`build_toy_inputs` under `root`, reported into `root / "site"` with the toy task folder on
    MMBENCH_TASKS_PATH (restored after); returns (site folder, the report's summary)."""
    import pytest

    from mmbench.report import build_report

    results, tasks = build_toy_inputs(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMBENCH_TASKS_PATH", str(tasks))
        summary = build_report([results], root / "site")
    return root / "site", summary
