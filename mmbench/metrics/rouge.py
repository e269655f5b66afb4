"""ROUGE-L exactly as pycocoevalcap computes it for captioning, vectorised with numpy.

ROUGE-L (Lin, 2004, "ROUGE: A Package for Automatic Evaluation of Summaries") scores a candidate
by the longest common subsequence (LCS) it shares with the references. pycocoevalcap
(rouge/rouge.py, Ramakrishna Vedantam) fixes the captioning variant reproduced here:

* per image, precision `LCS / len(candidate)` and recall `LCS / len(reference)` are computed for
  every reference, and the **maximum precision and the maximum recall are taken separately**
  (they may come from different references);
* F-measure with **beta = 1.2**: `(1 + b^2) P R / (R + b^2 P)`, 0 when P or R is 0;
* the corpus score is the **mean of the per-image scores**;
* pycocoevalcap splits captions with `str.split(" ")`, so an empty caption is one empty token
  (length 1, not 0); `rouge_l` treats an empty token list the same way.

The LCS of every (candidate, reference) pair is computed at once with the bit-parallel algorithm
of Allison and Dix (1986) / Hyyro (2004): one machine word holds a reference's DP row, and each
candidate token updates the rows of all pairs with a few numpy operations.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from mmbench.metrics._ngrams import Corpus, encode, running_count, spread, token_inputs

__all__ = ["rouge_l"]

BETA = 1.2


def rouge_l(
    predictions: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    beta: float = BETA,
) -> tuple[float, dict[Hashable, float]]:
    """Corpus (mean) and per-id ROUGE-L F of tokenised captions, as pycocoevalcap's `Rouge()`.

    `predictions` maps each id to one candidate's tokens, `references` each id to a list of
    reference token lists (at least one). See the module docstring for the conventions.
    """
    ids, preds, refs = token_inputs(predictions, references)
    # pycocoevalcap's "".split(" ") == [""]: an empty caption is one empty token.
    preds = [p if len(p) else [""] for p in preds]
    refs = [[r if len(r) else [""] for r in rs] for rs in refs]
    score, per_image = rouge_arrays(encode(preds, refs), beta)
    return score, dict(zip(ids, per_image.tolist(), strict=True))


def rouge_arrays(corpus: Corpus, beta: float = BETA) -> tuple[float, np.ndarray]:
    """ROUGE-L from an encoded corpus: the mean and the per-image scores."""
    lengths = corpus.lengths
    refs = corpus.ref_caption
    lcs = lcs_lengths(corpus).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(lcs / lengths[corpus.pred_caption][corpus.image[refs]])
        recall = np.nan_to_num(lcs / lengths[refs])
    p = np.maximum.reduceat(precision, corpus.first_ref)
    r = np.maximum.reduceat(recall, corpus.first_ref)
    nonzero = (p != 0) & (r != 0)
    scores = np.zeros(corpus.n_images, dtype=np.float64)
    pn, rn = p[nonzero], r[nonzero]
    scores[nonzero] = ((1 + beta**2) * pn * rn) / (rn + beta**2 * pn)
    return float(np.mean(scores)), scores


def lcs_lengths(corpus: Corpus) -> np.ndarray:
    """LCS length of each reference (in `ref_caption` order) with its image's prediction."""
    refs = corpus.ref_caption
    words = (corpus.lengths[refs] + 63) // 64  # 64-bit words needed for a reference's DP row
    out = np.zeros(len(refs), dtype=np.int64)
    if not len(refs) or not words.any():
        return out
    groups = _token_groups(corpus)
    for w in np.flatnonzero(np.bincount(words)[1:]) + 1:
        chosen = np.flatnonzero(words == w)
        out[chosen] = _bit_parallel_lcs(corpus, groups, refs[chosen], int(w))
    return out


