"""Whole suites in one command: models x tasks, task groups and `--config run.yaml`.

* Task lists: `--task a,b --task c` (commas or repeats), `group:NAME` for a group, a YAML file
  `groups/NAME.yaml` beside the task YAMLs (`{name, description, tasks: [...]}`; groups may name
  groups).
* A run config (`--config run.yaml`): `models` (a list of URIs, or of `{uri, model_args,
  gen_kwargs}` mappings for settings of one model: a served model's `base_url` beside an `hf:`
  model's `attn_implementation`), `tasks` (as on the command line) and `options` (any `mmbench
  run` option by its long name, `-` or `_`: `batch_size: 16`); options given on the command line
  win over the file, and a model's own settings over the run's `--model-args` / `--gen-kwargs`.
* `run_suite` evaluates every (model, task) pair, model by model, loading each model once
  (`ModelPool`). A failing pair is recorded with its exit code and message and the others still
  run; the suite's exit code is the highest of its runs'.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError, check_keys, did_you_mean
from mmbench.verbosity import failure

GROUP_PREFIX = "group:"
EXIT_USAGE = 2
EXIT_INTERNAL = 4
CONFIG_KEYS = ("models", "tasks", "options")
MODEL_KEYS = ("uri", "model_args", "gen_kwargs")


@dataclass(frozen=True)
class SuiteModel:
    """One model of a suite with its own settings, merged over the run's (theirs win)."""

    uri: str
    model_args: tuple[tuple[str, Any], ...] = ()
    generation: tuple[tuple[str, Any], ...] = ()

    def request(self, base: Any) -> Any:
        """`base` (a `RunRequest`) for this model."""
        return replace(
            base,
            model=self.uri,
            model_args={**base.model_args, **dict(self.model_args)},
            generation={**base.generation, **dict(self.generation)},
        )


@dataclass(frozen=True)
class TaskGroup:
    name: str
    description: str
    tasks: tuple[str, ...]
    path: Path


