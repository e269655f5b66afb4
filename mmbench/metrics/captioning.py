"""All COCO caption metrics in one call, equal to pycocoevalcap's, fast and mostly Java-free.

`caption_scores` reproduces what pycocoevalcap's COCOEvalCap does: PTB-tokenise references and
predictions (two separate tokenizer calls, ids in order), then score with Bleu(4), Meteor(),
Rouge(), Cider() and, on request, Spice(). Tokenisation, BLEU, ROUGE-L and CIDEr-D run in Python
and numpy (`tokenize_ptb`, `bleu`, `rouge_l`, `cider_d`) and equal pycocoevalcap's output to
floating-point rounding; METEOR and SPICE run pycocoevalcap's jars (Java needed), and when one
cannot run it is reported in `errors` while the other metrics are still returned.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.metrics._ngrams import (
    Corpus,
    encode,
    encode_ids,
    encode_strings,
    ngram_tables,
    regular_spacing,
    validate,
)

__all__ = ["DEFAULT_METRICS", "METRIC_NAMES", "caption_scores"]

#: metric family -> the names it reports (pycocoevalcap's names)
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "bleu": ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"),
    "meteor": ("METEOR",),
    "rouge_l": ("ROUGE_L",),
    "cider_d": ("CIDEr",),
    "spice": ("SPICE",),
}
DEFAULT_METRICS = ("bleu", "meteor", "rouge_l", "cider_d")


def caption_scores(
    predictions: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    tokenize: bool = True,
    *,
    meteor_timeout: float | None = None,
    spice_timeout: float | None = None,
    spice_download_timeout: float | None = None,
) -> dict[str, Any]:
    """Score captions exactly as pycocoevalcap's COCOEvalCap, returning corpus and per-id scores.

    `predictions` maps each id to one generated caption, `references` each id to its reference
    captions (at least one; a lone string counts as one reference); both must have the same ids.
    `metrics` picks families among "bleu", "meteor", "rouge_l", "cider_d" and "spice". With
    `tokenize=True` captions are PTB-tokenised like pycocoevalcap (references in one call,
    predictions in another, ids in the order of `predictions`); with `tokenize=False` they are
    used as given (already tokenised, tokens separated by spaces).

    Returns `{"corpus": {name: score}, "per_id": {id: {name: score}}, "errors": {name: message}}`
    with pycocoevalcap's names (Bleu_1..Bleu_4, METEOR, ROUGE_L, CIDEr, SPICE). A metric that
    cannot run (METEOR or SPICE without Java, SPICE without its models) is left out of the scores
    and explained in one line in `errors`. Raises MMBenchError for invalid input. Conventions
    (closest reference length, ROUGE-L beta, CIDEr-D document frequencies from this set) are in
    the docstrings of `bleu`, `rouge_l`, `cider_d` and in docs/metrics_captioning.md.
    """
    families = _families(metrics)
    preds, refs = _check_captions(predictions, references)
    ids = validate(preds, refs)
    captions = _Captions(ids, preds, refs, tokenize)
    corpus: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    if {"bleu", "rouge_l", "cider_d"} & set(families):
        _fast_metrics(families, *captions.corpora(), corpus, per_image)
    for family, run in (("meteor", _run_meteor), ("spice", _run_spice)):
        if family in families:
            name = METRIC_NAMES[family][0]
            options = {"meteor": meteor_timeout, "spice": (spice_timeout, spice_download_timeout)}
            try:
                corpus[name], per_image[name] = run(ids, *captions.lines(), options[family])
            except MMBenchError as exc:
                errors[name] = " ".join(str(exc).split())
    names = [n for f in families for n in METRIC_NAMES[f] if n in corpus]
    return {
        "corpus": {n: corpus[n] for n in names},
        "per_id": {k: {n: per_image[n][i] for n in names} for i, k in enumerate(ids)},
        "errors": errors,
    }


def _families(metrics: Sequence[str]) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    families = []
    for metric in metrics:
        key = str(metric).lower()
        if key not in METRIC_NAMES:
            raise MMBenchError(
                f"unknown caption metric {metric!r}{did_you_mean(key, METRIC_NAMES)}; choose from "
                + ", ".join(METRIC_NAMES)
            )
        if key not in families:
            families.append(key)
    return families


def _check_captions(
    predictions: Mapping[Hashable, Any], references: Mapping[Hashable, Any]
) -> tuple[dict[Hashable, str], dict[Hashable, list[str]]]:
    """Normalise the input shapes and reject anything that is not text."""
    preds = dict(predictions)
    if not all(map(isinstance, preds.values(), itertools.repeat(str))):
        for key, value in preds.items():
            if isinstance(value, (list, tuple)) and len(value) == 1:  # pycocoevalcap's [caption]
                value = preds[key] = value[0]
            if not isinstance(value, str):
                raise MMBenchError(
                    f"prediction for id {key!r} must be a caption string, "
                    f"got {type(value).__name__}"
                )
    refs = {k: [v] if isinstance(v, str) else list(v) for k, v in references.items()}
    flat = list(itertools.chain.from_iterable(refs.values()))
    if not all(map(isinstance, flat, itertools.repeat(str))):
        for key, values in refs.items():
            bad = [type(v).__name__ for v in values if not isinstance(v, str)]
            if bad:
                raise MMBenchError(
                    f"references for id {key!r} must be caption strings, got {bad[0]}"
                )
    return preds, refs


class _Captions:
    """Predictions and references as pycocoevalcap's scorers receive them, made on first use:
    strings for METEOR and SPICE, encoded corpora for BLEU, ROUGE-L and CIDEr-D."""

    def __init__(
        self,
        ids: list[Hashable],
        preds: dict[Hashable, str],
        refs: dict[Hashable, list[str]],
        tokenize: bool,
    ) -> None:
        self._n_refs = np.fromiter((len(refs[k]) for k in ids), dtype=np.int64, count=len(ids))
        pred_texts = [preds[k] for k in ids]
        ref_texts = [r for k in ids for r in refs[k]]
        self._texts = None if tokenize else (pred_texts, ref_texts)
        self._tokenized = None
        if tokenize:
            from mmbench.metrics.ptb_tokenizer import tokenize_calls

            # pycocoevalcap tokenises all references in one call, all predictions in another.
            ref_tokens, pred_tokens = tokenize_calls([ref_texts, pred_texts])
            self._tokenized = (pred_tokens, ref_tokens)
        self._lines: tuple[list[str], list[list[str]]] | None = None

    def lines(self) -> tuple[list[str], list[list[str]]]:
        """Prediction strings, and each image's reference strings."""
        if self._lines is None:
            if self._tokenized is not None:
                pred_lines, flat = (t.lines() for t in self._tokenized)
            else:
                pred_lines, flat = self._texts
            ends = np.cumsum(self._n_refs).tolist()
            self._lines = (
                pred_lines,
                [flat[e - n : e] for e, n in zip(ends, self._n_refs.tolist(), strict=True)],
            )
        return self._lines

    def corpora(self) -> tuple[Corpus, Corpus]:
        """The captions encoded with BLEU's and CIDEr-D's split (on whitespace) and ROUGE-L's
        (on single spaces); the same object twice when both splits agree, as they usually do."""
        if self._tokenized is None:
            return _string_corpora(*self.lines())
        preds, refs = self._tokenized
        by_whitespace = (preds.ids(), refs.ids())
        corpus = encode_ids(*by_whitespace, self._n_refs, refs.vocab_size)
        if (
            preds.oddly_spaced()
            or refs.oddly_spaced()
            or not all(n.all() for _, n in by_whitespace)
        ):
            by_space = (preds.ids(by_space=True), refs.ids(by_space=True))
            return corpus, encode_ids(*by_space, self._n_refs, refs.vocab_size)
        return corpus, corpus


