"""Retrieval ranks and recall against a naive reference loop, on random and adversarial inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmbench.errors import MMBenchError
from mmbench.metrics import retrieval_ranks, retrieval_recall
from mmbench.metrics._ranking import EmbeddingScorer
from mmbench.metrics.retrieval import best_positive_ranks, recall_from_ranks


def naive_ranks(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Reference: for each row, 1 + #negatives scored >= the best positive (0: no positive)."""
    ranks = []
    for row, pos in zip(scores, positive, strict=True):
        if not pos.any():
            ranks.append(0)
            continue
        best = row[pos].max()
        ranks.append(1 + int(((row >= best) & ~pos).sum()))
    return torch.tensor(ranks)


def canonical_scores(queries, items):
    """The documented score (retrieval.py): products of the float32 values in float64, summed in
    coordinate order, here over the whole matrix at once, one coordinate at a time."""
    queries, items = queries.double(), items.double()
    scores = torch.zeros(len(queries), len(items), dtype=torch.float64)
    for k in range(queries.shape[1]):
        scores = scores + torch.outer(queries[:, k], items[:, k])
    return scores


def naive_retrieval(images, texts, owner):
    """Full canonical similarity matrix, both directions by the loop above (COCO convention)."""
    images = torch.nn.functional.normalize(images.float(), dim=-1)
    texts = torch.nn.functional.normalize(texts.float(), dim=-1)
    scores = canonical_scores(images, texts)
    positive = torch.zeros(scores.shape, dtype=torch.bool)
    positive[owner, torch.arange(len(owner))] = True
    return naive_ranks(scores, positive), naive_ranks(scores.T, positive.T)


def coco_like(n_images=40, per_image=5, dim=32, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n_images, dim, generator=g)
    owner = torch.arange(n_images).repeat_interleave(per_image)
    owner = owner[torch.randperm(len(owner), generator=g)]  # texts in no particular order
    texts = images[owner] + noise * torch.randn(len(owner), dim, generator=g)
    return images, texts, owner


def assert_matches_naive(images, texts, owner, chunk_sizes=(1, 7, 16, 64, 10_000)):
    ref_i2t, ref_t2i = naive_retrieval(images, texts, owner)
    for chunk in chunk_sizes:
        ranks = retrieval_ranks(images, texts, owner, chunk_size=chunk)
        assert torch.equal(ranks.i2t_ranks, ref_i2t), f"i2t differs at chunk_size={chunk}"
        assert torch.equal(ranks.t2i_ranks, ref_t2i), f"t2i differs at chunk_size={chunk}"


# ----------------------------------------------------------------------------------------------
# Hand-computed example
# ----------------------------------------------------------------------------------------------


def test_hand_computed_example():
    # 2-D unit vectors: image 0 = e0, image 1 = e1; texts 0,1 belong to image 0, text 2 to image 1.
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[0.6, 0.8], [1.0, 0.0], [0.8, 0.6]])
    owner = torch.tensor([0, 0, 1])
    # scores: image 0 -> [0.6, 1.0, 0.8]; image 1 -> [0.8, 0.0, 0.6]
    ranks = retrieval_ranks(images, texts, owner)
    # image 0: best positive is text 1 (1.0) -> rank 1. image 1: text 2 (0.6) loses to text 0 (0.8).
    assert ranks.i2t_ranks.tolist() == [1, 2]
    # text 0: own image 0 scores 0.6 < image 1's 0.8 -> rank 2; text 1 -> 1; text 2: 0.6 < 0.8 -> 2
    assert ranks.t2i_ranks.tolist() == [2, 1, 2]
    metrics = retrieval_recall(images, texts, owner, ks=(1, 5, 10))
    assert metrics["i2t_R@1"] == 0.5 and metrics["i2t_R@5"] == 1.0
    assert metrics["t2i_R@1"] == pytest.approx(1 / 3)
    assert metrics["i2t_MdR"] == 1.5 and metrics["t2i_MdR"] == 2.0
    assert metrics["i2t_MnR"] == 1.5 and metrics["t2i_MnR"] == pytest.approx(5 / 3)
    assert metrics["RSUM"] == pytest.approx(50 + 100 + 100 + 100 / 3 + 100 + 100)


def test_ties_are_pessimistic():
    # Every score equal: the positive ranks below every negative.
    images, texts = torch.ones(3, 4), torch.ones(6, 4)
    owner = torch.tensor([0, 0, 1, 1, 2, 2])
    ranks = retrieval_ranks(images, texts, owner)
    assert ranks.i2t_ranks.tolist() == [5, 5, 5]  # 4 negative texts tie with the best positive
    assert ranks.t2i_ranks.tolist() == [3] * 6  # 2 negative images tie with the positive
    assert retrieval_recall(images, texts, owner)["i2t_R@1"] == 0.0


