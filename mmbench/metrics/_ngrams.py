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
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmbench.errors import MMBenchError

__all__ = [
    "Corpus",
    "NgramTable",
    "encode",
    "encode_ids",
    "encode_strings",
    "ngram_tables",
    "regular_spacing",
    "running_count",
    "spread",
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
    (n-gram, image), the prediction's row first when the prediction has the n-gram.
    """

    caption: np.ndarray  # caption index of each row
    count: np.ndarray  # occurrences of the n-gram in the caption (term frequency)
    group: np.ndarray  # (n-gram, image) group of each row
    group_gram: np.ndarray  # dense n-gram id of each group (0..n_grams-1)
    group_image: np.ndarray  # image of each group
    pred_count: np.ndarray  # occurrences in the image's prediction (0 if none), per group
    max_ref_count: np.ndarray  # most occurrences in any one of the image's references, per group
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


_OTHER_WHITESPACE = re.compile(r"[^\S ]")  # whitespace (str.isspace) other than a space


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


def encode_ids(
    predictions: tuple[np.ndarray, np.ndarray],
    references: tuple[np.ndarray, np.ndarray],
    refs_per_image: np.ndarray,
    vocab_size: int,
) -> Corpus:
    """Like `encode` for captions already turned into token ids.

    `predictions` is (ids of all predictions' tokens, tokens per prediction), `references` the
    same for all references, image by image; token ids are below `vocab_size`.
    """
    pred_ids, pred_lengths = predictions
    ref_ids, ref_lengths = references
    is_pred = _prediction_mask(refs_per_image)
    lengths = np.empty(len(is_pred), dtype=np.int64)
    lengths[is_pred] = pred_lengths
    lengths[~is_pred] = ref_lengths
    starts = _starts(lengths)
    ids = np.empty(starts[-1], dtype=np.int64)
    ids[spread(starts[:-1][is_pred], pred_lengths)] = pred_ids
    ids[spread(starts[:-1][~is_pred], ref_lengths)] = ref_ids
    image = np.repeat(np.arange(len(refs_per_image), dtype=np.int64), refs_per_image + 1)
    return Corpus(
        _by_first_use(ids, vocab_size), starts, image, is_pred, refs_per_image, max(vocab_size, 1)
    )


def _by_first_use(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Renumber token ids by first occurrence, as `encode` numbers tokens.

    The numbering orders the n-gram tables, hence the order in which floating-point sums add
    up: this way scores depend on the captions alone, to the last bit, and not on the ids that
    a caller's vocabulary happened to give.
    """
    first = np.full(vocab_size, len(ids), dtype=np.int64)
    np.minimum.at(first, ids, np.arange(len(ids), dtype=np.int64))
    used = np.flatnonzero(first < len(ids))
    renumber = np.empty(vocab_size, dtype=np.int64)
    renumber[used[np.argsort(first[used])]] = np.arange(len(used), dtype=np.int64)
    return renumber[ids]


def spread(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices starts[c] + j for j < lengths[c], caption after caption."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(
        offsets[-1] + lengths[-1] if len(lengths) else 0
    )


def _starts(lengths: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


def _prediction_mask(refs_per_image: np.ndarray) -> np.ndarray:
    """Captions are laid out image by image, prediction first: which captions are predictions."""
    per_image = refs_per_image + 1
    is_pred = np.zeros(int(per_image.sum()), dtype=bool)
    is_pred[np.cumsum(per_image) - per_image] = True
    return is_pred


def _corpus(flat: list[str], lengths: np.ndarray, references: Sequence[Sequence[object]]) -> Corpus:
    # One C-speed pass: a token's id is the index of its first occurrence (unique, not dense).
    vocab: dict[str, int] = {}
    ids = np.fromiter(map(vocab.setdefault, flat, itertools.count()), np.int64, len(flat))
    n_refs = np.fromiter(map(len, references), dtype=np.int64, count=len(references))
    image = np.repeat(np.arange(len(references), dtype=np.int64), n_refs + 1)
    starts = _starts(lengths)
    return Corpus(ids, starts, image, _prediction_mask(n_refs), n_refs, max(len(flat), 1))


def ngram_tables(corpus: Corpus, max_n: int = 4) -> Iterator[NgramTable]:
    """Count the 1..max_n-grams of every caption, yielding the table of each order n in turn.

    One table at a time: a caller that uses each table and drops it before taking the next keeps
    one in memory, not max_n (fresh memory is expensive: every new page is a page fault).

    Each order needs one sort: an n-gram is identified by (id of its (n-1)-gram prefix, last
    token), packed with its position into one int64 so that a plain value sort (much faster than
    an argsort) yields both the grouping and the positions.
    """
    ids = corpus.ids
    total = len(ids)
    caption_of = np.repeat(np.arange(corpus.n_captions, dtype=np.int64), corpus.lengths)
    # Tokens from each position to the end of its caption: an n-gram starts where room >= n.
    room = corpus.starts[1:][caption_of]
    room -= np.arange(total, dtype=np.int64)
    prefix = np.zeros(total, dtype=np.int64)  # dense id of the (n-1)-gram starting at each position
    n_prefix = 1
    for n in range(1, max_n + 1):
        positions = np.flatnonzero(room >= n)
        keys = prefix[positions]
        keys *= corpus.vocab_size
        keys += ids[n - 1 :][positions]  # the n-gram's last token
        keys, positions = _sort_by_key(keys, positions, n_prefix * corpus.vocab_size)
        new_gram = np.empty(len(keys), dtype=bool)
        new_gram[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=new_gram[1:])
        del keys
        gram = running_count(new_gram)
        gram -= 1
        if n < max_n:
            prefix[positions] = gram
        n_prefix = int(gram[-1]) + 1 if len(gram) else 1
        yield _table(corpus, gram, caption_of[positions], new_gram, n_prefix)


def _table(
    corpus: Corpus, gram: np.ndarray, caption: np.ndarray, new_gram: np.ndarray, n_grams: int
) -> NgramTable:
    """Collapse sorted (gram, caption) occurrences into counted rows and (gram, image) groups."""
    # Within one n-gram the positions, hence the captions, are ascending: a row per run.
    new_row = new_gram.copy()
    new_row[1:] |= caption[1:] != caption[:-1]
    rows = np.flatnonzero(new_row)
    count = np.empty(len(rows), dtype=np.int64)
    np.subtract(rows[1:], rows[:-1], out=count[:-1])
    count[-1:] = len(gram) - rows[-1:]
    caption = caption[rows]
    image = corpus.image[caption]
    new_group = new_gram[rows]
    new_group[1:] |= image[1:] != image[:-1]
    group_start = np.flatnonzero(new_group)
    group = running_count(new_group)
    group -= 1
    # A group holds at most one prediction row, its first; the others are references'. Their
    # maximum is taken with the prediction rows' counts set aside (not copied: fresh memory
    # costs page faults).
    has_pred = corpus.is_pred[caption[group_start]]
    pred_count = count[group_start] * has_pred
    pred_rows = group_start[has_pred]
    count[pred_rows] = 0
    max_ref_count = np.zeros(len(group_start), dtype=np.int64)
    np.maximum.at(max_ref_count, group, count)
    count[pred_rows] = pred_count[has_pred]
    return NgramTable(
        caption=caption,
        count=count,
        group=group,
        group_gram=gram[rows[group_start]],
        group_image=image[group_start],
        pred_count=pred_count,
        max_ref_count=max_ref_count,
        n_grams=n_grams,
    )


def running_count(flags: np.ndarray) -> np.ndarray:
    """np.cumsum of a bool array as int64, without numpy's slow bool-to-int64 accumulation."""
    out = flags.astype(np.int64)
    return np.cumsum(out, out=out)


def _sort_by_key(
    keys: np.ndarray, positions: np.ndarray, key_bound: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sort positions by key (ties by position); return (sorted keys, sorted positions).

    Works in place on both arrays, which the caller gives up.
    """
    shift = max(int(positions[-1]).bit_length(), 1) if len(positions) else 1
    if key_bound.bit_length() + shift <= 63:
        keys <<= shift
        keys |= positions
        keys.sort()
        np.bitwise_and(keys, (1 << shift) - 1, out=positions)
        keys >>= shift
        return keys, positions
    order = np.argsort(keys, kind="stable")  # huge corpora: slower but still exact
    return keys[order], positions[order]
