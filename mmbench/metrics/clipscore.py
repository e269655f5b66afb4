"""CLIPScore and RefCLIPScore from embeddings (Hessel et al. 2021, "CLIPScore: A Reference-free
Evaluation Metric for Image Captioning"; reference implementation github.com/jmhessel/clipscore).

* CLIP-S(c, v) = w * max(cos(c, v), 0), w = 2.5, per (image, caption) pair; the corpus score is the
  mean over pairs.
* RefCLIP-S(c, R, v) = harmonic mean of CLIP-S(c, v) and max(max_{r in R} cos(c, r), 0): the text
  term is *not* multiplied by w. A harmonic mean with a zero term is 0.

Differences from other implementations, so numbers are compared like with like:

* torchmetrics `CLIPScore` reports max(100 * mean(cos), 0): scale 100 instead of 2.5, and the
  clamp at 0 applies to the corpus mean, not to each pair. When every cosine is >= 0 the two agree
  up to the factor 2.5 / 100; a negative pair lowers torchmetrics' mean but counts as 0 here.
* jmhessel/clipscore's RefCLIP-S takes the max reference cosine without clamping it at 0 (the
  paper's formula clamps); they differ only when every reference has a negative cosine with the
  candidate, which does not happen with CLIP text embeddings in practice.

Embeddings are L2-normalised here (float32, float64 stays float64), so raw encoder outputs can be
passed; the CLIP model itself is the caller's (no model code here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mmbench.errors import MMBenchError


def clip_score(image_emb: Tensor, text_emb: Tensor, w: float = 2.5) -> dict[str, Any]:
    """CLIP-S of each (image, caption) pair: `w * max(cos(image, caption), 0)`.

    Args:
        image_emb: `[N, d]` image embeddings.
        text_emb: `[N, d]` caption embeddings, row i describing image i.
        w: the paper's rescaling weight (2.5, so scores spread over roughly [0, 1]).

    Returns:
        `{"per_pair": Tensor[N], "mean": float}`.
    """
    images, texts = _pair(image_emb, "image_emb", text_emb, "text_emb")
    per_pair = w * (images * texts).sum(-1).clamp_min(0)
    return {"per_pair": per_pair, "mean": float(per_pair.mean())}


def ref_clip_score(
    image_emb: Tensor,
    cand_emb: Tensor,
    ref_embs: Sequence[Tensor] | Tensor,
    ref_mask: Tensor | None = None,
    w: float = 2.5,
) -> dict[str, Any]:
    """RefCLIP-S: harmonic mean of CLIP-S(c, v) and max(max over references of cos(c, r), 0).

    Args:
        image_emb: `[N, d]` image embeddings.
        cand_emb: `[N, d]` candidate-caption embeddings.
        ref_embs: per pair the reference-caption embeddings: a list of N `[R_i, d]` tensors, or a
            padded `[N, R, d]` tensor together with `ref_mask`.
        ref_mask: `[N, R]` bool, True for real references (padded input only).
        w: the CLIP-S weight (the text-text term is not rescaled, as in the paper).

    Returns:
        `{"per_pair": Tensor[N], "mean": float, "clip_s": Tensor[N], "ref_s": Tensor[N]}` with the
        two terms of the harmonic mean.
    """
    images, cands = _pair(image_emb, "image_emb", cand_emb, "cand_emb")
    refs, mask = _references(ref_embs, ref_mask, len(cands), cands.shape[1], cands.dtype)
    clip_s = w * (images * cands).sum(-1).clamp_min(0)
    cos = torch.einsum("nd,nrd->nr", cands, refs.to(cands.device))
    ref_s = cos.masked_fill(~mask.to(cands.device), -torch.inf).amax(1).clamp_min(0)
    # 2ab / (a + b), defined as 0 when a term is 0 (the limit, and no 0/0).
    denom = clip_s + ref_s
    per_pair = torch.where(denom > 0, 2 * clip_s * ref_s / denom.clamp_min(1e-30), 0.0)
    return {"per_pair": per_pair, "mean": float(per_pair.mean()), "clip_s": clip_s, "ref_s": ref_s}


def _normalized(x: Any, name: str) -> Tensor:
    x = torch.as_tensor(x).detach()
    if not x.is_floating_point():
        raise MMBenchError(f"{name} must hold floating-point embeddings, got {x.dtype}")
    x = x.double() if x.dtype == torch.float64 else x.float()
    if not bool(torch.isfinite(x).all()):
        raise MMBenchError(f"{name} contains NaN or infinite values; check the model's outputs")
    return torch.nn.functional.normalize(x, dim=-1)


def _pair(a: Any, a_name: str, b: Any, b_name: str) -> tuple[Tensor, Tensor]:
    a, b = _normalized(a, a_name), _normalized(b, b_name)
    if a.ndim != 2 or a.shape != b.shape or len(a) == 0:
        raise MMBenchError(
            f"{a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)} must both be [N, d] with the "
            "same N (one row per pair) and d"
        )
    if a.device != b.device:
        raise MMBenchError(f"{a_name} and {b_name} must be on the same device")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _references(
    ref_embs: Sequence[Tensor] | Tensor,
    ref_mask: Tensor | None,
    n: int,
    dim: int,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    """References as a normalised `[N, R, d]` tensor and a `[N, R]` mask of real entries."""
    if isinstance(ref_embs, Tensor) and ref_embs.ndim == 3:
        refs = _normalized(ref_embs, "ref_embs").to(dtype)
        mask = (
            torch.ones(refs.shape[:2], dtype=torch.bool)
            if ref_mask is None
            else torch.as_tensor(ref_mask).bool()
        )
        if tuple(mask.shape) != tuple(refs.shape[:2]):
            raise MMBenchError(
                f"ref_mask {tuple(mask.shape)} must match ref_embs' first two dims "
                f"{tuple(refs.shape[:2])}"
            )
    elif isinstance(ref_embs, Sequence) and not isinstance(ref_embs, str):
        if ref_mask is not None:
            raise MMBenchError("ref_mask is only for padded [N, R, d] ref_embs, not for a list")
        if len(ref_embs) != n:
            raise MMBenchError(f"ref_embs has {len(ref_embs)} entries for {n} candidates")
        items = [_normalized(r, f"ref_embs[{i}]").reshape(-1, dim) for i, r in enumerate(ref_embs)]
        longest = max(len(r) for r in items)
        refs = torch.zeros(n, longest, dim, dtype=dtype, device=items[0].device)
        mask = torch.zeros(n, longest, dtype=torch.bool)
        for i, r in enumerate(items):
            refs[i, : len(r)] = r.to(dtype)
            mask[i, : len(r)] = True
    else:
        raise MMBenchError(
            "ref_embs must be a list of [R_i, d] tensors or a padded [N, R, d] tensor"
        )
    if refs.shape[0] != n or refs.shape[2] != dim:
        raise MMBenchError(
            f"ref_embs has shape {tuple(refs.shape)}, expected [{n}, R, {dim}] for {n} candidates"
        )
    empty = ~mask.any(1)
    if bool(empty.any()):
        raise MMBenchError(
            f"candidate {int(empty.nonzero()[0])} has no reference; RefCLIP-S needs >= 1 "
            "(use clip_score for reference-free scoring)"
        )
    return refs, mask
