"""uint8 pixels across the worker boundary for `hf:` dual encoders (mmbench/models/hf/pixels.py).

References: transformers' own PIL pipeline (resize -> crop -> `x * (1/255)` in float64 cast to
float32 -> `(x - mean) / std` in float32, transformers/image_transforms.py), transcribed below,
and the checkpoint loaded directly with transformers."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from helpers.hf_models import build_clip, build_siglip, pad_rows, reference
from helpers.media import MemoryItem

from mmbench.engine import Engine, EngineConfig
from mmbench.models import load_model
from mmbench.models.base import ModelOptions
from mmbench.models.hf.pixels import value_table
from mmbench.models.pixel_table import gather_numpy, gather_torch

pytestmark = pytest.mark.usefixtures("one_thread")

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return build_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    return build_siglip(tmp_path_factory.mktemp("siglip"))


def _embed(adapter, capability, raws):
    """As a DataLoader worker would: pickled preprocessor, per-item features, collate, call."""
    pre = pickle.loads(pickle.dumps(adapter.preprocessor(capability)))
    features = [pre(r) for r in raws]
    return features, adapter.call(capability, pre.collate(features))


def test_value_table_is_transformers_rescale_then_normalise(clip_dir):
    from transformers import AutoImageProcessor

    table = value_table(AutoImageProcessor.from_pretrained(clip_dir, backend="pil"), "clip")
    values = np.arange(256)
    scaled = (values.astype(np.float64) * (1 / 255)).astype(np.float32)
    for c in range(3):
        expected = (scaled - np.float32(OPENAI_MEAN[c])) / np.float32(OPENAI_STD[c])
        assert table[c].numpy().tobytes() == expected.astype(np.float32).tobytes()


def test_both_gathers_look_every_value_up_in_its_channel_row():
    table = torch.arange(3 * 256, dtype=torch.float32).view(3, 256) / 7
    pixels = torch.randint(0, 256, (2, 3, 5, 4), generator=torch.Generator().manual_seed(0))
    pixels = pixels.to(torch.uint8)
    expected = torch.empty(2, 3, 5, 4)
    for b, c, y, x in np.ndindex(2, 3, 5, 4):
        expected[b, c, y, x] = table[c, int(pixels[b, c, y, x])]
    for gather in (gather_numpy, gather_torch):
        out = gather(pixels, table)
        assert out.dtype == torch.float32 and torch.equal(out, expected), gather.__name__


@pytest.mark.parametrize("builder", ["clip_dir", "siglip_dir"])
def test_uint8_embeddings_equal_float_path_and_transformers(builder, photos, request, caplog):
    path = request.getfixturevalue(builder)
    with caplog.at_level(logging.DEBUG, logger="mmbench.models.hf"):
        adapter = load_model(f"hf:{path}", ModelOptions(device="cpu"))
    assert "resize and crop called directly" in caplog.text  # pil_resize.py's path
    assert adapter.pixel_transfer == "uint8"
    assert adapter.describe()["pixel_transfer"] == "uint8"
    fingerprint = adapter.fingerprint()
    small, uint8 = _embed(adapter, "encode_images", photos)
    adapter.use_processor_call()
    called, through_processor = _embed(adapter, "encode_images", photos)
    pairs = zip(small, called, strict=True)
    assert all(torch.equal(a["pixel_values"], b["pixel_values"]) for a, b in pairs)
    assert torch.equal(through_processor, uint8)
    adapter.use_float_pixels()
    assert adapter.pixel_transfer == "float"
    big, floats = _embed(adapter, "encode_images", photos)
    # the worker sends [3, H, W] uint8: a quarter of the float32 bytes
    assert small[0]["pixel_values"].dtype == torch.uint8
    assert small[0]["pixel_values"].shape == big[0]["pixel_values"].shape
    assert small[0]["pixel_values"].nbytes * 4 == big[0]["pixel_values"].nbytes
    assert torch.equal(uint8, floats)
    # outputs cannot change, so neither does the fingerprint (hence no cache entry is orphaned)
    assert adapter.fingerprint() == fingerprint

    model, processor = reference(path, "dual")
    pixels = processor.image_processor(images=photos, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        out = model.get_image_features(pixel_values=pad_rows(pixels))
    expected = getattr(out, "pooler_output", out)[: len(photos)]
    assert (uint8 - expected).abs().max().item() <= 1e-6


def test_videos_and_engine_workers_equal_float_path(clip_dir, clips, photos):
    adapter = load_model(f"hf:{clip_dir}", ModelOptions(device="cpu"))
    _, videos = _embed(adapter, "encode_videos", clips)
    config = EngineConfig(batch_size=3, num_workers=1, progress=False)
    items = [MemoryItem(im) for im in photos]
    through_workers = Engine(adapter, config).run("encode_images", items).stacked(range(len(items)))
    adapter.use_float_pixels()
    _, float_videos = _embed(adapter, "encode_videos", clips)
    _, float_images = _embed(adapter, "encode_images", photos)
    assert torch.equal(videos, float_videos)
    assert torch.equal(through_workers, float_images)


def test_mini_task_metrics_identical(clip_dir, tmp_path, monkeypatch):
    from helpers.runs import run_task

    import mmbench.models.hf.dual_encoder as dual_encoder

    model = f"hf:{clip_dir}"
    uint8 = run_task(tmp_path / "uint8", "mini-retrieval", model, device="cpu")
    monkeypatch.setattr(dual_encoder, "value_table", lambda *args: None)
    floats = run_task(tmp_path / "float", "mini-retrieval", model, device="cpu")
    assert uint8["metrics"] == floats["metrics"]
    assert uint8["samples"] == floats["samples"]


def test_processors_the_uint8_path_cannot_reproduce_keep_float(caplog):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    class Clamped(CLIPImageProcessorPil):
        def normalize(self, image, mean, std, **kwargs):
            return np.clip(super().normalize(image, mean, std, **kwargs), -1, 1)

    cases = {
        "pads": CLIPImageProcessorPil(do_pad=True, pad_size={"height": 240, "width": 240}),
        "overrides normalize": Clamped(),
        "overrides _preprocess": Siglip2ImageProcessorPil(),
        "neither rescales nor normalises": CLIPImageProcessorPil(
            do_rescale=False, do_normalize=False
        ),
    }
    with caplog.at_level(logging.DEBUG, logger="mmbench.models.hf.pixels"):
        for why, processor in cases.items():
            caplog.clear()
            assert value_table(processor, "m") is None, why
            assert "float pixels through the workers" in caplog.text, why
            assert why in caplog.text, (why, caplog.text)