def _string_corpora(pred_lines: list[str], ref_lines: list[list[str]]) -> tuple[Corpus, Corpus]:
    """`_Captions.corpora` for caption strings given already tokenised."""
    # pycocoevalcap's BLEU and CIDEr split on any whitespace, ROUGE-L on single spaces; for
    # ordinary tokenised text both give the same tokens and one encoding serves all three.
    if regular_spacing([*pred_lines, *itertools.chain.from_iterable(ref_lines)]):
        corpus = encode_strings(pred_lines, ref_lines)
        return corpus, corpus
    by_whitespace = encode(
        [p.split() for p in pred_lines], [[r.split() for r in rs] for rs in ref_lines]
    )
    by_space = encode(
        [p.split(" ") for p in pred_lines], [[r.split(" ") for r in rs] for rs in ref_lines]
    )
    return by_whitespace, by_space


def _fast_metrics(
    families: list[str],
    split_ws: Corpus,
    split_space: Corpus,
    corpus: dict[str, float],
    per_image: dict[str, list[float]],
) -> None:
    """BLEU and CIDEr-D sharing the n-gram tables of one encoding, then ROUGE-L.

    All in this thread: on the shared two-core machines this runs on, a second thread for
    ROUGE-L cost more (CPU and fresh memory) than its overlap saved.
    """
    from mmbench.metrics.bleu_score import bleu_from_matches, clipped_matches
    from mmbench.metrics.cider import cider_from_similarities, similarities
    from mmbench.metrics.rouge import rouge_arrays

    matches, sims = [], []
    if {"bleu", "cider_d"} & set(families):
        for table in ngram_tables(split_ws, 4):
            if "bleu" in families:
                matches.append(clipped_matches(split_ws, table))
            if "cider_d" in families:
                sims.append(similarities(split_ws, table))
            del table  # before the next order's table is built: one in memory at a time
    if "bleu" in families:
        scores, rows = bleu_from_matches(split_ws, matches)
        for k, name in enumerate(METRIC_NAMES["bleu"]):
            corpus[name], per_image[name] = scores[k], rows[:, k].tolist()
    if "cider_d" in families:
        corpus["CIDEr"], values = cider_from_similarities(split_ws, sims)
        per_image["CIDEr"] = values.tolist()
    if "rouge_l" in families:
        corpus["ROUGE_L"], values = rouge_arrays(split_space)
        per_image["ROUGE_L"] = values.tolist()


