"""Datasets written to folders the way users lay them out: photo files and JSONL rows."""

from __future__ import annotations

import json
from pathlib import Path


def write_photos(folder: Path, names=("astronaut", "chelsea", "coffee", "rocket")) -> list[Path]:
    """Save real skimage photos as PNG files; returns their paths."""
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        paths.append(path)
    return paths


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
