"""The ranking engine behind `retrieval_ranks` and `best_positive_ranks` (see retrieval.py).

It counts, for every query and every item, the negatives scored at or above its best positive,
without materialising the similarity matrix, and the counts do not depend on how the matrix is
cut into tiles, nor on the BLAS kernel that computes a tile.

Why that needs care: a BLAS computes a dot product with a reduction order chosen per kernel, and
the kernel depends on the GEMM's shape, its position, the thread count and the CPU (on an AMD EPYC
with MKL, 2 of 45 block shapes of the same product differed in the last bit). A negative within a
few units in the last place of a positive could therefore rank above it for one `chunk_size` and
below it for another. So every comparison is decided against one *canonical* score:

    s*(q, i) = sum over k of q[k] * i[k], accumulated in float64 in coordinate order,

computed elementwise (each product of float32 values is exact in float64, each addition is one
correctly rounded IEEE operation, on any device and for any batch of pairs). Ranks are the exact
pessimistic ranks of s*: rank = 1 + #{negatives i : s*(q, i) >= max over positives p of s*(q, p)}.

How it stays fast: s* is computed only where it can matter.

1. *Thresholds*: s* of every positive pair (~5 per COCO image), and their maxima per query and
   per item.
2. *Tiles*: the matrix is scored by fast GEMMs, tile by tile. A tile value s differs from s* by at
   most `margin` = (gamma_d(tile dtype) + gamma_d(float64)) max|q| max|i|, where gamma_d =
   d u / (1 - d u) bounds the relative error of a d-term dot product summed in any order (u: unit
   roundoff; about 3e-5 for d = 512 in float32). With each threshold t widened to [t - margin,
   t + margin] and rounded outwards to the tile dtype, a tile value above the band is surely
   counted, one below surely not; positives are masked out of the tiles.
3. *Near ties*: the few tile values inside a band (the negatives within ~1e-5 of a threshold) are
   collected and decided with s*.

A user's similarity callable has no canonical form: its tile values are taken as they come
(margin 0), its positive scores come from calls over fixed 64-row groups, and its ranks are
independent of `chunk_size` as far as its own values are independent of the call's shape.
TF32 or reduced-precision float32 matmul would break the margin; ranking refuses to run under it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from mmbench.errors import MMBenchError

#: `fn(rows, cols)` -> `[len(rows), len(cols)]` scores of queries `rows` against items `cols`.
SimilarityFn = Callable[[slice, slice | Tensor], Tensor]

# Elements per tile. On a CPU the comparisons are memory-bound and a 4 MB tile that stays in cache
# makes them ~4x cheaper than one streamed from DRAM; on a GPU wide tiles mean fewer launches.
_CPU_TILE_ELEMENTS = 1 << 20
_GPU_TILE_ELEMENTS = 1 << 26
# Pairs per canonical-score batch: bounds the gathered [d, pairs] operands (~64 MB at d=512).
_EXACT_PAIRS_PER_BATCH = 4096
# Rows per positive group for a callable scorer: fixed, so its positive scores never depend on
# chunk_size.
_CALLABLE_GROUP_ROWS = 64


@dataclass(frozen=True)
class PositiveRanks:
    """1-based rank of the best-ranked positive of each query (and item); 0 = it has no positive."""

    query_ranks: Tensor
    item_ranks: Tensor | None


@dataclass(frozen=True)
class Pairs:
    """Positive (query, item) pairs on the CPU, sorted by query then item, without duplicates."""

    query: Tensor
    item: Tensor


class Scorer(Protocol):
    """What the engine needs from a similarity: fast tiles, canonical pair scores, their gap."""

    device: torch.device

    def tile(self, rows: slice, cols: slice) -> Tensor:
        """Scores of a block, in a tensor the engine may overwrite."""

    def exact(self, query: Tensor, item: Tensor) -> Tensor:
        """Canonical float64 scores of the pairs (query[k], item[k])."""

    def margin(self) -> float:
        """Bound on |tile value - canonical value| over all entries."""


@dataclass(frozen=True)
class _Band:
    """One side's thresholds: canonical best-positive scores and their band in the tile dtype.

    A tile value >= `high` is surely >= `best`; one < `low` surely below it; values in between
    are decided canonically.
    """

    best: Tensor
    low: Tensor
    high: Tensor


@dataclass
class _Side:
    """One direction's count of negatives at or above its thresholds.

    The query side has one threshold per tile row, the item side one per tile column. `sure`
    counts per query (item); near ties wait as (query, item) pairs for the canonical decision.
    """

    band: _Band
    per_row: bool
    sure: Tensor
    near_query: list[Tensor] = field(default_factory=list)
    near_item: list[Tensor] = field(default_factory=list)


class EmbeddingScorer:
    """Dot products of `queries` and `items` (both [n, d], same dtype and device)."""

    def __init__(self, queries: Tensor, items: Tensor) -> None:
        self.queries = queries
        self.items = items
        self.device = queries.device
        # One output buffer per tile shape: many short-lived tiles fragment the heap badly (glibc
        # malloc kept ~7x the tiles' size resident in a 100k x 500k run).
        self._buffers: dict[tuple[int, int], Tensor] = {}

    def tile(self, rows: slice, cols: slice) -> Tensor:
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        if shape not in self._buffers:
            self._buffers[shape] = self.queries.new_empty(shape)
        return torch.mm(self.queries[rows], self.items[cols].T, out=self._buffers[shape])

    def exact(self, query: Tensor, item: Tensor) -> Tensor:
        out = torch.empty(len(query), dtype=torch.float64, device=self.device)
        for start in range(0, len(query), _EXACT_PAIRS_PER_BATCH):
            stop = min(start + _EXACT_PAIRS_PER_BATCH, len(query))
            q = self.queries[query[start:stop].to(self.device)]
            i = self.items[item[start:stop].to(self.device)]
            out[start:stop] = coordinate_order_dot(q, i)
        return out

    def margin(self) -> float:
        _check_matmul_precision(self.device)
        dim = self.queries.shape[1]
        # Norms in the inputs' own dtype, widened by their own rounding bound.
        norms = (
            float(torch.linalg.vector_norm(m, dim=-1).max()) * (1 + 2 * _gamma(dim, m.dtype))
            for m in (self.queries, self.items)
        )
        # |computed - exact| <= gamma_d * sum_k |q_k i_k| <= gamma_d * |q| |i| for a d-term dot
        # product summed in any order (Higham, Accuracy and Stability, eq. 3.5), for the tile
        # and for the canonical float64 value alike.
        return (_gamma(dim, self.queries.dtype) + _gamma(dim, torch.float64)) * math.prod(norms)


def coordinate_order_dot(q: Tensor, i: Tensor) -> Tensor:
    """Row-wise dot products in float64, accumulated in coordinate order (the canonical score).

    Each product of float32 values is exact in float64, then each addition is one correctly
    rounded operation in the order k = 0, 1, ..., d - 1. On a CPU that is a cumulative sum along
    the row (torch scans each row sequentially); elsewhere, where scans run in parallel, an
    explicit loop over the coordinates (a product, then an addition: no fused multiply-add).
    """
    if q.device.type == "cpu":
        return torch.cumsum(q.double() * i.double(), dim=1)[:, -1]
    return _dot_coordinate_loop(q, i)


def _dot_coordinate_loop(q: Tensor, i: Tensor) -> Tensor:
    q, i = q.T.contiguous(), i.T.contiguous()  # coordinates as rows: contiguous reads below
    acc = q[0].double() * i[0].double()
    for k in range(1, len(q)):
        acc += q[k].double() * i[k].double()
    return acc


def _gamma(n: int, dtype: torch.dtype) -> float:
    unit_roundoff = torch.finfo(dtype).eps / 2
    return n * unit_roundoff / (1 - n * unit_roundoff)


class CallableScorer:
    """A user's similarity callable, with its output checked (and copied if it is a view)."""

    def __init__(self, fn: SimilarityFn) -> None:
        self.fn = fn
        self.device = self._call(slice(0, 1), slice(0, 1)).device

    def _call(self, rows: slice, cols: slice | Tensor) -> Tensor:
        block = self.fn(rows, cols)
        n_cols = cols.stop - cols.start if isinstance(cols, slice) else len(cols)
        if not isinstance(block, Tensor) or tuple(block.shape) != (rows.stop - rows.start, n_cols):
            shape = tuple(block.shape) if isinstance(block, Tensor) else type(block).__name__
            raise MMBenchError(
                f"the similarity callable returned {shape} for {rows.stop - rows.start} rows x "
                f"{n_cols} cols; it must return a tensor of that shape"
            )
        if not block.is_floating_point():
            raise MMBenchError(
                f"the similarity callable returned {block.dtype} scores; return floating point"
            )
        return block

    def tile(self, rows: slice, cols: slice) -> Tensor:
        block = self._call(rows, cols)
        # The engine masks positives in place; never write into the caller's own matrix.
        return block.clone() if block._base is not None else block

    def exact(self, query: Tensor, item: Tensor) -> Tensor:
        out = torch.empty(len(query), dtype=torch.float64)
        groups = torch.div(query, _CALLABLE_GROUP_ROWS, rounding_mode="floor")
        for group in torch.unique(groups).tolist():
            at = (groups == group).nonzero().flatten()
            g0 = group * _CALLABLE_GROUP_ROWS
            g1 = max(int(query[at].max()) + 1, g0 + 1)
            cols, inverse = torch.unique(item[at], return_inverse=True)
            block = self._call(slice(g0, g1), cols.to(self.device))
            out[at] = (
                block[(query[at] - g0).to(block.device), inverse.to(block.device)].double().cpu()
            )
        return out.to(self.device)

    def margin(self) -> float:
        return 0.0


