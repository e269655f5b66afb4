"""The model adapter contract: one interface for embedding and generative models.

An adapter splits every capability into two halves (see docs/architecture.md):

* a picklable `Preprocessor` (decode -> resize -> normalise / tokenise) that runs inside DataLoader
  worker processes and turns one raw input into features, plus a `collate` that stacks features
  into a batch;
* a device call (`encode_images`, `encode_texts`, `encode_videos`, `generate`) that takes the
  collated batch and returns one output per input.

Raw inputs per capability:

==================  ==============================================================
capability          raw input given to the preprocessor
==================  ==============================================================
``encode_images``   an RGB ``PIL.Image.Image``
``encode_texts``    a ``str``
``encode_videos``   a ``list`` of RGB ``PIL.Image.Image`` frames
``generate``        a `GenerationInput` (images or video frames, plus the prompt)
==================  ==============================================================

Embeddings are returned unnormalised (float32, on CPU or the model's device); tasks L2-normalise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mmbench.data.items import GenerationInput
from mmbench.errors import CapabilityError

if TYPE_CHECKING:
    import torch

ENCODE_IMAGES = "encode_images"
ENCODE_TEXTS = "encode_texts"
ENCODE_VIDEOS = "encode_videos"
GENERATE = "generate"
#: not a device call: `generate` accepts several images in one prompt (MMMU); see GenerationInput
GENERATE_MULTI_IMAGE = "generate_multi_image"
ALL_CAPABILITIES = (ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS, GENERATE, GENERATE_MULTI_IMAGE)
__all__ = ["GenerationInput", "ModelAdapter", "ModelOptions", "Preprocessor"]


@dataclass(frozen=True)
class ModelOptions:
    """How to place and run a model; every field is recorded in the result JSON."""

    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    seed: int = 0
    generation: dict[str, Any] = field(default_factory=dict)
    #: `--model-args`, already validated against the scheme's `MODEL_ARGS` (see `models.args`)
    model_args: dict[str, Any] = field(default_factory=dict)


class Preprocessor(Protocol):
    """Picklable per-item preprocessing plus batching; runs inside DataLoader workers.

    Optionally also `merge(batches)`: several collated batches -> exactly what `collate` makes
    of all their features at once. Where it exists, the engine lets several workers load parts
    of one batch and merges them in the main process (`Engine._batches`).
    """

    def __call__(self, raw: Any) -> Any: ...

    def collate(self, features: list[Any]) -> Any: ...


class ModelAdapter(ABC):
    """Base class of every model adapter.

    Subclasses set `capabilities` to the subset of `ALL_CAPABILITIES` they implement, override the
    matching methods and `preprocessor`, and describe themselves in `fingerprint`, which is part of
    every cache key and result, so it must change whenever outputs could change (weights, revision,
    preprocessing, dtype).
    """

    uri: str = ""
    capabilities: frozenset[str] = frozenset()
    #: True when the adapter answers items one by one as they complete (`stream`), as a server
    #: client does; the engine then commits each answer to the cache as it arrives.
    streams: bool = False

    @abstractmethod
    def fingerprint(self) -> str:
        """Stable identity of everything that determines this adapter's outputs."""

    @abstractmethod
    def preprocessor(self, capability: str) -> Preprocessor:
        """The picklable preprocessor feeding `capability`'s device call."""

    @property
    def device(self) -> str:
        """Device the model runs on ('cpu', 'cuda', 'cuda:1', ...)."""
        return "cpu"

    def describe(self) -> dict[str, Any]:
        """Extra facts for the result JSON (resolved revision, dtype, generation settings ...)."""
        return {}

    def require(self, capability: str, task_name: str) -> None:
        """Raise a one-line `CapabilityError` when this adapter lacks `capability`."""
        if capability not in self.capabilities:
            have = ", ".join(sorted(self.capabilities)) or "none"
            raise CapabilityError(
                f"model {self.uri!r} cannot {capability.replace('_', ' ')} (it provides: {have}),"
                f" which task {task_name!r} needs; pick a model with that capability"
            )

    def encode_images(self, batch: Any) -> torch.Tensor:
        raise CapabilityError(f"model {self.uri!r} does not implement encode_images")

    def encode_texts(self, batch: Any) -> torch.Tensor:
        raise CapabilityError(f"model {self.uri!r} does not implement encode_texts")

    def encode_videos(self, batch: Any) -> torch.Tensor:
        """Default video embedding: the mean of the frame embeddings (as CLIP4Clip's mean-pooling).

        Works with the default `preprocessor(ENCODE_VIDEOS)` of `FramesPreprocessor`.
        """
        import torch

        flat, counts = batch
        frame_emb = self.encode_images(flat)
        return torch.stack([chunk.mean(dim=0) for chunk in frame_emb.split(counts)])

    def generate(self, batch: Any, **generation_kwargs: Any) -> list[str]:
        raise CapabilityError(f"model {self.uri!r} does not implement generate")

    def call(self, capability: str, batch: Any) -> Any:
        """Dispatch a collated batch to the capability's device call."""
        if capability not in self.capabilities:
            self.require(capability, "?")
        return getattr(self, capability)(batch)

    def stream(
        self, capability: str, batches: Iterable[tuple[list[int], Any]]
    ) -> Iterator[list[StreamedOutput]]:
        """Outputs of the items of many collated batches in completion order, each yield being
        the outputs that arrived together (only for adapters with `streams`). `batches` gives
        (item indices, collated batch) pairs and is read lazily, so requests of consecutive
        batches overlap."""
        raise CapabilityError(f"model {self.uri!r} does not stream outputs")

    def call_totals(self) -> dict[str, Any]:
        """Run totals of a served model (requests, retries, tokens, wall time); {} otherwise."""
        return {}

    def generated_tokens(self) -> int:
        """Tokens an in-process generator has produced so far in this process (0 if none)."""
        return 0


