"""With several workers, the engine loads each batch in one part per worker and merges the parts
(`Engine._batches`): the model must see the same batches, and give the same outputs, as when one
process loads every batch whole."""

from __future__ import annotations

import logging

import pytest
import torch
from helpers.hf_models import build_clip
from helpers.media import MemoryItem

from mmbench.engine import Engine, EngineConfig
from mmbench.models import load_model
from mmbench.models.base import ModelOptions

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return load_model(
        f"hf:{build_clip(tmp_path_factory.mktemp('clip'))}", ModelOptions(device="cpu")
    )


def _run(adapter, capability, items, workers, monkeypatch):
    """(outputs stacked, failed, the item count of every device call)."""
    sizes = []
    original = type(adapter).call

    def spy(self, cap, batch):
        out = original(self, cap, batch)
        sizes.append(len(out))
        return out

    monkeypatch.setattr(type(adapter), "call", spy)
    config = EngineConfig(batch_size=16, num_workers=workers, progress=False, on_error="skip")
    result = Engine(adapter, config).run(capability, items)
    monkeypatch.undo()
    done = [i for i in range(len(items)) if i not in result.failed]
    return result.stacked(done), result.failed, sizes


def test_images_split_across_workers_equal_whole_batches(adapter, photos, monkeypatch, caplog):
    values = [photos[i % len(photos)].rotate(7 * i) for i in range(30)]
    values[5] = values[21] = None  # unreadable: each batch of 16 loaded items holds 15 good
    items = [MemoryItem(v, f"image-{i}") for i, v in enumerate(values)]
    whole = _run(adapter, "encode_images", items, 0, monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="mmbench.engine"):
        split = _run(adapter, "encode_images", items, 2, monkeypatch)
    assert "batches of 16 loaded in 2 parts, one per worker" in caplog.text
    assert whole[2] == split[2] == [15, 13]
    assert whole[1].keys() == split[1].keys() == {5, 21}
    assert torch.equal(whole[0], split[0])


def test_videos_and_texts_split_across_workers_equal_whole_batches(adapter, clips, monkeypatch):
    videos = [MemoryItem(list(clips[i % 2][: 2 + i % 3]), f"clip-{i}") for i in range(20)]
    whole = _run(adapter, "encode_videos", videos, 0, monkeypatch)
    split = _run(adapter, "encode_videos", videos, 2, monkeypatch)
    assert whole[2] == split[2] == [16, 4]
    assert torch.equal(whole[0], split[0])
    texts = [MemoryItem(f"a photo of {i} cats", f"text-{i}") for i in range(18)]
    whole = _run(adapter, "encode_texts", texts, 0, monkeypatch)
    split = _run(adapter, "encode_texts", texts, 2, monkeypatch)
    assert whole[2] == split[2] == [16, 2]
    assert torch.equal(whole[0], split[0])
