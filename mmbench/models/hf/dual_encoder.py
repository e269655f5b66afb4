"""`hf:` dual encoders (CLIP, SigLIP, SigLIP2, ALIGN, ...): image and text embeddings from
``get_image_features`` / ``get_text_features``; capabilities ``encode_images``, ``encode_texts``
and ``encode_videos`` (mean of frames)."""

from __future__ import annotations

import dataclasses
import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    Preprocessor,
    encoder_preprocessor,
)
from mmbench.models.common import MICRO_BATCH, dtype_name, run_fixed_chunks, stable_hash
from mmbench.models.hf.adapter import ADAPTER_VERSION, HFAdapter, preprocessing_identity, to_device
from mmbench.models.hf.families import DUAL_ENCODER
from mmbench.models.hf.pil_resize import PilResizeCrop, pil_resize_crop
from mmbench.models.hf.pixels import DEVICE_STEPS, DevicePixels, value_table
from mmbench.models.hf.source import HFSource
from mmbench.models.pixel_table import DeviceTable

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# The same as ADAPTER_VERSION for the dual-encoder path alone, so that a change here keeps
# generators' cache entries. 2: images go through the image processor itself (see
# HFImagePreprocessor).
DUAL_ENCODER_VERSION = 2

# Text lengths the text towers of known dual-encoder families were trained with, used only when
# neither the processor's defaults nor the tokenizer say (keyed by config.model_type, not repo id).
_TRAINED_TEXT_LENGTH = {"siglip": 64, "siglip2": 64, "align": 64}