def _token_groups(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """Number every distinct (token, image): (group of each token position, image of each group).

    A prediction token can only match reference tokens of its own group.
    """
    total = len(corpus.ids)
    shift = max(total.bit_length(), 1)
    # One value sort of (token, position): positions run image by image, so equal tokens of one
    # image end up next to each other.
    packed = corpus.ids << shift
    packed |= np.arange(total, dtype=np.int64)
    packed.sort()
    position = packed & ((1 << shift) - 1)
    image = np.repeat(corpus.image, corpus.lengths)[position]
    packed >>= shift  # the tokens
    new = np.ones(total, dtype=bool)
    new[1:] = (packed[1:] != packed[:-1]) | (image[1:] != image[:-1])
    group = np.empty(total, dtype=np.int64)
    group[position] = running_count(new) - 1
    return group, np.compress(new, image)


def _bit_parallel_lcs(
    corpus: Corpus, groups: tuple[np.ndarray, np.ndarray], refs: np.ndarray, n_words: int
) -> np.ndarray:
    """LCS of the given reference captions with their predictions, n_words per DP row.

    The match masks live in one table with a row per (token group, reference of the group's
    image), for the groups that hold a prediction token (no other can match): the bits of the
    positions where that reference has that token.
    """
    group_of, group_image = groups
    starts, lengths = corpus.starts, corpus.lengths
    image = corpus.image[refs]
    # Each reference's slot among the chosen references of its image (refs ascend).
    refs_of_image = np.bincount(image, minlength=corpus.n_images)
    slot = np.arange(len(refs)) - (np.cumsum(refs_of_image) - refs_of_image)[image]
    # The group of every prediction token, prediction after prediction.
    pred_len = lengths[corpus.pred_caption]
    pred_group = group_of[spread(starts[corpus.pred_caption], pred_len)]
    slots = np.zeros(len(group_image), dtype=np.int64)
    slots[pred_group] = refs_of_image[group_image[pred_group]]
    base = np.cumsum(slots) - slots  # first table row of each group
    table = np.zeros((int(slots.sum()), n_words), dtype=np.uint64)
    ref_len = lengths[refs]
    pair, j = _pair_positions(ref_len)
    group = group_of[starts[refs][pair] + j]
    matchable = np.flatnonzero(slots[group])
    pair, j = pair[matchable], j[matchable]
    cell = (base[group[matchable]] + slot[pair]) * n_words + j // 64
    # The positions of one cell are distinct bits, so adding them is OR-ing them.
    np.add.at(table.reshape(-1), cell, np.uint64(1) << (j % 64).astype(np.uint64))
    # Process pairs by decreasing prediction length so that step i touches a prefix of them.
    pair_len = pred_len[image]
    order = np.argsort(-pair_len, kind="stable")
    pair_len, slot = pair_len[order], slot[order]
    # Table row of each pair's prediction token i: pred_rows[pred_at[pair] + i] + slot[pair].
    pred_rows = base[pred_group]
    pred_at = (np.cumsum(pred_len) - pred_len)[image[order]]
    row = np.full((len(refs), n_words), np.uint64(2**64 - 1))
    descending = -pair_len
    for i in range(int(pair_len[0])):
        active = int(np.searchsorted(descending, -i, side="left"))  # pairs with pred_len > i
        v = row[:active]
        u = v & table[pred_rows[pred_at[:active] + i] + slot[:active]]
        # row = (v + u) | (v - u); u is a subset of v, so v - u == v & ~u (no borrow), while the
        # addition carries from one 64-bit word into the next.
        row[:active] = _add_with_carry(v, u) | (v & ~u)
    result = np.empty(len(refs), dtype=np.int64)
    result[order] = ref_len[order] - _popcount_rows(row, ref_len[order])
    return result


def _add_with_carry(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise multi-word unsigned addition (little-endian words), carries dropped at the top."""
    out = a + b
    if a.shape[1] > 1:
        carry = out < a
        for w in range(1, a.shape[1]):
            plus = out[:, w] + carry[:, w - 1]
            carry_w = (out[:, w] < a[:, w]) | (plus < out[:, w])
            out[:, w] = plus
            carry[:, w] = carry_w
    return out


def _popcount_rows(rows: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Number of one bits among the low `bits` bits of each multi-word row."""
    n_words = rows.shape[1]
    word_bits = np.clip(bits[:, None] - 64 * np.arange(n_words)[None, :], 0, 64)
    keep = np.where(
        word_bits >= 64,
        np.uint64(2**64 - 1),
        (np.uint64(1) << word_bits.astype(np.uint64)) - np.uint64(1),
    )
    return _popcount(rows & keep).sum(axis=1).astype(np.int64)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1)


def _pair_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items of the given lengths: (item index, position within item) of every element."""
    item = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    return item, np.arange(len(item), dtype=np.int64) - offsets[item]
