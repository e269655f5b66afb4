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

from collections.abc import Hashable, Iterable, Mapping, Sequence

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
    corpus: Corpus, tables: Iterable[NgramTable], sigma: float = SIGMA
) -> tuple[float, np.ndarray]:
    """CIDEr-D from the n-gram tables of orders 1..max_n: the mean and the per-image scores."""
    return cider_from_similarities(corpus, [similarities(corpus, t) for t in tables], sigma)


def cider_from_similarities(
    corpus: Corpus, sims: list[np.ndarray], sigma: float = SIGMA
) -> tuple[float, np.ndarray]:
    """`cider_arrays` from each order's `similarities`."""
    refs = corpus.ref_caption
    # pycocoevalcap's length: number of bigram occurrences of each caption.
    bigrams = np.maximum(corpus.lengths - 1, 0) if len(sims) > 1 else corpus.lengths * 0
    delta = (bigrams[corpus.pred_caption][corpus.image[refs]] - bigrams[refs]).astype(np.float64)
    penalty = np.e ** (-(delta**2) / (2 * sigma**2))
    penalised = np.zeros((len(refs), len(sims)), dtype=np.float64)
    for k, sim in enumerate(sims):
        penalised[:, k] = sim * penalty
    summed = np.add.reduceat(penalised, corpus.first_ref, axis=0)
    scores = np.mean(summed, axis=1) / corpus.refs_per_image * 10.0
    return float(np.mean(scores)), scores


def similarities(corpus: Corpus, table: NgramTable) -> np.ndarray:
    """Clipped cosine similarity of each reference (`ref_caption` order) with its image's
    prediction, for the n-grams of one table (before the length penalty)."""
    if len(table.count) == 0:
        return np.zeros(len(corpus.ref_caption), dtype=np.float64)
    ref_len = np.log(float(corpus.n_images))  # pycocoevalcap's "ref_len": log(number of images)
    # Document frequency: number of images whose references contain the n-gram. Its idf comes
    # from a table over the few possible frequencies (fewer logarithms, less fresh memory).
    df = np.bincount(
        np.compress(table.max_ref_count > 0, table.group_gram), minlength=table.n_grams
    )
    idf_of_df = ref_len - np.log(np.maximum(1.0, np.arange(df.max() + 1, dtype=np.float64)))
    idf = idf_of_df[df[table.group_gram]][table.group]
    weight = table.count * idf
    # Clipped against the prediction's weight of the same n-gram (0 if it lacks it): as the
    # idf is shared, min(w_pred, w) == min(count_pred, count) * idf, exactly. At a prediction's
    # own rows the result is meaningless, and only references' are returned. Arrays are reused
    # in place: fresh memory costs page faults.
    clipped = table.pred_count[table.group]
    np.minimum(clipped, table.count, out=clipped)
    products = np.multiply(idf, clipped, out=idf)
    products *= weight
    refs = corpus.ref_caption
    sims = np.bincount(table.caption, weights=products, minlength=corpus.n_captions)[refs]
    squares = np.multiply(weight, weight, out=weight)
    norm = np.sqrt(np.bincount(table.caption, weights=squares, minlength=corpus.n_captions))
    norms = norm[corpus.pred_caption][corpus.image[refs]] * norm[refs]
    np.divide(sims, norms, out=sims, where=norms != 0)
    return sims
