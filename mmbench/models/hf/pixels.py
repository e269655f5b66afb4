"""uint8 pixels across the DataLoader worker boundary for `hf:` image processors.

A standard image processor (resize -> center crop -> rescale -> normalise) is split after the
crop: the worker runs it with rescale and normalisation switched off and sends uint8 pixels, and
the device call looks them up in the table the processor computed on the ramp image
(`mmbench.models.pixel_table`, which explains why that is bitwise exact).

A processor qualifies only when its class keeps the backend's own pipeline (`_preprocess`,
`rescale`, `normalize`, `rescale_and_normalize` not overridden), does not pad, returns uint8
with rescale and normalisation switched off, and a random probe image gives bitwise the same
pixels both ways; anything else keeps the float path (logged at DEBUG with the reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmbench.models.pixel_table import (
    DeviceTable,
    normalise,
    ramp_image,
    random_image,
    table_from_ramp,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: the image processor's flags that the device takes over in uint8 mode
DEVICE_STEPS = {"do_rescale": False, "do_normalize": False}
_PIPELINE_METHODS = ("_preprocess", "preprocess", "rescale", "normalize", "rescale_and_normalize")


def _standard_backend(image_processor: Any) -> str | None:
    """Why this processor's pipeline is not the backend's standard one (None when it is)."""
    try:
        from transformers.image_processing_backends import PilBackend, TorchvisionBackend
    except ImportError:
        return "this transformers release has no PilBackend / TorchvisionBackend"
    cls = type(image_processor)
    backend = next(
        (b for b in (PilBackend, TorchvisionBackend) if isinstance(image_processor, b)), None
    )
    if backend is None:
        return f"{cls.__name__} is not a PilBackend or TorchvisionBackend processor"
    for name in _PIPELINE_METHODS:
        if getattr(cls, name, None) is not getattr(backend, name, None):
            return f"{cls.__name__} overrides {name}"
    if getattr(image_processor, "do_pad", False):
        return f"{cls.__name__} pads images"
    if not (
        getattr(image_processor, "do_rescale", False)
        or getattr(image_processor, "do_normalize", False)
    ):
        return f"{cls.__name__} neither rescales nor normalises"
    return None


def _pixels(image_processor: Any, image: Any, **overrides: Any) -> torch.Tensor:
    return image_processor(images=[image], return_tensors="pt", **overrides)["pixel_values"][0]


def _value_table(image_processor: Any) -> torch.Tensor:
    """[3, 256] float32: what the processor's rescale + normalise make of each uint8 value, per
    channel, computed by the processor itself on the ramp image."""
    return table_from_ramp(
        _pixels(image_processor, ramp_image(), do_resize=False, do_center_crop=False)
    )


def _check_probe(image_processor: Any, table: torch.Tensor) -> str | None:
    """Why the uint8 path does not reproduce the float path on a random image (None if it does)."""
    import torch

    image = random_image()
    reference = _pixels(image_processor, image)
    small = _pixels(image_processor, image, **DEVICE_STEPS)
    if small.dtype != torch.uint8:
        return f"with rescale and normalise off it returns {small.dtype}, not uint8"
    if small.shape[0] != table.shape[0] or not reference.is_floating_point():
        return "its pixel values are not a float [C, H, W] image"
    if not torch.equal(normalise(small[None], table)[0], reference.float()):
        return "the device table does not reproduce its pixels bitwise on a probe image"
    return None


def value_table(image_processor: Any, model_name: str) -> torch.Tensor | None:
    """The [C, 256] table for the uint8 path, or None where this processor must keep the float
    path (the reason is logged at DEBUG)."""
    reason = _standard_backend(image_processor)
    table = None
    if reason is None:
        try:
            table = _value_table(image_processor)
            reason = _check_probe(image_processor, table)
        except Exception as exc:  # any surprise in a processor means: keep the float path
            reason = f"probing it failed ({type(exc).__name__}: {exc})"
    if reason is not None:
        logger.debug("model %s: float pixels through the workers (%s)", model_name, reason)
        return None
    logger.debug(
        "model %s: uint8 pixels through the workers, rescaled and normalised on the device",
        model_name,
    )
    return table


@dataclass
class DevicePixels:
    """Turns a batch's uint8 `pixel_values` into the processor's float pixels on the device; a
    float batch (the float path) passes through unchanged."""

    on_device: DeviceTable

    def __call__(self, batch: dict[str, Any], device: str) -> dict[str, Any]:
        import torch

        pixels = batch.get("pixel_values")
        if not isinstance(pixels, torch.Tensor):
            return batch
        return {**batch, "pixel_values": self.on_device(pixels, device)}
