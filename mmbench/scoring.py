"""`mmbench score`: score predictions made elsewhere with a task's own metrics.

Predictions come as JSONL, one object per sample: `{"id", "prediction"}` (generated text), or for
classification `{"id", "label"}` (the class name). Ids are the ones the task's samples JSONL
writes (the row ids, circular shifts and exploded rows included). The task then runs exactly as
`mmbench run` runs it, rows, prompts, answer parsing, metrics, bootstrap and breakdowns alike,
except that the model's answers are read from the file: a replaying engine hands the recorded
prediction of each item's row instead of calling a model. So the predictions of a run give
exactly that run's metrics, and a result scored here compares with one from `mmbench run`.

Only tasks that score generated text can be scored (captioning, QA, multiple choice, open QA,
classification in its generate mode); retrieval needs embeddings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mmbench
from mmbench.engine import CapabilityOutputs, EngineStats
from mmbench.environment import environment_record, git_commit
from mmbench.errors import MMBenchError
from mmbench.models.base import GENERATE, GENERATE_MULTI_IMAGE, ModelAdapter
from mmbench.results import ModelInfo, Result, RunConfig, write_result
from mmbench.tasks import get_task_type, load_task
from mmbench.tasks.base import TaskContext

EXIT_OK = 0
EXIT_PARTIAL = 3


@dataclass
class ScoreRequest:
    """Everything `mmbench score` was asked to do."""

    task: str
    predictions: Path
    model_name: str | None = None
    output_dir: Path = Path("results")
    data_dir: Path | None = None
    bootstrap: int = 0
    seed: int = 0


@dataclass
class ScoreOutcome:
    result: Result
    path: Path
    exit_code: int


def read_predictions(path: Path) -> dict[str, str]:
    """`{id: prediction}` from a JSONL file of `{"id", "prediction"}` or `{"id", "label"}`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise MMBenchError(
            f"predictions file {str(path)!r} does not exist; check the path"
        ) from err
    except UnicodeDecodeError as err:
        raise MMBenchError(
            f"predictions file {str(path)!r} is not UTF-8 text; write it as UTF-8 JSONL"
        ) from err
    predictions: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise MMBenchError(
                f"{where} is not valid JSON ({err.msg}); one object per line"
            ) from err
        if not isinstance(record, dict) or "id" not in record:
            raise MMBenchError(
                f'{where} has no "id"; each line is {{"id": ..., "prediction": ...}}'
            )
        value = record.get("prediction", record.get("label"))
        if not isinstance(value, str):
            raise MMBenchError(
                f'{where}: "prediction" (or "label" for classification) must be a string,'
                f" got {type(value).__name__}"
            )
        key = str(record["id"])
        if key in predictions:
            raise MMBenchError(f"{where} repeats id {key!r}; give each sample one prediction")
        predictions[key] = value
    if not predictions:
        raise MMBenchError(f"predictions file {str(path)!r} holds no prediction")
    return predictions


class RecordedModel(ModelAdapter):
    """Stands in for the model that made the predictions; it is never called."""

    capabilities = frozenset({GENERATE, GENERATE_MULTI_IMAGE})

    def __init__(self, name: str, digest: str) -> None:
        self.uri = name
        self._digest = digest

    def fingerprint(self) -> str:
        return f"predictions:sha256:{self._digest}"

    def describe(self) -> dict[str, Any]:
        return {"predictions_sha256": self._digest}

    def preprocessor(self, capability: str) -> Any:
        raise MMBenchError("recorded predictions have no preprocessor")  # never asked for


class ReplayEngine:
    """The engine interface tasks use, answering `generate` from recorded predictions by row."""

    def __init__(self, predictions: dict[str, str]) -> None:
        self.predictions = predictions
        self.asked: set[str] = set()
        self.stats = EngineStats(batch_size=0)

    def run(self, capability: str, items: Any, desc: str = "", into: Any = None) -> Any:
        if capability != GENERATE:
            raise MMBenchError(
                f"this task needs {capability!r} outputs (embeddings), which predictions cannot"
                " give; `mmbench score` scores tasks whose models generate text"
            )
        ids = [_row_id(item) for item in items]
        missing = [i for i in ids if i not in self.predictions]
        if missing:
            raise MMBenchError(
                f"the predictions have no entry for {len(missing)} sample id(s) of the task,"
                f" e.g. {missing[0]!r}; predict every sample (ids as the task's samples JSONL"
                " writes them)"
            )
        self.asked.update(ids)
        self.stats.items += len(ids)
        outputs = [self.predictions[i] for i in ids]
        return CapabilityOutputs(outputs=outputs, meta=[None] * len(ids))


def _row_id(item: Any) -> str:
    ref = getattr(item, "ref", None) or getattr(item, "refs", (None,))[0]
    if ref is None:
        raise MMBenchError("this task's items name no sample id; it cannot be scored from a file")
    return ref.row_id


def score(request: ScoreRequest) -> ScoreOutcome:
    """Score `request.predictions` on `request.task` and write a normal result and samples."""
    started = time.perf_counter()
    spec = load_task(request.task)
    task_type = get_task_type(spec.type)
    options = task_type.validate(spec)
    predictions = read_predictions(request.predictions)
    digest = hashlib.sha256(Path(request.predictions).read_bytes()).hexdigest()
    name = request.model_name or Path(request.predictions).name.removesuffix(".jsonl")
    model = RecordedModel(name, digest)
    if GENERATE not in task_type.capabilities(spec, options, model):
        raise MMBenchError(
            f"task {spec.name!r} ({spec.type}) scores embeddings, not generated text;"
            " `mmbench score` scores captioning, QA, multiple-choice and classification tasks"
        )
    from mmbench.data.sources import open_source

    table = open_source(spec.source, request.data_dir)
    table.require_columns(spec.columns, spec.name)
    engine = ReplayEngine(predictions)
    ctx = TaskContext(spec, options, table, model, engine, request.bootstrap, request.seed)
    output = task_type.evaluate(ctx)
    unknown = sorted(set(predictions) - engine.asked)
    if unknown:
        raise MMBenchError(
            f"{len(unknown)} prediction id(s) are not samples of task {spec.name!r}, e.g."
            f" {unknown[0]!r}; use the ids of the task's samples JSONL"
        )
    result = Result(
        mmbench_version=mmbench.__version__,
        task=output.task_info(spec, table.fingerprint, None),
        model=ModelInfo(uri=name, fingerprint=model.fingerprint(), details=model.describe()),
        config=RunConfig(
            device="none",
            dtype="none",
            batch_size=0,
            world_size=1,
            seed=request.seed,
            extra={"scored_from": str(request.predictions), "bootstrap": request.bootstrap},
        ),
        metrics=output.metrics,
        ci=output.ci,
        breakdown=output.breakdown,
        timing={"total_s": round(time.perf_counter() - started, 3), "items": len(engine.asked)},
        failures=output.failure_record(),
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        git_commit=git_commit(),
        environment=environment_record(1),
    )
    path = write_result(result, output.samples, request.output_dir)
    partial = bool(output.failures or output.metric_errors)
    return ScoreOutcome(result, path, EXIT_PARTIAL if partial else EXIT_OK)
