"""Zero-shot image classification, CLIP-style (Radford et al., 2021).

Embedding models: each class's text embedding is the mean of its L2-normalised prompt embeddings
over all templates, normalised again (CLIP's prompt ensembling, as in CLIP_benchmark); an image is
assigned the class with the highest cosine similarity. Generative models (`mode: generate`, or
`auto` for a model without encoders) are asked to name the class; the answer is matched to the
class names after VQA-style normalisation, and an answer matching no class counts as wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.data.items import GenerationItem, TextItem
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, GENERATE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import bootstrap_means, row_ids, visual_items
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

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "embedding", "generate"):
            raise ValueError(f"mode must be auto, embedding or generate, not {self.mode!r}")


class ClassificationTask(TaskType):
    name = "classification"
    description = "zero-shot classification: top-1, top-5, mean per-class recall"
    roles = {"image": "the image to classify", "label": "class index or class name"}
    metrics = {
        "top1": "share of images whose top-scoring class is correct",
        "top5": "share of images whose correct class is among the 5 top-scoring",
        "mean_per_class_recall": "recall averaged over classes (balanced accuracy)",
    }
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
        if self._mode(options, ctx.model) == "generate":
            logits, kept, predictions, failed = self._generate(ctx, classes, ids, labels)
        else:
            logits, kept, failed = self._embed(ctx, classes, ids)
            predictions = None
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
            if predictions is not None:
                sample["prediction"] = predictions[pos]
            samples.append(sample)
        per_item = {"top1": [float(s["correct"]) for s in samples]}
        per_item["top5"] = [float(labels[i] in ranked[p]) for p, i in enumerate(kept)]
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci=bootstrap_means(ctx, {k: v for k, v in per_item.items() if k in spec.metrics}),
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
        return logits, kept, [out.outputs[i] for i in kept], out.failed


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
    data = json.loads(path.read_text(encoding="utf-8"))
    return [str(c) for c in (data["classes"] if isinstance(data, dict) else data)]


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
