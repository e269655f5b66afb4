"""Pieces several task types share: turning rows into media items, frame-sampling options,
failure bookkeeping and bootstrap intervals of per-sample scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mmbench.data.items import ImageItem, VideoItem
from mmbench.data.media import media_ref
from mmbench.data.video import FrameSampling
from mmbench.errors import MediaError, MMBenchError
from mmbench.tasks.base import TaskContext, row_id


@dataclass(frozen=True)
class VideoOptions:
    """Frame sampling for video tasks (see mmbench.data.video)."""

    num_frames: int = 8
    fps: float | None = None
    max_frames: int = 32

    def sampling(self) -> FrameSampling:
        return FrameSampling(num_frames=self.num_frames, fps=self.fps, max_frames=self.max_frames)


def visual_role(spec_columns: dict[str, str], task: str) -> str:
    """'image' or 'video': whichever of the two roles the task maps (exactly one)."""
    present = [r for r in ("image", "video") if r in spec_columns]
    if len(present) != 1:
        raise MMBenchError(f"task {task!r}: columns must map exactly one of 'image' or 'video'")
    return present[0]


def row_ids(ctx: TaskContext) -> list[str]:
    return [row_id(row, ctx.spec.columns, i) for i, row in enumerate(ctx.table.rows)]


def visual_items(
    ctx: TaskContext, role: str, ids: Sequence[str], sampling: FrameSampling | None
) -> list:
    """One ImageItem / VideoItem per row; an unusable cell is a MediaError naming the row."""
    column = ctx.spec.columns[role]
    base = ctx.table.base_dir
    items = []
    for rid, row in zip(ids, ctx.table.rows, strict=True):
        try:
            ref = media_ref(row[column], rid, base)
        except MediaError:
            if ctx.engine.config.on_error == "fail":
                raise
            ref = media_ref(b"", rid)
        items.append(VideoItem(ref, sampling) if role == "video" else ImageItem(ref))
    return items


# Keys under which datasets nest the text of a caption or answer (COCO "raw", VQAv2 "answer").
TEXT_KEYS = ("raw", "answer", "caption", "text")


def as_text_list(value: Any, what: str, rid: str, separator: str | None = None) -> list[str]:
    """A cell holding one string, a list of strings, or dicts with a text key, as a list.

    With `separator`, a single string holding several texts (the webdataset `txt` convention:
    one caption per line) is split on it and empty pieces are dropped.
    """
    if isinstance(value, str):
        # "\n" means "one per line" whatever the line ending, as str.splitlines does.
        texts = (
            value.splitlines()
            if separator == "\n"
            else value.split(separator)
            if separator
            else [value]
        )
    elif isinstance(value, dict):
        texts = [_text_of(value, what, rid)]
    elif isinstance(value, (list, tuple)):
        texts = [_text_of(v, what, rid) if isinstance(v, dict) else str(v) for v in value]
    else:
        texts = []
    texts = [t.strip() for t in texts] if separator else texts
    texts = [t for t in texts if t] if separator else texts
    if not texts:
        raise MMBenchError(f"row {rid}: {what} must be a string or a non-empty list of strings")
    return texts


def _text_of(cell: dict[str, Any], what: str, rid: str) -> str:
    for key in TEXT_KEYS:
        if key in cell:
            return str(cell[key])
    raise MMBenchError(
        f"row {rid}: {what} holds dicts without a text key ({', '.join(TEXT_KEYS)});"
        " map a column of plain strings"
    )


def bootstrap_means(
    ctx: TaskContext, per_item: dict[str, Sequence[float]], statistic: Callable | None = None
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals of per-item scores, when `--bootstrap N` asked for them."""
    if ctx.bootstrap <= 0:
        return {}
    import numpy as np

    from mmbench.metrics import bootstrap_ci

    stat = statistic or np.mean
    out = {}
    for name, values in per_item.items():
        lo, hi = bootstrap_ci(np.asarray(values, dtype=float), stat, n=ctx.bootstrap, seed=ctx.seed)
        out[name] = [float(lo), float(hi)]
    return out


def corpus_intervals(
    ctx: TaskContext, names: Sequence[str], samples: Sequence[dict[str, Any]]
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals of the corpus metrics in `names` (median ranks, RSUM, BLEU,
    mean per-class recall), recomputed from the samples records as the metric registry says,
    when `--bootstrap N` asked for intervals. Same resamples as `bootstrap_means` for one seed."""
    if ctx.bootstrap <= 0 or not samples:
        return {}
    from mmbench.metrics.registry import metric_info
    from mmbench.metrics.sample_stats import bootstrap_interval

    out = {}
    for name in names:
        info = metric_info(name)
        if info.aggregation == "corpus" and info.bootstrap:
            lo, hi = bootstrap_interval(name, samples, n=ctx.bootstrap, seed=ctx.seed)
            out[name] = [float(lo), float(hi)]
    return out
