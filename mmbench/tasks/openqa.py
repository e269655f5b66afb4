"""Open-answer image question answering scored by a benchmark's official rule.

One task type for POPE, MME, TextVQA, DocVQA, InfographicVQA, ChartQA, OK-VQA, GQA, VizWiz and
OCRBench: the model answers each question about its image with the task's prompt, and the
scorer the YAML names (`options.scorer`, see `mmbench.tasks.openqa_scorers`) turns the answers
into the benchmark's metrics. Optional column roles feed the scorers: `category` (POPE's
subset, MME's subtask, ChartQA's part, OCRBench's question type; any other scorer reports its
per-sample means per category), `group` (the MME image whose two questions form acc+) and
`source` (OCRBench's source dataset, which picks the handwritten-math rule).

Question text goes into `prompt` at `{question}` after the YAML's question edits, applied in
this order: `strip_question`, `remove_from_question` (literal substrings, e.g. MME's
" Please answer yes or no."), `capitalize_question` (Python's str.capitalize, as lmms-eval's
TextVQA and VizWiz prompts do). A row without a usable ground truth (no answer; a POPE or MME
label that is not yes/no) is a per-sample error: the run stops with a one-line error under
`--on-error fail` and skips and counts the row under `--on-error skip`, like an unreadable image.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mmbench.data.items import GenerationItem
from mmbench.errors import MMBenchError
from mmbench.metrics.registry import describe
from mmbench.models.base import GENERATE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import as_text_list, bootstrap_means, visual_items
from mmbench.tasks.openqa_scorers import ScoringInput, all_metrics, scorer_info
from mmbench.tasks.spec import TaskSpec

OPEN_PROMPT = "{question}\nAnswer the question using a single word or phrase."
_EXTRA_ROLES = ("category", "group", "source")


@dataclass(frozen=True)
class OpenQAOptions:
    #: the official rule that scores the answers (a key of openqa_scorers.SCORERS)
    scorer: str = "vqa"
    #: the prompt, with `{question}` where the (edited) question goes
    prompt: str = OPEN_PROMPT
    strip_question: bool = False
    remove_from_question: list[str] = field(default_factory=list)
    capitalize_question: bool = False
    #: `vqa` scorer: normalise reference answers like predictions (raw-text references)
    normalize_references: bool = False


class OpenQATask(TaskType):
    name = "openqa"
    description = "open-answer image QA scored by the benchmark's official rule (options.scorer)"
    roles = {
        "image": "the image the question is about",
        "question": "the question text",
        "answers": "ground-truth answer(s): a list or a string",
        "category": "optional: per-category breakdown (POPE subset, MME subtask, ...)",
        "group": "optional: the unit a scorer groups (MME: the image of a question pair)",
        "source": "optional: the row's source dataset (OCRBench: HME100k's rule)",
    }
    optional_roles = ("id", *_EXTRA_ROLES)
    metrics = describe(all_metrics())
    options_class = OpenQAOptions

    def required_roles(self, options: Any) -> list[str]:
        return ["image", "question", "answers", *scorer_info(options.scorer, "").roles]

    def validate(self, spec: TaskSpec) -> Any:
        scorer = spec.options.get("scorer", OpenQAOptions.scorer)
        if isinstance(scorer, str):
            scorer_info(scorer, spec.name)  # an unknown scorer is named before its roles
        options = super().validate(spec)
        info = scorer_info(options.scorer, spec.name)
        wrong = [m for m in spec.metrics if m not in info.metrics]
        if wrong:
            raise MMBenchError(
                f"task {spec.name!r}: metric {wrong[0]!r} is not reported by scorer"
                f" {options.scorer!r}; it reports {', '.join(info.metrics)}"
            )
        if "{question}" not in options.prompt:
            raise MMBenchError(
                f"task {spec.name!r}: options.prompt must contain {{question}} where the question"
                " goes"
            )
        if options.normalize_references and options.scorer != "vqa":
            raise MMBenchError(
                f"task {spec.name!r}: normalize_references applies to scorer 'vqa' only"
            )
        return options

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        return [GENERATE]

    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        spec, options = ctx.spec, ctx.options
        info = scorer_info(options.scorer, spec.name)
        text_roles = [r for r in ("id", "question", "answers", *_EXTRA_ROLES) if r in spec.columns]
        cells = _text_cells(ctx.table.rows, {r: spec.columns[r] for r in text_roles})
        # a row's id: its id column, else its position (as tasks.base.row_id)
        ids = [str(v) for v in cells.get("id", range(len(cells["question"])))]
        questions = [str(q) for q in cells["question"]]
        prompts = [options.prompt.replace("{question}", _edit(q, options)) for q in questions]
        answers, errors = self._answers(cells["answers"], ids, info.labels)
        on_error = getattr(getattr(ctx.engine, "config", None), "on_error", "fail")
        if errors and on_error == "fail":
            first = min(errors)
            raise MMBenchError(
                f"task {spec.name!r}, row {ids[first]}: {errors[first]}; fix the dataset or pass"
                " --on-error skip to count such rows as failures"
            )
        visuals = visual_items(ctx, "image", ids, None)
        todo = [i for i in range(len(ids)) if i not in errors]
        items = [GenerationItem(visuals[i].ref, prompts[i]) for i in todo]
        out = ctx.engine.run(GENERATE, items, f"{spec.name}: generate")
        predictions: dict[int, str] = {}
        for position, index in enumerate(todo):
            if position in out.failed:
                errors[index] = out.failed[position]
            else:
                predictions[index] = out.outputs[position]
        kept = sorted(predictions)
        extra = {
            role: [str(v) for v in cells[role]] if role in cells else None for role in _EXTRA_ROLES
        }
        data = ScoringInput(
            predictions=[predictions[i] for i in kept],
            answers=[answers[i] for i in kept],
            categories=_pick(extra["category"], kept),
            groups=_pick(extra["group"], kept),
            sources=_pick(extra["source"], kept),
            normalize_references=options.normalize_references,
        )
        scored = info.load()(data)
        metrics = {m: float(scored.metrics[m]) for m in spec.metrics if m in scored.metrics}
        metric_errors = {
            m: "no row of this subset counts towards it (e.g. a ChartQA part cut by --limit)"
            for m in spec.metrics
            if m not in scored.metrics
        }
        breakdown = scored.breakdown
        if breakdown is None and data.categories is not None:
            breakdown = _category_means(data.categories, scored.per_sample, scored.means)
        position_of = {index: position for position, index in enumerate(kept)}
        samples = []
        for index in range(len(ids)):
            sample: dict[str, Any] = {
                "id": ids[index],
                "question": questions[index],
                "prompt": prompts[index],
                "answers": answers.get(index),
            }
            sample.update({r: v[index] for r, v in extra.items() if v is not None})
            if index in predictions:
                sample["prediction"] = predictions[index]
                sample["scores"] = {m: v[position_of[index]] for m, v in scored.per_sample.items()}
                if scored.fields is not None:
                    sample.update(scored.fields[position_of[index]])
            else:
                sample["error"] = errors[index]
            samples.append(sample)
        means = {m: scored.per_sample[m] for m in scored.means if m in metrics}
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci=bootstrap_means(ctx, means),
            failures={ids[i]: errors[i] for i in sorted(errors)},
            metric_errors=metric_errors,
            breakdown=breakdown,
        )

    @staticmethod
    def _answers(
        cells: list[Any], ids: list[str], labels: tuple[str, ...]
    ) -> tuple[dict[int, list[str]], dict[int, str]]:
        """Each row's answers, and a message for each row whose ground truth is unusable."""
        answers: dict[int, list[str]] = {}
        errors: dict[int, str] = {}
        for index, (rid, cell) in enumerate(zip(ids, cells, strict=True)):
            try:
                texts = as_text_list(cell, "answers", rid)
            except MMBenchError:
                errors[index] = "no ground-truth answer"
                continue
            if labels and texts[0].strip().lower() not in labels:
                errors[index] = f"label {texts[0]!r} is not one of {', '.join(labels)}"
                continue
            answers[index] = texts
        return answers, errors


