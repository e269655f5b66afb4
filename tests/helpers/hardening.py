"""Builders for the hardening tests: expected result names, tiny datasets and task YAMLs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path


def expected_stem(task: str, uri: str, limit: int | None = None) -> str:
    """The documented result name, computed here independently of mmbench.results:
    `<task>__<safe uri>-<first 8 hex of sha256(uri)>[__limit-N]`, where the safe form replaces
    each run of characters other than letters, digits, '.', '-', '_' by one '_'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", uri).strip("_")
    stem = f"{task}__{safe}-{hashlib.sha256(uri.encode()).hexdigest()[:8]}"
    return stem if limit is None else f"{stem}__limit-{limit}"


def retrieval_yaml(folder: Path, name: str, source: Path, extra: str = "") -> Path:
    """A retrieval task over a local JSONL copy with id / image / captions columns."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ntype: retrieval\nversion: 1\ndescription: test\n"
        f"source: {{local: {json.dumps(str(source))}}}\n"
        "columns: {id: id, image: image, texts: captions}\n"
        "metrics: [i2t_R@1, t2i_R@1]\nheadline: t2i_R@1\n" + extra,
        encoding="utf-8",
    )
    return path


def photo_rows(folder: Path, count: int = 3) -> list[dict]:
    """`count` small distinct PNG images under folder/img and a row for each."""
    from PIL import Image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        image = Image.new("RGB", (16, 16), (40 * index, 255 - 40 * index, 7 * index))
        image.save(folder / "img" / f"p{index}.png")
        rows.append(
            {
                "id": f"p{index}",
                "image": f"img/p{index}.png",
                "captions": [f"picture {index}", f"image number {index}"],
            }
        )
    return rows
