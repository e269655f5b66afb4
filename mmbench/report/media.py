"""Thumbnails for the report, read through each task's own dataset source.

Result files hold no pixels, so the report opens the task's source the way `mmbench run` does
(the run's recorded `--data-dir`, a `--data-dir TASK=DIR` given to `report`, the YAML's local
copy, or the Hugging Face cache) and writes one small JPEG per sample: the image shrunk to fit
160x160, or for a video a strip of its uniformly sampled frames, each 64 pixels high. A thumbnail
is named by a hash of the task, the sample id and the medium's content key, so rebuilding a report
into the same folder reuses it. When the data cannot be opened the reason is returned instead and
the sample view says it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MediaError, MMBenchError
from mmbench.results import atomic_write_bytes, safe_name

THUMB_BOX = (160, 160)
STRIP_HEIGHT = 64
STRIP_FRAMES = 8
#: column roles whose dataset values are shown beside a sample (captions, answers, questions)
TEXT_ROLES = ("question", "texts", "references", "answers", "label", "choices")


@dataclass
class TaskMedia:
    """A task's thumbnails (sample id -> path relative to the report root) and dataset texts."""

    thumbs: dict[str, str] = field(default_factory=dict)
    texts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: why there are no images (empty when the data was read)
    note: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def task_media(
    task: str,
    fingerprint: str,
    data_dir: Path | None,
    out_dir: Path,
    wanted: set[str],
    limit: int | None = None,
) -> TaskMedia:
    """Thumbnails and dataset texts for the `wanted` sample ids of `task`, written once under
    `out_dir/media/<task>/`; a `TaskMedia` with a `note` when the data is unavailable. `limit`:
    the run's `--limit` rows, over which its data fingerprint was computed."""
    from mmbench.data.sources import open_source
    from mmbench.tasks import load_task
    from mmbench.tasks.base import row_id

    try:
        spec = load_task(task)
        table = open_source(spec.source, data_dir)
    except MMBenchError as err:
        return TaskMedia(note=f"no images: the dataset could not be opened ({err})")
    from mmbench.data.media_fingerprint import media_fingerprint

    # a local copy's recorded fingerprint also covers the media files its rows name
    if fingerprint and fingerprint not in (
        table.fingerprint,
        media_fingerprint(table.head(limit), spec.columns),
    ):
        return TaskMedia(
            note=f"no images: the dataset found ({table.fingerprint}) is not the one evaluated"
            f" ({fingerprint}); pass --data-dir {task}=DIR with the copy the run used"
        )
    role = next((r for r in ("image", "video") if r in spec.columns), None)
    media = TaskMedia(note="" if role else "this task has no images or videos")
    for index, row in enumerate(table.rows):
        rid = row_id(row, spec.columns, index)
        if rid not in wanted:
            continue
        media.texts[rid] = {
            f"{r} (dataset)": _plain(row.get(spec.columns[r]))
            for r in TEXT_ROLES
            if r in spec.columns
        }
        if role is None or rid in media.thumbs:
            continue
        try:
            thumb = _thumbnail(task, rid, row[spec.columns[role]], role, table, spec)
            target = out_dir / thumb
            if not target.exists():  # a missing or broken medium fails here, as that sample
                atomic_write_bytes(target, _render(rid, row[spec.columns[role]], role, table, spec))
        except (MediaError, MMBenchError) as err:
            media.errors[rid] = str(err)
            continue
        media.thumbs[rid] = thumb
    if role and not media.thumbs and wanted:
        media.note = "no images: none of the samples' media could be read"
    return media


def _thumbnail(task: str, rid: str, cell: Any, role: str, table: Any, spec: Any) -> str:
    """The thumbnail's path relative to the report root (named by what it shows)."""
    from mmbench.data.media import media_ref

    ref = media_ref(cell, rid, table.base_dir)
    key = ref.path if ref.path is not None and ref.frames is None else ref.content_hash()
    digest = hashlib.sha256(f"{task}\0{rid}\0{role}\0{key}".encode()).hexdigest()[:20]
    return f"media/{safe_name(task)}/{digest}.jpg"


def _render(rid: str, cell: Any, role: str, table: Any, spec: Any) -> bytes:
    from PIL import Image

    from mmbench.data.media import load_image, media_ref
    from mmbench.data.video import FrameSampling, load_video

    ref = media_ref(cell, rid, table.base_dir)
    if role == "image":
        image = load_image(ref)
        image.thumbnail(THUMB_BOX)
    else:
        frames = spec.options.get("num_frames", STRIP_FRAMES)
        clip = load_video(ref, FrameSampling(num_frames=min(int(frames), STRIP_FRAMES)))
        scaled = [
            f.resize((max(1, round(f.width * STRIP_HEIGHT / f.height)), STRIP_HEIGHT))
            for f in clip.frames
        ]
        image = Image.new("RGB", (sum(f.width for f in scaled), STRIP_HEIGHT))
        x = 0
        for frame in scaled:
            image.paste(frame, (x, 0))
            x += frame.width
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """A dataset cell as JSON-ready text: strings, numbers, and lists or dicts of them."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"
