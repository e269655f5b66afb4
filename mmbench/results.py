"""The result record of one (model, task) evaluation, and its atomic JSON / JSONL writers.

Schema (docs/architecture.md, "Result JSON")::

    {"mmbench_version", "task": {name, version, spec_hash, data_fingerprint, n, limit},
     "model": {uri, fingerprint, ...}, "config": {device, dtype, batch_size, world_size, seed, ...},
     "metrics": {name: value}, "ci": {name: [lo, hi]}, "timing": {total_s, model_s, items_per_s},
     "failures": {count, examples}, "created_at", "git_commit",
     "breakdown": {category: {metric: value, "n": count}} (tasks with per-category scores)}

Files are written to a temporary file in the same directory and renamed into place, so a reader
never sees half a result even if the process is killed mid-write.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError

RESULT_KEYS = (
    "mmbench_version",
    "task",
    "model",
    "config",
    "metrics",
    "ci",
    "timing",
    "failures",
    "created_at",
    "git_commit",
)


@dataclass
class TaskInfo:
    name: str
    version: int
    spec_hash: str
    data_fingerprint: str
    n: int
    limit: int | None = None
    type: str = ""
    headline: str = ""


@dataclass
class ModelInfo:
    uri: str
    fingerprint: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    device: str
    dtype: str
    batch_size: int
    world_size: int
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """One evaluation's record; `to_dict` gives the JSON form documented above."""

    mmbench_version: str
    task: TaskInfo
    model: ModelInfo
    config: RunConfig
    metrics: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    failures: dict[str, Any] = field(default_factory=lambda: {"count": 0, "examples": []})
    created_at: str = ""
    git_commit: str | None = None
    #: Per-category metrics, `{category: {metric: value, "n": count}}` (written only when set).
    breakdown: dict[str, dict[str, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        model = data["model"]
        model.update(model.pop("details"))
        config = data["config"]
        config.update(config.pop("extra"))
        if data["breakdown"] is None:
            del data["breakdown"]
        return data

    def file_stem(self) -> str:
        """`<task>__<model>` with the model URI made filesystem-safe."""
        return f"{self.task.name}__{safe_name(self.model.uri)}"


def safe_name(text: str) -> str:
    """Filesystem-safe form of a model URI or task name (keeps letters, digits, '.', '-', '_')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file + fsync + rename in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def finite_float(value: Any) -> float | None:
    """A finite float, or None for missing, empty, non-numeric, NaN or infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_writable(directory: Path) -> None:
    """Fail early, before any model work, when results could not be written to `directory`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mmbench-write-check-"):
            pass
    except OSError as err:
        raise MMBenchError(
            f"cannot write to output directory {str(directory)!r} ({err.strerror});"
            " pass a writable --output-dir"
        ) from err


def write_result(result: Result, samples: Iterable[dict[str, Any]], output_dir: Path) -> Path:
    """Write `<stem>.json` and `<stem>.samples.jsonl` atomically; return the JSON path.

    The per-sample file is written first, so a result JSON on disk always has its samples beside it.
    """
    stem = result.file_stem()
    lines = "".join(
        json.dumps(s, ensure_ascii=False, default=_json_default) + "\n" for s in samples
    )
    atomic_write_text(output_dir / f"{stem}.samples.jsonl", lines)
    path = output_dir / f"{stem}.json"
    atomic_write_text(path, json.dumps(result.to_dict(), indent=2, default=_json_default) + "\n")
    return path


def load_result(path: Path) -> dict[str, Any]:
    """Read a result JSON, checking it has the documented top-level keys."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise MMBenchError(
            f"result file {str(path)!r} is not UTF-8 text; pass files written by `mmbench run`"
        ) from err
    except IsADirectoryError as err:
        raise MMBenchError(f"{str(path)!r} is a directory; pass a result JSON file") from err
    except FileNotFoundError as err:
        raise MMBenchError(f"result file {str(path)!r} does not exist; check the path") from err
    except json.JSONDecodeError as err:
        raise MMBenchError(
            f"result file {str(path)!r} is not valid JSON ({err.msg} at line {err.lineno});"
            " re-run the evaluation to regenerate it"
        ) from err
    if not isinstance(data, dict):
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result (a JSON {type(data).__name__}, not an"
            " object); pass files written by `mmbench run`"
        )
    missing = [k for k in ("task", "model", "metrics") if k not in data]
    if missing:
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result (missing {', '.join(missing)});"
            " pass files written by `mmbench run`"
        )
    return data


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
