"""Cross-modal retrieval metrics: Recall@K, median / mean rank and RSUM, in both directions.

Conventions (user-facing summary in docs/metrics.md):

* **Positives.** COCO / Flickr30k (Karpathy & Fei-Fei 2015, "Deep Visual-Semantic Alignments";
  CLIP; CLIP_benchmark `zeroshot_retrieval.py`; VSE++): every text belongs to exactly one image and
  every image has >= 1 text (usually 5). text->image is a hit at K when the text's image is in the
  top K; image->text is a hit when *any* of the image's texts is. The rank of a query is the rank
  of its best-ranked positive.
* **Ties are pessimistic.** rank = 1 + the number of *negatives* scored >= the best positive, so a
  constant or degenerate model cannot score well by the luck of index order. CLIP_benchmark
  (`topk`) and torchmetrics (`argsort`) break ties by implementation order instead.
* **RSUM** = i2t R@1 + R@5 + R@10 + t2i R@1 + R@5 + R@10, each in percent (0..600), the "rsum" of
  VSE++ (Faghri et al. 2018), SCAN and VSRN.
* **MdR / MnR**: median (numpy's: mean of the two middle values for an even count) and mean of the
  1-based ranks, as CLIP4Clip and the MSR-VTT literature report them.

How it is computed (`mmbench/metrics/_ranking.py`): one similarity matrix, never materialised,
scored tile by tile (`chunk_size` query rows per block), both directions counted from the same
tiles. Ranks are exact and independent of `chunk_size`, the device and the BLAS: every
comparison is decided against a canonical score (the float64 dot product accumulated in
coordinate order), which is computed for the positive pairs and for the few negatives that the
fast float32 tiles place within a proven error bound of a threshold (near ties); all other
entries are decided by the tiles alone. TF32 or reduced-precision float32 matmul is refused.

Memory: a few cache-sized tiles, O(n) vectors and, in `retrieval_ranks`, one L2-normalised copy of
the embeddings; `chunk_size` only sets the tile height. 100k images x 500k texts x 512 peaks at
2.73 GiB, 2.3 of it the inputs and their normalised copy (benchmarks/retrieval_scale.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mmbench.errors import MMBenchError
from mmbench.metrics._ranking import (
    CallableScorer,
    EmbeddingScorer,
    Pairs,
    PositiveRanks,
    Scorer,
    SimilarityFn,
    rank_positives,
)

DEFAULT_CHUNK_SIZE = 512

#: Positive pairs: a 1-D integer sequence/tensor giving each item's single query (COCO's
#: text -> image), a sequence of per-query positive item lists, or a boolean [n_queries, n_items]
#: tensor (dense or sparse COO).
PositivesLike = Tensor | np.ndarray | Sequence[int] | Sequence[Sequence[int]]


@dataclass(frozen=True)
class RetrievalRanks:
    """Per-query ranks: image->text `i2t_ranks[n_images]`, text->image `t2i_ranks[n_texts]`."""

    i2t_ranks: Tensor
    t2i_ranks: Tensor


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def retrieval_recall(
    image_emb: Tensor,
    text_emb: Tensor,
    text_to_image: Tensor | Sequence[int],
    ks: Iterable[int] = (1, 5, 10),
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict[str, float]:
    """Image<->text retrieval metrics, COCO / Flickr30k convention (Karpathy & Fei-Fei 2015).

    Args:
        image_emb: `[n_images, d]` image embeddings (any scale; L2-normalised here).
        text_emb: `[n_texts, d]` text embeddings (L2-normalised here).
        text_to_image: `[n_texts]` index of each text's image; every image needs >= 1 text.
        ks: the K of R@K.
        chunk_size: image rows per similarity tile (a memory knob: it never changes the result).

    Returns:
        `i2t_R@K`, `t2i_R@K` (fractions in [0, 1]); `i2t_MdR`, `t2i_MdR` (median 1-based rank);
        `i2t_MnR`, `t2i_MnR` (mean rank); `RSUM`: the sum of all R@K in percent (0..600 for the
        usual ks=(1, 5, 10): VSE++'s "rsum").

    image->text is a hit when any of the image's texts is in the top K and text->image when the
    text's image is, as in CLIP_benchmark's `zeroshot_retrieval.evaluate` (`recall_at_k > 0`).
    Ties are pessimistic: a negative scored equal to the best positive ranks above it. See
    `retrieval_ranks` and the module docstring for the exactness guarantees.
    """
    ranks = retrieval_ranks(image_emb, text_emb, text_to_image, chunk_size=chunk_size)
    return recall_from_ranks(ranks.i2t_ranks, ranks.t2i_ranks, ks=ks)


@torch.no_grad()
def retrieval_ranks(
    image_emb: Tensor,
    text_emb: Tensor,
    text_to_image: Tensor | Sequence[int],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    normalized: bool = False,
) -> RetrievalRanks:
    """Per-query ranks of the best positive, both directions, from one similarity computation.

    Cosine similarity of the L2-normalised embeddings in float32 (float64 stays float64), on the
    embeddings' device. `i2t_ranks[i]` = 1 + the number of texts *not* of image i scored >= image
    i's best text; `t2i_ranks[j]` = 1 + the number of other images scored >= text j's own image
    (pessimistic ties). R@K is `mean(ranks <= K)`; write the ranks per sample for error analysis.

    `normalized=True` says both inputs went through `l2_normalize_rows_` (same dtype): no
    normalised copy is made, so memory-mapped embeddings stay on disk.
    """
    image_emb, image_norms = _as_matrix(image_emb, "image_emb")
    text_emb, text_norms = _as_matrix(text_emb, "text_emb")
    if image_emb.shape[1] != text_emb.shape[1]:
        raise MMBenchError(
            f"image_emb has dimension {image_emb.shape[1]} but text_emb has {text_emb.shape[1]}; "
            "embed both with the same model"
        )
    if image_emb.device != text_emb.device:
        raise MMBenchError(
            f"image_emb is on {image_emb.device} but text_emb on {text_emb.device}; "
            "move both to one device"
        )
    owner = _index_vector(text_to_image, "text_to_image", len(text_emb), len(image_emb))
    no_text = torch.bincount(owner, minlength=len(image_emb)) == 0
    if bool(no_text.any()):
        raise MMBenchError(
            f"image {int(no_text.nonzero()[0])} has no text in text_to_image "
            f"({int(no_text.sum())} such images); every image needs a caption: drop those images"
        )
    dtype = torch.float64 if torch.float64 in (image_emb.dtype, text_emb.dtype) else torch.float32
    if normalized:
        images, texts = image_emb.to(dtype), text_emb.to(dtype)
    else:
        # x / max(|x|, 1e-12): torch.nn.functional.normalize, reusing the input check's norms.
        images = image_emb.to(dtype) / image_norms.to(dtype).clamp_min(1e-12)
        texts = text_emb.to(dtype) / text_norms.to(dtype).clamp_min(1e-12)
    ranks = rank_positives(
        EmbeddingScorer(images, texts),
        _positive_pairs(owner, len(images), len(texts)),
        len(images),
        len(texts),
        _block_rows(len(images), chunk_size),
        want_items=True,
    )
    assert ranks.item_ranks is not None
    return RetrievalRanks(i2t_ranks=ranks.query_ranks, t2i_ranks=ranks.item_ranks)


@torch.no_grad()
def l2_normalize_rows_(x: Tensor, chunk_rows: int = 65536) -> Tensor:
    """Divide each row of `x` by max(its L2 norm, 1e-12) in place, `chunk_rows` rows at a time.

    The same arithmetic as `torch.nn.functional.normalize` (and `retrieval_ranks`' own
    normalisation) without a full-size temporary, for memory-mapped embeddings.
    """
    for start in range(0, len(x), chunk_rows):
        block = x[start : start + chunk_rows]
        block.div_(torch.linalg.vector_norm(block, dim=-1, keepdim=True).clamp_min(1e-12))
    return x


def recall_from_ranks(
    i2t_ranks: Tensor | Sequence[int],
    t2i_ranks: Tensor | Sequence[int],
    ks: Iterable[int] = (1, 5, 10),
) -> dict[str, float]:
    """R@K, MdR and MnR per direction plus RSUM, from 1-based ranks (see `retrieval_recall`).

    Queries with rank 0 (no positive; see `best_positive_ranks`) are left out of the averages.
    """
    ks = _check_ks(ks)
    out: dict[str, float] = {}
    rsum = 0.0
    for name, raw in (("i2t", i2t_ranks), ("t2i", t2i_ranks)):
        ranks = torch.as_tensor(raw).detach().cpu().to(torch.int64)
        ranks = ranks[ranks >= 1]
        if ranks.numel() == 0:
            raise MMBenchError(f"no {name} query has a positive; nothing to score")
        for k in ks:
            recall = float((ranks <= k).double().mean())
            out[f"{name}_R@{k}"] = recall
            rsum += 100.0 * recall
        # numpy's median (mean of the two middle ranks for an even count), as CLIP4Clip reports.
        out[f"{name}_MdR"] = float(np.median(ranks.numpy()))
        out[f"{name}_MnR"] = float(ranks.double().mean())
    out["RSUM"] = rsum
    return out


@torch.no_grad()
def best_positive_ranks(
    similarity: tuple[Tensor, Tensor] | SimilarityFn,
    positives: PositivesLike,
    *,
    n_queries: int | None = None,
    n_items: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    item_ranks: bool = False,
) -> PositiveRanks:
    """Rank of the best-ranked positive of every query, for an arbitrary positive relation.

    The engine under `retrieval_ranks`; use it directly for video retrieval with several captions
    per video, multi-label retrieval or a custom scorer. Same conventions (pessimistic ties) and
    exactness rules (module docstring) as `retrieval_ranks`.

    Args:
        similarity: `(queries [n_q, d], items [n_i, d])`, scored by dot product (normalise first
            for cosine), or a deterministic callable `fn(rows: slice, cols: slice | LongTensor)`
            returning the `[len(rows), len(cols)]` scores (e.g. `lambda r, c: q[r] @ v[c].T`).
        positives: a 1-D integer tensor/sequence giving each item's query (COCO text->image), a
            sequence of positive-item lists per query, or a boolean `[n_q, n_i]` tensor (dense or
            sparse COO).
        n_queries, n_items: required with a callable (read from the embeddings otherwise).
        chunk_size: query rows per tile.
        item_ranks: also rank, for every item, its best positive *query* (text->image), counted
            from the same tiles.

    Returns:
        `PositiveRanks(query_ranks, item_ranks)`: LongTensors of 1-based ranks on the scores'
        device: 1 + the number of negatives scored >= the best positive; 0 where a query (item)
        has no positive.
    """
    if isinstance(similarity, tuple):
        if len(similarity) != 2:
            raise MMBenchError("similarity must be (queries, items) or a callable")
        queries, _ = _as_matrix(similarity[0], "queries")
        items, _ = _as_matrix(similarity[1], "items")
        if queries.shape[1] != items.shape[1] or queries.dtype != items.dtype:
            raise MMBenchError(
                f"queries {tuple(queries.shape)} {queries.dtype} and items {tuple(items.shape)} "
                f"{items.dtype} must share dimension and dtype"
            )
        if queries.device != items.device:
            raise MMBenchError("queries and items must be on the same device")
        n_queries, n_items = len(queries), len(items)
        scorer: Scorer = EmbeddingScorer(queries, items)
    elif callable(similarity):
        if n_queries is None or n_items is None:
            raise MMBenchError("pass n_queries= and n_items= with a similarity callable")
        scorer = CallableScorer(similarity)
    else:
        raise MMBenchError(
            f"similarity must be (queries, items) or a callable, not {type(similarity).__name__}"
        )
    block_rows = _block_rows(n_queries, chunk_size)
    pairs = _positive_pairs(positives, n_queries, n_items)
    if len(pairs.query) == 0:
        raise MMBenchError("positives holds no (query, item) pair; nothing to rank")
    return rank_positives(scorer, pairs, n_queries, n_items, block_rows, item_ranks)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _block_rows(n_queries: int, chunk_size: int) -> int:
    """Rows per block: at most chunk_size, all blocks about equally tall."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise MMBenchError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    n_blocks = max(1, math.ceil(n_queries / chunk_size))
    return math.ceil(n_queries / n_blocks)


def _as_matrix(x: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """`x` checked as a finite [n, d] float matrix, and its row norms (computed for the check)."""
    if not isinstance(x, Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise MMBenchError(f"{name} must be a non-empty [n, d] matrix, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise MMBenchError(f"{name} must hold floating-point embeddings, got {x.dtype}")
    x = x.detach()
    # A row norm is NaN/inf iff the row has a NaN/inf (or absurdly large) entry: one cheap
    # reduction instead of an elementwise isfinite over the whole matrix.
    norms = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    if not bool(torch.isfinite(norms).all()):
        raise MMBenchError(f"{name} contains NaN or infinite values; check the model's outputs")
    return x, norms


def _index_vector(values: Tensor | Sequence[int], name: str, length: int, bound: int) -> Tensor:
    index = torch.as_tensor(values).detach().cpu()
    if index.ndim != 1 or len(index) != length:
        raise MMBenchError(
            f"{name} must be a 1-D sequence of {length} indices, got {tuple(index.shape)}"
        )
    if index.is_floating_point() or index.dtype == torch.bool:
        raise MMBenchError(f"{name} must hold integer indices, got {index.dtype}")
    index = index.to(torch.int64)
    if length and (int(index.min()) < 0 or int(index.max()) >= bound):
        raise MMBenchError(f"{name} holds indices outside [0, {bound}); check the mapping")
    return index


def _positive_pairs(positives: PositivesLike, n_queries: int, n_items: int) -> Pairs:
    """(query, item) positive pairs on the CPU, sorted by query then item, without duplicates."""
    if isinstance(positives, np.ndarray):
        positives = torch.from_numpy(positives)
    if isinstance(positives, Tensor) and positives.dtype == torch.bool:
        if tuple(positives.shape) != (n_queries, n_items):
            raise MMBenchError(
                f"positives mask has shape {tuple(positives.shape)}, "
                f"expected {(n_queries, n_items)}"
            )
        mask = positives.detach().cpu()
        if mask.is_sparse:
            mask = mask.coalesce()
            keep = mask.values()
            q, i = mask.indices()[0][keep], mask.indices()[1][keep]
        else:
            q, i = mask.nonzero(as_tuple=True)
    elif isinstance(positives, Tensor) or (
        isinstance(positives, Sequence)
        and not any(isinstance(p, (Sequence, Tensor, np.ndarray)) for p in positives[:1])
    ):
        q = _index_vector(positives, "positives (item -> query)", n_items, n_queries)
        i = torch.arange(n_items)
    elif isinstance(positives, Sequence):
        if len(positives) != n_queries:
            raise MMBenchError(
                f"positives has {len(positives)} lists but there are {n_queries} queries"
            )
        lengths = torch.tensor([len(p) for p in positives], dtype=torch.int64)
        q = torch.repeat_interleave(torch.arange(n_queries), lengths)
        i = torch.tensor([int(j) for p in positives for j in p], dtype=torch.int64)
        if len(i) and (int(i.min()) < 0 or int(i.max()) >= n_items):
            raise MMBenchError(f"positives holds item indices outside [0, {n_items})")
    else:
        raise MMBenchError(
            "positives must be an index tensor, a list of lists or a bool mask, "
            f"not {type(positives).__name__}"
        )
    # One sort of the linear index orders the pairs by query and drops duplicates.
    linear = torch.unique(q.to(torch.int64) * n_items + i.to(torch.int64), sorted=True)
    return Pairs(query=linear // n_items, item=linear % n_items)


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise MMBenchError(f"ks must be positive integers, got {ks!r}")
    return ks
