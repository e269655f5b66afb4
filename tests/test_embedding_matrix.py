"""Embedding matrices in memory and memory-mapped, and retrieval run on either."""

from __future__ import annotations

import json

import pytest
import torch

from mmbench.cache import OutputCache
from mmbench.data.items import TextItem
from mmbench.embedding_matrix import EmbeddingMatrix
from mmbench.engine import Engine, EngineConfig
from mmbench.errors import MMBenchError
from mmbench.metrics.retrieval import l2_normalize_rows_, retrieval_ranks
from mmbench.models.base import ENCODE_TEXTS
from mmbench.runner import RunRequest, run


@pytest.mark.parametrize("store", ["memory", "disk"])
def test_rows_arrive_in_any_order_and_compact_in_place(store, tmp_path):
    data = torch.randn(9, 5)
    with EmbeddingMatrix(9, store, tmp_path) as matrix:
        for i in [4, 0, 8, 2, 6, 1, 3, 7, 5]:
            matrix.write(i, data[i])
        assert matrix.on_disk == (store == "disk")
        assert torch.equal(matrix.rows(range(9)), data)
        kept = [0, 2, 3, 7, 8]
        assert torch.equal(matrix.rows(kept), data[kept])


def test_disk_matrix_leaves_no_file_behind(tmp_path):
    with EmbeddingMatrix(100, "disk", tmp_path / "scratch") as matrix:
        matrix.write(0, torch.ones(64))
        assert matrix.on_disk
        # unlinked as soon as mapped, so even kill -9 leaves nothing
        assert list((tmp_path / "scratch").iterdir()) == []
        assert torch.equal(matrix.rows([0])[0], torch.ones(64))


def test_auto_goes_to_disk_only_when_large(monkeypatch, tmp_path):
    import mmbench.embedding_matrix as em

    monkeypatch.setattr(em, "available_memory", lambda: 4 * 1000 * 8 * 4)
    small = EmbeddingMatrix(1000, "auto", tmp_path)
    small.write(0, torch.zeros(8))  # 32 kB = a quarter of the fake available memory
    large = EmbeddingMatrix(1001, "auto", tmp_path)
    large.write(0, torch.zeros(8))
    assert not small.on_disk and large.on_disk
    small.close()
    large.close()


def test_bad_store_and_empty_matrix_errors():
    with pytest.raises(MMBenchError, match="unknown embedding store 'ram'"):
        EmbeddingMatrix(3, "ram")
    with pytest.raises(MMBenchError, match="every item failed"):
        EmbeddingMatrix(3, "memory").rows([0])


def test_in_place_normalisation_matches_torch_normalize():
    x = torch.randn(300, 48) * 3
    x[5] = 0  # a zero row stays zero (norm clamped to 1e-12), as in F.normalize
    expected = torch.nn.functional.normalize(x, dim=-1)
    assert torch.equal(l2_normalize_rows_(x.clone(), chunk_rows=7), expected)


def test_normalized_ranks_equal_the_copying_path():
    g = torch.Generator().manual_seed(0)
    images, texts = torch.randn(40, 32, generator=g), torch.randn(200, 32, generator=g)
    owner = torch.arange(200) % 40
    copied = retrieval_ranks(images, texts, owner)
    in_place = retrieval_ranks(
        l2_normalize_rows_(images.clone()),
        l2_normalize_rows_(texts.clone()),
        owner,
        normalized=True,
    )
    assert torch.equal(copied.i2t_ranks, in_place.i2t_ranks)
    assert torch.equal(copied.t2i_ranks, in_place.t2i_ranks)


def test_engine_writes_cache_hits_and_computed_rows_into_the_matrix(counting_adapter, tmp_path):
    texts = [f"caption number {i}" for i in range(10)]
    items = [TextItem(t) for t in texts]
    cache = OutputCache(tmp_path / "cache")
    engine = Engine(counting_adapter, EngineConfig(batch_size=3, progress=False), cache=cache)
    engine.run(ENCODE_TEXTS, items[:6])
    with engine.embedding_matrix(10) as matrix:
        out = engine.run(ENCODE_TEXTS, items, into=matrix)
        assert out.outputs == [None] * 10 and out.computed == 4
        assert torch.equal(matrix.rows(range(10)), counting_adapter.encode_texts(texts))
    cache.close()


def run_retrieval(tmp_path, store, **kw):
    return run(
        RunRequest(
            model="builtin:random",
            task="mini-retrieval",
            output_dir=tmp_path / store,
            cache_dir=tmp_path / "cache",
            device="cpu",
            progress=False,
            embedding_store=store,
            **kw,
        )
    )


@pytest.mark.parametrize("use_cache", [True, False])
def test_retrieval_on_disk_equals_in_memory(tmp_path, use_cache):
    memory = run_retrieval(tmp_path, "memory", use_cache=use_cache)
    disk = run_retrieval(tmp_path, "disk", use_cache=use_cache)
    assert disk.result.metrics == memory.result.metrics
    assert disk.result.config.extra["embeddings_on_disk"] is True
    assert memory.result.config.extra["embeddings_on_disk"] is False
    samples = [(p.parent / (p.stem + ".samples.jsonl")) for p in (memory.path, disk.path)]
    texts = [[json.loads(line) for line in s.read_text().splitlines()] for s in samples]
    assert texts[0] == texts[1]


def test_ranking_moves_to_the_gpu_only_when_the_embeddings_fit(monkeypatch):
    from mmbench.tasks.retrieval import scoring_device

    matrices = (torch.zeros(100, 8), torch.zeros(400, 8))  # 16,000 bytes
    assert scoring_device("cpu", *matrices) == "cpu"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (32_000, 10**9))
    assert scoring_device("cuda:1", *matrices) == "cuda:1"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (31_999, 10**9))
    assert scoring_device("cuda", *matrices) == "cpu"
