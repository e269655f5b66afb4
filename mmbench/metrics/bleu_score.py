"""BLEU-1..4 exactly as pycocoevalcap computes it for captioning, vectorised with numpy.

BLEU (Papineni et al., 2002, "BLEU: a method for automatic evaluation of machine translation")
is the geometric mean of modified (clipped) n-gram precisions times a brevity penalty. The COCO
caption evaluation (pycocoevalcap/bleu/bleu_scorer.py, David Chiang's scorer adapted by Hao Fang
and Tsung-Yi Lin) fixes the details, and this module reproduces them to the last bit:

* **corpus level**: clipped matches, candidate n-gram counts, candidate lengths and effective
  reference lengths are summed over all images before the precisions and the brevity penalty are
  formed (it is not the mean of the per-image scores);
* **effective reference length "closest"**: per image, the reference length closest to the
  candidate length; on a tie the *shorter* reference wins (pycocoevalcap takes
  `min((abs(l - c), l))`). torchmetrics' and sacrebleu's sentence-level conventions differ;
* **smoothing epsilons**: each precision is `(matches + 1e-15) / (count + 1e-9)` and the length
  ratio `(c + 1e-15) / (r + 1e-9)`, so an empty candidate scores ~0 instead of dividing by zero;
  the brevity penalty `exp(1 - r/c)` applies only when the ratio is below 1;
* **per-image scores** use the same formula on one image's counts (pycocoevalcap's "bleu_list");
  they are noisy and not what papers report, but they are what pycocoevalcap returns.

Bleu_n is the n-th root of the product of the first n precisions (cumulative BLEU). Tokens are
compared as given; pycocoevalcap's inputs are PTB-tokenised, lower-cased strings split on
whitespace (see `mmbench.metrics.caption_scores`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

from mmbench.metrics._ngrams import Corpus, NgramTable, encode, ngram_tables, token_inputs

__all__ = ["bleu"]

_TINY = 1e-15  # pycocoevalcap: "so that if guess is 0 still return 0"
_SMALL = 1e-9


def bleu(
    predictions: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    max_n: int = 4,
) -> tuple[list[float], dict[Hashable, list[float]]]:
    """Corpus and per-id BLEU-1..max_n of tokenised captions, as pycocoevalcap's `Bleu(4)`.

    `predictions` maps each id to one candidate's tokens, `references` each id to a list of
    reference token lists (at least one). Returns `([Bleu_1, ..., Bleu_max_n], {id: [...]})`.
    See the module docstring for the conventions.
    """
    ids, preds, refs = token_inputs(predictions, references)
    corpus = encode(preds, refs)
    scores, per_image = bleu_arrays(corpus, ngram_tables(corpus, max_n))
    return scores, {k: row.tolist() for k, row in zip(ids, per_image, strict=True)}


def bleu_arrays(corpus: Corpus, tables: Iterable[NgramTable]) -> tuple[list[float], np.ndarray]:
    """BLEU from the n-gram tables of orders 1..max_n: corpus scores, (images, max_n) array."""
    return bleu_from_matches(corpus, [clipped_matches(corpus, table) for table in tables])


def bleu_from_matches(corpus: Corpus, matches: list[np.ndarray]) -> tuple[list[float], np.ndarray]:
    """`bleu_arrays` from each order's `clipped_matches`."""
    max_n = len(matches)
    lengths = corpus.lengths
    test_len = lengths[corpus.pred_caption]
    ref_len = _closest_ref_length(corpus)
    correct = np.stack(matches, axis=1)
    guess = np.maximum(test_len[:, None] - np.arange(max_n)[None, :], 0)
    per_image = _bleu(correct, guess, test_len, ref_len)
    totals = (correct.sum(0)[None], guess.sum(0)[None], test_len.sum()[None], ref_len.sum()[None])
    return _bleu(*totals)[0].tolist(), per_image


def _bleu(
    correct: np.ndarray, guess: np.ndarray, test_len: np.ndarray, ref_len: np.ndarray
) -> np.ndarray:
    """pycocoevalcap's compute_score arithmetic, row-wise, in the same operation order."""
    scores = np.empty(correct.shape, dtype=np.float64)
    product = np.ones(len(correct), dtype=np.float64)
    for k in range(correct.shape[1]):
        product = product * ((correct[:, k] + _TINY) / (guess[:, k] + _SMALL))
        scores[:, k] = product ** (1.0 / (k + 1))
    ratio = (test_len + _TINY) / (ref_len + _SMALL)
    short = ratio < 1
    with np.errstate(over="ignore", divide="ignore"):
        scores[short] *= np.exp(1 - 1 / ratio[short])[:, None]
    return scores


def _closest_ref_length(corpus: Corpus) -> np.ndarray:
    """Per image, the reference length closest to the candidate's; ties go to the shorter one."""
    lengths = corpus.lengths
    refs = corpus.ref_caption
    ref_lengths = lengths[refs]
    test_len = lengths[corpus.pred_caption][corpus.image[refs]]
    base = int(ref_lengths.max(initial=0)) + 1
    # Lexicographic min of (|l - c|, l) as one integer.
    key = np.abs(ref_lengths - test_len) * base + ref_lengths
    return np.minimum.reduceat(key, corpus.first_ref) % base


def clipped_matches(corpus: Corpus, table: NgramTable) -> np.ndarray:
    """Per image: sum over candidate n-grams of min(count, max count in any one reference)."""
    clipped = np.minimum(table.pred_count, table.max_ref_count)
    return np.bincount(table.group_image, weights=clipped, minlength=corpus.n_images).astype(
        np.int64
    )