def rank_positives(
    scorer: Scorer,
    pairs: Pairs,
    n_queries: int,
    n_items: int,
    block_rows: int,
    want_items: bool,
) -> PositiveRanks:
    """Ranks of each query's (and item's) best positive (module docstring: steps 1 to 3)."""
    positive_scores = scorer.exact(pairs.query, pairs.item).to(scorer.device)
    query_side = _best_per_index(positive_scores, pairs.query, n_queries, scorer.device)
    item_side = _best_per_index(positive_scores, pairs.item, n_items, scorer.device)
    margin = scorer.margin()
    tile_dtype = scorer.tile(slice(0, 1), slice(0, 1)).dtype
    # Counts are float sums of 0/1 masks (see _tally): exact in float32 below 2**24.
    count_dtype = torch.float32 if max(n_queries, n_items) < 2**24 else torch.float64
    sides = [
        _Side(
            _band(best, margin, tile_dtype),
            per_row,
            torch.zeros(len(best), dtype=count_dtype, device=scorer.device),
        )
        for best, per_row in ((query_side, True), (item_side, False))[: 2 if want_items else 1]
    ]
    _count_tiles(scorer, pairs, sides, n_queries, n_items, block_rows)
    ranks = [_ranks(scorer, side, pairs.query if side.per_row else pairs.item) for side in sides]
    return PositiveRanks(ranks[0], ranks[1] if want_items else None)


