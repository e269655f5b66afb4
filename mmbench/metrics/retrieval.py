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

How it is computed: one similarity matrix, never materialised. Query (image) rows are processed in
blocks of `chunk_size` rows, each cut into cache-sized column tiles, and both directions are
counted from the same tiles: image->text needs, per row, the number of entries >= the row's best
positive; text->image needs, per column, the number of entries >= the column's positive. A
column's threshold lives in a row block that may come later, so pass 1 first computes the small
*positive tiles* `images[g] @ texts[positives of g].T` for 64-row groups g (about 64 x 5 entries
per COCO image, ~1% of the work) and takes every threshold from them; pass 2 computes the full
tiles and counts.

Exactness. A dot product computed by another kernel, or by a GEMM of another shape, can differ in
the last bit, and that flips the order of a positive and a near-tied negative. Two rules make the
ranks exact:

1. Every entry of the matrix has exactly one value and every comparison reads it: the entries
   covered by a positive tile are overwritten in the pass-2 tiles with the stored pass-1 values
   before counting. So ranks are always the exact pessimistic ranks of one concrete similarity
   matrix, on any device and BLAS.
2. That matrix does not depend on `chunk_size`, provided the BLAS computes each output element
   with a reduction order that depends only on the reduction length, not on the block's shape or
   position. Measured for MKL sgemm (torch's CPU BLAS): true for blocks of >= 16 rows and >= 2
   columns with K <= 512; false below 16 rows (a small-matrix kernel), for one column (GEMV) and
   for K >= 768 (the reduction is split depending on shape and thread count). So no GEMM here has
   fewer than 16 rows or 2 columns (padded, and the padding cut off), and longer embeddings are
   multiplied in 512-wide slabs added in a fixed order. tests/metrics/test_retrieval_metrics.py
   checks this invariance on the machine it runs on. cuBLAS also picks kernels per shape, so on
   CUDA rule 1 holds but bitwise independence of `chunk_size` is not promised. TF32 matmul
   (`torch.backends.cuda.matmul.allow_tf32`) coarsens every score: leave it off for evaluation.

Memory: a few cache-sized tiles, the positive tiles (64 x ~5 floats per image for COCO), O(n)
vectors and, in `retrieval_ranks`, one L2-normalised copy of the embeddings; `chunk_size` only
sets the tile height. 100k images x 500k texts x 512 peaks at 2.73 GiB, 2.3 of it the inputs
and their normalised copy (benchmarks/retrieval_scale.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mmbench.errors import MMBenchError

DEFAULT_CHUNK_SIZE = 512

# Smallest GEMM issued (module docstring, rule 2): MKL rounds differently below 16 rows (a
# small-matrix kernel) and for a single column (GEMV).
_MIN_GEMM_ROWS = 16
_MIN_GEMM_COLS = 2
# Longest reduction per GEMM: MKL splits longer ones differently depending on the shape.
_K_SLAB = 512
# Rows per positive tile: small, so the tiles stay ~1% of the work for 5 captions per image.
_POSITIVE_TILE_ROWS = 64
# Elements per pass-2 tile. On a CPU the comparisons are memory-bound and a 4 MB tile that stays in
# cache makes them ~4x cheaper than one streamed from DRAM; on a GPU wide tiles mean fewer launches.
_CPU_TILE_ELEMENTS = 1 << 20
_GPU_TILE_ELEMENTS = 1 << 26

#: A similarity producer: `fn(rows, cols)` returns the `[len(rows), len(cols)]` scores of queries
#: `rows` (a slice) against items `cols` (a slice, or a LongTensor of item indices).
SimilarityFn = Callable[[slice, slice | Tensor], Tensor]

#: Positive pairs: a 1-D integer sequence/tensor giving each item's single query (COCO's
#: text -> image), a sequence of per-query positive item lists, or a boolean [n_queries, n_items]
#: tensor (dense or sparse COO).
PositivesLike = Tensor | np.ndarray | Sequence[int] | Sequence[Sequence[int]]


@dataclass(frozen=True)
class PositiveRanks:
    """1-based rank of the best-ranked positive of each query (and item); 0 = it has no positive."""

    query_ranks: Tensor
    item_ranks: Tensor | None


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
    ranks = _rank(
        _EmbeddingScores(images, texts),
        *_positive_pairs(owner, len(images), len(texts)),
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
        scores: SimilarityFn = _EmbeddingScores(queries, items)
    elif callable(similarity):
        if n_queries is None or n_items is None:
            raise MMBenchError("pass n_queries= and n_items= with a similarity callable")
        scores = _CallableScores(similarity)
    else:
        raise MMBenchError(
            f"similarity must be (queries, items) or a callable, not {type(similarity).__name__}"
        )
    block_rows = _block_rows(n_queries, chunk_size)
    pair_q, pair_i = _positive_pairs(positives, n_queries, n_items)
    if len(pair_q) == 0:
        raise MMBenchError("positives holds no (query, item) pair; nothing to rank")
    return _rank(scores, pair_q, pair_i, n_queries, n_items, block_rows, item_ranks)


# ----------------------------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------------------------


class _EmbeddingScores:
    """`queries[rows] @ items[cols].T` with shape-stable GEMMs (module docstring, rule 2).

    No GEMM has fewer than 16 rows or 2 columns (zero rows / repeated columns are appended and cut
    off again), and the embedding dimension is reduced in 512-wide slabs added in a fixed order.
    `__call__` returns a tile in a buffer reused per shape (valid until the next same-shape call);
    `fill` writes a tile into a given tensor. Gathered columns go through one reused scratch
    buffer: many short-lived gathers between long-lived tiles fragment the heap badly (glibc
    malloc kept ~7x the tiles' size resident in a 100k x 500k run).
    """

    def __init__(self, queries: Tensor, items: Tensor) -> None:
        self.queries = queries
        self.items = items
        self.device = queries.device
        self.dtype = queries.dtype
        dim = queries.shape[1]
        self.slabs = [slice(k, min(k + _K_SLAB, dim)) for k in range(0, dim, _K_SLAB)]
        self._buffers: dict[tuple[str, int, int], Tensor] = {}
        self._gathered = queries.new_empty(0)

    def __call__(self, rows: slice, cols: slice | Tensor) -> Tensor:
        a, b, n_rows, n_cols = self._operands(rows, cols)
        out = self._buffer("out", len(a), len(b))
        self._matmul(a, b, out)
        return out if out.shape == (n_rows, n_cols) else out[:n_rows, :n_cols]

    def fill(self, rows: slice, cols: slice | Tensor, out: Tensor) -> None:
        a, b, n_rows, n_cols = self._operands(rows, cols)
        if (len(a), len(b)) == (n_rows, n_cols):
            self._matmul(a, b, out)
        else:
            out.copy_(self(rows, cols))

    def _operands(self, rows: slice, cols: slice | Tensor) -> tuple[Tensor, Tensor, int, int]:
        a = self.queries[rows]
        n_rows = len(a)
        if n_rows < _MIN_GEMM_ROWS:
            a = torch.cat([a, a.new_zeros(_MIN_GEMM_ROWS - n_rows, a.shape[1])])
        if isinstance(cols, slice):
            cols = (
                cols
                if cols.stop - cols.start >= _MIN_GEMM_COLS
                else torch.arange(cols.start, cols.stop, device=self.device)
            )
        n_cols = cols.stop - cols.start if isinstance(cols, slice) else len(cols)
        if isinstance(cols, slice):
            b = self.items[cols]
        else:
            cols = cols.to(self.device)
            if n_cols < _MIN_GEMM_COLS:
                cols = torch.cat([cols, cols[:1].expand(_MIN_GEMM_COLS - n_cols)])
            if self._gathered.numel() < len(cols) * self.items.shape[1]:
                self._gathered = self.items.new_empty(2 * len(cols) * self.items.shape[1])
            b = self._gathered[: len(cols) * self.items.shape[1]].view(len(cols), -1)
            torch.index_select(self.items, 0, cols, out=b)
        return a, b, n_rows, n_cols

    def _matmul(self, a: Tensor, b: Tensor, out: Tensor) -> None:
        if len(self.slabs) == 1:
            torch.mm(a, b.T, out=out)
            return
        torch.mm(a[:, self.slabs[0]], b[:, self.slabs[0]].T, out=out)
        tmp = self._buffer("tmp", len(a), len(b))
        for slab in self.slabs[1:]:
            out.add_(torch.mm(a[:, slab], b[:, slab].T, out=tmp))

    def _buffer(self, name: str, rows: int, cols: int) -> Tensor:
        key = (name, rows, cols)
        if key not in self._buffers:
            if len(self._buffers) > 64:  # positive tiles come in many shapes: do not hoard
                self._buffers.clear()
            self._buffers[key] = torch.empty(rows, cols, dtype=self.dtype, device=self.device)
        return self._buffers[key]


class _CallableScores:
    """A user's similarity callable, with its output checked (and copied if it is a view)."""

    def __init__(self, fn: SimilarityFn) -> None:
        self.fn = fn

    def __call__(self, rows: slice, cols: slice | Tensor) -> Tensor:
        block = self.fn(rows, cols)
        n_cols = cols.stop - cols.start if isinstance(cols, slice) else len(cols)
        if not isinstance(block, Tensor) or tuple(block.shape) != (rows.stop - rows.start, n_cols):
            shape = tuple(block.shape) if isinstance(block, Tensor) else type(block).__name__
            raise MMBenchError(
                f"the similarity callable returned {shape} for {rows.stop - rows.start} rows x "
                f"{n_cols} cols; it must return a tensor of that shape"
            )
        # Pass 2 overwrites tile entries in place; never write into the caller's own matrix.
        return block.clone() if block._base is not None else block

    def fill(self, rows: slice, cols: slice | Tensor, out: Tensor) -> None:
        out.copy_(self(rows, cols))


def _rank(
    scores: _EmbeddingScores | _CallableScores,
    pair_q: Tensor,
    pair_i: Tensor,
    n_queries: int,
    n_items: int,
    block_rows: int,
    want_items: bool,
) -> PositiveRanks:
    """Both directions from one similarity matrix, in two passes (module docstring).

    Pass 1: positive tiles `S[g, items_g]` (g = a group of <= 64 query rows, items_g = the items
    positive for some query in g) give every threshold: each query's best positive score and each
    item's best positive score. Pass 2: full tiles; their entries at positive-tile positions are
    replaced by the stored pass-1 values (rule 1), then entries >= the thresholds are counted per
    row and per column.
    """
    # Pass 1 plan: row groups inside each row block, with their positive pairs and item columns.
    blocks = []
    for r0 in range(0, n_queries, block_rows):
        r1 = min(r0 + block_rows, n_queries)
        n_groups = math.ceil((r1 - r0) / _POSITIVE_TILE_ROWS)
        step = math.ceil((r1 - r0) / n_groups)  # near-equal heights (GEMMs pad to >= 16 rows)
        groups = []
        for g0 in range(r0, r1, step):
            g1 = min(g0 + step, r1)
            p0, p1 = _pair_range(pair_q, g0, g1)
            if p0 < p1:
                cols, inverse = torch.unique(pair_i[p0:p1], sorted=True, return_inverse=True)
                groups.append((g0, g1, p0, p1, cols, inverse))
        blocks.append((r0, r1, groups))

    probe = scores(slice(int(pair_q[0]), int(pair_q[0]) + 1), pair_i[:1])
    device, dtype = probe.device, probe.dtype
    # Thresholds are kept in the scores' own dtype, so every comparison is between stored values.
    pos_vals = torch.empty(len(pair_q), dtype=dtype, device=device)
    q_best = torch.full((n_queries,), -math.inf, dtype=dtype, device=device)
    i_best = torch.full((n_items,), -math.inf, dtype=dtype, device=device)
    # All positive tiles live in one allocation (see _EmbeddingScores on fragmentation).
    sizes = [(g1 - g0) * len(cols) for _, _, groups in blocks for g0, g1, _, _, cols, _ in groups]
    store = torch.empty(sum(sizes), dtype=dtype, device=device)
    offset = 0
    tiles: list[list[tuple[int, int, Tensor, Tensor]]] = []
    for r0, _r1, groups in blocks:
        kept = []
        for g0, g1, p0, p1, cols, inverse in groups:
            cols = cols.to(device)
            tile = store[offset : offset + (g1 - g0) * len(cols)].view(g1 - g0, len(cols))
            offset += tile.numel()
            scores.fill(slice(g0, g1), cols, tile)
            local_q = (pair_q[p0:p1] - g0).to(device)
            vals = tile[local_q, inverse.to(device)]
            pos_vals[p0:p1] = vals
            q_best[g0:g1] = _segment_max(vals, local_q, g1 - g0)
            i_best.scatter_reduce_(0, pair_i[p0:p1].to(device), vals, "amax")
            kept.append((g0 - r0, g1 - r0, cols, tile))
        tiles.append(kept)

    # Pass 2: cache-sized tiles of each row block. Counts are accumulated as float sums of a 0/1
    # mask (`addmv_`, one BLAS call): torch reduces a bool mask only after converting it to
    # integers, which costs more than the comparison. Sums of 0/1 are exact in float32 below 2**24.
    exact = torch.float32 if max(n_queries, n_items) < 2**24 else torch.float64
    q_count = torch.zeros(n_queries, dtype=exact, device=device)
    i_count = torch.zeros(n_items, dtype=exact, device=device)
    budget = _CPU_TILE_ELEMENTS if device.type == "cpu" else _GPU_TILE_ELEMENTS
    col_tiles = _even_split(n_items, max(budget // block_rows, 1024))
    starts = torch.tensor([c0 for c0, _ in col_tiles] + [n_items], device=device)
    i_views = [(c0, c1, i_best[None, c0:c1], i_count[c0:c1]) for c0, c1 in col_tiles]
    masks: dict[tuple[int, int], Tensor] = {}
    ones: dict[int, Tensor] = {}
    for (r0, r1, _groups), kept in zip(blocks, tiles, strict=True):
        # Where each positive tile's columns fall among the column tiles.
        cuts = [torch.searchsorted(cols, starts).tolist() for _, _, cols, _ in kept]
        q_thr, q_acc = q_best[r0:r1, None], q_count[r0:r1]
        for t, (c0, c1, i_thr, i_acc) in enumerate(i_views):
            block = scores(slice(r0, r1), slice(c0, c1))
            for (h0, h1, cols, tile), cut in zip(kept, cuts, strict=True):
                a, b = cut[t], cut[t + 1]
                if a < b:
                    block[h0:h1].index_copy_(1, cols[a:b] - c0, tile[:, a:b])
            shape = (r1 - r0, c1 - c0)
            if shape not in masks:
                masks[shape] = torch.empty(shape, dtype=exact, device=device)
                for n in shape:
                    ones.setdefault(n, torch.ones(n, dtype=exact, device=device))
            mask = masks[shape]
            q_acc.addmv_(torch.ge(block, q_thr, out=mask), ones[shape[1]])
            if want_items:
                i_acc.addmv_(torch.ge(block, i_thr, out=mask).T, ones[shape[0]])
    q_count, i_count = q_count.long(), i_count.long()

    # rank = 1 + #entries >= threshold - #positives >= threshold (the positives tied with it).
    pq, pi = pair_q.to(device), pair_i.to(device)
    q_pos = torch.zeros(n_queries, dtype=torch.int64, device=device)
    q_pos.index_add_(0, pq, (pos_vals >= q_best[pq]).long())
    query_ranks = torch.where(q_pos > 0, q_count - q_pos + 1, 0)
    if not want_items:
        return PositiveRanks(query_ranks, None)
    i_pos = torch.zeros(n_items, dtype=torch.int64, device=device)
    i_pos.index_add_(0, pi, (pos_vals >= i_best[pi]).long())
    return PositiveRanks(query_ranks, torch.where(i_pos > 0, i_count - i_pos + 1, 0))


def _segment_max(values: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    out = torch.full((n_segments,), -math.inf, dtype=values.dtype, device=values.device)
    return out.scatter_reduce_(0, segment, values, "amax")


def _pair_range(sorted_q: Tensor, r0: int, r1: int) -> tuple[int, int]:
    bounds = torch.searchsorted(sorted_q, torch.tensor([r0, r1], dtype=sorted_q.dtype))
    return int(bounds[0]), int(bounds[1])


def _even_split(n: int, target: int) -> list[tuple[int, int]]:
    """[0, n) cut into ceil(n / target) ranges whose lengths differ by at most one."""
    parts = max(1, math.ceil(n / target))
    return [(n * p // parts, n * (p + 1) // parts) for p in range(parts)]


def _block_rows(n_queries: int, chunk_size: int) -> int:
    """Rows per block: at most max(chunk_size, 16), all blocks about equally tall."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise MMBenchError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    n_blocks = max(1, math.ceil(n_queries / max(chunk_size, _MIN_GEMM_ROWS)))
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


def _positive_pairs(
    positives: PositivesLike, n_queries: int, n_items: int
) -> tuple[Tensor, Tensor]:
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
    return linear // n_items, linear % n_items


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise MMBenchError(f"ks must be positive integers, got {ks!r}")
    return ks