def group_files() -> dict[str, Path]:
    """Group name -> YAML file, from `groups/` in each task folder (first folder wins)."""
    from mmbench.tasks import task_dirs

    found: dict[str, Path] = {}
    for folder in task_dirs():
        for path in sorted((folder / "groups").glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def load_group(name: str) -> TaskGroup:
    """The group `name` (its YAML validated); one-line errors name the file and the fix."""
    import yaml

    files = group_files()
    if name not in files:
        raise MMBenchError(
            f"unknown task group {name!r}{did_you_mean(name, files)}; groups: "
            f"{', '.join(sorted(files)) or '(none)'} (YAML files in a task folder's groups/)"
        )
    path = files[name]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise MMBenchError(f"task group file {path} cannot be read ({err}); fix the YAML") from err
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise MMBenchError(f"task group file {path} needs `tasks:` as a non-empty list of names")
    return TaskGroup(name, str(data.get("description") or ""), tuple(tasks), path)


def expand_tasks(items: Iterable[str]) -> list[str]:
    """Task names from `--task` values: comma-separated, `group:NAME` expanded (recursively),
    duplicates dropped, order kept."""
    names: list[str] = []
    _expand(items, names, ())
    return names


def _expand(items: Iterable[str], names: list[str], seen_groups: tuple[str, ...]) -> None:
    for item in items:
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            if part.startswith(GROUP_PREFIX):
                group = part[len(GROUP_PREFIX) :]
                if group in seen_groups:
                    raise MMBenchError(
                        f"task group {group!r} includes itself ({' -> '.join(seen_groups)});"
                        " fix its groups/ YAML"
                    )
                _expand(load_group(group).tasks, names, (*seen_groups, group))
            elif part not in names:
                names.append(part)


@dataclass
class RunConfigFile:
    """A `--config` file: models, tasks and option overrides (option name -> value)."""

    models: list[SuiteModel] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def load_config(path: Path) -> RunConfigFile:
    """Read and check a run config YAML (module docstring)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise MMBenchError(f"config file {str(path)!r} does not exist; check the path") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise MMBenchError(f"config file {path} cannot be read ({err}); fix the YAML") from err
    if not isinstance(data, dict):
        raise MMBenchError(f"config file {path} must be a mapping with {', '.join(CONFIG_KEYS)}")
    unknown = [k for k in data if k not in CONFIG_KEYS]
    if unknown:
        raise MMBenchError(
            f"config file {path}: unknown key {unknown[0]!r}"
            f"{did_you_mean(unknown[0], CONFIG_KEYS)}; keys: {', '.join(CONFIG_KEYS)}"
        )
    raw_models = data.get("models") or []
    if not isinstance(raw_models, list):
        raw_models = [raw_models]
    models = [_suite_model(entry, path) for entry in raw_models]
    tasks = _str_list(data.get("tasks"), "tasks", path)
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise MMBenchError(f"config file {path}: `options` must be a mapping of run options")
    return RunConfigFile(models, tasks, {str(k).replace("-", "_"): v for k, v in options.items()})


def _suite_model(entry: Any, path: Path) -> SuiteModel:
    """A `models:` entry: a URI, or a mapping with `uri` and optional `model_args` (a mapping or
    lm-eval's `k=v,...` text) and `gen_kwargs` (a mapping)."""
    from mmbench.models.args import parse_model_args

    if isinstance(entry, str):
        return SuiteModel(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
        raise MMBenchError(
            f"config file {path}: each `models` entry is a URI or a mapping with `uri`"
            " (and optional model_args, gen_kwargs)"
        )
    where = f"config file {path}: model {entry['uri']!r} has"
    check_keys(entry, MODEL_KEYS, (), unknown=f"{where} unknown", missing=where, fix="")
    args = entry.get("model_args") or {}
    if isinstance(args, str):
        args = parse_model_args(args)
    generation = entry.get("gen_kwargs") or {}
    if not isinstance(args, dict) or not isinstance(generation, dict):
        raise MMBenchError(
            f"config file {path}: model {entry['uri']!r}: model_args and gen_kwargs are mappings"
        )
    return SuiteModel(entry["uri"], tuple(args.items()), tuple(generation.items()))


def _str_list(value: Any, key: str, path: Path) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MMBenchError(f"config file {path}: `{key}` must be a list of strings")
    return list(value)


class ModelPool:
    """Loaded models of one suite, so each model is loaded once for all of its tasks.

    Keyed by URI and model options; `release` drops a model once its tasks are done.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Any] = {}

    def get(self, uri: str, options: Any, memos: Any) -> Any:
        from mmbench.models import load_model

        key = (uri, repr(options))
        if key not in self._models:
            self._models[key] = load_model(uri, options, memos=memos)
        return self._models[key]

    def release(self, uri: str) -> None:
        for key in [k for k in self._models if k[0] == uri]:
            del self._models[key]


@dataclass
class PairOutcome:
    """One (model, task) of a suite: its outcome, or the exit code and message it failed with."""

    model: str
    task: str
    exit_code: int
    outcome: Any = None
    error: str = ""


def run_suite(
    base: Any,
    models: list[SuiteModel],
    tasks: list[str],
    on_done: Callable[[PairOutcome], None],
    progress: Callable[[str], None] | None = None,
) -> list[PairOutcome]:
    """Run `base` (a `RunRequest`) for every model x task, model by model; `on_done` sees each
    pair as it finishes. A usage error (exit 2) or a bug (exit 4) of one pair is recorded and
    the next pair runs; Ctrl-C stops the suite."""
    from mmbench.runner import run

    pool = ModelPool()
    done: list[PairOutcome] = []
    total = len(models) * len(tasks)
    for entry in models:
        model = entry.uri
        for task in tasks:
            if progress is not None:
                progress(f"run {len(done) + 1}/{total}: {model} x {task}")
            request = replace(entry.request(base), task=task)
            try:
                outcome = run(request, models=pool)
                pair = PairOutcome(model, task, outcome.exit_code, outcome)
            except MMBenchError as err:
                pair = PairOutcome(model, task, EXIT_USAGE, error=str(err))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as err:  # one pair's bug must not lose the other pairs' results
                code, line = failure(err)  # a full disk is 2; a bug 4, its traceback logged
                pair = PairOutcome(model, task, code, error=line)
            done.append(pair)
            on_done(pair)
        pool.release(model)
    return done


def print_failures(pairs: list[PairOutcome], stream: Any = None) -> None:
    """One line per failed (model, task): `mmbench: failed: MODEL x TASK (exit N): message`."""
    stream = stream or sys.stderr
    for pair in pairs:
        if pair.exit_code:
            reason = pair.error or "finished with skipped samples or metrics (see above)"
            print(
                f"mmbench: failed: {pair.model} x {pair.task} (exit {pair.exit_code}): {reason}",
                file=stream,
            )
