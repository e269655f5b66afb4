"""Scorers of the `openqa` task type: one per official evaluation rule, in a lazy registry.

A task YAML names its scorer (`options: {scorer: pope}`); the registry below says which metrics
that scorer reports, which extra column roles it needs (`category`, `group`, `source`) and where
its function lives, so `mmbench list tasks` and spec validation never import a metric module.
Each function takes the kept rows' predictions, answers and role columns and returns a `Scored`:
the task's metrics, the per-sample scores written to the samples JSONL, and the per-category
breakdown written to the result JSON. The rules themselves live in `mmbench.metrics`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from mmbench.errors import MMBenchError, registry_entry
from mmbench.metrics.relaxed_accuracy import CHARTQA_PARTS


@dataclass(frozen=True)
class ScoringInput:
    """The scored rows: predictions, their answers, and the scorer's role columns (or None)."""

    predictions: list[str]
    answers: list[list[str]]
    categories: list[str] | None = None
    groups: list[str] | None = None
    sources: list[str] | None = None
    #: `normalize_references` of the `vqa` scorer (see `mmbench.metrics.vqa.vqa_accuracy`)
    normalize_references: bool = False


@dataclass
class Scored:
    """What a scorer returns (see the module docstring)."""

    metrics: dict[str, float]
    per_sample: dict[str, list[float]]
    breakdown: dict[str, dict[str, float]] | None = None
    #: metrics that are the plain mean of `per_sample[name]` (a per-sample bootstrap is exact)
    means: tuple[str, ...] = ()
    #: extra fields of each sample record (e.g. how an answer was parsed), or None
    fields: list[dict[str, object]] | None = None


@dataclass(frozen=True)
class ScorerInfo:
    """A registry entry: the function ("module:name"), its metrics and the roles it needs."""

    target: str
    #: metric names (their descriptions and conventions: mmbench.metrics.registry)
    metrics: tuple[str, ...]
    roles: tuple[str, ...] = ()
    #: what a ground-truth answer must look like, checked per row before scoring
    labels: tuple[str, ...] = field(default=())

    def load(self) -> Callable[[ScoringInput], Scored]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


_HERE = "mmbench.tasks.openqa_scorers"
SCORERS: dict[str, ScorerInfo] = {
    "vqa": ScorerInfo(
        f"{_HERE}:score_vqa",
        ("vqa_accuracy", "exact_match"),
    ),
    "pope": ScorerInfo(
        f"{_HERE}:score_pope",
        ("accuracy", "precision", "recall", "f1", "yes_ratio", "mean_f1"),
        roles=("category",),
        labels=("yes", "no"),
    ),
    "mme": ScorerInfo(
        f"{_HERE}:score_mme",
        ("perception", "cognition", "total", "unparsed"),
        roles=("category", "group"),
        labels=("yes", "no"),
    ),
    "anls": ScorerInfo(
        f"{_HERE}:score_anls",
        ("anls",),
    ),
    "chartqa": ScorerInfo(
        f"{_HERE}:score_chartqa",
        ("relaxed_accuracy", "relaxed_human", "relaxed_augmented"),
        roles=("category",),
    ),
    "ocrbench": ScorerInfo(
        f"{_HERE}:score_ocrbench",
        ("score", "accuracy"),
        roles=("category", "source"),
    ),
    "gqa": ScorerInfo(
        f"{_HERE}:score_gqa",
        ("exact_match",),
    ),
}


def scorer_info(name: str, task: str) -> ScorerInfo:
    """The registry entry of scorer `name`; a one-line error names the known ones."""
    return registry_entry(SCORERS, name, f"task {task!r}: unknown scorer", "known scorers")


def all_metrics() -> list[str]:
    """Every metric some scorer reports, in first-seen order, for the task type's list."""
    return list(dict.fromkeys(name for info in SCORERS.values() for name in info.metrics))


def score_vqa(data: ScoringInput) -> Scored:
    """VQA accuracy and exact match (mmbench.metrics.vqa: vqaEval.py's rules)."""
    from mmbench.metrics.vqa import exact_match, vqa_accuracy

    accuracy = vqa_accuracy(
        data.predictions, data.answers, normalize_references=data.normalize_references
    )
    exact = exact_match(data.predictions, data.answers)
    per_sample = {"vqa_accuracy": accuracy["per_question"], "exact_match": exact["per_question"]}
    metrics = {"vqa_accuracy": accuracy["mean"], "exact_match": exact["mean"]}
    return Scored(metrics, per_sample, means=("vqa_accuracy", "exact_match"))