def _check_matmul_precision(device: torch.device) -> None:
    reduced = torch.get_float32_matmul_precision() != "highest" or (
        device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    )
    if reduced:
        raise MMBenchError(
            "float32 matmul runs in reduced precision (TF32 / bfloat16), which coarsens every "
            "similarity; call torch.set_float32_matmul_precision('highest') and set "
            "torch.backends.cuda.matmul.allow_tf32 = False before ranking"
        )


def _best_per_index(values: Tensor, index: Tensor, size: int, device: torch.device) -> Tensor:
    best = torch.full((size,), -math.inf, dtype=torch.float64, device=device)
    return best.scatter_reduce_(0, index.to(device), values, "amax")


def _band(best: Tensor, margin: float, dtype: torch.dtype) -> _Band:
    return _Band(
        best=best,
        low=_round_to(best - margin, dtype, toward=-math.inf),
        high=_round_to(best + margin, dtype, toward=math.inf),
    )


def _round_to(values: Tensor, dtype: torch.dtype, toward: float) -> Tensor:
    """`values` (float64) in `dtype`, rounded toward -inf or +inf instead of to nearest."""
    rounded = values.to(dtype)
    off = rounded.double() > values if toward < 0 else rounded.double() < values
    if not bool(off.any()):
        return rounded
    return torch.where(off, torch.nextafter(rounded, torch.full_like(rounded, toward)), rounded)


