"""Result JSONs (and samples JSONL files beside them) in the documented schema, for the tests of
`compare`, `leaderboard` and the significance tests (mmbench/results.py; samples per
docs/architecture.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def result_data(
    metrics: dict[str, float],
    ci: dict[str, list[float]] | None = None,
    model: str = "hf:org/model",
    task: str = "coco-retrieval",
    version: int = 1,
    data_fingerprint: str = "sha256:0123456789abcdef",
    created_at: str = "2024-05-01T12:00:00+00:00",
    n: int = 1000,
    limit: int | None = None,
    dtype: str = "float32",
    seed: int = 0,
    spec_hash: str = "spec",
    skipped: int = 0,
    headline: str | None = None,
    task_type: str | None = None,
    environment: dict[str, Any] | None = None,
    fingerprint: str | None = None,
    config_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result JSON's content."""
    task_info: dict[str, Any] = {
        "name": task,
        "version": version,
        "spec_hash": spec_hash,
        "data_fingerprint": data_fingerprint,
        "n": n,
        "limit": limit,
    }
    if headline is not None:
        task_info["headline"] = headline
    if task_type is not None:
        task_info["type"] = task_type
    data: dict[str, Any] = {
        "mmbench_version": "0.1.0",
        "task": task_info,
        "model": {"uri": model, "fingerprint": fingerprint or f"fp-{model}"},
        "config": {
            "device": "cpu",
            "dtype": dtype,
            "batch_size": 8,
            "world_size": 1,
            "seed": seed,
            **(config_extra or {}),
        },
        "metrics": metrics,
        "ci": ci or {},
        "timing": {"total_s": 1.0, "model_s": 0.5, "items_per_s": 100.0},
        "failures": {"count": skipped, "examples": []},
        "created_at": created_at,
        "git_commit": None,
    }
    if environment is not None:
        data["environment"] = environment
    return data


def write_result(
    path: Path, metrics: dict[str, float], samples: list[dict[str, Any]] | None = None, **kw: Any
) -> Path:
    """Write `path` (a result JSON) and, when `samples` is given, `<stem>.samples.jsonl`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_data(metrics, **kw)), encoding="utf-8")
    if samples is not None:
        lines = "".join(json.dumps(s) + "\n" for s in samples)
        path.with_name(path.name[: -len(".json")] + ".samples.jsonl").write_text(
            lines, encoding="utf-8"
        )
    return path


def binary_samples(values: list[int], key: str = "exact_match") -> list[dict[str, Any]]:
    """One QA-style sample per 0/1 value, ids "q0", "q1", ..."""
    return [
        {"id": f"q{i}", "prediction": f"answer {i}", "answers": [f"gold {i}"], key: float(v)}
        for i, v in enumerate(values)
    ]