# ----------------------------------------------------------------------------------------------
# Against the naive loop, independent of chunk_size
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [3, 32, 600])  # 600 > 512: reduced in two slabs
@pytest.mark.parametrize("noise", [0.5, 3.0])
def test_random_matches_naive_for_every_chunk_size(dim, noise):
    images, texts, owner = coco_like(n_images=45, dim=dim, noise=noise, seed=dim)
    assert_matches_naive(images, texts, owner)


def test_uneven_captions_per_image():
    g = torch.Generator().manual_seed(3)
    owner = torch.cat([torch.arange(50), torch.randint(0, 50, (90,), generator=g)])
    images = torch.randn(50, 16, generator=g)
    texts = images[owner] + torch.randn(len(owner), 16, generator=g)
    assert_matches_naive(images, texts, owner)


def test_duplicate_texts_and_images():
    images, texts, owner = coco_like(n_images=40, dim=24, seed=1)
    images[7] = images[3]  # duplicate images: exact ties in every text column
    images[30] = images[3]
    texts[10] = texts[11]  # duplicate texts (maybe of different images)
    texts[20:25] = texts[0]
    texts[40] = images[owner[40]]  # text identical to its own image
    assert_matches_naive(images, texts, owner)


def test_all_equal_embeddings():
    images = torch.full((33, 8), 0.3)
    texts = torch.full((99, 8), -2.0)
    owner = torch.arange(99) % 33
    assert_matches_naive(images, texts, owner)
    ranks = retrieval_ranks(images, texts, owner)
    assert set(ranks.i2t_ranks.tolist()) == {99 - 3 + 1}
    assert set(ranks.t2i_ranks.tolist()) == {33}


def test_quantised_embeddings_with_many_exact_ties():
    g = torch.Generator().manual_seed(5)
    images = torch.randint(-1, 2, (60, 6), generator=g).float()
    owner = torch.arange(180) % 60
    texts = torch.randint(-1, 2, (180, 6), generator=g).float()
    images[0] = 1.0
    texts[0] = 0.0  # a zero text: scores 0 against everything
    assert_matches_naive(images, texts, owner)


def test_near_ties_one_ulp_apart():
    # Negatives that differ from the positive image in the last bit of one coordinate: a
    # separately computed positive score could order them wrongly; one matrix cannot.
    g = torch.Generator().manual_seed(9)
    base = torch.nn.functional.normalize(torch.randn(20, 64, generator=g), dim=-1)
    twins = base.clone()
    twins[:, 0] = torch.nextafter(twins[:, 0], torch.full_like(twins[:, 0], 2.0))
    images = torch.cat([base, twins, base])  # image k, k+20, k+40 (near) duplicates
    owner = torch.arange(60).repeat_interleave(2)
    texts = images[owner] + 0.01 * torch.randn(120, 64, generator=g)
    assert_matches_naive(images, texts, owner)


