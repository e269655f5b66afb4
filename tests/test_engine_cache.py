"""Engine: order and batch-size invariance, cache reuse and resume, failure policies."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest
import torch
from helpers.files import write_photos

from mmbench.cache import OutputCache, cache_key
from mmbench.data.items import ImageItem, TextItem
from mmbench.data.media import MediaRef
from mmbench.engine import Engine, EngineConfig
from mmbench.errors import MediaError, MMBenchError
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS

TEXTS = [f"caption number {i}" for i in range(23)]


def engine(adapter, tmp_path: Path | None = None, **config) -> Engine:
    cache = OutputCache(tmp_path / "cache") if tmp_path is not None else None
    return Engine(adapter, EngineConfig(progress=False, **config), cache=cache)


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_outputs_are_in_item_order_for_every_batch_size(counting_adapter, batch_size: int) -> None:
    out = engine(counting_adapter, batch_size=batch_size).run(
        ENCODE_TEXTS, [TextItem(t) for t in TEXTS]
    )
    reference = counting_adapter.encode_texts(TEXTS)
    assert torch.equal(out.stacked(range(len(TEXTS))), reference)


def test_worker_processes_give_identical_outputs(counting_adapter, tmp_path: Path) -> None:
    items = [ImageItem(MediaRef(p.stem, path=str(p))) for p in write_photos(tmp_path / "img")]
    serial = engine(counting_adapter, batch_size=3).run(ENCODE_IMAGES, items)
    parallel = engine(counting_adapter, batch_size=3, num_workers=2).run(ENCODE_IMAGES, items)
    assert torch.equal(serial.stacked(range(4)), parallel.stacked(range(4)))


def test_second_run_is_served_from_cache(counting_adapter, tmp_path: Path) -> None:
    items = [TextItem(t) for t in TEXTS]
    first = engine(counting_adapter, tmp_path, batch_size=5).run(ENCODE_TEXTS, items)
    assert counting_adapter.calls[ENCODE_TEXTS] == len(TEXTS)
    second = engine(counting_adapter, tmp_path, batch_size=5).run(ENCODE_TEXTS, items)
    assert counting_adapter.calls[ENCODE_TEXTS] == len(TEXTS)
    assert second.computed == 0
    assert torch.equal(first.stacked(range(23)), second.stacked(range(23)))


def test_interrupted_run_resumes_with_only_the_missing_items(
    counting_adapter, tmp_path: Path
) -> None:
    items = [TextItem(t) for t in TEXTS]
    engine(counting_adapter, tmp_path, batch_size=4).run(ENCODE_TEXTS, items[:14])
    counting_adapter.calls[ENCODE_TEXTS] = 0
    out = engine(counting_adapter, tmp_path, batch_size=4).run(ENCODE_TEXTS, items)
    assert counting_adapter.calls[ENCODE_TEXTS] == len(TEXTS) - 14
    assert out.computed == len(TEXTS) - 14


def test_cache_keys_depend_on_fingerprint_capability_and_content() -> None:
    key = cache_key("model-a", ENCODE_TEXTS, "text:1")
    assert key != cache_key("model-b", ENCODE_TEXTS, "text:1")
    assert key != cache_key("model-a", ENCODE_IMAGES, "text:1")
    assert key != cache_key("model-a", ENCODE_TEXTS, "text:2")


def test_cache_round_trips_tensors_and_text_and_survives_reopen(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    vector = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    cache.put_many("x", [("k1", vector, [1, 2]), ("k2", "a caption", None)])
    cache.close()
    again = OutputCache(tmp_path)
    got = again.get_many(["k1", "k2", "missing"])
    assert torch.equal(got["k1"][0], vector) and got["k1"][1] == [1, 2]
    assert got["k2"] == ("a caption", None)
    assert again.stats().entries == 2
    assert again.clear() == 2 and again.stats().entries == 0


def test_cache_uses_write_ahead_logging(tmp_path: Path) -> None:
    OutputCache(tmp_path).close()
    mode = sqlite3.connect(tmp_path / "outputs.sqlite").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_bad_media_fails_by_default_and_is_skipped_on_request(
    counting_adapter, tmp_path: Path
) -> None:
    paths = write_photos(tmp_path / "img", names=("chelsea", "coffee"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    items = [
        ImageItem(MediaRef(str(i), path=str(p))) for i, p in enumerate([paths[0], broken, paths[1]])
    ]
    with pytest.raises(MediaError, match=r"broken.png \(row 1\)"):
        engine(counting_adapter, tmp_path).run(ENCODE_IMAGES, items)
    out = engine(counting_adapter, tmp_path, on_error="skip").run(ENCODE_IMAGES, items)
    assert set(out.failed) == {1} and out.outputs[1] is None
    assert out.outputs[0] is not None and out.outputs[2] is not None


def test_auto_batch_size_backs_off_on_out_of_memory(counting_adapter) -> None:
    original = counting_adapter.encode_texts

    def limited(batch):
        if len(batch) > 4:
            raise torch.OutOfMemoryError("pretend the device is full")
        return original(batch)

    counting_adapter.encode_texts = limited
    auto = engine(counting_adapter, batch_size=None)
    out = auto.run(ENCODE_TEXTS, [TextItem(t) for t in TEXTS])
    assert auto.stats.batch_size == 4
    assert torch.equal(out.stacked(range(len(TEXTS))), original(TEXTS))
    fixed = engine(counting_adapter, batch_size=8)
    with pytest.raises(MMBenchError, match="out of accelerator memory at batch size 8"):
        fixed.run(ENCODE_TEXTS, [TextItem(t) for t in TEXTS])


def _open_caches_at_once(root: str, rounds: int, barrier, errors) -> None:
    for k in range(rounds):
        barrier.wait()
        try:
            cache = OutputCache(Path(root) / f"cache{k}")
            cache.put_many(ENCODE_TEXTS, [(f"key-{os.getpid()}", "text", {})])
            cache.close()
        except MMBenchError as err:
            errors.put(str(err))


def test_processes_opening_a_fresh_cache_together_all_succeed(tmp_path: Path) -> None:
    # torchrun ranks open the same new cache at the same moment; switching it to WAL then
    # raced ("database is locked") before OutputCache retried.
    context = multiprocessing.get_context("spawn")
    rounds, n = 20, 4
    barrier, errors = context.Barrier(n), context.Queue()
    workers = [
        context.Process(target=_open_caches_at_once, args=(str(tmp_path), rounds, barrier, errors))
        for _ in range(n)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * n
    assert errors.empty(), errors.get()
    for k in range(rounds):
        assert OutputCache(tmp_path / f"cache{k}").stats().entries == n


def test_auto_workers_depend_on_the_device(monkeypatch) -> None:
    import mmbench.engine as engine_module

    monkeypatch.setattr(engine_module.os, "cpu_count", lambda: 16)
    assert engine_module.resolve_num_workers(None, "cpu") == 0
    assert engine_module.resolve_num_workers(None, "cuda:1") == 8
    assert engine_module.resolve_num_workers(3, "cuda") == 3
    monkeypatch.setattr(engine_module.os, "cpu_count", lambda: 1)
    assert engine_module.resolve_num_workers(None, "cuda") == 0
