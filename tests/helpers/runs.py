"""In-process `mmbench run`s whose results tests compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run_outcome(output_dir: Path, task: str, model: str, models: Any = None, **kwargs) -> Any:
    """`mmbench run` in process without the output cache or progress bar, written to
    `output_dir`: the runner's outcome (its result and the result file's path). `models` (a
    `mmbench.suite.ModelPool`) shares one loaded model between runs; `kwargs` are further
    `RunRequest` fields."""
    from mmbench.runner import RunRequest, run

    request = RunRequest(
        model=model, task=task, output_dir=output_dir, use_cache=False, progress=False, **kwargs
    )
    return run(request, models=models)


def run_task(tmp_path: Path, task: str, model: str, models: Any = None, **kwargs) -> dict:
    """`run_outcome` written under `tmp_path`: the result's metrics and its per-sample records."""
    outcome = run_outcome(tmp_path, task, model, models, **kwargs)
    stem = outcome.path.name[: -len(".json")]
    lines = (outcome.path.parent / f"{stem}.samples.jsonl").read_text().splitlines()
    return {"metrics": outcome.result.metrics, "samples": [json.loads(x) for x in lines]}


def assert_all_metrics(result: dict, spec: Any) -> None:
    """The result JSON holds every metric the task spec asks for, each a finite number (METEOR
    may be missing where Java is: the run then reports it under failures.metric_errors)."""
    import math
    import shutil

    name = spec.name
    missing = [m for m in spec.metrics if m not in result["metrics"]]
    if missing == ["METEOR"] and shutil.which("java") is None:
        missing = []
    assert not missing, f"{name}: metrics missing from the result: {missing}"
    for metric, value in result["metrics"].items():
        assert isinstance(value, (int, float)) and math.isfinite(value), (name, metric, value)