def test_float64_and_half_inputs():
    images, texts, owner = coco_like(n_images=30, dim=16, seed=4)
    ref = retrieval_ranks(images.double(), texts.double(), owner)
    scores = torch.nn.functional.normalize(images.double(), dim=-1)
    scores = scores @ torch.nn.functional.normalize(texts.double(), dim=-1).T
    positive = torch.zeros(scores.shape, dtype=torch.bool)
    positive[owner, torch.arange(len(owner))] = True
    assert torch.equal(ref.i2t_ranks, naive_ranks(scores, positive))
    half = retrieval_ranks(images.half(), texts.half(), owner)  # upcast to float32 inside
    assert torch.equal(
        half.i2t_ranks, naive_retrieval(images.half().float(), texts.half().float(), owner)[0]
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_naive():
    images, texts, owner = coco_like(n_images=300, dim=64, noise=2.0, seed=12)
    ref_i2t, ref_t2i = naive_retrieval(images, texts, owner)
    for chunk in (16, 100, 1000):
        ranks = retrieval_ranks(images.cuda(), texts.cuda(), owner.cuda(), chunk_size=chunk)
        assert ranks.i2t_ranks.device.type == "cuda"
        assert torch.equal(ranks.i2t_ranks.cpu(), ref_i2t)
        assert torch.equal(ranks.t2i_ranks.cpu(), ref_t2i)
    flat = retrieval_ranks(
        torch.ones(40, 8).cuda(), torch.ones(80, 8).cuda(), torch.arange(80) % 40
    )
    assert set(flat.t2i_ranks.tolist()) == {40}


def test_matches_clip_benchmark_topk_recall_without_ties():
    """CLIP_benchmark: positives in topk -> hit; equal to ours whenever there are no ties."""
    images, texts, owner = coco_like(n_images=50, dim=32, noise=2.0, seed=11)
    img = torch.nn.functional.normalize(images, dim=-1)
    txt = torch.nn.functional.normalize(texts, dim=-1)
    scores = txt @ img.T  # CLIP_benchmark scores texts x images
    positive = torch.zeros_like(scores, dtype=torch.bool)
    positive[torch.arange(len(owner)), owner] = True
    metrics = retrieval_recall(images, texts, owner, ks=(1, 5, 10))
    for k in (1, 5, 10):
        top_t2i = scores.topk(k, dim=1).indices
        hit_t2i = positive.gather(1, top_t2i).any(1).float().mean().item()
        top_i2t = scores.T.topk(k, dim=1).indices
        hit_i2t = positive.T.gather(1, top_i2t).any(1).float().mean().item()
        assert metrics[f"t2i_R@{k}"] == pytest.approx(hit_t2i)
        assert metrics[f"i2t_R@{k}"] == pytest.approx(hit_i2t)


# ----------------------------------------------------------------------------------------------
# The general engine
# ----------------------------------------------------------------------------------------------


def multi_positive_case(seed=0):
    g = torch.Generator().manual_seed(seed)
    queries = torch.randint(-2, 3, (70, 5), generator=g).float()  # integer scores: many ties
    items = torch.randint(-2, 3, (90, 5), generator=g).float()
    positive = torch.rand(70, 90, generator=g) < 0.05
    positive[:, 3] = True  # an item positive for every query (spans every block)
    positive[5] = False  # a query without positives
    positive[:, 7] = False  # an item without positives
    return queries, items, positive


@pytest.mark.parametrize("form", ["dense", "sparse", "lists", "callable"])
def test_general_positive_sets_both_directions(form):
    queries, items, positive = multi_positive_case()
    scores = queries @ items.T
    ref_q, ref_i = naive_ranks(scores, positive), naive_ranks(scores.T, positive.T)
    positives = positive
    if form == "sparse":
        positives = positive.to_sparse()
    elif form == "lists":
        positives = [row.nonzero().flatten().tolist() for row in positive]
    for chunk in (1, 16, 33, 1000):
        if form == "callable":
            got = best_positive_ranks(
                lambda rows, cols: queries[rows] @ items[cols].T,
                positive,
                n_queries=70,
                n_items=90,
                chunk_size=chunk,
                item_ranks=True,
            )
        else:
            got = best_positive_ranks(
                (queries, items), positives, chunk_size=chunk, item_ranks=True
            )
        assert torch.equal(got.query_ranks, ref_q)
        assert torch.equal(got.item_ranks, ref_i)
    assert int(ref_q[5]) == 0 and int(ref_i[7]) == 0


def test_query_direction_only_and_item_to_query_form():
    queries, items, owner = coco_like(n_images=20, dim=8, seed=2)
    got = best_positive_ranks((queries, items), owner.tolist())
    assert got.item_ranks is None
    positive = torch.zeros(20, len(owner), dtype=torch.bool)
    positive[owner, torch.arange(len(owner))] = True
    assert torch.equal(got.query_ranks, naive_ranks(queries @ items.T, positive))


def test_callable_returning_a_view_is_left_untouched():
    queries, items, positive = multi_positive_case(seed=1)
    full = queries @ items.T
    before = full.clone()
    got = best_positive_ranks(
        lambda rows, cols: full[rows, cols] if isinstance(cols, slice) else full[rows][:, cols],
        positive,
        n_queries=70,
        n_items=90,
        item_ranks=True,
    )
    assert torch.equal(full, before)
    assert torch.equal(got.query_ranks, naive_ranks(full, positive))


def shape_dependent_rounding(tile):
    """Wrap `EmbeddingScorer.tile` so each value moves by up to 3 units in the last place, in a
    pattern seeded by the block's shape and position: a BLAS whose kernels round differently per
    block (MKL on an AMD EPYC differed in 2 of 45 block shapes), exaggerated."""

    def perturbed(self, rows, cols):
        block = tile(self, rows, cols)
        seed = ((rows.start * 1_000_003 + rows.stop) * 7919 + cols.start) * 31 + cols.stop
        steps = torch.randint(-3, 4, block.shape, generator=torch.Generator().manual_seed(seed))
        for _ in range(3):
            up = torch.nextafter(block, torch.full_like(block, math.inf))
            down = torch.nextafter(block, torch.full_like(block, -math.inf))
            block = torch.where(steps > 0, up, torch.where(steps < 0, down, block))
            steps = steps - steps.sign()
        return block

    return perturbed


def test_block_shape_dependent_rounding_never_changes_ranks(monkeypatch):
    g = torch.Generator().manual_seed(21)
    base = torch.nn.functional.normalize(torch.randn(30, 48, generator=g), dim=-1)
    twins = base.clone()
    twins[:, 0] = torch.nextafter(twins[:, 0], torch.full_like(twins[:, 0], 2.0))
    images = torch.cat([base, twins, base])  # exact duplicates and one-ulp twins
    owner = torch.arange(90).repeat_interleave(2)
    texts = images[owner] + 0.02 * torch.randn(180, 48, generator=g)
    ref_i2t, ref_t2i = naive_retrieval(images, texts, owner)

    original = EmbeddingScorer.tile
    monkeypatch.setattr(EmbeddingScorer, "tile", shape_dependent_rounding(original))
    scorer = EmbeddingScorer(images, texts)
    whole = scorer.tile(slice(0, 90), slice(0, 180)).clone()
    part = scorer.tile(slice(10, 40), slice(0, 180))
    assert not torch.equal(whole[10:40], part)  # the injected rounding really depends on shape
    for chunk in (1, 7, 16, 33, 64, 10_000):
        ranks = retrieval_ranks(images, texts, owner, chunk_size=chunk)
        assert torch.equal(ranks.i2t_ranks, ref_i2t), f"i2t differs at chunk_size={chunk}"
        assert torch.equal(ranks.t2i_ranks, ref_t2i), f"t2i differs at chunk_size={chunk}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_canonical_score_is_the_coordinate_order_float64_sum(dtype):
    """Reference: Python floats (IEEE double), products then additions in coordinate order."""
    from mmbench.metrics._ranking import _dot_coordinate_loop, coordinate_order_dot

    g = torch.Generator().manual_seed(2)
    q, i = (
        torch.randn(40, 512, generator=g, dtype=dtype),
        torch.randn(40, 512, generator=g, dtype=dtype),
    )
    expected = []
    for row_q, row_i in zip(q.tolist(), i.tolist(), strict=True):
        total = 0.0
        for a, b in zip(row_q, row_i, strict=True):
            total = total + a * b
        expected.append(total)
    expected = torch.tensor(expected, dtype=torch.float64)
    assert torch.equal(coordinate_order_dot(q, i), expected)  # the CPU path (a row scan)
    assert torch.equal(_dot_coordinate_loop(q, i), expected)  # the path other devices take


def test_reduced_precision_matmul_is_refused():
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        with pytest.raises(MMBenchError, match="reduced precision"):
            retrieval_ranks(torch.eye(3), torch.eye(3), [0, 1, 2])
    finally:
        torch.set_float32_matmul_precision(previous)


# ----------------------------------------------------------------------------------------------
# recall_from_ranks and errors
# ----------------------------------------------------------------------------------------------


def test_recall_from_ranks_definitions():
    metrics = recall_from_ranks([1, 2, 6, 20], [1, 1, 0, 3], ks=(1, 5))
    assert metrics["i2t_R@1"] == 0.25 and metrics["i2t_R@5"] == 0.5
    assert metrics["i2t_MdR"] == 4.0  # numpy median of 1, 2, 6, 20
    assert metrics["i2t_MnR"] == pytest.approx(29 / 4)
    assert metrics["t2i_R@1"] == pytest.approx(2 / 3)  # the rank-0 query is left out
    assert metrics["RSUM"] == pytest.approx(25 + 50 + 200 / 3 + 100)
    assert metrics["t2i_MdR"] == float(np.median([1, 1, 3]))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: retrieval_recall(torch.ones(2, 3), torch.ones(2, 4), [0, 1]), "dimension"),
        (lambda: retrieval_recall(torch.ones(2, 3), torch.ones(2, 3), [0, 2]), "outside"),
        (lambda: retrieval_recall(torch.ones(3, 3), torch.ones(2, 3), [0, 1]), "no text"),
        (lambda: retrieval_recall(torch.ones(2, 3), torch.ones(2, 3), [0]), "2 indices"),
        (
            lambda: retrieval_recall(
                torch.tensor([[float("nan")] * 3] * 2), torch.ones(2, 3), [0, 1]
            ),
            "NaN",
        ),
        (
            lambda: retrieval_recall(torch.ones(2, 3), torch.ones(2, 3), [0, 1], chunk_size=0),
            "chunk",
        ),
        (lambda: retrieval_recall(torch.ones(2, 3), torch.ones(2, 3), [0, 1], ks=(0,)), "ks"),
        (lambda: best_positive_ranks(lambda r, c: None, [0], n_queries=1, n_items=1), "returned"),
        (
            lambda: best_positive_ranks((torch.ones(2, 3), torch.ones(2, 3)), [[], []]),
            "no \\(query",
        ),
    ],
)
def test_user_errors_are_one_line(call, match):
    with pytest.raises(MMBenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