def _run_meteor(
    ids: list[Hashable], pred_lines: list[str], ref_lines: list[list[str]], timeout: float | None
) -> tuple[float, list[float]]:
    from mmbench.metrics.meteor import DEFAULT_TIMEOUT, meteor

    keys = range(len(ids))
    score, per_id = meteor(
        dict(zip(keys, pred_lines, strict=True)),
        dict(zip(keys, ref_lines, strict=True)),
        timeout or DEFAULT_TIMEOUT,
    )
    return score, [per_id[i] for i in keys]


def _run_spice(
    ids: list[Hashable],
    pred_lines: list[str],
    ref_lines: list[list[str]],
    timeouts: tuple[float | None, float | None],
) -> tuple[float, list[float]]:
    from mmbench.metrics.spice import DEFAULT_DOWNLOAD_TIMEOUT, DEFAULT_TIMEOUT, spice

    keys = range(len(ids))
    run_timeout, download_timeout = timeouts
    score, per_id = spice(
        dict(zip(keys, pred_lines, strict=True)),
        dict(zip(keys, ref_lines, strict=True)),
        timeout=run_timeout or DEFAULT_TIMEOUT,
        download_timeout=download_timeout or DEFAULT_DOWNLOAD_TIMEOUT,
    )
    return score, [per_id[i] for i in keys]
