"""Multiple-choice questions about one or several images, scored by each benchmark's own rule.

A row becomes a `Question`: the prompt (the benchmark's standard prompt, lmms-eval's default,
as a template in the YAML and so in the spec hash), its options (a list column, one column per
option, or the options the question text lists), the gold answer (a letter, or an option index)
and its images. MMMU-style rows name their images with `<image N>` tags in the question and
options (`image_columns`): the tagged images are sent in order of N, the tags kept as text
(lmms-eval's default), or with `interleave: true` each tag is replaced by an image marker and
the images follow the tags' order (`GenerationInput.interleaved`), which chat-template models
place where the tags were. A model that takes one image per prompt cannot run such a task
(capability `generate_multi_image`).

A question about a video maps the `video` role instead of `image` (a video cell or a path; videos
shipped beside the annotations get their path from `source.media_path`): the model receives the
frames `num_frames` / `fps` / `max_frames` pick (`mmbench.data.video`), and each sample records
their indices (`frame_indices`).

Scoring is the YAML's `scorer` (`mmbench.tasks.mcq_scorers`). Metrics: `accuracy`, MMBench's
`circular_accuracy` (a question counts only if all its circular shifts are right; shifts share
`id % 1_000_000`) and `vanilla_accuracy` (the unshifted questions, id < 1_000_000), `unparsed`
(answers no rule could read: wrong, counted) and `random_fallbacks` (MMMU's seeded guesses,
counted). Per-category values go to the result's breakdown. A row that cannot be asked (options
that are not a list, a gold answer that is not an option, a missing image) is a per-sample
error counted in the result, never a traceback.
"""

from __future__ import annotations

import ast
import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

from mmbench.data.items import IMAGE_MARKER, GenerationItem, ImagesGenerationItem
from mmbench.data.media import media_ref
from mmbench.errors import MediaError, MMBenchError, check_template
from mmbench.models.base import GENERATE, GENERATE_MULTI_IMAGE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType, row_id
from mmbench.tasks.common import VideoOptions, bootstrap_means
from mmbench.tasks.mcq_scorers import SCORERS, Judged, Question, scorer
from mmbench.tasks.spec import TaskSpec

#: lmms-eval's default multiple-choice instruction
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
DEFAULT_PROMPT = "{context}{question}\n{options}\n" + LETTER_INSTRUCTION
OPEN_PROMPT = "{question}\n\nAnswer the question using a single word or phrase."
CIRCULAR_STRIDE = 1_000_000
_IMAGE_TAG = re.compile(r"<image (\d+)>")
_MMSTAR_OPTION = re.compile(r"([A-Z]):\s*(.*?)(?=,\s*[A-Z]:\s|\Z)", re.S)
_LISTED_OPTION = re.compile(r"\b([A-Z])\.\s+([^\n]*)")


@dataclass(frozen=True)
class MultipleChoiceOptions(VideoOptions):
    """Options of the `multiple_choice` type (docs/tasks.md explains each); the frame sampling
    ones (num_frames, fps, max_frames) apply to tasks that map the `video` role."""

    scorer: str = "vlmevalkit"
    prompt: str = DEFAULT_PROMPT
    open_prompt: str = OPEN_PROMPT
    option_format: str = "{letter}. {text}"
    hint_format: str = "{hint}\n"
    strip_question: bool = False
    remove_from_question: tuple[str, ...] = ()
    choice_columns: tuple[str, ...] = ()
    choices_in_question: str | None = None
    answer_format: str = "letter"
    open_value: str | None = None
    image_columns: tuple[str, ...] = ()
    interleave: bool = False
    circular: bool = False
    breakdown: tuple[str, ...] = ()
    breakdown_labels: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    fallback_seed: int = 42


def _mmmu_subject(q_id: str) -> str | None:
    from mmbench.metrics.mmmu import subject_of

    return subject_of(q_id)


def _mmmu_discipline(q_id: str) -> str | None:
    from mmbench.metrics.mmmu import DISCIPLINE_OF, subject_of

    return DISCIPLINE_OF.get(subject_of(q_id) or "")


#: breakdown keys computed from a question's id instead of read from a column
DERIVED_CATEGORIES = {"mmmu_subject": _mmmu_subject, "mmmu_discipline": _mmmu_discipline}
ANSWER_FORMATS = ("letter", "index", "text")
FRAME_OPTIONS = ("num_frames", "fps", "max_frames")


