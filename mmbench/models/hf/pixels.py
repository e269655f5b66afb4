"""uint8 pixels across the DataLoader worker boundary, rescaled and normalised on the device.

A standard image processor (resize -> center crop -> rescale -> normalise) computes each output
value from one uint8 value of one channel once the image is resized and cropped: the rescale and
the normalisation are elementwise. So a worker can stop after the crop and send the uint8 image
(4x fewer bytes than float32 through shared memory, and no float work in the worker), and the
device call maps every uint8 value through a [3, 256] table that the image processor itself
computed on a probe image holding all 256 values. The table holds exactly the float32 values the
processor would have produced, so the model's inputs, hence its outputs, are bitwise unchanged;
no arithmetic is redone on the device (a gather, not a recomputation), which is why no
float64-vs-float32 or kernel rounding question arises.

A processor qualifies only when its class keeps the backend's own pipeline (`_preprocess`,
`rescale`, `normalize`, `rescale_and_normalize` not overridden), does not pad, returns uint8
with rescale and normalisation switched off, and a random probe image gives bitwise the same
pixels both ways; anything else keeps the float path (logged at DEBUG with the reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    channel, computed by the processor itself on a 16 x 16 image holding the values 0..255."""
    import numpy as np
    from PIL import Image

    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    probe = Image.fromarray(np.stack([ramp] * 3, axis=-1), mode="RGB")
    out = _pixels(image_processor, probe, do_resize=False, do_center_crop=False)
    return out.reshape(out.shape[0], 256).float().contiguous()


def _check_probe(image_processor: Any, table: torch.Tensor) -> str | None:
    """Why the uint8 path does not reproduce the float path on a random image (None if it does)."""
    import numpy as np
    import torch
    from PIL import Image

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), mode="RGB")
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


def normalise(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """uint8 [B, C, H, W] -> float32 [B, C, H, W] on `pixels`' device, each value looked up in
    its channel's row of `table` ([C, 256])."""
    if pixels.device.type == "cpu":
        return gather_numpy(pixels, table)
    return gather_torch(pixels, table)


def gather_numpy(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`normalise` for CPU tensors: numpy's take is ~5x faster than torch's advanced indexing on
    a CPU (where that costs a few ms per 224 px image, more than the uint8 transfer saves)."""
    import numpy as np
    import torch

    source, rows = pixels.numpy(), table.cpu().numpy()
    out = np.empty(source.shape, dtype=rows.dtype)
    for c in range(rows.shape[0]):
        np.take(rows[c], source[:, c], out=out[:, c], mode="clip")
    return torch.from_numpy(out)


def gather_torch(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`normalise` on any device (used on accelerators): one gather from the flattened table."""
    import torch

    channels = table.shape[0]
    offsets = torch.arange(channels, device=pixels.device, dtype=torch.int32) * 256
    index = pixels.to(torch.int32) + offsets.view(1, channels, 1, 1)
    return table.to(pixels.device).view(-1)[index]


@dataclass
class DevicePixels:
    """Turns a batch's uint8 `pixel_values` into the processor's float pixels on the device; a
    float batch (the float path) passes through unchanged. Keeps one copy of the table per
    device."""

    table: Any
    _on: dict[str, Any] | None = None

    def __call__(self, batch: dict[str, Any], device: str) -> dict[str, Any]:
        import torch

        pixels = batch.get("pixel_values")
        if not isinstance(pixels, torch.Tensor) or pixels.dtype != torch.uint8:
            return batch
        if self._on is None:
            self._on = {}
        if device not in self._on:
            self._on[device] = self.table.to(device)
        # From pinned memory the copy overlaps with host work; the stream orders it before use.
        moved = pixels.to(device, non_blocking=True)
        return {**batch, "pixel_values": normalise(moved, self._on[device])}
