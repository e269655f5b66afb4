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

from mmbench.metrics._ngrams import Corpus, encode, token_inputs

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
    ref_lengths = corpus.lengths[refs]
    out = np.zeros(len(refs), dtype=np.int64)
    words = (ref_lengths + 63) // 64  # 64-bit words needed for a reference's DP row
    for w in np.unique(words[words > 0]):
        chosen = np.flatnonzero(words == w)
        out[chosen] = _bit_parallel_lcs(corpus, refs[chosen], int(w))
    return out


def _bit_parallel_lcs(corpus: Corpus, refs: np.ndarray, n_words: int) -> np.ndarray:
    """LCS of the given reference captions with their predictions, n_words per DP row."""
    starts = corpus.starts
    pred = corpus.pred_caption[corpus.image[refs]]
    pred_len = starts[pred + 1] - starts[pred]
    # Process pairs by decreasing prediction length so that step i touches a prefix of them.
    order = np.argsort(-pred_len, kind="stable")
    refs, pred, pred_len = refs[order], pred[order], pred_len[order]
    masks = _match_masks(corpus, refs, pred, pred_len, n_words)  # (sum pred_len, n_words)
    mask_start = np.concatenate(([0], np.cumsum(pred_len)[:-1])).astype(np.int64)
    row = np.full((len(refs), n_words), np.uint64(2**64 - 1))
    descending = -pred_len
    for i in range(int(pred_len[0]) if len(refs) else 0):
        active = int(np.searchsorted(descending, -i, side="left"))  # pairs with pred_len > i
        v = row[:active]
        u = v & masks[mask_start[:active] + i]
        # row = (v + u) | (v - u); u is a subset of v, so v - u == v & ~u (no borrow), while the
        # addition carries from one 64-bit word into the next.
        row[:active] = _add_with_carry(v, u) | (v & ~u)
    ref_len = corpus.lengths[refs]
    result = np.empty(len(refs), dtype=np.int64)
    result[order] = ref_len - _popcount_rows(row, ref_len)
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


def _match_masks(
    corpus: Corpus, refs: np.ndarray, pred: np.ndarray, pred_len: np.ndarray, n_words: int
) -> np.ndarray:
    """For each pair and each prediction position i: the bits j where reference[j] == pred[i].

    Returns one row of n_words uint64 per (pair, i), pairs in the given order.
    """
    ids, starts, vocab = corpus.ids, corpus.starts, corpus.vocab_size
    # One mask per (pair, distinct reference token), keyed by pair * vocab + token.
    ref_len = corpus.lengths[refs]
    pair, j = _pair_positions(ref_len)
    key = pair * vocab + ids[starts[refs][pair] + j]
    shift = max(int(ref_len.max(initial=1)).bit_length(), 1)
    packed = np.sort((key << shift) | j)  # value sort: (key, j) order, much faster than argsort
    key, j = packed >> shift, packed & ((1 << shift) - 1)
    first = np.ones(len(key), dtype=bool)
    np.not_equal(key[1:], key[:-1], out=first[1:])
    unique_key = key[first]
    bits = np.uint64(1) << (j % 64).astype(np.uint64)
    table = np.zeros((len(unique_key) + 1, n_words), dtype=np.uint64)  # last row: no match
    if n_words == 1:
        table[:-1, 0] = np.bitwise_or.reduceat(bits, np.flatnonzero(first)) if len(bits) else 0
    else:
        np.bitwise_or.at(table, (np.cumsum(first) - 1, j // 64), bits)
    # Look up every prediction token of every pair.
    pair, i = _pair_positions(pred_len)
    query = pair * vocab + ids[starts[pred][pair] + i]
    at = np.searchsorted(unique_key, query)
    row = np.minimum(at, max(len(unique_key) - 1, 0))
    found = (at < len(unique_key)) & (unique_key[row] == query) if len(unique_key) else at < 0
    return table[np.where(found, row, len(unique_key))]


def _pair_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items of the given lengths: (item index, position within item) of every element."""
    item = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    return item, np.arange(len(item), dtype=np.int64) - offsets[item]