def _mmstar_choices(question: str) -> dict[str, str]:
    """Options listed as MMStar writes them: "Options: A: text, B: text, ..."."""
    _, found, listed = question.rpartition("Options:")
    return {k: v.strip() for k, v in _MMSTAR_OPTION.findall(listed)} if found else {}


def _listed_choices(question: str) -> dict[str, str]:
    """Options listed one per line as "A. text" (lmms-eval's RealWorldQA reading: lettered in
    order of listing)."""
    found = _LISTED_OPTION.findall(question)
    return {chr(ord("A") + i): text.strip() for i, (_, text) in enumerate(found)}


CHOICES_IN_QUESTION = {"mmstar": _mmstar_choices, "listed": _listed_choices}


class MultipleChoiceTask(TaskType):
    name = "multiple_choice"
    description = "multiple-choice VQA over one or several images, scored as each benchmark"
    roles = {
        "image": "the image (or a list of images); or map none and set options.image_columns",
        "video": "the video the question is about (instead of image); frames per the options",
        "question": "the question text",
        "answer": "the gold answer: an option letter, an option index (answer_format: index) or"
        " the option's text (answer_format: text)",
        "choices": "optional: the options, a list (or a string holding a Python list literal)",
        "hint": "optional: context shown before the question (MMBench hint, ScienceQA context)",
        "question_type": "optional: marks open questions (rows whose value is options.open_value)",
    }
    optional_roles = ("id", "image", "video", "choices", "hint", "question_type")
    metrics = {
        "accuracy": "share of questions answered correctly (the benchmark's own answer rule)",
        "circular_accuracy": "MMBench CircularEval: every circular shift of a question right",
        "vanilla_accuracy": "MMBench: accuracy on the unshifted questions only",
        "unparsed": "number of answers no rule could read (counted wrong; a judge would decide)",
        "random_fallbacks": "number of MMMU answers scored by its seeded random fallback",
    }
    options_class = MultipleChoiceOptions

    def required_roles(self, options: Any) -> list[str]:
        return ["question", "answer"]

    def validate(self, spec: TaskSpec) -> Any:
        options = super().validate(spec)
        where = f"task {spec.name!r}"
        scorer(options.scorer, spec.name)
        if options.answer_format not in ANSWER_FORMATS:
            raise MMBenchError(
                f"{where}: answer_format must be one of {', '.join(ANSWER_FORMATS)},"
                f" not {options.answer_format!r}"
            )
        visual = [role for role in ("image", "video") if role in spec.columns]
        if options.image_columns and visual:
            raise MMBenchError(
                f"{where}: map columns.{visual[0]} or set options.image_columns, not both"
            )
        if not options.image_columns and len(visual) != 1:
            raise MMBenchError(
                f"{where}: columns must map exactly one of image or video"
                " (or set options.image_columns for <image N> tags)"
            )
        frame_options = [k for k in FRAME_OPTIONS if k in spec.options]
        if frame_options and "video" not in spec.columns:
            raise MMBenchError(
                f"{where}: {frame_options[0]} samples video frames; map columns.video or drop it"
            )
        sources = [
            bool(options.choice_columns),
            "choices" in spec.columns,
            options.choices_in_question is not None,
        ]
        if sum(sources) > 1:
            raise MMBenchError(
                f"{where}: give the options one way: columns.choices, options.choice_columns"
                " or options.choices_in_question"
            )
        if (
            options.choices_in_question is not None
            and options.choices_in_question not in CHOICES_IN_QUESTION
        ):
            raise MMBenchError(
                f"{where}: choices_in_question must be one of"
                f" {', '.join(CHOICES_IN_QUESTION)}, not {options.choices_in_question!r}"
            )
        if not options.circular and {"circular_accuracy", "vanilla_accuracy"} & set(spec.metrics):
            raise MMBenchError(f"{where}: circular_accuracy and vanilla_accuracy need circular")
        if options.circular and "id" not in spec.columns:
            raise MMBenchError(f"{where}: circular needs columns.id (MMBench's index)")
        if "random_fallbacks" in spec.metrics and options.scorer != "mmmu":
            raise MMBenchError(f"{where}: random_fallbacks is reported by the mmmu scorer only")
        if options.open_value is not None and "question_type" not in spec.columns:
            raise MMBenchError(f"{where}: open_value needs columns.question_type")
        for template, fields in (
            (options.option_format, {"letter": "", "text": ""}),
            (options.hint_format, {"hint": ""}),
        ):
            check_template(template, fields, f"{where}:", ", ".join("{" + f + "}" for f in fields))
        for template in (options.prompt, options.open_prompt):
            check_template(
                template,
                {"question": "", "options": "", "context": ""},
                f"{where}: prompt",
                "{question}, {options} and {context}",
            )
        return options

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        return [GENERATE, GENERATE_MULTI_IMAGE] if options.image_columns else [GENERATE]

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        spec, options = ctx.spec, ctx.options
        score = scorer(options.scorer, spec.name)
        letter_answers = SCORERS[options.scorer].letter_answers
        ctx.table.require_columns(_option_columns(options), spec.name)
        sampling = options.sampling() if "video" in spec.columns else None
        if sampling is not None:
            from mmbench.data.media_paths import require_local_media

            require_local_media(spec.source, ctx.table, spec.name)
        failures: dict[str, str] = {}
        questions: list[Question] = []
        items: list[Any] = []
        for index, row in enumerate(ctx.table.rows):  # one pass: rows may be read from disk
            rid = row_id(row, spec.columns, index)
            if not all(str(row.get(k)) == str(v) for k, v in options.where.items()):
                continue
            try:
                question, refs = self._prepare(rid, row, spec, options, ctx, letter_answers)
            except (MMBenchError, MediaError) as err:
                if ctx.engine.config.on_error == "fail":
                    raise
                failures[rid] = str(err).removeprefix(f"row {rid}: ")
                continue
            questions.append(question)
            items.append(self._item(question, refs, options, sampling))
        out = ctx.engine.run(GENERATE, items, f"{spec.name}: generate")
        for index, message in out.failed.items():
            failures[questions[index].id] = message
        scored = [
            (q, out.outputs[i], score(out.outputs[i], q, options.fallback_seed))
            for i, q in enumerate(questions)
            if i not in out.failed
        ]
        metrics, per_sample, groups = _metrics(scored, spec.metrics, options.circular)
        samples = [
            _sample(q, pred, judged, per_sample, k, options.fallback_seed)
            for k, (q, pred, judged) in enumerate(scored)
        ]
        kept = [i for i in range(len(questions)) if i not in out.failed]
        for sample, i in zip(samples, kept, strict=True):
            if out.meta[i] is not None:  # the indices of the frames the model received
                sample["frame_indices"] = list(out.meta[i])
        samples += [{"id": rid, "error": message} for rid, message in failures.items()]
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(scored),
            ci=bootstrap_means(ctx, {m: per_sample[m] for m in ("accuracy",) if m in metrics}),
            failures=failures,
            breakdown=_breakdown(scored, per_sample, groups, options) or None,
        )

    # ------------------------------------------------------------------ rows
    def _prepare(
        self,
        rid: str,
        row: dict[str, Any],
        spec: TaskSpec,
        options: MultipleChoiceOptions,
        ctx: TaskContext,
        letter_answers: bool,
    ) -> tuple[Question, list[Any]]:
        columns = spec.columns
        if options.circular and not rid.strip().lstrip("-").isdigit():
            raise MMBenchError(f"row {rid}: CircularEval needs a whole-number index as the id")
        raw_question = _text(row[columns["question"]])
        question = raw_question
        for phrase in options.remove_from_question:
            question = question.replace(phrase, "")
        if options.strip_question:
            question = question.strip()
        is_open = (
            options.open_value is not None
            and str(row[columns["question_type"]]) == options.open_value
        )
        choices = {} if is_open else self._choices(rid, row, spec, options, raw_question)
        answer = self._answer(rid, row[columns["answer"]], choices, options, is_open)
        if letter_answers and answer not in choices:
            raise MMBenchError(
                f"row {rid}: answer {answer!r} is not one of the options"
                f" {', '.join(choices) or '(none)'}; fix the dataset or the task's columns"
            )
        hint = row.get(columns["hint"]) if "hint" in columns else None
        context = options.hint_format.format(hint=hint) if _present(hint) else ""
        listed = "\n".join(
            options.option_format.format(letter=k, text=v) for k, v in choices.items()
        )
        template = options.open_prompt if is_open else options.prompt
        prompt = template.format(question=question, options=listed, context=context)
        if options.image_columns:
            prompt, refs = self._tagged_images(rid, row, prompt, options, ctx)
        elif "video" in columns:
            refs = _video_ref(row[columns["video"]], rid, ctx)
        else:
            refs = _image_refs(row[columns["image"]], rid, ctx)
        categories = {}
        for key in options.breakdown:
            derive = DERIVED_CATEGORIES.get(key)
            value = derive(rid) if derive else row.get(key)
            if _present(value):
                value = str(value)
                categories[key] = options.breakdown_labels.get(value, value)
        q = Question(rid, raw_question, prompt, choices, answer, is_open, categories)
        return q, refs

    @staticmethod
    def _choices(
        rid: str,
        row: dict[str, Any],
        spec: TaskSpec,
        options: MultipleChoiceOptions,
        question: str,
    ) -> dict[str, str]:
        if options.choice_columns:
            cells = zip(string.ascii_uppercase, options.choice_columns, strict=False)
            # an absent option (None, NaN, "nan", "") is skipped, the others keep their letter
            return {k: str(row.get(c)) for k, c in cells if _present(row.get(c))}
        if options.choices_in_question is not None:
            found = CHOICES_IN_QUESTION[options.choices_in_question](question)
            if not found and options.choices_in_question == "mmstar":
                raise MMBenchError(
                    f"row {rid}: the question lists no options as 'Options: A: ..., B: ...'"
                )
            return found
        if "choices" not in spec.columns:
            return {}
        value = row[spec.columns["choices"]]
        if isinstance(value, str):
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                value = None
        if not isinstance(value, (list, tuple)) or not value or len(value) > 26:
            raise MMBenchError(
                f"row {rid}: options must be a non-empty list (or a string holding a Python"
                f" list) of at most 26 options, not {str(row[spec.columns['choices']])[:60]!r}"
            )
        return {k: str(v) for k, v in zip(string.ascii_uppercase, value, strict=False)}

    @staticmethod
    def _answer(rid: str, value: Any, choices: dict[str, str], options: Any, is_open: bool) -> Any:
        if is_open:
            from mmbench.metrics.mmmu import gold_answer

            return gold_answer(_text(value))
        if options.answer_format == "text":
            # MVBench: the gold answer is an option's text; its letter is the first equal one
            text = _text(value)
            found = [letter for letter, option in choices.items() if option == text]
            if not found:
                raise MMBenchError(
                    f"row {rid}: answer {text[:60]!r} is not the text of any option; fix the"
                    " dataset or the task's columns"
                )
            return found[0]
        if options.answer_format == "index":
            try:
                index = int(str(value).strip())
            except ValueError:
                index = -1
            if not 0 <= index < len(choices):
                raise MMBenchError(
                    f"row {rid}: answer {value!r} is not an option index 0..{len(choices) - 1}"
                )
            return list(choices)[index]
        return _text(value).strip()

    @staticmethod
    def _tagged_images(
        rid: str, row: dict[str, Any], prompt: str, options: Any, ctx: TaskContext
    ) -> tuple[str, list[Any]]:
        """The images a prompt's `<image N>` tags name, and the prompt the model gets."""
        tags = [int(n) for n in _IMAGE_TAG.findall(prompt)]
        if not tags:
            raise MMBenchError(f"row {rid}: no <image N> tag in the question or options")
        wanted = tags if options.interleave else sorted(set(tags))
        refs = []
        for n in wanted:
            column = options.image_columns[n - 1] if 0 < n <= len(options.image_columns) else None
            cell = row.get(column) if column else None
            if not _present(cell):
                raise MediaError(
                    f"row {rid}: the question shows <image {n}> but"
                    f" {column or f'image column {n}'} is empty; fix the dataset row"
                )
            refs.append(media_ref(cell, rid, ctx.table.base_dir))
        if options.interleave:
            prompt = _IMAGE_TAG.sub(IMAGE_MARKER, prompt)
        return prompt, refs

    @staticmethod
    def _item(
        question: Question, refs: list[Any], options: MultipleChoiceOptions, sampling: Any
    ) -> Any:
        if sampling is not None:
            return GenerationItem(refs[0], question.prompt, sampling)
        if len(refs) == 1 and not options.interleave:
            return GenerationItem(refs[0], question.prompt)  # shares the qa tasks' cache entries
        return ImagesGenerationItem(tuple(refs), question.prompt, options.interleave)


