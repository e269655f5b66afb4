"""uint8 pixels across the worker boundary for `open_clip:` (mmbench/models/open_clip.py).

open_clip itself needs torchvision, which does not install beside this torch, so the module is a
stand-in (`helpers.open_clip_fake`) whose eval transforms are built like open_clip's and compute
ToTensor and Normalize with torchvision's documented float32 arithmetic. The table is checked
against that arithmetic written out in numpy; embeddings against the untouched float path."""

from __future__ import annotations

import logging
import pickle
import sys

import numpy as np
import pytest
import torch
from helpers import open_clip_fake
from helpers.media import MemoryItem
from helpers.open_clip_fake import OPENAI_MEAN, OPENAI_STD

from mmbench.engine import Engine, EngineConfig
from mmbench.models import load_model
from mmbench.models.base import ENCODE_IMAGES, ENCODE_VIDEOS, ModelOptions
from mmbench.models.open_clip import uint8_split

pytestmark = pytest.mark.usefixtures("one_thread")

SIDE = 24
URI = "open_clip:ViT-B-32/laion2b_s34b_b79k"


def _load(monkeypatch, transform):
    module = open_clip_fake.fake_open_clip(transform, side=SIDE)
    monkeypatch.setitem(sys.modules, "open_clip", module)
    return load_model(URI, ModelOptions(device="cpu"))


def _embed(adapter, capability, raws):
    """As a DataLoader worker would: pickled preprocessor, per-item features, collate, call."""
    pre = pickle.loads(pickle.dumps(adapter.preprocessor(capability)))
    features = [pre(r) for r in raws]
    return features, adapter.call(capability, pre.collate(features))


def test_table_is_to_tensor_then_normalize_in_float32():
    split = uint8_split(open_clip_fake.eval_transform(SIDE), URI)
    assert split is not None
    values = np.arange(256, dtype=np.float32)
    for c in range(3):
        expected = (values / np.float32(255) - np.float32(OPENAI_MEAN[c])) / np.float32(
            OPENAI_STD[c]
        )
        assert split.table[c].numpy().tobytes() == expected.astype(np.float32).tobytes()


def test_uint8_embeddings_equal_float_path(monkeypatch, photos, clips):
    transform = open_clip_fake.eval_transform(SIDE)
    adapter = _load(monkeypatch, transform)
    assert adapter.pixel_transfer == "uint8"
    assert adapter.describe()["pixel_transfer"] == "uint8"
    fingerprint = adapter.fingerprint()
    small, uint8 = _embed(adapter, ENCODE_IMAGES, photos)
    _, uint8_videos = _embed(adapter, ENCODE_VIDEOS, clips)
    config = EngineConfig(batch_size=4, num_workers=2, progress=False)
    items = [MemoryItem(im) for im in photos]
    through_workers = Engine(adapter, config).run(ENCODE_IMAGES, items).stacked(range(len(items)))

    adapter.use_float_pixels()
    assert adapter.pixel_transfer == "float"
    big, floats = _embed(adapter, ENCODE_IMAGES, photos)
    _, float_videos = _embed(adapter, ENCODE_VIDEOS, clips)
    assert small[0].dtype == torch.uint8 and small[0].shape == (3, SIDE, SIDE)
    assert small[0].nbytes * 4 == big[0].nbytes
    assert torch.equal(uint8, floats)
    assert torch.equal(through_workers, floats)
    assert torch.equal(uint8_videos, float_videos)
    assert adapter.fingerprint() == fingerprint

    expected = open_clip_fake.FakeClip(SIDE).encode_image(
        torch.stack([transform(p) for p in photos])
    )
    assert torch.equal(floats, expected.detach())


def _blur(tensor):
    """Not elementwise: each value depends on its neighbours."""
    return (tensor + tensor.roll(1, dims=-1)) / 2


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        (lambda f: [f.Resize(SIDE), f.CenterCrop(SIDE), f.ToTensor()], None),
        (
            lambda f: [f.Resize(SIDE), f.CenterCrop(SIDE), f.ToTensor(), _blur],
            "does not reproduce its output bitwise",
        ),
        (lambda f: [f.Resize(SIDE), f.CenterCrop(SIDE), f.PILToTensor()], "not a float image"),
        (lambda f: [f.Resize(SIDE), f.CenterCrop(SIDE)], "has no ToTensor step"),
    ],
)
def test_transforms_the_table_cannot_reproduce_keep_float(steps, reason, caplog):
    transform = open_clip_fake.Compose(steps(open_clip_fake))
    with caplog.at_level(logging.DEBUG, logger="mmbench.models.open_clip"):
        split = uint8_split(transform, URI)
    if reason is None:  # ToTensor alone is elementwise too: the table is v / 255
        assert split is not None
        assert torch.equal(split.table[0], torch.arange(256, dtype=torch.float32).div(255))
        return
    assert split is None
    assert reason in caplog.text and "float pixels through the workers" in caplog.text


def test_a_transform_that_fails_on_the_probe_keeps_float(caplog):
    def broken(image):
        raise OSError("no such font")

    transform = open_clip_fake.Compose([broken, open_clip_fake.ToTensor()])
    with caplog.at_level(logging.DEBUG, logger="mmbench.models.open_clip"):
        assert uint8_split(transform, URI) is None
    assert "probing it failed (OSError: no such font)" in caplog.text