def _count_tiles(
    scorer: Scorer,
    pairs: Pairs,
    sides: list[_Side],
    n_queries: int,
    n_items: int,
    block_rows: int,
) -> None:
    """Step 2: sure counts and near ties of every query (and item), tile by tile."""
    device = scorer.device
    budget = _CPU_TILE_ELEMENTS if device.type == "cpu" else _GPU_TILE_ELEMENTS
    col_tiles = even_split(n_items, max(budget // block_rows, 1024))
    scratch = _Scratch(sides[0].sure.dtype, device)
    for r0 in range(0, n_queries, block_rows):
        r1 = min(r0 + block_rows, n_queries)
        positives = _positives_by_column_tile(pairs, r0, r1, col_tiles)
        for (c0, c1), (pos_rows, pos_cols) in zip(col_tiles, positives, strict=True):
            block = scorer.tile(slice(r0, r1), slice(c0, c1))
            if len(pos_rows):
                block[pos_rows.to(device), pos_cols.to(device)] = -math.inf
            for side in sides:
                _tally(block, side, r0, c0, scratch)


class _Scratch:
    """Two reused 0/1 masks per tile shape and vectors of ones (no allocation per tile)."""

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device = device
        self._masks: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}
        self._ones: dict[int, Tensor] = {}

    def masks(self, shape: tuple[int, int]) -> tuple[Tensor, Tensor]:
        if shape not in self._masks:
            self._masks[shape] = tuple(  # type: ignore[assignment]
                torch.empty(shape, dtype=self.dtype, device=self.device) for _ in range(2)
            )
        return self._masks[shape]

    def ones(self, n: int) -> Tensor:
        if n not in self._ones:
            self._ones[n] = torch.ones(n, dtype=self.dtype, device=self.device)
        return self._ones[n]


def _tally(block: Tensor, side: _Side, r0: int, c0: int, scratch: _Scratch) -> None:
    """Count the tile at (r0, c0) into `side`: sure counts (values >= `high`) and near ties.

    One pass finds the lines (rows, or columns for the item side) holding any value >= `low`;
    usually few hold one (a line's competitors at or above its threshold are its rank), so only
    those lines are compared again, against `high`, to split sure counts from near ties
    (low <= value < high). When many lines hold one, the whole tile is compared again instead.
    Counting is a matrix-vector product with a float 0/1 mask (one BLAS call): torch reduces a
    bool mask only after converting it to integers, which costs more than the comparison.
    """
    per_row = side.per_row
    span = slice(r0, r0 + block.shape[0]) if per_row else slice(c0, c0 + block.shape[1])
    low, high = side.band.low[span], side.band.high[span]
    at_least_low, above_high = scratch.masks((block.shape[0], block.shape[1]))
    ones = scratch.ones(block.shape[1] if per_row else block.shape[0])
    torch.ge(block, low[:, None] if per_row else low[None, :], out=at_least_low)
    count_low = torch.mv(at_least_low if per_row else at_least_low.T, ones)
    lines = count_low.nonzero().flatten()
    if len(lines) == 0:
        return
    if 4 * len(lines) >= len(low):  # many lines: compare the whole tile again
        torch.ge(block, high[:, None] if per_row else high[None, :], out=above_high)
        count_high = torch.mv(above_high if per_row else above_high.T, ones)
        side.sure[span] += count_high
        lines = (count_low > count_high).nonzero().flatten()  # the lines with a near tie
        if len(lines) == 0:
            return
        near = at_least_low.sub_(above_high)
        near = near[lines] if per_row else near[:, lines]
    elif per_row:
        part = block[lines]
        above = part >= high[lines, None]
        side.sure[span].index_add_(0, lines, above.sum(dim=1).to(side.sure.dtype))
        near = (part >= low[lines, None]) & ~above
    else:
        part = block[:, lines]
        above = part >= high[None, lines]
        side.sure[span].index_add_(0, lines, above.sum(dim=0).to(side.sure.dtype))
        near = (part >= low[None, lines]) & ~above
    if per_row:
        local, col = near.nonzero(as_tuple=True)
        row = lines[local]
    else:
        row, local = near.nonzero(as_tuple=True)
        col = lines[local]
    side.near_query.append(row + r0)
    side.near_item.append(col + c0)


def _ranks(scorer: Scorer, side: _Side, owners: Tensor) -> Tensor:
    """Step 3: near ties decided canonically; rank = 1 + negatives >= best positive; 0 if none."""
    counts = side.sure.long()
    if side.near_query:
        query = torch.cat(side.near_query)
        item = torch.cat(side.near_item)
        values = scorer.exact(query.cpu(), item.cpu())
        index = (query if side.per_row else item).to(scorer.device)
        counts.index_add_(0, index, (values >= side.band.best[index]).long())
    has_positive = torch.zeros(len(counts), dtype=torch.bool, device=scorer.device)
    has_positive[owners.to(scorer.device)] = True
    return torch.where(has_positive, counts + 1, 0)


def _positives_by_column_tile(
    pairs: Pairs, r0: int, r1: int, col_tiles: list[tuple[int, int]]
) -> list[tuple[Tensor, Tensor]]:
    """The positives of rows [r0, r1) in each column tile, as tile-local (rows, cols)."""
    bounds = torch.searchsorted(pairs.query, torch.tensor([r0, r1], dtype=pairs.query.dtype))
    rows = pairs.query[bounds[0] : bounds[1]] - r0
    cols = pairs.item[bounds[0] : bounds[1]]
    order = torch.argsort(cols, stable=True)
    rows, cols = rows[order], cols[order]
    starts = torch.tensor([c0 for c0, _ in col_tiles] + [col_tiles[-1][1]], dtype=cols.dtype)
    cuts = torch.searchsorted(cols, starts).tolist()
    return [
        (rows[cuts[t] : cuts[t + 1]], cols[cuts[t] : cuts[t + 1]] - c0)
        for t, (c0, _) in enumerate(col_tiles)
    ]


def even_split(n: int, target: int) -> list[tuple[int, int]]:
    """[0, n) cut into ceil(n / target) ranges whose lengths differ by at most one."""
    parts = max(1, math.ceil(n / target))
    return [(n * p // parts, n * (p + 1) // parts) for p in range(parts)]