def score_pope(data: ScoringInput) -> Scored:
    """POPE's evaluate.py metrics, pooled and per category (mmbench.metrics.pope)."""
    from mmbench.metrics.pope import pope_says_no, pope_scores

    out = pope_scores(data.predictions, [a[0] for a in data.answers], _need(data.categories))
    fields: list[dict[str, object]] = [
        {"parsed": "no" if pope_says_no(p) else "yes"} for p in data.predictions
    ]
    return Scored(
        out["metrics"],
        {"accuracy": out["per_question"]},
        out["breakdown"],
        means=("accuracy",),
        fields=fields,
    )


def score_mme(data: ScoringInput) -> Scored:
    """MME's calculation.py scores per subtask and the two totals (mmbench.metrics.mme)."""
    from mmbench.metrics.mme import mme_parse, mme_scores

    out = mme_scores(
        data.predictions,
        [a[0] for a in data.answers],
        _need(data.categories),
        _need(data.groups),
    )
    fields: list[dict[str, object]] = []
    for prediction in data.predictions:
        parsed = mme_parse(prediction)
        field: dict[str, object] = {"parsed": parsed}
        if parsed == "other":  # flagged as the multiple-choice tasks flag theirs
            field["unparsed"] = True
        fields.append(field)
    scores = {"accuracy": out["per_question"]}
    return Scored(out["metrics"], scores, out["breakdown"], fields=fields)


def score_anls(data: ScoringInput) -> Scored:
    """ANLS with the RRC evaluation's rules (mmbench.metrics.anls)."""
    from mmbench.metrics.anls import anls

    out = anls(data.predictions, data.answers)
    return Scored({"anls": out["mean"]}, {"anls": out["per_question"]}, means=("anls",))


def score_chartqa(data: ScoringInput) -> Scored:
    """Relaxed accuracy of each ChartQA part and the mean of the parts (lmms-eval reports the
    pooled mean as relaxed_overall: the same number on the full test set, 1,250 + 1,250)."""
    from mmbench.metrics.relaxed_accuracy import relaxed_accuracy

    categories = _need(data.categories)
    unknown = sorted(set(categories) - set(CHARTQA_PARTS))
    if unknown:
        raise MMBenchError(
            f"ChartQA type {unknown[0]!r} is not one of {', '.join(CHARTQA_PARTS)}; map the"
            " `type` column as the category"
        )
    scores = relaxed_accuracy(data.predictions, data.answers)["per_question"]
    metrics: dict[str, float] = {}
    breakdown: dict[str, dict[str, float]] = {}
    for part, name in CHARTQA_PARTS.items():
        values = [s for s, c in zip(scores, categories, strict=True) if c == part]
        if values:
            metrics[name] = sum(values) / len(values)
            breakdown[part] = {"relaxed_accuracy": metrics[name], "n": len(values)}
    parts = list(metrics.values())
    metrics["relaxed_accuracy"] = sum(parts) / len(parts) if parts else 0.0
    return Scored(metrics, {"relaxed_accuracy": scores}, breakdown)


def score_ocrbench(data: ScoringInput) -> Scored:
    """OCRBench's containment rule, the count out of 1,000 and per question type."""
    from mmbench.metrics.ocrbench import ocrbench_scores

    out = ocrbench_scores(
        data.predictions, data.answers, _need(data.sources), _need(data.categories)
    )
    return Scored(
        out["metrics"], {"accuracy": out["per_question"]}, out["breakdown"], means=("accuracy",)
    )


def score_gqa(data: ScoringInput) -> Scored:
    """lmms-eval's GQA exact match (mmbench.metrics.gqa) against the single answer."""
    from mmbench.metrics.gqa import gqa_exact_match

    out = gqa_exact_match(data.predictions, [a[0] for a in data.answers])
    return Scored(
        {"exact_match": out["mean"]}, {"exact_match": out["per_question"]}, means=("exact_match",)
    )


def _need(values: list[str] | None) -> list[str]:
    if values is None:  # the task type checks the roles first; this guards direct callers
        raise MMBenchError("this scorer needs a column role the task does not map")
    return values