def _option_columns(options: MultipleChoiceOptions) -> dict[str, str]:
    """The dataset columns the options name, as {"options.<name>[i]": column} for the check.
    (Image columns are checked per row, where a tag names them: a JSON copy may leave out
    image_7 when no question shows seven images.)"""
    named = {
        "choice_columns": options.choice_columns,
        "where": tuple(options.where),
        "breakdown": tuple(k for k in options.breakdown if k not in DERIVED_CATEGORIES),
    }
    return {
        f"options.{key}[{i}]": column
        for key, columns in named.items()
        for i, column in enumerate(columns)
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _present(value: Any) -> bool:
    """False for the ways datasets write a missing cell: None, NaN, "nan", ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and value.strip() in ("", "nan"))


def _image_refs(value: Any, rid: str, ctx: TaskContext) -> list[Any]:
    cells = list(value) if isinstance(value, (list, tuple)) else [value]
    if not cells or not all(_present(c) for c in cells):
        raise MediaError(f"row {rid}: the image cell is empty; fix the dataset row")
    return [media_ref(c, rid, ctx.table.base_dir) for c in cells]


def _video_ref(value: Any, rid: str, ctx: TaskContext) -> list[Any]:
    if not _present(value):
        raise MediaError(f"row {rid}: the video cell is empty; fix the dataset row")
    return [media_ref(value, rid, ctx.table.base_dir)]


def _group(question: Question) -> str:
    return str(int(question.id) % CIRCULAR_STRIDE)


def _metrics(
    scored: list[tuple[Question, str, Judged]], names: tuple[str, ...], circular: bool
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, bool]]:
    """Task metrics, per-sample scores, and the CircularEval outcome of each question."""
    from mmbench.metrics.multiple_choice import circular_eval

    correct = [float(j.correct) for _, _, j in scored]
    per_sample: dict[str, list[float]] = {"accuracy": correct}
    groups: dict[str, bool] = {}
    if circular:
        groups = circular_eval([_group(q) for q, _, _ in scored], [j.correct for _, _, j in scored])
        per_sample["circular_accuracy"] = [float(groups[_group(q)]) for q, _, _ in scored]
    values = {
        "accuracy": _mean(correct),
        "circular_accuracy": _mean([float(v) for v in groups.values()]),
        "vanilla_accuracy": _mean(
            [float(j.correct) for q, _, j in scored if circular and int(q.id) < CIRCULAR_STRIDE]
        ),
        "unparsed": float(sum(j.unparsed for _, _, j in scored)),
        "random_fallbacks": float(sum(j.random_fallback for _, _, j in scored)),
    }
    return {m: values[m] for m in names}, per_sample, groups


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _sample(
    q: Question,
    prediction: str,
    judged: Judged,
    per_sample: dict[str, list[float]],
    k: int,
    seed: int,
) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "id": q.id,
        "question": q.question,
        "prompt": q.prompt,
        "choices": q.choices,
        "prediction": prediction,
        "answers": q.answer if isinstance(q.answer, list) else [q.answer],
        "parsed": judged.parsed,
        "scores": {m: values[k] for m, values in per_sample.items()},
    }
    if judged.unparsed:
        sample["unparsed"] = True
    if judged.random_fallback:
        sample["random_fallback"] = True
        sample["fallback_seed"] = seed  # the guess came from random.Random(f"{seed}:{id}")
    if "circular_accuracy" in per_sample:
        sample["group"] = _group(q)
    if q.categories:
        sample["category"] = q.categories
    return sample


def _breakdown(
    scored: list[tuple[Question, str, Judged]],
    per_sample: dict[str, list[float]],
    groups: dict[str, bool],
    options: MultipleChoiceOptions,
) -> dict[str, dict[str, float]]:
    """{category: {metric: value, "n": count}}; with several breakdown keys each category is
    named "key: value". "n" counts questions (CircularEval: unshifted questions)."""
    members: dict[str, list[int]] = {}
    for k, (q, _, _) in enumerate(scored):
        for key, value in q.categories.items():
            name = value if len(options.breakdown) == 1 else f"{key}: {value}"
            members.setdefault(name, []).append(k)
    out: dict[str, dict[str, float]] = {}
    for name, rows in sorted(members.items()):
        entry: dict[str, float] = {"accuracy": _mean([per_sample["accuracy"][k] for k in rows])}
        if options.circular:
            in_category = {_group(scored[k][0]) for k in rows}
            originals = [k for k in rows if int(scored[k][0].id) < CIRCULAR_STRIDE]
            entry["circular_accuracy"] = _mean([float(groups[g]) for g in sorted(in_category)])
            entry["vanilla_accuracy"] = _mean([per_sample["accuracy"][k] for k in originals])
            entry["n"] = len(in_category)
        else:
            entry["n"] = len(rows)
        out[name] = entry
    return out