def merge_stacked(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Dicts of stacked tensors -> one dict: the concatenation of stacks is the stack of all
    their rows, copied, so merging collated parts equals collating every feature at once."""
    import torch

    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def accepted_kwargs(method: Any, features: dict[str, Any]) -> dict[str, Any]:
    """Keep only the features `method` names as parameters."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return dict(features)
    named = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {k: v for k, v in features.items() if k in named}


def embedding_of(output: Any) -> torch.Tensor:
    """The projected embedding from get_*_features, which is a tensor in transformers 4 and a
    ModelOutput whose pooler_output holds the projection in transformers 5."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for key in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, key, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find an embedding in {type(output).__name__}")


@dataclass(frozen=True)
class HFImagePreprocessor:
    """One PIL image -> this model's pixel inputs (pixel_values, plus e.g. SigLIP2's
    pixel_attention_mask / spatial_shapes); `collate` stacks them.

    Images go to the image processor itself, not through the combined processor: in transformers 5
    a processor's class-level image defaults override its image processor's saved settings
    (Siglip2Processor always passes patch_size=16 and max_num_patches=256), so a checkpoint saved
    with other settings would be cut into patches its model cannot take, or resized to another
    patch budget than the one it was saved with.

    With `uint8`, the processor stops after resize and crop and the pixels stay uint8 (4x fewer
    bytes through the worker queues); the adapter's device call rescales and normalises them
    (`mmbench.models.hf.pixels`), bitwise as the processor would have. With `direct` too, the
    resize and crop are called without the processor's per-image overhead (`pil_resize.py`).
    """

    image_processor: Any
    uint8: bool = False
    direct: PilResizeCrop | None = None

    def __call__(self, image: Any) -> dict[str, Any]:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        if self.uint8 and self.direct is not None:
            return {"pixel_values": self.direct(image)}
        steps = DEVICE_STEPS if self.uint8 else {}
        out = self.image_processor(images=[image], return_tensors="pt", **steps)
        return {k: v[0] for k, v in out.items() if hasattr(v, "shape")}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        return {key: torch.stack([f[key] for f in features]) for key in features[0]}

    def merge(self, batches: list[dict[str, Any]]) -> dict[str, Any]:
        """Collated batches -> the batch `collate` makes of all their features (bitwise)."""
        return merge_stacked(batches)


@dataclass(frozen=True)
class HFTextPreprocessor:
    """One text -> input_ids / attention_mask padded to a fixed `max_length`.

    Padding every text to the same length (the tower's trained text length) makes each row's
    computation identical whatever else is in the batch, so embeddings do not depend on batch
    size; it is also what SigLIP needs (it pools the last position and has no attention mask).
    """

    tokenizer: Any
    max_length: int

    def __call__(self, text: str) -> dict[str, Any]:
        out = self.tokenizer(
            [text],
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {k: v[0] for k, v in out.items() if hasattr(v, "shape")}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        return {key: torch.stack([f[key] for f in features]) for key in features[0]}

    def merge(self, batches: list[dict[str, Any]]) -> dict[str, Any]:
        """Collated batches -> the batch `collate` makes of all their features (bitwise)."""
        return merge_stacked(batches)


def text_length(processor: Any, tokenizer: Any, config: Any) -> int:
    """The fixed text length of a dual encoder's text tower.

    In order: the processor's own default when it pads to a fixed length (ALIGN, SigLIP2), the
    tokenizer's model_max_length (CLIP 77, SigLIP 64), the family's trained length, the text
    tower's max_position_embeddings; never more than the latter.
    """
    try:
        text_config = config.get_text_config()
    except Exception:
        text_config = getattr(config, "text_config", config)
    max_positions = getattr(text_config, "max_position_embeddings", None)
    defaults = getattr(processor, "text_kwargs", None)
    length, why = None, ""
    if isinstance(defaults, dict) and defaults.get("padding") == "max_length":
        length, why = defaults.get("max_length"), "the processor's fixed-length padding"
    if length is None:
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max <= 100_000:
            length, why = model_max, "the tokenizer's model_max_length"
    if length is None:
        model_type = getattr(config, "model_type", None)
        length, why = _TRAINED_TEXT_LENGTH.get(model_type), f"{model_type}'s trained length"
    if length is None:
        length, why = max_positions, "the text tower's max_position_embeddings"
    if max_positions:
        if length and length > max_positions:
            why += f", cut to max_position_embeddings {max_positions}"
        length = min(length or max_positions, max_positions)
    logger.debug("texts padded to %s tokens: %s", length, why)
    if not length:
        raise MMBenchError(
            "cannot tell the text length of this model's text tower; set model_max_length in"
            " its tokenizer_config.json"
        )
    return int(length)


def _image_settings(image_processor: Any) -> dict[str, Any]:
    """The image processor settings that change pixels, for the debug log."""
    keys = (
        "size",
        "crop_size",
        "do_center_crop",
        "do_resize",
        "resample",
        "image_mean",
        "image_std",
        "patch_size",
        "max_num_patches",
    )
    return {k: getattr(image_processor, k) for k in keys if hasattr(image_processor, k)}


class HFDualEncoder(HFAdapter):
    """CLIP-style dual encoder: image and text embeddings from get_image/text_features."""

    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS})

    def __init__(self, source: HFSource, model: Any, processor: Any, *args: Any, **kwargs: Any):
        super().__init__(source, model, processor, *args, **kwargs)
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise MMBenchError(f"model {source.name!r} has no tokenizer; save it with the model")
        self.max_length = text_length(processor, tokenizer, model.config)
        table = value_table(processor.image_processor, source.name)
        self._device_pixels = DevicePixels(DeviceTable(table)) if table is not None else None
        direct = None
        if table is not None:
            direct = pil_resize_crop(processor.image_processor, DEVICE_STEPS, source.name)
        self._image_pre = HFImagePreprocessor(
            processor.image_processor, uint8=table is not None, direct=direct
        )
        logger.debug(
            "model %s: images through %s %s",
            source.name,
            type(processor.image_processor).__name__,
            _image_settings(processor.image_processor),
        )
        self._text_pre = HFTextPreprocessor(tokenizer, self.max_length)
        self._fingerprint = stable_hash(
            {
                "adapter": "hf-dual-encoder",
                "version": ADAPTER_VERSION,
                "dual_encoder_version": DUAL_ENCODER_VERSION,
                "model": source.identity(),
                "class": type(model).__name__,
                "dtype": dtype_name(self.dtype),
                "preprocessing": preprocessing_identity(processor),
                "text_max_length": self.max_length,
                "micro_batch": MICRO_BATCH,
            }
        )

    def describe(self) -> dict[str, Any]:
        return self._describe(
            DUAL_ENCODER,
            {
                "pixel_transfer": self.pixel_transfer,
                "text_max_length": self.max_length,
                "micro_batch": MICRO_BATCH,
            },
        )

    @property
    def pixel_transfer(self) -> str:
        """How images cross the worker boundary: `uint8` (normalised on the device) or `float`
        (the image processor's own float pixels)."""
        return "uint8" if self._image_pre.uint8 else "float"

    def use_float_pixels(self) -> None:
        """Send float pixels through the workers, as before the uint8 path (for benchmarks and
        tests comparing the two; outputs are the same either way)."""
        self._image_pre = HFImagePreprocessor(self._image_pre.image_processor)

    def use_processor_call(self) -> None:
        """Keep uint8 pixels but let the image processor resize and crop each image itself, as
        before `pil_resize.py` (for benchmarks and tests; outputs are the same either way)."""
        self._image_pre = dataclasses.replace(self._image_pre, direct=None)

    def preprocessor(self, capability: str) -> Preprocessor:
        return encoder_preprocessor(self, capability, self._image_pre, self._text_pre)

    def encode_images(self, batch: dict[str, Any]) -> torch.Tensor:
        if self._device_pixels is not None:
            batch = self._device_pixels(batch, self.device)
        return self._embed(self.model.get_image_features, batch)

    def encode_texts(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._embed(self.model.get_text_features, batch)

    def _embed(self, method: Any, batch: dict[str, Any]) -> torch.Tensor:
        import torch

        inputs = accepted_kwargs(method, to_device(batch, self.device, self.dtype))
        with torch.inference_mode():
            return run_fixed_chunks(lambda chunk: embedding_of(method(**chunk)), inputs).float()
