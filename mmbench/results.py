"""The result record of one (model, task) evaluation, and its atomic JSON / JSONL writers.

Schema (docs/architecture.md, "Result JSON")::

    {"mmbench_version", "task": {name, version, spec_hash, data_fingerprint, n, limit},
     "model": {uri, fingerprint, ...}, "config": {device, dtype, batch_size, world_size, seed, ...},
     "metrics": {name: value}, "ci": {name: [lo, hi]}, "timing": {total_s, model_s, items_per_s},
     "failures": {count, examples}, "created_at", "git_commit",
     "breakdown": {category: {metric: value, "n": count}} (tasks with per-category scores),
     "environment": {python, platform, cpu, torch, cuda, cudnn, transformers, datasets, numpy,
                     pillow, av, mmbench, gpus, gpu_driver, world_size}}

Files are written to a temporary file in the same directory and renamed into place, so a reader
never sees half a result even if the process is killed mid-write; they get the permissions the
user's umask gives a new file, as `open()` would.

File names (docs/architecture.md, "Result files"): `<task>__<safe uri>-<sha8 of the uri>` plus
`__limit-N` for a `--limit` run, `.json` and `.samples.jsonl`. The URI digest keeps apart URIs
whose safe forms coincide (`hf:/a/run1/best`, `hf:/a/run1_best`). A rerun replaces the file of
the same name only when its configuration (`config_identity`) is the same; otherwise the new
result goes beside it as `<stem>__cfg-<sha8 of the configuration>.json`, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError

logger = logging.getLogger(__name__)
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
    "environment",
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
    #: `mmbench.environment.environment_record()` (written only when set)
    environment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        model = data["model"]
        model.update(model.pop("details"))
        config = data["config"]
        config.update(config.pop("extra"))
        for optional in ("breakdown", "environment"):
            if data[optional] is None:
                del data[optional]
        return data

    def file_stem(self) -> str:
        """`<task>__<safe uri>-<sha8 of the uri>[__limit-N]` (see `result_stem`)."""
        return result_stem(self.task.name, self.model.uri, self.task.limit)


def result_stem(task: str, uri: str, limit: int | None = None) -> str:
    """The file name stem of a result: `<task>__<safe uri>-<sha8 of the uri>[__limit-N]`,
    where sha8 is the first 8 hex digits of the SHA-256 of the URI's UTF-8 bytes."""
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:8]
    stem = f"{safe_name(task)}__{safe_name(uri)}-{digest}"
    return stem if limit is None else f"{stem}__limit-{limit}"


def config_identity(data: dict[str, Any]) -> dict[str, Any]:
    """What makes two results of one (task, model URI, limit) comparable: spec hash, data
    fingerprint, dtype, seed, model args and generation settings (from a result's JSON form)."""
    task, config, model = (
        data.get(k) if isinstance(data.get(k), dict) else {} for k in ("task", "config", "model")
    )
    return {
        "spec_hash": task.get("spec_hash"),
        "data_fingerprint": task.get("data_fingerprint"),
        "dtype": config.get("dtype"),
        "seed": config.get("seed"),
        "model_args": config.get("model_args", model.get("model_args")) or {},
        "generation": model.get("generation") or config.get("generation") or {},
    }


