"""How the benchmarks measure: wall time per phase of in-process runs, `mmbench run` as a
subprocess, the adapter's device calls alone and `Engine.run` alone, medians and tables."""

from __future__ import annotations

import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.table import format_rows


@contextlib.contextmanager
def phase_timers(extra: tuple[tuple[Any, str, str], ...] = ()):
    """Patch the runner / engine to add up wall time per phase of in-process runs.

    Always timed: `load_model`, `write_result` (as the runner calls them) and `Engine.run`;
    `extra` adds (owner, attribute, label) triples, e.g. (Engine, "_keys", "cache keys").
    """
    import mmbench.runner as runner
    from mmbench.engine import Engine

    targets = [
        (runner, "load_model", "load_model"),
        (runner, "write_result", "write_result"),
        (Engine, "run", "Engine.run"),
        *extra,
    ]
    spent: dict[str, float] = Counter()
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        return wrapper

    for (owner, attr, label), (_, _, fn) in zip(targets, originals, strict=True):
        setattr(owner, attr, timed(label, fn))
    try:
        yield spent
    finally:
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)


def run_in_process(model: str, task: Path, out: Path, workers: int, batch: int, **kw) -> dict:
    from mmbench.runner import RunRequest, run

    with phase_timers() as spent:
        start = time.perf_counter()
        outcome = run(
            RunRequest(
                model=model,
                task=str(task),
                output_dir=out,
                batch_size=batch,
                device="cpu",
                num_workers=workers,
                progress=False,
                **({"use_cache": False} | kw),
            )
        )
        wall = time.perf_counter() - start
    timing = outcome.result.timing
    items = timing["items"]
    return {
        "wall_s": wall,
        "total_s": timing["total_s"],
        "model_s": timing["model_s"],
        "engine_s": spent["Engine.run"],
        "load_s": spent["load_model"],
        "write_s": spent["write_result"],
        "items": items,
        "computed": timing["computed"],
        "items_per_s": timing["items_per_s"],
        "engine_items_per_s": items / spent["Engine.run"],
        "metrics": outcome.result.metrics,
    }


def run_cli(
    model: str, task: Path | str, out: Path, workers: int, batch: int, extra=(), env=None
) -> dict:
    """`mmbench run` in a subprocess (environment `env`, default this one's): its JSON timing plus
    the wall clock around it. The result file is removed, so `out` holds one at a time."""
    command = [str(Path(sys.executable).with_name("mmbench")), "run", "--model", model]
    command += ["--task", str(task), "--output-dir", str(out), "--batch-size", str(batch)]
    command += ["--device", "cpu", "--num-workers", str(workers), "--quiet", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mmbench run failed ({done.returncode}): {done.stderr[-2000:]}")
    (path,) = [p for p in out.glob("*.json")]
    result = json.loads(path.read_text())
    path.unlink()
    return {"wall_s": wall, **result["timing"]}


def model_only(adapter: Any, capability: str, batches: list) -> dict:
    """The adapter's device call alone over pre-collated batches."""
    import torch

    items = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for chunk in batches:
            items += getattr(adapter, capability)(chunk).shape[0]
    seconds = time.perf_counter() - start
    return {"s": seconds, "model_s": seconds, "items": items}


def engine_only(adapter: Any, capability: str, items: list, workers: int, batch: int) -> dict:
    """`Engine.run` (no cache) with the same adapter instance: DataLoader + data path + calls."""
    from mmbench.engine import Engine, EngineConfig

    engine = Engine(adapter, EngineConfig(batch_size=batch, num_workers=workers, progress=False))
    children = _children_cpu_s()
    start = time.perf_counter()
    engine.run(capability, items)
    seconds = time.perf_counter() - start
    return {
        "s": seconds,
        "model_s": engine.stats.model_s,
        "items": len(items),
        "worker_cpu_s": _children_cpu_s() - children,  # DataLoader workers, reaped at the end
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def med(values) -> float:
    return statistics.median(list(values))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """`mmbench.table.format_rows` with floats to 3 decimals."""
    return format_rows(
        headers, [[f"{c:.3f}" if isinstance(c, float) else c for c in row] for row in rows]
    )
