"""Shared fixtures: a small deterministic adapter and helpers that write datasets to tmp dirs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, GENERATE, ModelAdapter


class PixelPre:
    """Image -> 8x8 grayscale thumbnail as a float tensor (picklable)."""

    def __call__(self, image):
        import torch

        small = image.convert("L").resize((8, 8))
        return torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).float() / 255.0

    def collate(self, features):
        import torch

        return torch.stack(features)


class TextPre:
    def __call__(self, text):
        return text

    def collate(self, features):
        return list(features)


class GenPre:
    def __call__(self, request):
        return (request.images[0].size, request.prompt)

    def collate(self, features):
        return list(features)


class CountingAdapter(ModelAdapter):
    """Deterministic toy model that counts how many items reach each capability."""

    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS, GENERATE})

    def __init__(self) -> None:
        self.calls = {ENCODE_IMAGES: 0, ENCODE_TEXTS: 0, GENERATE: 0}

    def fingerprint(self) -> str:
        return "counting-adapter-v1"

    def preprocessor(self, capability):
        return {ENCODE_IMAGES: PixelPre(), ENCODE_TEXTS: TextPre(), GENERATE: GenPre()}[capability]

    def encode_images(self, batch):
        self.calls[ENCODE_IMAGES] += len(batch)
        return batch

    def encode_texts(self, batch):
        import torch

        self.calls[ENCODE_TEXTS] += len(batch)
        rows = []
        for text in batch:
            digest = hashlib.sha256(text.encode()).digest()
            rows.append(torch.tensor(list(digest[:16]), dtype=torch.float32))
        return torch.stack(rows)

    def generate(self, batch, **kwargs):
        self.calls[GENERATE] += len(batch)
        return [f"an image of size {w}x{h}" for (w, h), _ in batch]


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny models gain nothing from threads, and on a busy
    machine threads cost seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def counting_adapter() -> CountingAdapter:
    return CountingAdapter()


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
