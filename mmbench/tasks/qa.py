"""Visual question answering over images or videos: open-ended or multiple choice.

Open-ended answers are scored with the official VQA accuracy (Antol et al., 2015: answer
normalisation, then min(1, matches / 3) averaged over the 10 leave-one-out annotator subsets) and
with exact match after the same normalisation; datasets with a single answer per question
(MSRVTT-QA, MSVD-QA) use exact match, as their papers do. Multiple choice lists lettered options in
the prompt and reads the first option letter (or option text) in the answer, as lmms-eval does.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from mmbench.data.items import GenerationItem
from mmbench.errors import MMBenchError
from mmbench.metrics.registry import describe
from mmbench.models.base import GENERATE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import (
    VideoOptions,
    as_text_list,
    bootstrap_means,
    row_ids,
    visual_items,
    visual_role,
)
from mmbench.tasks.spec import TaskSpec

OPEN_PROMPT = "{question}\nAnswer the question using a single word or phrase."
CHOICE_PROMPT = (
    "{question}\n{options}\nAnswer with the option's letter from the given choices directly."
)


@dataclass(frozen=True)
class QAOptions(VideoOptions):
    prompt: str | None = None


class QATask(TaskType):
    name = "qa"
    description = "image/video question answering: VQA accuracy, exact match, multiple choice"
    roles = {
        "image": "the image the question is about (or map 'video')",
        "video": "the video the question is about (or map 'image')",
        "question": "the question text",
        "answers": "ground-truth answer(s): a list (VQA: 10 annotators) or a string",
        "choices": "optional: list of answer options (multiple choice)",
    }
    optional_roles = ("id", "choices")
    metrics = describe(["vqa_accuracy", "exact_match", "accuracy"])
    options_class = QAOptions

    def required_roles(self, options: Any) -> list[str]:
        return ["question", "answers"]

    def validate(self, spec: TaskSpec) -> Any:
        options = super().validate(spec)
        visual_role(spec.columns, spec.name)
        if "accuracy" in spec.metrics and "choices" not in spec.columns:
            raise MMBenchError(f"task {spec.name!r}: metric 'accuracy' needs a 'choices' column")
        return options

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        return [GENERATE]

    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        spec, options = ctx.spec, ctx.options
        role = visual_role(spec.columns, spec.name)
        ids = row_ids(ctx)
        rows = list(ctx.table.rows)
        choices = [self._choices(row, spec, rid) for rid, row in zip(ids, rows, strict=True)]
        prompts = [
            self._prompt(row[spec.columns["question"]], opts, options.prompt)
            for row, opts in zip(rows, choices, strict=True)
        ]
        sampling = options.sampling() if role == "video" else None
        visuals = visual_items(ctx, role, ids, options.sampling())
        items = [GenerationItem(v.ref, p, sampling) for v, p in zip(visuals, prompts, strict=True)]
        out = ctx.engine.run(GENERATE, items, f"{spec.name}: generate")
        kept = [i for i in range(len(ids)) if i not in out.failed]
        answers = [as_text_list(rows[i][spec.columns["answers"]], "answers", ids[i]) for i in kept]
        predictions = [out.outputs[i] for i in kept]
        per_item = self._score(spec.metrics, predictions, answers, [choices[i] for i in kept])
        metrics = {m: float(sum(v) / len(v)) if v else 0.0 for m, v in per_item.items()}
        samples = []
        for pos, i in enumerate(kept):
            sample = {
                "id": ids[i],
                "question": rows[i][spec.columns["question"]],
                "prompt": prompts[i],
                **({"choices": choices[i]} if choices[i] is not None else {}),
                "prediction": predictions[pos],
                "answers": answers[pos],
                "scores": {m: per_item[m][pos] for m in per_item},
            }
            if role == "video":
                sample["frame_indices"] = out.meta[i]
            sample.update(out.info.get(i, {}))
            samples.append(sample)
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci=bootstrap_means(ctx, per_item),
            failures={ids[i]: msg for i, msg in out.failed.items()},
        )

    @staticmethod
    def _choices(row: dict[str, Any], spec: TaskSpec, rid: str) -> list[str] | None:
        column = spec.columns.get("choices")
        return None if column is None else as_text_list(row[column], "choices", rid)

    @staticmethod
    def _prompt(question: str, choices: list[str] | None, template: str | None) -> str:
        if choices is None:
            return (template or OPEN_PROMPT).format(question=question)
        lines = "\n".join(
            f"{letter}. {c}" for letter, c in zip(string.ascii_uppercase, choices, strict=False)
        )
        return (template or CHOICE_PROMPT).format(question=question, options=lines)

    @staticmethod
    def _score(metric_names, predictions, answers, choices) -> dict[str, list[float]]:
        from mmbench.metrics import exact_match, vqa_accuracy

        scores: dict[str, list[float]] = {}
        if "vqa_accuracy" in metric_names:
            scores["vqa_accuracy"] = [
                float(s) for s in vqa_accuracy(predictions, answers)["per_question"]
            ]
        if "exact_match" in metric_names:
            scores["exact_match"] = [
                float(s) for s in exact_match(predictions, answers)["per_question"]
            ]
        if "accuracy" in metric_names:
            scores["accuracy"] = [
                float(_chosen(p, opts) == _correct(a, opts))
                for p, a, opts in zip(predictions, answers, choices, strict=True)
            ]
        return scores


def _chosen(prediction: str, choices: list[str]) -> int | None:
    """The option a free-text answer picks: a leading letter ('B', 'B.', '(B)') or option text."""
    letters = string.ascii_uppercase[: len(choices)]
    match = re.match(rf"\s*\(?([{letters}])(?:[).:\s]|$)", prediction)
    if match:
        return letters.index(match.group(1))
    lowered = prediction.strip().lower().rstrip(".")
    for index, choice in enumerate(choices):
        if lowered == choice.strip().lower():
            return index
    return None


def _correct(answers: list[str], choices: list[str]) -> int:
    """The correct option: given as an index, a letter, or the option's text."""
    answer = answers[0].strip()
    if answer.isdigit() and int(answer) < len(choices):
        return int(answer)
    if len(answer) == 1 and answer.upper() in string.ascii_uppercase[: len(choices)]:
        return string.ascii_uppercase.index(answer.upper())
    if answer in choices:
        return choices.index(answer)
    raise MMBenchError(f"answer {answer!r} is neither an option index, letter nor option text")
