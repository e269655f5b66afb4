"""A small deterministic adapter that counts the items reaching each capability."""

from __future__ import annotations

import hashlib

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
