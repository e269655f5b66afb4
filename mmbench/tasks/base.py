"""The task-type contract: what a task type declares, and what it gets and returns when it runs.

A task type (retrieval, classification, captioning, qa) is a class; a benchmark is a YAML file
that names the type and fills in its columns, options and metrics. The runner hands the type a
`TaskContext` (spec, rows, engine) and gets a `TaskOutput` (metrics, per-sample records, CIs).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.results import TaskInfo

if TYPE_CHECKING:
    from mmbench.data.sources import Table
    from mmbench.models.base import ModelAdapter
    from mmbench.tasks.spec import TaskSpec


@dataclass
class TaskContext:
    """Everything a task type needs to evaluate one model on one spec."""

    spec: TaskSpec
    options: Any
    table: Table
    model: ModelAdapter
    engine: Any
    bootstrap: int = 0
    seed: int = 0


@dataclass
class TaskOutput:
    """What a task type returns: metrics, their CIs, per-sample records and failed rows."""

    metrics: dict[str, float]
    samples: list[dict[str, Any]]
    n: int
    ci: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    #: metrics that were asked for but could not be computed (e.g. METEOR without Java)
    metric_errors: dict[str, str] = field(default_factory=dict)
    #: per-category metrics, `{category: {metric: value, "n": count}}` (Result.breakdown)
    breakdown: dict[str, dict[str, float]] | None = None

    def task_info(self, spec: TaskSpec, data_fingerprint: str, limit: int | None) -> TaskInfo:
        """The result's `task` record of this output."""
        return TaskInfo(
            name=spec.name,
            version=spec.version,
            spec_hash=spec.spec_hash(),
            data_fingerprint=data_fingerprint,
            n=self.n,
            limit=limit,
            type=spec.type,
            headline=spec.headline,
        )

    def failure_record(self) -> dict[str, Any]:
        """The result's `failures` record: count, the first 20 rows with their errors, and the
        metrics that could not be computed."""
        return {
            "count": len(self.failures),
            "examples": [f"{k}: {v}" for k, v in list(self.failures.items())[:20]],
            "metric_errors": self.metric_errors,
        }


class TaskType(ABC):
    """Base class of task types; subclasses declare their schema as class attributes."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: role -> meaning; every role must be mapped in `columns:` unless listed in OPTIONAL_ROLES
    roles: ClassVar[dict[str, str]]
    optional_roles: ClassVar[tuple[str, ...]] = ("id",)
    #: metric name -> one-line description
    metrics: ClassVar[dict[str, str]]
    #: dataclass of task options (defaults apply when the YAML omits them)
    options_class: ClassVar[type]

    def parse_options(self, spec: TaskSpec) -> Any:
        """Validate `options:` against `options_class`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(self.options_class)}
        self._reject_unknown(spec, spec.options, known, "option(s)", "allowed")
        from mmbench.tasks.option_types import check_option_types

        # The options class's own checks speak first (they name the fix for their field); the
        # type check then catches values no check looked at (`num_frames: abc`).
        try:
            options = self.options_class(**spec.options)
        except ValueError as err:
            raise MMBenchError(f"task {spec.name!r}: invalid options ({err})") from err
        except TypeError as err:
            check_option_types(self.options_class, spec.options, spec.name)
            raise MMBenchError(f"task {spec.name!r}: invalid options ({err})") from err
        check_option_types(self.options_class, spec.options, spec.name)
        return options

    def validate(self, spec: TaskSpec) -> Any:
        """Check columns, metrics and options of `spec`; return the parsed options."""
        roles = set(self.roles) | set(self.optional_roles)
        self._reject_unknown(spec, spec.columns, roles, "column role(s)", "roles")
        options = self.parse_options(spec)
        missing = [r for r in self.required_roles(options) if r not in spec.columns]
        if missing:
            raise MMBenchError(
                f"task {spec.name!r}: columns must map role(s) {', '.join(missing)}"
                f" ({'; '.join(self.roles[r] for r in missing)})"
            )
        bad = [m for m in spec.metrics if m not in self.metrics]
        if bad:
            raise MMBenchError(
                f"task {spec.name!r}: metric {bad[0]!r} is not computed by type {self.name!r}"
                f"{did_you_mean(bad[0], self.metrics)}; available: {', '.join(self.metrics)}"
            )
        return options

    def _reject_unknown(
        self, spec: TaskSpec, names: Iterable[str], known: set[str], what: str, listing: str
    ) -> None:
        """One-line error for the `names` (option or role keys of `spec`) this type does not
        know, with a did-you-mean for the first and every known one, sorted."""
        unknown = sorted(set(names) - known)
        if unknown:
            raise MMBenchError(
                f"task {spec.name!r}: unknown {what} {', '.join(unknown)} for type"
                f" {self.name!r}{did_you_mean(unknown[0], known)};"
                f" {listing}: {', '.join(sorted(known))}"
            )

    def required_roles(self, options: Any) -> list[str]:
        """Roles that must be mapped (a subclass narrows this when options pick a variant)."""
        return list(self.roles)

    @abstractmethod
    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        """Model capabilities this run needs (checked before any work starts)."""

    @abstractmethod
    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        """Run the model over the rows and compute the metrics."""


def row_id(row: dict[str, Any], columns: dict[str, str], index: int) -> str:
    """A row's id: its `id` column when mapped, else its position in the split."""
    column = columns.get("id")
    return str(row[column]) if column else str(index)
