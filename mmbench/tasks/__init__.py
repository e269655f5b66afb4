"""Task types (lazy registry) and the benchmark YAML files that instantiate them.

Benchmarks live as one YAML each in the repository's top-level `tasks/` folder, which the wheel
ships as `mmbench/_tasks`; `MMBENCH_TASKS_PATH` (folders separated by `os.pathsep`: ':' on
Linux and macOS, ';' on Windows) adds more. A user task may not take a built-in task's name, and
a broken YAML makes only its own task unavailable (`list tasks` warns about it).
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError, did_you_mean

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mmbench.tasks.base import TaskType
    from mmbench.tasks.spec import TaskSpec

TASK_TYPES: dict[str, str] = {
    "retrieval": "mmbench.tasks.retrieval:RetrievalTask",
    "classification": "mmbench.tasks.classification:ClassificationTask",
    "captioning": "mmbench.tasks.captioning:CaptioningTask",
    "qa": "mmbench.tasks.qa:QATask",
    "multiple_choice": "mmbench.tasks.multiple_choice:MultipleChoiceTask",
    "openqa": "mmbench.tasks.openqa:OpenQATask",
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


def _user_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get("MMBENCH_TASKS_PATH", "").split(os.pathsep) if p]


def _builtin_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    return [d for d in (here / "_tasks", here.parent / "tasks") if d.is_dir()]


def task_dirs() -> list[Path]:
    """Folders searched for task YAMLs, in priority order."""
    return [d for d in _user_dirs() if d.is_dir()] + _builtin_dirs()


def task_path_warnings() -> list[str]:
    """Problems with `MMBENCH_TASKS_PATH`: folders that do not exist, user tasks that reuse a
    built-in task's name (refused when loaded)."""
    warnings = [
        f"MMBENCH_TASKS_PATH folder {d} does not exist (folders are separated by"
        f" {os.pathsep!r}); fix the variable"
        for d in _user_dirs()
        if not d.is_dir()
    ]
    builtin = _builtin_names()
    for name, path in _user_files().items():
        if name in builtin:
            warnings.append(_clash_message(name, path))
    return warnings


def _builtin_names() -> set[str]:
    return {p.stem for folder in _builtin_dirs() for p in folder.glob("*.yaml")}


def _user_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    builtin = set(_builtin_dirs())
    for folder in task_dirs():
        if folder in builtin:
            continue
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def _clash_message(name: str, path: Path) -> str:
    return (
        f"task file {path} takes the name of the built-in task {name!r}; rename the file and its"
        f" `name:` (e.g. {name}-custom) or pass the YAML path to run it"
    )


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
    except UnicodeDecodeError as err:
        raise MMBenchError(
            f"task file {path} is not UTF-8 text (byte {err.start}: {err.reason}); re-save it"
            " as UTF-8"
        ) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or err.__class__.__name__
        raise MMBenchError(
            f"task file {path} is not valid YAML{where} ({problem}); fix it"
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
        missing = [str(d) for d in _user_dirs() if not d.is_dir()]
        hint = f" (MMBENCH_TASKS_PATH folder {missing[0]} does not exist)" if missing else ""
        raise MMBenchError(
            f"unknown task {name_or_path!r}{did_you_mean(name_or_path, files)}{hint};"
            " run `mmbench list tasks` to see them all"
        )
    path = files[name_or_path]
    for folder in _user_dirs():
        if not folder.is_dir():
            logger.warning(
                "MMBENCH_TASKS_PATH folder %s does not exist (folders are separated by %r)",
                folder,
                os.pathsep,
            )
    if name_or_path in _builtin_names() and path.parent not in _builtin_dirs():
        raise MMBenchError(_clash_message(name_or_path, path))
    return read_spec(path)