@dataclass(frozen=True)
class StreamedOutput:
    """One item's answer from `ModelAdapter.stream`: the output, or an error message when the
    item failed for good, plus per-item facts for the samples JSONL (latency, token usage)."""

    index: int
    output: Any = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FramesPreprocessor:
    """Turns a clip (list of frames) into per-frame image features; collates all frames of a batch
    into one image batch plus the frame count of each clip (consumed by `encode_videos`)."""

    image_preprocessor: Any

    def __call__(self, frames: Sequence[Any]) -> list[Any]:
        return [self.image_preprocessor(frame) for frame in frames]

    def collate(self, features: list[list[Any]]) -> tuple[Any, list[int]]:
        flat = [f for clip in features for f in clip]
        return self.image_preprocessor.collate(flat), [len(clip) for clip in features]

    @property
    def merge(self) -> Callable[[list[tuple[Any, list[int]]]], tuple[Any, list[int]]] | None:
        """Collated batches -> one (as `collate` of all their clips), where the image
        preprocessor can merge its batches; None otherwise (the engine then does not split)."""
        inner = getattr(self.image_preprocessor, "merge", None)
        if inner is None:
            return None

        def merge(batches: list[tuple[Any, list[int]]]) -> tuple[Any, list[int]]:
            return inner([b[0] for b in batches]), [n for b in batches for n in b[1]]

        return merge


def encoder_preprocessor(
    adapter: ModelAdapter, capability: str, image: Preprocessor, text: Preprocessor
) -> Preprocessor:
    """An image/text encoder's preprocessor for `capability`: a video is its frames as images
    (`FramesPreprocessor`, for the default `encode_videos`); a missing capability is the adapter's
    one-line `CapabilityError`."""
    if capability == ENCODE_IMAGES:
        return image
    if capability == ENCODE_TEXTS:
        return text
    if capability == ENCODE_VIDEOS:
        return FramesPreprocessor(image)
    adapter.require(capability, "?")
    raise AssertionError("unreachable")


def resolve_device(requested: str) -> str:
    """Map 'auto' to 'cuda' when a GPU is visible, else 'cpu'; pass explicit devices through."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        from mmbench.errors import MMBenchError

        raise MMBenchError(
            f"--device {requested} was asked for but no CUDA GPU is visible;"
            " use --device cpu or auto"
        )
    return requested
