"""Vectorised n-gram bookkeeping shared by BLEU, ROUGE-L and CIDEr-D.

pycocoevalcap counts n-grams with one Python dict per caption, which is what makes it slow. Here
all captions of an evaluation are encoded once: tokens become integer ids, every n-gram gets a
dense integer id, and the counts of every (n-gram, caption) pair come out of one numpy sort per n.

Captions are laid out image by image: the image's prediction, then its references. Sorting the
(n-gram, caption) pairs therefore also groups them by (n-gram, image) with the prediction's row
first, so matching a prediction's n-grams against its references is a segmented operation
(reduceat, cumsum) instead of a join.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmbench.errors import MMBenchError

__all__ = [
    "Corpus",
    "NgramTable",
    "encode",
    "encode_strings",
    "ngram_tables",
    "regular_spacing",
    "token_inputs",
    "validate",
]


@dataclass(frozen=True)
class Corpus:
    """All captions of one evaluation as flat integer token ids, image by image."""

    ids: np.ndarray  # int64 token ids, captions concatenated
    starts: np.ndarray  # int64 offset of each caption in `ids` (length n_captions + 1)
    image: np.ndarray  # int64 image index of each caption
    is_pred: np.ndarray  # bool: the caption is its image's prediction
    refs_per_image: np.ndarray  # int64 number of references of each image
    vocab_size: int  # upper bound of the token ids

    @property
    def n_images(self) -> int:
        return len(self.refs_per_image)

    @property
    def n_captions(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @property
    def pred_caption(self) -> np.ndarray:
        """Caption index of each image's prediction."""
        return np.flatnonzero(self.is_pred)

    @property
    def ref_caption(self) -> np.ndarray:
        """Caption index of each reference, image by image."""
        return np.flatnonzero(~self.is_pred)

    @property
    def first_ref(self) -> np.ndarray:
        """Position of each image's first reference in `ref_caption` order (for reduceat)."""
        return np.concatenate(([0], np.cumsum(self.refs_per_image)[:-1]))


@dataclass(frozen=True)
class NgramTable:
    """Counts of the n-grams of one order n, one row per distinct (n-gram, caption) pair.

    Rows are sorted by n-gram id, then caption index, so they form runs ("groups") of equal
    (n-gram, image), each starting with the prediction's row when the prediction has the n-gram.
    """

    gram: np.ndarray  # dense n-gram id (0..n_grams-1)
    caption: np.ndarray  # caption index
    count: np.ndarray  # occurrences of the n-gram in the caption (term frequency)
    group_start: np.ndarray  # int64 row index where each (n-gram, image) group starts
    group_image: np.ndarray  # image of each group
    group_has_pred: np.ndarray  # bool: the group's first row is the prediction's
    n_grams: int


def validate(
    predictions: Mapping[Hashable, object], references: Mapping[Hashable, Sequence[object]]
) -> list[Hashable]:
    """Check that both mappings cover the same ids and every id has a reference; return the ids.

    Ids are returned in the order of `predictions`. Raises a one-line MMBenchError otherwise.
    """
    if not predictions and not references:
        raise MMBenchError(
            "caption metrics need at least one id; predictions and references are empty"
        )
    missing_refs = [k for k in predictions if k not in references]
    missing_preds = [k for k in references if k not in predictions]
    if missing_refs or missing_preds:
        parts = []
        if missing_refs:
            parts.append(
                f"{len(missing_refs)} prediction id(s) have no references: {_few(missing_refs)}"
            )
        if missing_preds:
            parts.append(
                f"{len(missing_preds)} reference id(s) have no prediction: {_few(missing_preds)}"
            )
        raise MMBenchError(
            "caption metrics need the same ids in predictions and references; " + "; ".join(parts)
        )
    empty = [k for k in predictions if len(references[k]) == 0]
    if empty:
        raise MMBenchError(
            f"caption metrics need at least one reference per id; {len(empty)} id(s) have none: "
            f"{_few(empty)}"
        )
    return list(predictions)


def token_inputs(
    predictions: Mapping[Hashable, Sequence[str]],
    references: Mapping[Hashable, Sequence[Sequence[str]]],
) -> tuple[list[Hashable], list[Sequence[str]], list[list[Sequence[str]]]]:
    """Validate tokenised inputs; return (ids, prediction tokens, reference token lists).

    A prediction may also be given pycocoevalcap-style as a one-element list holding its tokens.
    """
    ids = validate(predictions, references)
    preds = []
    for k in ids:
        tokens = predictions[k]
        if len(tokens) == 1 and not isinstance(tokens[0], str):
            tokens = tokens[0]
        preds.append(_checked_tokens(tokens, k))
    refs = [[_checked_tokens(r, k) for r in references[k]] for k in ids]
    return ids, preds, refs


def _checked_tokens(tokens: object, key: Hashable) -> Sequence[str]:
    if isinstance(tokens, str):
        raise MMBenchError(
            f"caption metric for id {key!r} expects a list of tokens but got a string; split it "
            "first, or use mmbench.metrics.caption_scores, which tokenises raw captions"
        )
    return tokens  # type: ignore[return-value]


