"""CIDEr-D exactly as pycocoevalcap computes it ("CIDEr" in its output), vectorised with numpy.

CIDEr (Vedantam, Zitnick and Parikh, 2015, "CIDEr: Consensus-based Image Description
Evaluation") compares TF-IDF weighted n-gram vectors of a candidate and each reference. The
variant that pycocoevalcap implements (cider/cider_scorer.py) and reports as "CIDEr" is CIDEr-D:

* n = 1..4; for each n the cosine-like similarity uses **clipping**: the candidate weight of an
  n-gram counts at most as much as the reference weight (`min(w_c, w_r) * w_r` in the dot
  product), divided by the two vector norms;
* a **Gaussian length penalty** `exp(-(l_c - l_r)^2 / (2 * 6^2))` (sigma = 6), where pycocoevalcap's
  "length" is the number of *bigrams* of the caption (its counts2vec adds the counts of n-grams
  with `n == 1` in 0-based indexing), i.e. `max(len - 1, 0)` for captions of at least one token;
* per image: the mean over n of the similarities summed over references, divided by the number
  of references, **times 10**; the corpus score is the mean over images;
* **document frequency is computed from the references of the evaluated set**: df(g) is the
  number of images whose references contain g, idf(g) = log(N_images) - log(max(1, df(g))).
  Scores therefore depend on which images are evaluated together: the same image scores
  differently alone than inside a larger set, and a single image always scores 0 (idf is 0 for
  everything); see coco-caption issue #9. An n-gram absent from all references gets df = 0,
  i.e. the full idf log(N_images).

Where pycocoevalcap crashes (no reference has any token, so its document-frequency table is
empty), every score is 0 here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from mmbench.metrics._ngrams import Corpus, NgramTable, encode, ngram_tables, token_inputs

__all__ = ["cider_d"]

SIGMA = 6.0


def cider_d(
    predictions: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
    max_n: int = 4,
    sigma: float = SIGMA,
) -> tuple[float, dict[Hashable, float]]:
    """Corpus (mean) and per-id CIDEr-D of tokenised captions, as pycocoevalcap's `Cider()`.

    `predictions` maps each id to one candidate's tokens, `references` each id to a list of
    reference token lists (at least one). See the module docstring for the conventions, in
    particular that document frequencies come from the references of this very set.
    """
    ids, preds, refs = token_inputs(predictions, references)
    corpus = encode(preds, refs)
    score, per_image = cider_arrays(corpus, ngram_tables(corpus, max_n), sigma)
    return score, dict(zip(ids, per_image.tolist(), strict=True))


def cider_arrays(
    corpus: Corpus, tables: list[NgramTable], sigma: float = SIGMA
) -> tuple[float, np.ndarray]:
    """CIDEr-D from precomputed n-gram tables: the mean and the per-image scores."""
    n = corpus.n_images
    refs = corpus.ref_caption
    ref_len = np.log(float(n))  # pycocoevalcap's "ref_len" is log(number of images)
    # pycocoevalcap's length: number of bigram occurrences of each caption.
    bigrams = np.maximum(corpus.lengths - 1, 0) if len(tables) > 1 else corpus.lengths * 0
    delta = (bigrams[corpus.pred_caption][corpus.image[refs]] - bigrams[refs]).astype(np.float64)
    penalty = np.e ** (-(delta**2) / (2 * sigma**2))
    sims = np.zeros((len(refs), len(tables)), dtype=np.float64)
    for k, table in enumerate(tables):
        sims[:, k] = _similarities(corpus, table, ref_len)[refs] * penalty
    summed = np.add.reduceat(sims, corpus.first_ref, axis=0)
    scores = np.mean(summed, axis=1) / corpus.refs_per_image * 10.0
    return float(np.mean(scores)), scores


def _similarities(corpus: Corpus, table: NgramTable, ref_len: float) -> np.ndarray:
    """Per caption: clipped cosine similarity of a reference with its image's prediction (one n).

    Values at prediction captions are meaningless (the caller keeps reference captions only).
    """
    sims = np.zeros(corpus.n_captions, dtype=np.float64)
    if len(table.count) == 0:
        return sims
    starts, has_pred = table.group_start, table.group_has_pred
    # Document frequency: number of images whose references contain the n-gram, i.e. groups
    # with at least one reference row.
    sizes = np.diff(np.append(starts, len(table.count)))
    has_ref = sizes > has_pred
    df = np.bincount(table.gram[starts[has_ref]], minlength=table.n_grams).astype(np.float64)
    weight = table.count * (ref_len - np.log(np.maximum(1.0, df)))[table.gram]
    norm = np.sqrt(np.bincount(table.caption, weights=weight**2, minlength=corpus.n_captions))
    # Each row's partner: the prediction's weight of the same n-gram (0 if it lacks it).
    pred_weight = np.where(has_pred, weight[starts], 0.0)
    group = np.repeat(np.arange(len(starts)), sizes)
    partner = pred_weight[group]
    partner[starts[has_pred]] = 0.0  # the prediction's own row
    clipped = np.minimum(partner, weight) * weight
    sims = np.bincount(table.caption, weights=clipped, minlength=corpus.n_captions)
    norm_pred = norm[corpus.pred_caption][corpus.image]
    both = (norm_pred != 0) & (norm != 0)
    sims[both] /= norm_pred[both] * norm[both]
    return sims
