"""Task types (lazy registry) and the benchmark YAML files that instantiate them.

Benchmarks live as one YAML each in the repository's top-level `tasks/` folder, which the wheel
ships as `mmbench/_tasks`; `MMBENCH_TASKS_PATH` (os.pathsep-separated folders) adds more.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError, did_you_mean

if TYPE_CHECKING:
    from mmbench.tasks.base import TaskType
    from mmbench.tasks.spec import TaskSpec

TASK_TYPES: dict[str, str] = {
    "retrieval": "mmbench.tasks.retrieval:RetrievalTask",
    "classification": "mmbench.tasks.classification:ClassificationTask",
    "captioning": "mmbench.tasks.captioning:CaptioningTask",
    "qa": "mmbench.tasks.qa:QATask",
}


def get_task_type(name: str) -> TaskType:
    """Instantiate the task type registered as `name`."""
    target = TASK_TYPES.get(name)
    if target is None:
        raise MMBenchError(
            f"unknown task type {name!r}{did_you_mean(name, TASK_TYPES)};"
            f" known types: {', '.join(TASK_TYPES)}"
        )
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()


def task_dirs() -> list[Path]:
    """Folders searched for task YAMLs, in priority order."""
    here = Path(__file__).resolve().parent.parent
    dirs = [Path(p) for p in os.environ.get("MMBENCH_TASKS_PATH", "").split(os.pathsep) if p]
    dirs += [here / "_tasks", here.parent / "tasks"]
    return [d for d in dirs if d.is_dir()]


def task_files() -> dict[str, Path]:
    """Task name -> YAML file, first folder wins."""
    found: dict[str, Path] = {}
    for folder in task_dirs():
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def read_spec(path: Path) -> TaskSpec:
    """Parse and validate the YAML file at `path` (schema and task-type rules)."""
    import yaml

    from mmbench.tasks.spec import parse_spec

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise MMBenchError(
            f"task file {path} is not valid YAML ({err.__class__.__name__}); fix it"
        ) from err
    spec = parse_spec(data, path)
    get_task_type(spec.type).validate(spec)
    return spec


def load_task(name_or_path: str) -> TaskSpec:
    """A task by name (`coco-retrieval`) or by path to a YAML file."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise MMBenchError(f"task file {path} does not exist; check the path")
        return read_spec(path)
    files = task_files()
    if name_or_path not in files:
        raise MMBenchError(
            f"unknown task {name_or_path!r}{did_you_mean(name_or_path, files)};"
            " run `mmbench list tasks` to see them all"
        )
    return read_spec(files[name_or_path])