def _few(ids: Sequence[Hashable], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown + (f", ... (+{len(ids) - limit} more)" if len(ids) > limit else "")


def encode(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> Corpus:
    """Encode one token list per image plus each image's reference token lists."""
    captions: list[Sequence[str]] = []
    for pred, refs in zip(predictions, references, strict=True):
        captions.append(pred)
        captions.extend(refs)
    lengths = np.fromiter(map(len, captions), dtype=np.int64, count=len(captions))
    return _corpus(list(itertools.chain.from_iterable(captions)), lengths, references)


def encode_strings(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> Corpus:
    """Like `encode` for caption strings whose tokens are separated by single spaces.

    Every string must be non-empty without leading, trailing, double or non-space whitespace
    (check with `regular_spacing`), so that `s.split()` and `s.split(" ")` agree; then all
    captions are split at once at C speed.
    """
    captions: list[str] = []
    for pred, refs in zip(predictions, references, strict=True):
        captions.append(pred)
        captions.extend(refs)
    lengths = np.fromiter(map(str.count, captions, itertools.repeat(" ")), np.int64, len(captions))
    return _corpus(" ".join(captions).split(" "), lengths + 1, references)


_OTHER_WHITESPACE = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in range(0x3001) if chr(c).isspace() and c != 32) + "]"
)


def regular_spacing(captions: Sequence[str]) -> bool:
    """True when every caption is non-empty tokens separated by single spaces (encode_strings)."""
    if not all(captions):
        return False
    text = "\x00".join(captions)
    return not (
        "  " in text
        or "\x00 " in text
        or " \x00" in text
        or text[0] == " "
        or text[-1] == " "
        or _OTHER_WHITESPACE.search(text)
    )


def _corpus(flat: list[str], lengths: np.ndarray, references: Sequence[Sequence[object]]) -> Corpus:
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    # One C-speed pass: a token's id is the index of its first occurrence (unique, not dense).
    vocab: dict[str, int] = {}
    ids = np.fromiter(map(vocab.setdefault, flat, itertools.count()), np.int64, len(flat))
    n_refs = np.fromiter(map(len, references), dtype=np.int64, count=len(references))
    per_image = n_refs + 1
    image = np.repeat(np.arange(len(references), dtype=np.int64), per_image)
    is_pred = np.zeros(len(lengths), dtype=bool)
    is_pred[np.concatenate(([0], np.cumsum(per_image)[:-1])).astype(np.int64)] = True
    return Corpus(ids, starts, image, is_pred, n_refs, max(len(flat), 1))


def ngram_tables(corpus: Corpus, max_n: int = 4) -> list[NgramTable]:
    """Count the 1..max_n-grams of every caption; element n-1 of the result is order n.

    Each order needs one sort: an n-gram is identified by (id of its (n-1)-gram prefix, last
    token), packed with its position into one int64 so that a plain value sort (much faster than
    an argsort) yields both the grouping and the positions.
    """
    ids = corpus.ids
    total = len(ids)
    caption_of = np.repeat(np.arange(corpus.n_captions, dtype=np.int64), corpus.lengths)
    # Tokens from each position to the end of its caption: an n-gram starts where room >= n.
    room = corpus.starts[1:][caption_of] - np.arange(total, dtype=np.int64)
    prefix = np.zeros(total, dtype=np.int64)  # dense id of the (n-1)-gram starting at each position
    n_prefix = 1
    tables = []
    for n in range(1, max_n + 1):
        positions = np.flatnonzero(room >= n)
        keys = prefix[positions] * corpus.vocab_size + ids[positions + (n - 1)]
        keys, positions = _sort_by_key(keys, positions, n_prefix * corpus.vocab_size)
        new_gram = np.empty(len(keys), dtype=bool)
        new_gram[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=new_gram[1:])
        gram = np.cumsum(new_gram) - 1
        if n < max_n:
            prefix[positions] = gram
        n_prefix = int(gram[-1]) + 1 if len(gram) else 1
        tables.append(_table(corpus, gram, caption_of[positions], new_gram, n_prefix))
    return tables


def _table(
    corpus: Corpus, gram: np.ndarray, caption: np.ndarray, new_gram: np.ndarray, n_grams: int
) -> NgramTable:
    """Collapse sorted (gram, caption) occurrences into counted rows and (gram, image) groups."""
    # Within one n-gram the positions, hence the captions, are ascending: a row per run.
    new_row = new_gram.copy()
    np.logical_or(new_row[1:], caption[1:] != caption[:-1], out=new_row[1:])
    rows = np.flatnonzero(new_row)
    count = np.diff(rows, append=len(gram))
    gram, caption = gram[rows], caption[rows]
    image = corpus.image[caption]
    new_group = new_gram[rows]
    np.logical_or(new_group[1:], image[1:] != image[:-1], out=new_group[1:])
    group_start = np.flatnonzero(new_group)
    return NgramTable(
        gram=gram,
        caption=caption,
        count=count,
        group_start=group_start,
        group_image=image[group_start],
        group_has_pred=corpus.is_pred[caption[group_start]],
        n_grams=n_grams,
    )


def _sort_by_key(
    keys: np.ndarray, positions: np.ndarray, key_bound: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sort positions by key (ties by position); return (sorted keys, sorted positions)."""
    shift = max(int(positions[-1]).bit_length(), 1) if len(positions) else 1
    if key_bound.bit_length() + shift <= 63:
        packed = np.sort((keys << shift) | positions)
        return packed >> shift, packed & ((1 << shift) - 1)
    order = np.argsort(keys, kind="stable")  # huge corpora: slower but still exact
    return keys[order], positions[order]
