"""The worker's half of the uint8 path (`pixels.py`) for a standard PIL-backend image processor,
done with the same PIL and transformers calls minus the per-image overhead around them.

In uint8 mode a worker asks the image processor for resize and centre crop only. transformers'
PIL backend then turns the PIL image into a numpy array, moves the channels first, turns it back
into a PIL image for the resize, back into an array, crops, and wraps the result in a
BatchFeature: about 0.45 of the 2.3 ms it takes per photo on the CI machine, against 1.5 ms for
the resize itself. `PilResizeCrop` makes the same resize call on the decoded image directly
(the same size, from transformers' own `get_resize_output_image_size`; the same resample; no
reducing gap) and crops with transformers' own `center_crop`, so the pixels are the same values
from the same functions. A processor qualifies only when its class keeps PilBackend's methods,
resizes to a shortest edge or a fixed height and width, and gives bitwise the same pixels as the
processor itself on probe images of several sizes and aspect ratios (one smaller than the crop,
which pads); anything else keeps the processor call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

_PIL_METHODS = (
    "_preprocess",
    "preprocess",
    "process_image",
    "convert_to_rgb",
    "resize",
    "center_crop",
)
#: (width, height) of the probe images: landscape, portrait, square, odd, thin, smaller than a crop
PROBE_SIZES = ((53, 37), (37, 53), (64, 64), (301, 227), (500, 9), (7, 300), (15, 11))


@dataclass(frozen=True)
class PilResizeCrop:
    """An RGB PIL image -> the uint8 [3, H, W] pixels its image processor gives with rescale and
    normalisation off. `shortest_edge` or `fixed` (height, width) says how it resizes; `crop` is
    the centre crop's (height, width), if any."""

    resample: int
    shortest_edge: int | None = None
    fixed: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None

    def __call__(self, image: Any) -> torch.Tensor:
        import numpy as np
        import torch
        from transformers.image_transforms import center_crop, get_resize_output_image_size
        from transformers.image_utils import ChannelDimension

        first, last = ChannelDimension.FIRST, ChannelDimension.LAST
        if self.shortest_edge is not None:
            width, height = image.size
            # only its shape is read: the size rule is transformers' own
            shape = np.empty((3, height, width), dtype=np.uint8)
            size = get_resize_output_image_size(
                shape, size=self.shortest_edge, default_to_square=False, input_data_format=first
            )
        else:
            size = self.fixed
        resized = image.resize((size[1], size[0]), resample=self.resample, reducing_gap=None)
        pixels = np.asarray(resized)
        if self.crop is None:
            chw = np.moveaxis(pixels, -1, 0)
        else:
            chw = center_crop(pixels, self.crop, data_format=first, input_data_format=last)
        return torch.from_numpy(np.ascontiguousarray(chw))


def _resize_rule(image_processor: Any) -> tuple[PilResizeCrop | None, str | None]:
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:
        return None, "this transformers release has no PilBackend"
    cls = type(image_processor)
    if not isinstance(image_processor, PilBackend):
        return None, f"{cls.__name__} is not a PIL-backend processor"
    for name in _PIL_METHODS:
        if getattr(cls, name, None) is not getattr(PilBackend, name, None):
            return None, f"{cls.__name__} overrides {name}"
    if not getattr(image_processor, "do_resize", False) or getattr(
        image_processor, "do_pad", False
    ):
        return None, f"{cls.__name__} does not resize, or pads"
    size = image_processor.size
    keys = {k for k in ("height", "width", "shortest_edge") if getattr(size, k, None)}
    resample = int(image_processor.resample)
    crop = None
    if getattr(image_processor, "do_center_crop", False):
        crop = (int(image_processor.crop_size.height), int(image_processor.crop_size.width))
    if keys == {"shortest_edge"} and not any(
        getattr(size, k, None) for k in ("longest_edge", "max_height", "max_width")
    ):
        return PilResizeCrop(resample, shortest_edge=int(size.shortest_edge), crop=crop), None
    if keys == {"height", "width"}:
        return PilResizeCrop(resample, fixed=(int(size.height), int(size.width)), crop=crop), None
    return None, f"{cls.__name__} resizes to {size}, neither a shortest edge nor a fixed size"


def _mismatch(image_processor: Any, fast: PilResizeCrop, device_steps: dict[str, Any]) -> str:
    """'' when `fast` gives the processor's own uint8 pixels on every probe image."""
    import numpy as np
    import torch
    from PIL import Image

    rng = np.random.default_rng(1)
    for width, height in PROBE_SIZES:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
        out = image_processor(images=[image], return_tensors="pt", **device_steps)
        if set(out) != {"pixel_values"}:
            return f"it returns {sorted(out)}, not pixel_values alone"
        if not torch.equal(fast(image), out["pixel_values"][0]):
            return f"a {width}x{height} probe image gives other pixels"
    return ""


def pil_resize_crop(
    image_processor: Any, device_steps: dict[str, Any], model_name: str
) -> PilResizeCrop | None:
    """The direct resize + crop for `image_processor`'s uint8 path, or None where the worker
    must keep calling the processor (the reason is logged at DEBUG)."""
    fast, reason = None, None
    try:
        fast, reason = _resize_rule(image_processor)
        if fast is not None:
            reason = _mismatch(image_processor, fast, device_steps) or None
    except Exception as exc:  # any surprise in a processor means: keep calling it
        reason = f"probing it failed ({type(exc).__name__}: {exc})"
    if reason is not None:
        logger.debug("model %s: image processor called per image (%s)", model_name, reason)
        return None
    logger.debug("model %s: resize and crop called directly (%s)", model_name, fast)
    return fast