def config_hash(data: dict[str, Any]) -> str:
    """First 8 hex digits of the SHA-256 of `config_identity` as sorted-key JSON."""
    text = json.dumps(config_identity(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


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
        # mkstemp makes the file 0600; a result is a normal file, readable as the umask allows
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask: from /proc on Linux (a read that changes nothing), else by setting
    it and putting it back at once (another thread could create a file in between)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


#: the top-level sections every result JSON has
RESULT_SECTIONS = ("task", "model", "metrics")


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


def check_result_path(output_dir: Path, stem: str) -> None:
    """Fail before any model work when a result file's name is taken by a folder."""
    for name in (f"{stem}.json", f"{stem}.samples.jsonl"):
        if (output_dir / name).is_dir():
            raise MMBenchError(
                f"result path {output_dir / name} is a directory; move it away or pass another"
                " --output-dir"
            )


def write_result(result: Result, samples: Iterable[dict[str, Any]], output_dir: Path) -> Path:
    """Write `<stem>.json` and `<stem>.samples.jsonl` atomically; return the JSON path.

    The per-sample file is written first, so a result JSON on disk always has its samples beside it.
    An existing result of another configuration is kept: the new one gets `__cfg-<hash>` (module
    docstring).
    """
    stem = result.file_stem()
    data = result.to_dict()
    existing = output_dir / f"{stem}.json"
    if existing.exists() and _existing_config(existing) != config_hash(data):
        beside = f"{stem}__cfg-{config_hash(data)}"
        logger.warning(
            "%s holds a result of another configuration (spec hash, data, dtype, seed, model"
            " args or generation settings differ); it is kept and this run is written as %s.json",
            existing,
            beside,
        )
        stem = beside
    check_result_path(output_dir, stem)
    lines = "".join(
        json.dumps(s, ensure_ascii=False, default=_json_default) + "\n" for s in samples
    )
    atomic_write_text(output_dir / f"{stem}.samples.jsonl", lines)
    path = output_dir / f"{stem}.json"
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")
    return path


def write_result_at(result: Result, samples: Iterable[dict[str, Any]], path: Path) -> Path:
    """Write the result JSON to `path` exactly (`--output FILE`: the user chose it, so an existing
    file is replaced) and the samples beside it as `<path without .json>.samples.jsonl`."""
    path = Path(path)
    if path.is_dir():
        raise MMBenchError(
            f"--output {path} is a directory; pass a file path such as {path}/r.json"
        )
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    lines = "".join(
        json.dumps(s, ensure_ascii=False, default=_json_default) + "\n" for s in samples
    )
    atomic_write_text(path.with_name(f"{stem}.samples.jsonl"), lines)
    atomic_write_text(path, json.dumps(result.to_dict(), indent=2, default=_json_default) + "\n")
    return path


def _existing_config(path: Path) -> str | None:
    """The configuration hash of the result at `path`, or None when it cannot be read as one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return config_hash(data) if isinstance(data, dict) else None


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
    missing = [k for k in RESULT_SECTIONS if k not in data]
    if missing:
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result (missing {', '.join(missing)});"
            " pass files written by `mmbench run`"
        )
    return data


def has_result_sections(data: Any) -> bool:
    """Whether parsed JSON is an object holding every one of `RESULT_SECTIONS` (what tells a
    result apart from other JSON files found in a folder)."""
    return isinstance(data, dict) and all(k in data for k in RESULT_SECTIONS)


@dataclass(frozen=True)
class ResultSections:
    """What every reader of result files keys on: the task and model objects, the metric
    values as finite floats (None where not a finite number) and the valid intervals."""

    task: dict[str, Any]
    model: dict[str, Any]
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float]]


def result_sections(path: Path, data: dict[str, Any]) -> ResultSections:
    """The sections of the result `data` read from `path`; a one-line `MMBenchError` when the
    task has no name, the metrics are not an object or the model has no uri. `ci` entries that
    are not two finite numbers (a hand-edited or older result) are left out."""
    task, model, metrics = data.get("task"), data.get("model"), data.get("metrics")
    if not (isinstance(task, dict) and "name" in task and isinstance(metrics, dict)):
        raise MMBenchError(f"{str(path)!r} is not an mmbench result (malformed task or metrics)")
    if not (isinstance(model, dict) and "uri" in model):
        raise MMBenchError(f"{str(path)!r} is not an mmbench result (model has no uri)")
    intervals: dict[str, tuple[float, float]] = {}
    for name, bounds in (data.get("ci") or {}).items():
        if isinstance(bounds, list | tuple) and len(bounds) == 2:
            lo, hi = finite_float(bounds[0]), finite_float(bounds[1])
            if lo is not None and hi is not None:
                intervals[str(name)] = (lo, hi)
    values = {str(k): finite_float(v) for k, v in metrics.items()}
    return ResultSections(task, model, values, intervals)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
