"""A scripted generator with canned answers, and a task evaluated in process with it.

The multiple-choice tests (images and videos) score canned answers by each benchmark's own rule;
the model records what it was sent so they can also check the prompts and the media it received.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmbench.data.sources import open_source
from mmbench.engine import Engine, EngineConfig
from mmbench.models.base import GENERATE, ModelAdapter
from mmbench.tasks import get_task_type, load_task
from mmbench.tasks.base import TaskContext
from mmbench.tasks.spec import TaskSpec


class Recorder:
    """A preprocessor that keeps what `describe` reads of each request; a batch is a list."""

    def __init__(self, describe: Callable[[Any], Any]) -> None:
        self.describe = describe

    def __call__(self, request: Any) -> Any:
        return self.describe(request)

    def collate(self, features: list[Any]) -> list[Any]:
        return list(features)


class ScriptedModel(ModelAdapter):
    """Answers each prompt with the canned answer of the first key found in it.

    `requests` holds what `describe` read of every request sent; a test module overrides
    `describe` (and `capabilities`) with the fields it checks.
    """

    capabilities = frozenset({GENERATE})

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.requests: list[Any] = []

    def describe(self, request: Any) -> Any:
        return request

    def fingerprint(self) -> str:
        return "scripted-" + json.dumps(self.answers, sort_keys=True)

    def preprocessor(self, capability: str) -> Recorder:
        return Recorder(self.describe)

    def generate(self, batch: list[Any], **kwargs: Any) -> list[str]:
        self.requests.extend(batch)
        return [next(a for k, a in self.answers.items() if k in r.prompt) for r in batch]


def evaluate(name: str, data_dir: Path, model: ModelAdapter, spec: TaskSpec | None = None):
    """Task `name` (or `spec`) scored in process on the copy in `data_dir`: batches of 4, a bad
    row skipped as a per-sample error, as `mmbench run --on-error skip` does."""
    spec = spec or load_task(name)
    task_type = get_task_type(spec.type)
    options = task_type.validate(spec)
    engine = Engine(model, EngineConfig(batch_size=4, progress=False, on_error="skip"))
    table = open_source(spec.source, data_dir=data_dir)
    return task_type.evaluate(TaskContext(spec, options, table, model, engine))
