"""Shared fixtures: a small deterministic adapter and helpers that write datasets to tmp dirs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

# shared builders and assertions live in tests/helpers; rewrite their asserts like the tests'
pytest.register_assert_rewrite("helpers")

from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, GENERATE, ModelAdapter  # noqa: E402


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


@pytest.fixture(scope="session")
def photos() -> list:
    """Real photos of different sizes and aspect ratios (`helpers.media.PHOTO_NAMES`), RGB."""
    from helpers.media import PHOTO_NAMES, photo

    return [photo(name) for name in PHOTO_NAMES]


@pytest.fixture(scope="session")
def clips(photos) -> list[tuple]:
    """Two 4-frame videos; a video's frames share one size, as decoded frames do."""
    frames = [im.resize((64, 48)) for im in photos]
    return [tuple(frames[:4]), tuple(frames[1:5])]


@pytest.fixture(scope="session")
def local_copy(tmp_path_factory):
    """name -> (data_dir, rows): each public task's tiny copy in its hub schema, built on first
    use (`helpers.hub_copies`)."""
    from helpers.hub_copies import local_copies

    return local_copies(tmp_path_factory)


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
