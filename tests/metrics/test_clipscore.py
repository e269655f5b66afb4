"""CLIP-S and RefCLIP-S against hand-computed values and torchmetrics' formula."""

from __future__ import annotations

import math

import pytest
import torch

from mmbench.errors import MMBenchError
from mmbench.metrics import clip_score, ref_clip_score


def torchmetrics_clip_score(image_emb, text_emb):
    """torchmetrics CLIPScore's arithmetic (functional/multimodal/clip_score.py):
    score = 100 * cos per pair, corpus = max(mean(score), 0)."""
    img = image_emb / image_emb.norm(p=2, dim=-1, keepdim=True)
    txt = text_emb / text_emb.norm(p=2, dim=-1, keepdim=True)
    score = 100 * (img * txt).sum(axis=-1)
    return torch.max(score.mean(), torch.zeros_like(score.mean()))


def test_clip_score_hand_computed():
    images = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    texts = torch.tensor([[3.0, 4.0], [0.0, 1.0], [-1.0, 0.0]])  # cos 0.6, 1.0, -1.0
    result = clip_score(images, texts)
    assert result["per_pair"].tolist() == pytest.approx([1.5, 2.5, 0.0])  # 2.5 * max(cos, 0)
    assert result["mean"] == pytest.approx(4.0 / 3)
    assert clip_score(images, texts, w=1.0)["per_pair"].tolist() == pytest.approx([0.6, 1, 0])


def test_clip_score_equals_torchmetrics_scaled_when_all_cosines_are_positive():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(20, 16, generator=g)
    texts = images + 0.5 * torch.randn(20, 16, generator=g)  # positively correlated pairs
    ours = clip_score(images, texts)
    assert bool((ours["per_pair"] > 0).all())
    ref = torchmetrics_clip_score(images, texts).item() * 2.5 / 100
    assert ours["mean"] == pytest.approx(ref, rel=1e-6)


def test_clip_score_differs_from_torchmetrics_with_negative_pairs():
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    texts = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # cos 1 and -1
    assert clip_score(images, texts)["mean"] == pytest.approx(1.25)  # mean(2.5, 0)
    assert torchmetrics_clip_score(images, texts).item() == 0.0  # max(mean(100, -100), 0)


def test_ref_clip_score_hand_computed():
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    cands = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    refs = [
        torch.tensor([[0.0, 1.0], [1.0, 0.0]]),  # cos with cand 0: 0.8, 0.6 -> 0.8
        torch.tensor([[-1.0, 0.0]]),  # cos -1 -> clamped to 0 -> harmonic mean 0
    ]
    result = ref_clip_score(images, cands, refs)
    clip_s = 2.5 * 0.6
    assert result["clip_s"].tolist() == pytest.approx([clip_s, 2.5])
    assert result["ref_s"].tolist() == pytest.approx([0.8, 0.0])
    expected = 2 * clip_s * 0.8 / (clip_s + 0.8)
    assert result["per_pair"].tolist() == pytest.approx([expected, 0.0])
    assert result["mean"] == pytest.approx(expected / 2)
    assert not math.isnan(result["mean"])


def test_ref_clip_score_padded_equals_list():
    g = torch.Generator().manual_seed(1)
    images, cands = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    refs = [torch.randn(k, 8, generator=g) for k in (1, 3, 2, 3)]
    padded = torch.zeros(4, 3, 8)
    mask = torch.zeros(4, 3, dtype=torch.bool)
    for i, r in enumerate(refs):
        padded[i, : len(r)] = r
        mask[i, : len(r)] = True
    a = ref_clip_score(images, cands, refs)
    b = ref_clip_score(images, cands, padded, mask)
    assert torch.allclose(a["per_pair"], b["per_pair"])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: clip_score(torch.ones(2, 3), torch.ones(3, 3)), "same N"),
        (lambda: clip_score(torch.ones(2, 3), torch.full((2, 3), float("inf"))), "NaN"),
        (lambda: ref_clip_score(torch.ones(1, 2), torch.ones(1, 2), [torch.ones(0, 2)]), "no ref"),
        (lambda: ref_clip_score(torch.ones(2, 2), torch.ones(2, 2), [torch.ones(1, 2)]), "entries"),
        (
            lambda: ref_clip_score(
                torch.ones(1, 2), torch.ones(1, 2), torch.ones(1, 2, 2), torch.ones(2)
            ),
            "ref_mask",
        ),
    ],
)
def test_user_errors(call, match):
    with pytest.raises(MMBenchError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
