"""A fully cached rerun does not load the model (mmbench.models.lazy)."""

from __future__ import annotations

import os

import pytest

from mmbench.cache import OutputCache
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.base import ModelOptions
from mmbench.models.lazy import LazyModel, ModelMemo
from mmbench.runner import RunRequest, run

CPU = ModelOptions(device="cpu")


@pytest.fixture
def count_loads(monkeypatch):
    """Counts real loads of `builtin:random` (the adapter's constructor)."""
    import mmbench.models.builtin as builtin

    loads = []
    real = builtin.RandomAdapter.__init__

    def counting(self, *args, **kwargs):
        loads.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(builtin.RandomAdapter, "__init__", counting)
    return loads


def request(tmp_path, **kw):
    base = dict(
        model="builtin:random",
        task="mini-retrieval",
        output_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        device="cpu",
        progress=False,
    )
    base.update(kw)
    return RunRequest(**base)


def test_cached_rerun_does_not_load_the_model(tmp_path, count_loads):
    first = run(request(tmp_path))
    assert len(count_loads) == 1
    second = run(request(tmp_path))
    assert len(count_loads) == 1, "the rerun loaded the model although every output was cached"
    assert second.result.timing["computed"] == 0
    assert second.result.metrics == first.result.metrics
    assert second.result.model.fingerprint == first.result.model.fingerprint
    assert second.result.model.details == first.result.model.details
    assert second.result.config.device == first.result.config.device


def test_partial_cache_loads_the_model_once_and_computes_only_the_rest(tmp_path, count_loads):
    run(request(tmp_path, limit=5))
    outcome = run(request(tmp_path, limit=9))
    assert len(count_loads) == 2
    # 4 new images; their captions are new texts too (mini-retrieval has >= 1 caption per image)
    assert 0 < outcome.result.timing["computed"] < outcome.result.timing["items"]
    fresh = run(request(tmp_path, limit=9, use_cache=False))
    assert outcome.result.metrics == fresh.result.metrics


def test_other_options_do_not_share_a_memo(tmp_path, count_loads):
    run(request(tmp_path))
    run(request(tmp_path, seed=1))
    assert len(count_loads) == 2


@pytest.mark.parametrize("library", ["torch", "transformers", "torchvision", "pillow"])
def test_another_library_release_does_not_share_a_memo(tmp_path, count_loads, monkeypatch, library):
    """Installing torchvision, say, changes which image-processor class transformers loads."""
    import importlib.metadata

    run(request(tmp_path))
    real = importlib.metadata.version

    def other_release(dist):
        if dist == library:
            return "0.0.0-other"
        return real(dist)

    monkeypatch.setattr(importlib.metadata, "version", other_release)
    run(request(tmp_path))
    assert len(count_loads) == 2


def test_no_cache_always_loads(tmp_path, count_loads):
    run(request(tmp_path, use_cache=False))
    run(request(tmp_path, use_cache=False))
    assert len(count_loads) == 2


def test_memo_is_checked_against_the_loaded_model(tmp_path):
    stale = ModelMemo("not-the-real-fingerprint", ("encode_images",), "cpu", {})
    lazy = LazyModel("builtin:random", stale, lambda: load_model("builtin:random", CPU))
    assert lazy.fingerprint() == "not-the-real-fingerprint"
    with pytest.raises(MMBenchError, match="changed on disk") as err:
        lazy.preprocessor("encode_images")
    assert "\n" not in str(err.value)


def test_cache_clear_drops_memos(tmp_path, count_loads):
    run(request(tmp_path))
    cache = OutputCache(tmp_path / "cache")
    cache.clear()
    cache.close()
    run(request(tmp_path))
    assert len(count_loads) == 2


# --------------------------------------------------------------------------- hf: local directory


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from helpers.hf_models import build_clip

    return build_clip(tmp_path_factory.mktemp("clip"))


def hf_loads(monkeypatch):
    import mmbench.models.hf.loading as hf

    loads = []
    real = hf.load

    def counting(spec, options):
        loads.append(spec)
        return real(spec, options)

    monkeypatch.setattr(hf, "load", counting)
    return loads


def test_hf_directory_rerun_skips_loading_until_files_change(tmp_path, clip_dir, monkeypatch):
    loads = hf_loads(monkeypatch)
    cache = OutputCache(tmp_path / "cache")
    first = load_model(f"hf:{clip_dir}", CPU, memos=cache)
    assert not isinstance(first, LazyModel) and len(loads) == 1
    again = load_model(f"hf:{clip_dir}", CPU, memos=cache)
    assert isinstance(again, LazyModel) and len(loads) == 1
    assert again.fingerprint() == first.fingerprint()
    assert again.capabilities == first.capabilities
    assert again.describe() == first.describe()
    # the first device call loads the real model
    again.preprocessor("encode_texts")
    assert again.loaded and len(loads) == 2
    # rewriting a file (new modification time) makes the memo unusable
    config = clip_dir / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = load_model(f"hf:{clip_dir}", CPU, memos=cache)
    assert not isinstance(changed, LazyModel) and len(loads) == 3
    # another dtype is another memo
    other = load_model(f"hf:{clip_dir}", ModelOptions(device="cpu", dtype="bfloat16"), memos=cache)
    assert not isinstance(other, LazyModel) and len(loads) == 4
    cache.close()