def _text_cells(rows: Any, columns: dict[str, str]) -> dict[str, list[Any]]:
    """The cells of the text roles, read without the image column: a `datasets.Dataset` reads
    only those columns from its table; other row sequences are read one row at a time."""
    if hasattr(rows, "select_columns"):
        table = rows.select_columns(list(dict.fromkeys(columns.values())))
        return {role: list(table[column]) for role, column in columns.items()}
    out: dict[str, list[Any]] = {role: [] for role in columns}
    for row in rows:
        for role, column in columns.items():
            out[role].append(row[column])
    return out


def _edit(question: str, options: OpenQAOptions) -> str:
    if options.strip_question:
        question = question.strip()
    for text in options.remove_from_question:
        question = question.replace(text, "")
    return question.capitalize() if options.capitalize_question else question


def _pick(values: list[str] | None, kept: list[int]) -> list[str] | None:
    return None if values is None else [values[i] for i in kept]


def _category_means(
    categories: list[str], per_sample: dict[str, list[float]], means: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for position, category in enumerate(categories):
        rows[category].append(position)
    out: dict[str, dict[str, float]] = {}
    for category in sorted(rows):
        part: dict[str, float] = {
            m: sum(per_sample[m][p] for p in rows[category]) / len(rows[category]) for m in means
        }
        part["n"] = len(rows[category])
        out[category] = part
    return out
