"""The direct resize + crop of the uint8 path (mmbench/models/hf/pil_resize.py) against
transformers' own PIL image processors with rescale and normalisation off."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from mmbench.models.hf.pil_resize import pil_resize_crop
from mmbench.models.hf.pixels import DEVICE_STEPS

pytestmark = pytest.mark.usefixtures("one_thread")


def _processors():
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return {
        "clip-224": CLIPImageProcessorPil(),
        "clip-odd-crop": CLIPImageProcessorPil(
            size={"shortest_edge": 33}, crop_size={"height": 31, "width": 29}
        ),
        "clip-crop-larger-than-resize": CLIPImageProcessorPil(
            size={"shortest_edge": 20}, crop_size={"height": 32, "width": 24}
        ),
        "clip-bilinear-no-crop": CLIPImageProcessorPil(resample=2, do_center_crop=False),
        "siglip-fixed": SiglipImageProcessorPil(),
        "blip-fixed-bicubic": BlipImageProcessorPil(size={"height": 48, "width": 40}),
    }


def _sizes():
    rng = np.random.default_rng(7)
    sizes = [(1, 1), (2, 300), (300, 2), (224, 224), (225, 224), (224, 225), (640, 480)]
    return sizes + [tuple(int(v) for v in rng.integers(1, 700, 2)) for _ in range(25)]


@pytest.mark.parametrize("name", list(_processors()))
def test_direct_path_gives_the_processors_own_uint8_pixels(name, photos):
    processor = _processors()[name]
    direct = pil_resize_crop(processor, DEVICE_STEPS, name)
    assert direct is not None
    rng = np.random.default_rng(3)
    images = list(photos)
    for width, height in _sizes():
        images.append(Image.fromarray(rng.integers(0, 256, (height, width, 3), np.uint8), "RGB"))
    for image in images:
        expected = processor(images=[image], return_tensors="pt", **DEVICE_STEPS)
        got = direct(image)
        assert got.dtype == torch.uint8 and got.is_contiguous()
        assert torch.equal(got, expected["pixel_values"][0]), (name, image.size)


def test_processors_it_cannot_reproduce_keep_the_processor_call(caplog):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip2.image_processing_pil_siglip2 import (
        Siglip2ImageProcessorPil,
    )

    class Shifted(CLIPImageProcessorPil):
        def resize(self, image, size, resample=None, **kwargs):
            return super().resize(image, size, resample, **kwargs)[:, 1:]

    class Mirrored(CLIPImageProcessorPil):
        """Keeps PilBackend's methods, but mirrors what its call returns."""

        def __call__(self, images, **kwargs):
            out = super().__call__(images, **kwargs)
            out["pixel_values"] = out["pixel_values"].flip(-1)
            return out

    cases = {
        "overrides": (Shifted(), "overrides resize"),
        "longest-edge": (
            CLIPImageProcessorPil(size={"shortest_edge": 30, "longest_edge": 40}),
            "neither a shortest edge nor a fixed size",
        ),
        "pads": (
            CLIPImageProcessorPil(do_pad=True, pad_size={"height": 240, "width": 240}),
            "does not resize, or pads",
        ),
        "siglip2": (Siglip2ImageProcessorPil(), "overrides"),
        "mirrored": (Mirrored(), "probe image gives other pixels"),
        "not-a-processor": (object(), "is not a PIL-backend processor"),
    }
    for name, (processor, reason) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="mmbench.models.hf.pil_resize"):
            assert pil_resize_crop(processor, DEVICE_STEPS, name) is None, name
        assert reason in caplog.text, (name, caplog.text)
