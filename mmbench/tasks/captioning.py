"""Image captioning (COCO Karpathy test, NoCaps, Flickr30k) scored exactly as pycocoevalcap does.

The model captions each image with the task's prompt; predictions are scored against the row's
reference captions with BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (and SPICE on request) under
pycocoevalcap's names and conventions (see docs/metrics_captioning.md). CIDEr-D's document
frequencies come from the evaluated set, so `--limit` changes CIDEr by more than sampling noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmbench.data.items import GenerationItem
from mmbench.metrics.registry import describe
from mmbench.models.base import GENERATE, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import (
    as_text_list,
    bootstrap_means,
    corpus_intervals,
    row_ids,
    visual_items,
)
from mmbench.tasks.spec import TaskSpec

#: descriptions from the metric registry (mmbench.metrics.registry), the one place they live
METRICS = describe(["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE"])
_FAMILY = {
    "Bleu_1": "bleu",
    "Bleu_2": "bleu",
    "Bleu_3": "bleu",
    "Bleu_4": "bleu",
    "METEOR": "meteor",
    "ROUGE_L": "rouge_l",
    "CIDEr": "cider_d",
    "SPICE": "spice",
}
# Corpus scores that are the plain mean of per-image scores, so a per-image bootstrap is exact.
_MEAN_OF_ITEMS = ("ROUGE_L", "CIDEr", "SPICE")


@dataclass(frozen=True)
class CaptioningOptions:
    prompt: str = "Provide a one-sentence caption for the provided image."
    #: split a single-string reference cell on this (e.g. "\n" for webdataset `txt` cells)
    text_separator: str | None = None


class CaptioningTask(TaskType):
    name = "captioning"
    description = "image captioning: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE (pycocoevalcap)"
    roles = {"image": "the image to caption", "references": "reference caption(s) of the image"}
    metrics = METRICS
    options_class = CaptioningOptions

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        return [GENERATE]

    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        from mmbench.metrics import caption_scores

        spec = ctx.spec
        ids = row_ids(ctx)
        references = {
            rid: as_text_list(
                row[spec.columns["references"]], "references", rid, ctx.options.text_separator
            )
            for rid, row in zip(ids, ctx.table.rows, strict=True)
        }
        items = [
            GenerationItem(v.ref, ctx.options.prompt) for v in visual_items(ctx, "image", ids, None)
        ]
        out = ctx.engine.run(GENERATE, items, f"{spec.name}: generate")
        kept = [i for i in range(len(ids)) if i not in out.failed]
        predictions = {ids[i]: out.outputs[i] for i in kept}
        families = tuple(dict.fromkeys(_FAMILY[m] for m in spec.metrics))
        scores = caption_scores(
            predictions, {ids[i]: references[ids[i]] for i in kept}, metrics=families
        )
        metrics = {m: float(scores["corpus"][m]) for m in spec.metrics if m in scores["corpus"]}
        samples = [
            {
                "id": ids[i],
                "prompt": ctx.options.prompt,
                "prediction": out.outputs[i],
                "references": references[ids[i]],
                "scores": {
                    m: v for m, v in scores["per_id"].get(ids[i], {}).items() if m in spec.metrics
                },
                **out.info.get(i, {}),
            }
            for i in kept
        ]
        per_item = {
            m: [scores["per_id"][ids[i]][m] for i in kept] for m in _MEAN_OF_ITEMS if m in metrics
        }
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci={
                **bootstrap_means(ctx, per_item),
                # BLEU sums n-gram counts over the corpus: recomputed on each resample.
                **corpus_intervals(
                    ctx,
                    [m for m in metrics if m.startswith("Bleu_")],
                    [
                        {"prediction": out.outputs[i], "references": references[ids[i]]}
                        for i in kept
                    ],
                ),
            },
            failures={ids[i]: msg for i, msg in out.failed.items()},
            metric_errors=dict(scores.get("errors", {})),
        )
