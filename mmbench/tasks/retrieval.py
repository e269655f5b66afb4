"""Image <-> text and video <-> text retrieval (COCO / Flickr30k / MSR-VTT style).

Each row holds one image (or video) and its captions. Metrics follow the Karpathy-split
convention used by CLIP, CLIP_benchmark and the VSE literature: text->image is a hit when the
text's own image is in the top K; image->text is a hit when *any* of the image's captions is (see
`mmbench.metrics.retrieval`). Video tasks report the same numbers under v2t / t2v names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmbench.data.items import TextItem
from mmbench.errors import MMBenchError
from mmbench.metrics.registry import describe
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS, ModelAdapter
from mmbench.tasks.base import TaskContext, TaskOutput, TaskType
from mmbench.tasks.common import (
    VideoOptions,
    as_text_list,
    bootstrap_means,
    corpus_intervals,
    row_ids,
    visual_items,
)
from mmbench.tasks.common import visual_role as _visual_role
from mmbench.tasks.spec import TaskSpec

KS = (1, 5, 10)


def _metric_names(query: str, target: str) -> list[str]:
    names = []
    for direction in (f"{query}2{target}", f"{target}2{query}"):
        names += [f"{direction}_R@{k}" for k in KS]
        names += [f"{direction}_MdR", f"{direction}_MnR"]
    return names


#: descriptions from the metric registry (mmbench.metrics.registry), the one place they live
METRICS = describe([*_metric_names("i", "t"), *_metric_names("v", "t"), "RSUM"])


@dataclass(frozen=True)
class RetrievalOptions(VideoOptions):
    chunk_size: int = 1024
    #: split a single-string caption cell on this (e.g. "\n" for webdataset `txt` cells)
    text_separator: str | None = None


class RetrievalTask(TaskType):
    name = "retrieval"
    description = "image/video <-> text retrieval: R@1/5/10 both directions, MdR, MnR, RSUM"
    roles = {
        "image": "the image of each row (or map 'video' instead)",
        "video": "the video of each row (or map 'image' instead)",
        "texts": "the row's caption(s): a string or a list of strings",
    }
    metrics = METRICS
    options_class = RetrievalOptions

    def required_roles(self, options: Any) -> list[str]:
        return ["texts"]

    def validate(self, spec: TaskSpec) -> Any:
        options = super().validate(spec)
        role = _visual_role(spec.columns, spec.name)
        # i2t_/t2i_ metrics need an image column, v2t_/t2v_ ones a video column.
        other = ("v2t_", "t2v_") if role == "image" else ("i2t_", "t2i_")
        wrong = [m for m in spec.metrics if m.startswith(other)]
        if wrong:
            ours, needed = ("i2t_/t2i_", "video") if role == "image" else ("v2t_/t2v_", "image")
            raise MMBenchError(
                f"task {spec.name!r}: metric {wrong[0]!r} needs a {needed} column but the task"
                f" maps {role!r}; use the {ours} metrics"
            )
        return options

    def capabilities(self, spec: TaskSpec, options: Any, model: ModelAdapter) -> list[str]:
        role = _visual_role(spec.columns, spec.name)
        return [ENCODE_VIDEOS if role == "video" else ENCODE_IMAGES, ENCODE_TEXTS]

    def evaluate(self, ctx: TaskContext) -> TaskOutput:
        import torch

        from mmbench.metrics.retrieval import (
            l2_normalize_rows_,
            recall_from_ranks,
            retrieval_ranks,
        )

        spec, options = ctx.spec, ctx.options
        role = _visual_role(spec.columns, spec.name)
        ids = row_ids(ctx)
        captions = [
            as_text_list(row[spec.columns["texts"]], "texts", rid, options.text_separator)
            for rid, row in zip(ids, ctx.table.rows, strict=True)
        ]
        # Embeddings go straight into (possibly memory-mapped) matrices and are normalised and
        # compacted there, so a gallery larger than memory never needs a second copy.
        with ctx.engine.embedding_matrix(len(ids)) as visual_matrix:
            visual = ctx.engine.run(
                ENCODE_VIDEOS if role == "video" else ENCODE_IMAGES,
                visual_items(ctx, role, ids, options.sampling()),
                desc=f"{spec.name}: {role}s",
                into=visual_matrix,
            )
            kept = [i for i in range(len(ids)) if i not in visual.failed]
            texts = [t for i in kept for t in captions[i]]
            owner = [pos for pos, i in enumerate(kept) for _ in captions[i]]
            with ctx.engine.embedding_matrix(len(texts)) as text_matrix:
                ctx.engine.run(
                    ENCODE_TEXTS,
                    [TextItem(t) for t in texts],
                    f"{spec.name}: texts",
                    into=text_matrix,
                )
                visual_emb = l2_normalize_rows_(visual_matrix.rows(kept))
                text_emb = l2_normalize_rows_(text_matrix.rows(range(len(texts))))
                device = scoring_device(ctx.model.device, visual_emb, text_emb)
                ranks = retrieval_ranks(
                    visual_emb.to(device),
                    text_emb.to(device),
                    torch.tensor(owner, dtype=torch.long),
                    chunk_size=options.chunk_size,
                    normalized=True,
                )
        all_metrics = recall_from_ranks(ranks.i2t_ranks, ranks.t2i_ranks, ks=KS)
        if role == "video":
            all_metrics = {
                k.replace("i2t", "v2t").replace("t2i", "t2v"): v for k, v in all_metrics.items()
            }
        metrics = {m: float(all_metrics[m]) for m in spec.metrics}
        samples = self._samples(ids, kept, captions, ranks, visual.meta, role)
        per_item = self._per_item_hits(spec.metrics, ranks, role)
        return TaskOutput(
            metrics=metrics,
            samples=samples,
            n=len(kept),
            ci={
                **bootstrap_means(ctx, per_item),
                **corpus_intervals(ctx, spec.metrics, samples),
            },
            failures={ids[i]: msg for i, msg in visual.failed.items()},
        )

    @staticmethod
    def _samples(ids, kept, captions, ranks, meta, role) -> list[dict[str, Any]]:
        t2i = ranks.t2i_ranks.tolist()
        i2t = ranks.i2t_ranks.tolist()
        samples, cursor = [], 0
        for pos, i in enumerate(kept):
            count = len(captions[i])
            sample = {
                "id": ids[i],
                "references": captions[i],
                "rank_visual_to_text": i2t[pos],
                "ranks_text_to_visual": t2i[cursor : cursor + count],
            }
            if role == "video":
                sample["frame_indices"] = meta[i]
            samples.append(sample)
            cursor += count
        return samples

    @staticmethod
    def _per_item_hits(metric_names, ranks, role) -> dict[str, list[float]]:
        per_item = {}
        v, t = ("v", "t") if role == "video" else ("i", "t")
        for k in KS:
            per_item[f"{v}2{t}_R@{k}"] = (ranks.i2t_ranks <= k).float().tolist()
            per_item[f"{t}2{v}_R@{k}"] = (ranks.t2i_ranks <= k).float().tolist()
        per_item[f"{v}2{t}_MnR"] = ranks.i2t_ranks.float().tolist()
        per_item[f"{t}2{v}_MnR"] = ranks.t2i_ranks.float().tolist()
        return {name: values for name, values in per_item.items() if name in metric_names}


#: Rank on the GPU only when both embedding matrices take at most this share of its free memory.
GPU_SCORING_SHARE = 0.5


def scoring_device(model_device: str, *matrices: Any) -> str:
    """Where the similarity is computed: the model's GPU when the embeddings fit, else the CPU.

    A GPU ranks 100k x 500k in seconds where a CPU needs half an hour (benchmarks/README.md);
    memory-mapped galleries too large for the GPU stay on the CPU and are paged in tile by tile.
    Ranks are exact on either device, but not bitwise equal across devices (docs/metrics.md).
    """
    if not model_device.startswith("cuda"):
        return "cpu"
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(model_device))
    needed = sum(m.numel() * m.element_size() for m in matrices)
    return model_device if needed <= GPU_SCORING_SHARE * free else "cpu"
