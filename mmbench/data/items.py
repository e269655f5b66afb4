"""The units of model work: one image, text, video or generation request.

Each item knows how to load its raw input (run inside DataLoader workers) and how to name its
content for the output cache. Items are small frozen dataclasses so they pickle cheaply into worker
processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mmbench.data.media import MediaRef, load_image
from mmbench.data.video import FrameSampling, load_video


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: where an image belongs in an interleaved prompt (lmms-eval's convention for MMMU's <image N>)
IMAGE_MARKER = "<image>"


@dataclass(frozen=True)
class GenerationInput:
    """One generation request: the visual input (one image, several images, or a video's
    frames) and a prompt. With `interleaved`, the prompt holds one `IMAGE_MARKER` per image, in
    the order of `images`, where that image belongs; otherwise the images come before the text.
    """

    images: tuple[Any, ...]
    prompt: str
    is_video: bool = False
    interleaved: bool = False
    #: the video's `MediaRef`, for adapters that send the file itself (`openai:` video=video_url)
    video: Any = None


@dataclass(frozen=True)
class TextItem:
    text: str

    def load(self) -> tuple[str, None]:
        return self.text, None

    def content_key(self) -> str:
        return "text:" + _sha(self.text)


@dataclass(frozen=True)
class ImageItem:
    ref: MediaRef

    def load(self) -> tuple[Any, None]:
        return load_image(self.ref), None

    def content_key(self) -> str:
        return "image:" + self.ref.content_hash()


@dataclass(frozen=True)
class VideoItem:
    """A clip; its meta output is the list of decoded frame indices."""

    ref: MediaRef
    sampling: FrameSampling

    def load(self) -> tuple[list[Any], list[int]]:
        clip = load_video(self.ref, self.sampling)
        return list(clip.frames), list(clip.indices)

    def content_key(self) -> str:
        return f"video:{self.ref.content_hash()}:{self.sampling.key()}"


@dataclass(frozen=True)
class GenerationItem:
    """A prompt about one image, or about a video's frames when `sampling` is set."""

    ref: MediaRef
    prompt: str
    sampling: FrameSampling | None = None

    def load(self) -> tuple[Any, list[int] | None]:
        if self.sampling is None:
            return GenerationInput(images=(load_image(self.ref),), prompt=self.prompt), None
        clip = load_video(self.ref, self.sampling)
        request = GenerationInput(
            images=clip.frames, prompt=self.prompt, is_video=True, video=self.ref
        )
        return request, list(clip.indices)

    def content_key(self) -> str:
        media = self.ref.content_hash()
        frames = self.sampling.key() if self.sampling else "image"
        return f"generate:{media}:{frames}:{_sha(self.prompt)}"


@dataclass(frozen=True)
class ImagesGenerationItem:
    """A prompt about several images (MMMU), in order; `interleaved` as in `GenerationInput`."""

    refs: tuple[MediaRef, ...]
    prompt: str
    interleaved: bool = False

    def load(self) -> tuple[GenerationInput, None]:
        images = tuple(load_image(ref) for ref in self.refs)
        return GenerationInput(images, self.prompt, interleaved=self.interleaved), None

    def content_key(self) -> str:
        media = ",".join(ref.content_hash() for ref in self.refs)
        layout = "interleaved" if self.interleaved else "images"
        return f"generate:{media}:{layout}:{_sha(self.prompt)}"
