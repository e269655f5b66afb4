"""Zero-shot image classification, CLIP-style (Radford et al., 2021).

Embedding models: each class's text embedding is the mean of its L2-normalised prompt embeddings
over all templates, normalised again (CLIP's prompt ensembling, as in CLIP_benchmark); an image is
assigned the class with the highest cosine similarity. Generative models (`mode: generate`, or
`auto` for a model without encoders) are asked to name the class; the answer is matched to the
class names after VQA-style normalisation, and an answer matching no class counts as wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.data.items import GenerationItem, TextItem
from mmbench.metrics.registry import describe
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, GENERATE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import bootstrap_means, corpus_intervals, row_ids, visual_items
from mmbench.tasks.spec import TaskSpec

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_PROMPT = (
    "What is the main subject of this image? Answer with one of: {classes}. Answer with the"
    " option's name only."
)


@dataclass(frozen=True)
class ClassificationOptions:
    #: class names: a list, "features" (the label column's ClassLabel names), "asset:<key>" (CLIP's
    #: names shipped with mmbench, e.g. asset:imagenet1k), or a JSON file path relative to the YAML
    classes: Any = "features"
    #: prompt templates with `{c}` for the class name: a list or "asset:<key>"
    templates: Any = field(default_factory=lambda: ["a photo of a {c}."])
    mode: str = "auto"
    prompt: str = DEFAULT_PROMPT
    #: literal substring -> replacement applied to every class name before it enters a template,
    #: the generation prompt or the samples (e.g. {"_": " "} turns "maple_tree" into "maple tree");
    #: see `replace_substrings` for the (order-free) convention
    class_name_replace: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "embedding", "generate"):
            raise ValueError(f"mode must be auto, embedding or generate, not {self.mode!r}")
        _check_replacements(self.class_name_replace)
        _check_templates(self.templates)


class ClassificationTask(TaskType):
    name = "classification"
    description = "zero-shot classification: top-1, top-5, mean per-class recall"
    roles = {"image": "the image to classify", "label": "class index or class name"}
    metrics = describe(["top1", "top5", "mean_per_class_recall"])
    options_class = ClassificationOptions

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        if self._mode(options, model) == "generate":
            return [GENERATE]
        return [ENCODE_IMAGES, ENCODE_TEXTS]

    @staticmethod
    def _mode(options: ClassificationOptions, model: ModelAdapter) -> str:
        if options.mode != "auto":
            return options.mode
        encoders = {ENCODE_IMAGES, ENCODE_TEXTS} <= model.capabilities
        return "embedding" if encoders or GENERATE not in model.capabilities else "generate"

    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        import torch

        from mmbench.metrics import classification_accuracy, mean_per_class_recall

        spec, options = ctx.spec, ctx.options
        classes = resolve_classes(options.classes, ctx)
        ids = row_ids(ctx)
        labels = [
            label_index(row[spec.columns["label"]], classes, rid)
            for rid, row in zip(ids, ctx.table.rows, strict=True)
        ]
        # Label cells name classes as the dataset or class list spells them, so they are matched
        # before the clean-up; everything the model sees or the samples report uses clean names.
        classes = clean_class_names(classes, options.class_name_replace, spec.name)
        if self._mode(options, ctx.model) == "generate":
            logits, kept, predictions, failed, info = self._generate(ctx, classes, ids, labels)
        else:
            logits, kept, failed = self._embed(ctx, classes, ids)
            predictions, info = None, {}
        target = torch.tensor([labels[i] for i in kept], dtype=torch.long)
        scores = classification_accuracy(logits, target, ks=(1, 5))
        scores["mean_per_class_recall"] = mean_per_class_recall(logits, target)
        metrics = {m: float(scores[m]) for m in spec.metrics}
        ranked = logits.argsort(dim=1, descending=True, stable=True)[:, :5].tolist()
        samples = []
        for pos, i in enumerate(kept):
            sample = {
                "id": ids[i],
                "label": classes[labels[i]],
                "top5": [classes[c] for c in ranked[pos]],
            }
            sample["correct"] = ranked[pos][0] == labels[i]
            # generate mode: the model's own words; embedding mode: the top-1 class
            sample["prediction"] = (
                predictions[pos] if predictions is not None else sample["top5"][0]
            )
            sample["scores"] = {
                "top1": float(sample["correct"]),
                "top5": float(labels[i] in ranked[pos]),
            }
            sample.update(info.get(i, {}))
            samples.append(sample)
        per_item = {"top1": [float(s["correct"]) for s in samples]}
        per_item["top5"] = [float(labels[i] in ranked[p]) for p, i in enumerate(kept)]
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci={
                **bootstrap_means(ctx, {k: v for k, v in per_item.items() if k in spec.metrics}),
                **corpus_intervals(ctx, spec.metrics, samples),
            },
            failures={ids[i]: msg for i, msg in failed.items()},
        )

    def _embed(self, ctx: TaskContext, classes: list[str], ids: list[str]):
        import torch

        images = ctx.engine.run(
            ENCODE_IMAGES, visual_items(ctx, "image", ids, None), f"{ctx.spec.name}: images"
        )
        kept = [i for i in range(len(ids)) if i not in images.failed]
        class_emb = class_embeddings(ctx, classes, resolve_templates(ctx.options.templates))
        image_emb = torch.nn.functional.normalize(images.stacked(kept), dim=-1)
        return image_emb @ class_emb.T, kept, images.failed

    def _generate(self, ctx: TaskContext, classes: list[str], ids: list[str], labels: list[int]):
        import torch

        from mmbench.metrics import normalize_vqa_answer

        prompt = ctx.options.prompt.format(classes=", ".join(classes))
        items = [GenerationItem(v.ref, prompt) for v in visual_items(ctx, "image", ids, None)]
        out = ctx.engine.run(GENERATE, items, f"{ctx.spec.name}: generate")
        kept = [i for i in range(len(ids)) if i not in out.failed]
        by_name = {normalize_vqa_answer(c): k for k, c in enumerate(classes)}
        # One-hot scores of the named class; when the answer is wrong or names no class, the true
        # class gets the lowest score so that it is outside every top-k.
        logits = torch.zeros(len(kept), len(classes))
        for pos, i in enumerate(kept):
            match = by_name.get(normalize_vqa_answer(out.outputs[i]))
            if match is not None:
                logits[pos, match] = 1.0
            if match != labels[i]:
                logits[pos, labels[i]] = -1.0
        return logits, kept, [out.outputs[i] for i in kept], out.failed, out.info


def class_embeddings(ctx: TaskContext, classes: list[str], templates: list[str]):
    """CLIP prompt ensembling: mean of normalised template embeddings per class, renormalised."""
    import torch

    prompts = [template.replace("{c}", name) for name in classes for template in templates]
    out = ctx.engine.run(ENCODE_TEXTS, [TextItem(p) for p in prompts], f"{ctx.spec.name}: prompts")
    emb = torch.nn.functional.normalize(out.stacked(range(len(prompts))), dim=-1)
    emb = emb.reshape(len(classes), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(emb, dim=-1)


def resolve_classes(value: Any, ctx: TaskContext) -> list[str]:
    """Class names from the options (see `ClassificationOptions.classes`)."""
    from mmbench.data.sources import class_names_from_features
    from mmbench.errors import MMBenchError

    if isinstance(value, list):
        return [str(v) for v in value]
    if value == "features":
        names = class_names_from_features(ctx.table, ctx.spec.columns["label"])
        if names is None:
            raise MMBenchError(
                f"task {ctx.spec.name!r}: the label column has no ClassLabel names; list the"
                " classes in options.classes"
            )
        return names
    if isinstance(value, str) and value.startswith("asset:"):
        return _asset("classnames.json", value[len("asset:") :], ctx.spec.name)
    path = Path(str(value))
    if not path.is_absolute() and ctx.spec.path is not None:
        path = ctx.spec.path.parent / path
    if not path.is_file():
        raise MMBenchError(f"task {ctx.spec.name!r}: class list file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MMBenchError(
            f"task {ctx.spec.name!r}: class list file {path} is not UTF-8 JSON ({err});"
            ' write a JSON list of names or {"classes": [...]}'
        ) from err
    names = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(names, list) or not names:
        raise MMBenchError(
            f"task {ctx.spec.name!r}: class list file {path} holds no list of class names;"
            ' write a JSON list of names or {"classes": [...]}'
        )
    return [str(c) for c in names]


def _check_replacements(value: Any) -> None:
    """Raise a one-line ValueError unless `value` maps non-empty strings to strings."""
    fix = 'write it as a mapping of quoted strings, e.g. class_name_replace: {"_": " "}'
    if not isinstance(value, dict):
        raise ValueError(f"class_name_replace must be a mapping, not {value!r}; {fix}")
    for old, new in value.items():
        if not isinstance(old, str) or not old:
            raise ValueError(f"class_name_replace: key {old!r} is not a non-empty string; {fix}")
        if not isinstance(new, str):
            raise ValueError(
                f"class_name_replace: the replacement of {old!r} is {new!r}, not a string; {fix}"
            )


def replace_substrings(text: str, replacements: dict[str, str]) -> str:
    """`text` with every occurrence of a key of `replacements` replaced by its value.

    One left-to-right pass: where several keys match at the same position the longest wins, and
    inserted text is never searched again. The result therefore depends on the mapping's content
    and not on its key order, which `TaskSpec.spec_hash` does not record (it sorts keys).
    """
    if not replacements:
        return text
    keys = sorted(replacements, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda match: replacements[match.group(0)], text)


def clean_class_names(classes: list[str], replacements: dict[str, str], task: str) -> list[str]:
    """Apply `class_name_replace` to each class name; it may not empty a name or merge two."""
    from mmbench.errors import MMBenchError

    if not replacements:
        return list(classes)
    cleaned = [replace_substrings(name, replacements) for name in classes]
    first: dict[str, int] = {}
    for index, name in enumerate(cleaned):
        if not name.strip() and classes[index].strip():
            raise MMBenchError(
                f"task {task!r}: options.class_name_replace turns class {index}"
                f" ({classes[index]!r}) into an empty name; change that replacement"
            )
        if name in first and classes[first[name]] != classes[index]:
            raise MMBenchError(
                f"task {task!r}: options.class_name_replace turns classes {first[name]}"
                f" ({classes[first[name]]!r}) and {index} ({classes[index]!r}) into the same name"
                f" {name!r}; change or drop the replacement that merges them"
            )
        first.setdefault(name, index)
    return cleaned


def _check_templates(value: Any) -> None:
    """Raise a one-line ValueError unless every template names the class with `{c}`: a template
    without it gives every class the same text embedding, so every image ties."""
    if isinstance(value, str) and value.startswith("asset:"):
        return
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"templates must be a non-empty list of strings or 'asset:<key>', not {value!r}"
        )
    for template in value:
        if not isinstance(template, str) or "{c}" not in template:
            raise ValueError(
                f"template {template!r} has no {{c}} placeholder for the class name;"
                " write e.g. 'a photo of a {c}.'"
            )


def resolve_templates(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("asset:"):
        return _asset("zeroshot_templates.json", value[len("asset:") :], "templates")
    return [str(v) for v in value]


def _asset(file: str, key: str, what: str) -> list[str]:
    from mmbench.errors import MMBenchError, did_you_mean

    data = json.loads((ASSETS / file).read_text(encoding="utf-8"))
    if key not in data:
        raise MMBenchError(f"{what}: no asset {key!r} in {file}{did_you_mean(key, data)}")
    return list(data[key])


def label_index(value: Any, classes: list[str], rid: str) -> int:
    """A label cell as a class index: an int in range, or a class name."""
    from mmbench.errors import MMBenchError

    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    if isinstance(value, str) and value in classes:
        return classes.index(value)
    raise MMBenchError(
        f"row {rid}: label {value!r} is neither a class index below {len(classes)} nor a class"
        " name; fix the label column or options.classes"
    )
