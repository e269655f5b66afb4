"""Java-free, exact reimplementation of pycocoevalcap's PTBTokenizer.

pycocoevalcap (the reference implementation of the COCO caption metrics) tokenises every caption
before scoring: it writes the captions of one call, one per line (a newline inside a caption
becomes a space), to a file, runs Stanford CoreNLP 3.4.1's PTBTokenizer with
`-preserveLines -lowerCase` on it, and drops the tokens in its PUNCTUATIONS list
(pycocoevalcap/tokenizer/ptbtokenizer.py). `tokenize_ptb` gives the same tokens without starting a
JVM: the tokenizer's own automaton is read from the jar shipped with pycocoevalcap and run in
Python (see `mmbench.metrics._ptb_lexer`).

Conventions worth knowing (all inherited from the Java tokenizer, reproduced on purpose):

* lower-cased; "(" ")" "{" "}" "[" "]" become -lrb- -rrb- -lcb- -rcb- -lsb- -rsb-, and because
  pycocoevalcap compares *after* lower-casing, only -LRB-/-RRB-/-LCB-/-RCB- in upper case would
  be dropped, so the lower-case bracket tokens stay in the caption;
* quotes, "." "," "?" "!" ":" ";" "-" "--" "..." are dropped; "!!!" or "?!" (tokens that are not in
  the list) stay; contractions split ("can't" -> ca n't, "dog's" -> dog 's), as do "cannot",
  "gonna", "wanna", "gotta", "lemme"; "$4.50" -> $ 4.50; "50%" -> 50 %;
* numbers keep their commas and decimals ("3,000", "1.5"), hyphenated words and slashes stay
  whole ("well-known", "and/or"), "½" -> 1/2, and "5 7/8" is one token with a no-break space;
* characters the tokenizer does not know (emoji, other astral-plane characters, control
  characters) are deleted;
* an abbreviation or initial at the end of a caption is tokenised according to the first
  character of the *next* caption of the same call: "the letter A." gives "the letter a" before
  "A dog" (a sentence end, whose "." is dropped) but "the letter a." before "a dog". This is why
  `tokenize_ptb` takes the whole list, in pycocoevalcap's order, and not one caption at a time.

Where pycocoevalcap itself breaks, we do the sensible thing instead: a caption containing another
line terminator (\\r, \\v, \\f, U+2028, U+2029) makes the Java tokenizer emit extra lines, which
shifts every later caption onto the wrong image in pycocoevalcap; here these characters count as
spaces, like the newline that pycocoevalcap itself replaces.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mmbench.metrics import _ptb_lexer as lexer

__all__ = ["PUNCTUATIONS", "tokenize_ptb"]

# pycocoevalcap/tokenizer/ptbtokenizer.py: tokens removed after tokenisation (compared after the
# tokenizer lower-cased them, so the upper-case bracket names never match).
PUNCTUATIONS = frozenset(
    {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-"}
    | {"--", "...", ";"}
)

# Characters the lexer treats as line breaks (\n \v \f \r U+2028 U+2029; read off its automaton).
_LINE_BREAKS = "\n\u000b\u000c\r\u2028\u2029"
_BREAKS_TO_SPACES = str.maketrans(dict.fromkeys(_LINE_BREAKS, " "))
# Characters that may continue a run of spaces but start tokens of their own (no-break space,
# U+2000..U+200A, U+3000): a caption containing one is scanned whole.
_SPACE_LIKE = re.compile("[\u00a0\u2000-\u200a\u3000]")

# Captions are tokenised piece by piece, each piece's tokens cached. A piece is normally a
# fragment (a maximal run of non-spaces); the last fragment of a caption is scanned with the
# caption's "\n" after it and cached with that "\n" appended (to the key and to the value). A
# fragment whose tokens depend on what follows it (a number that may start a fraction, an
# abbreviation) is joined with the fragments after it into one piece, spaces included, until the
# piece no longer depends on what follows; a caption whose last piece still does is scanned whole
# together with the captions after it (`_line_in_context`), as is the last caption of a call.
_DEPENDENT = "\x00"  # marks the cached value of a piece whose tokens depend on what follows it
_MAX_JOINED = 8  # fragments per joined piece; a longer dependent run scans its caption whole
_MAX_CACHED = 1_000_000
_CHUNK = 2048  # captions split at a time
_LOCK = threading.RLock()
_WHITESPACE = re.compile(r"\s")  # str.isspace() characters, which str.rstrip() removes
# (caption, next caption or None) -> line, for captions scanned whole.
_IN_CONTEXT: dict[tuple[str, str | None], str] = {}


class _RowArrays(NamedTuple):
    counts: np.ndarray  # number of kept tokens of each row
    offsets: np.ndarray  # where each row's token ids start in `ids`
    ids: np.ndarray  # token ids of all rows, row after row
    final: np.ndarray  # bool: the row's piece ends a caption
    dependent: np.ndarray  # bool: the row's tokens depend on what follows the piece


class _Pieces:
    """Piece -> row, and per row its kept tokens: as text (for lines) and as token ids.

    Rows are only ever added, so rows handed out stay valid while other captions are tokenised.
    """

    def __init__(self) -> None:
        self.row: dict[str, int] = {}
        # Kept tokens joined by spaces, "\n" appended for caption ends; or containing _DEPENDENT.
        self.kept: list[str] = []
        self.vocab: dict[str, int] = {}  # token -> id
        empty = np.zeros(0, dtype=np.int64)
        self._arrays = _RowArrays(empty, empty, empty, empty.astype(bool), empty.astype(bool))
        # Between two spaces: nothing. After the last space of a caption: its end.
        self.add(["", "\n"], ["", "\n"])

    def add(self, pieces: list[str], kept: list[str]) -> None:
        self.row.update(
            zip(pieces, range(len(self.kept), len(self.kept) + len(pieces)), strict=True)
        )
        self.kept.extend(kept)

    def arrays(self) -> _RowArrays:
        """The rows as numpy arrays (extended by the rows added since the last call)."""
        old = self._arrays
        new = self.kept[len(old.counts) :]
        if not new:
            return old
        dependent = np.fromiter((_DEPENDENT in k for k in new), dtype=bool, count=len(new))
        words = [[] if d else k.split() for k, d in zip(new, dependent.tolist(), strict=True)]
        flat = list(itertools.chain.from_iterable(words))
        vocab = self.vocab
        unseen = [w for w in dict.fromkeys(flat) if w not in vocab]
        vocab.update(zip(unseen, range(len(vocab), len(vocab) + len(unseen)), strict=True))
        counts = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self._arrays = _RowArrays(
            np.concatenate((old.counts, counts)),
            np.concatenate((old.offsets, len(old.ids) + np.cumsum(counts) - counts)),
            np.concatenate(
                (old.ids, np.fromiter(map(vocab.__getitem__, flat), np.int64, len(flat)))
            ),
            np.concatenate((old.final, [k.endswith("\n") for k in new])),
            np.concatenate((old.dependent, dependent)),
        )
        return self._arrays

    def __len__(self) -> int:
        return len(self.kept)


_PIECES = _Pieces()


class TokenizedCaptions:
    """The captions of one PTBTokenizer call, tokenised: as lines or as token ids."""

    def __init__(self, pieces: _Pieces, rows: np.ndarray, whole: dict[int, str], n: int) -> None:
        self._pieces = pieces
        self._rows = rows  # piece rows of every caption but those scanned whole, in order
        self._whole = whole  # caption index -> line, for the captions scanned whole
        self._n = n

    @property
    def vocab_size(self) -> int:
        """Upper bound of the token ids (shared by all captions tokenised together)."""
        return len(self._pieces.vocab)

    def lines(self) -> list[str]:
        """pycocoevalcap's caption strings (see `tokenized_lines`)."""
        if not self._n:
            return []
        with _LOCK:
            kept = self._pieces.kept
            joined = " ".join(filter(None, map(kept.__getitem__, self._rows.tolist())))
        # Kept tokens never hold whitespace, so the only spaces next to a newline are separators.
        body = joined.replace(" \n", "\n").replace("\n ", "\n").split("\n")
        lines = [*body[: self._n - 1], ""]  # the last caption is always scanned whole
        for i, line in self._whole.items():
            lines[i] = line
        return lines

    def ids(self, by_space: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(token ids of all captions, caption after caption; number of tokens per caption).

        Tokens are those of the caption strings split as pycocoevalcap's BLEU and CIDEr split
        them (`str.split()`) or, with `by_space`, as its ROUGE-L does (`str.split(" ")`: an
        empty caption is one empty token).
        """
        with _LOCK:
            rows_of = self._pieces.arrays()
            vocab = self._pieces.vocab
            counts = rows_of.counts[self._rows]
            # The pieces of caption c run up to its final piece, ends[c].
            ends = np.flatnonzero(rows_of.final[self._rows])
            for i in self._whole:
                if i < len(ends):  # its pieces' tokens are replaced by its line's
                    counts[ends[i - 1] + 1 if i else 0 : ends[i] + 1] = 0
            # Gather each piece's token ids: piece p's tokens are ids[offsets[p]:][:counts[p]].
            through = np.cumsum(counts)
            source = np.repeat(rows_of.offsets[self._rows] - (through - counts), counts)
            source += np.arange(len(source))
            ids = rows_of.ids[source]
            lengths = np.zeros(self._n, dtype=np.int64)
            lengths[: len(ends)] = np.diff(through[ends], prepend=0)
            split = (lambda line: line.split(" ")) if by_space else str.split
            extra = {i: split(line) for i, line in self._whole.items()}
            if by_space:
                extra.update(
                    (i, [""]) for i in np.flatnonzero(lengths == 0).tolist() if i not in extra
                )
            starts = np.cumsum(lengths) - lengths
            where, values = [], []
            for i, tokens in sorted(extra.items()):
                where += [starts[i]] * len(tokens)
                values += [vocab.setdefault(t, len(vocab)) for t in tokens]
                lengths[i] = len(tokens)
        return np.insert(ids, where, values) if values else ids, lengths

    def oddly_spaced(self) -> bool:
        """Whether a caption scanned whole splits differently by spaces than by whitespace.

        (Other captions only differ when empty: check `ids()[1]` for zeros.)
        """
        return any(line.split() != line.split(" ") for line in self._whole.values())


def tokenize_ptb(texts: Sequence[str]) -> list[list[str]]:
    """Tokenise captions exactly as pycocoevalcap's PTBTokenizer does, without Java.

    `texts` are the captions of one PTBTokenizer call in pycocoevalcap's order (for a
    `{id: [captions]}` dict: ids in dict order, then each id's captions). Returns one token list
    per caption: lower-cased PTB tokens with pycocoevalcap's PUNCTUATIONS removed, so that
    `" ".join(tokens)` is the string pycocoevalcap passes to its scorers. See the module docstring
    for the conventions.
    """
    return [[w for w in line.split(" ") if w] for line in tokenized_lines(texts)]


def tokenized_lines(texts: Sequence[str]) -> list[str]:
    """Like `tokenize_ptb` but returns pycocoevalcap's caption strings (tokens joined by spaces).

    The scorers split these strings themselves (BLEU and CIDEr with `str.split()`, ROUGE-L with
    `str.split(" ")`), so keeping the exact string keeps every scorer exact.
    """
    return tokenize_calls([texts])[0].lines()


def tokenize_calls(calls: Sequence[Sequence[str]]) -> list[TokenizedCaptions]:
    """Tokenise the captions of several PTBTokenizer calls; their token ids share one vocabulary."""
    with _LOCK:  # the caches are shared by all threads
        if len(_PIECES) >= _MAX_CACHED or len(_IN_CONTEXT) >= _MAX_CACHED:
            _clear()
        pieces = _PIECES
        return [_tokenize(list(texts), pieces) for texts in calls]


def _tokenize(texts: list[str], pieces: _Pieces) -> TokenizedCaptions:
    if not texts:
        return TokenizedCaptions(pieces, np.zeros(0, dtype=np.int64), {}, 0)
    if any(map("\x00".join(texts).__contains__, _LINE_BREAKS)):
        texts = [text.translate(_BREAKS_TO_SPACES) for text in texts]
    # The last caption is followed by the end of the input, not by "\n": always scanned whole.
    rows, whole = _piece_rows(texts[:-1], pieces)
    whole.add(len(texts) - 1)
    lines = {i: _line_in_context(texts, i) for i in sorted(whole)}
    return TokenizedCaptions(pieces, rows, lines, len(texts))


def _piece_rows(captions: list[str], pieces: _Pieces) -> tuple[np.ndarray, set[int]]:
    """The rows of the pieces of `captions` in order, and the captions to scan whole.

    Runs at C and numpy speed once the pieces are cached: a run of spaces is always a token of
    its own in PTBLexer (its automaton, after a space, only continues with more spacing), so a
    caption splits into independent pieces unless a piece's scan reads past the separator that
    follows it, which `_scan_pieces` detects. Captions are split a chunk at a time, which keeps
    few fragment strings alive at once (fresh memory costs a page fault per 4 KiB).
    """
    parts, whole = [np.zeros(0, dtype=np.int64)], set()
    for start in range(0, len(captions), _CHUNK):
        chunk = captions[start : start + _CHUNK]
        fragments = ("\n ".join(chunk) + "\n").split(" ")
        missing = set(fragments).difference(pieces.row)
        if missing:
            _scan_pieces(missing, pieces)
        rows = np.fromiter(map(pieces.row.__getitem__, fragments), np.int64, len(fragments))
        whole.update(start + i for i in _join_dependent(fragments, rows, pieces))
        parts.append(rows)
    text = "".join(captions)
    if not text.isascii() and _SPACE_LIKE.search(text):
        # Such a caption is scanned whole: its fragments are not independent.
        whole.update(i for i, caption in enumerate(captions) if _SPACE_LIKE.search(caption))
    return np.concatenate(parts), whole


def _join_dependent(fragments: list[str], rows: np.ndarray, pieces: _Pieces) -> set[int]:
    """Join each dependent fragment with the fragments after it, in place; see `_DEPENDENT`.

    In `rows` the joined piece takes the place of its first fragment and the other fragments
    become empty pieces (row 0). Returns the captions (by index) that must be scanned whole.
    """
    rows_of = pieces.arrays()
    at = np.flatnonzero(rows_of.dependent[rows]).tolist()
    if not at:
        return set()
    # Most dependent fragments need only the next one: scan those pairs together.
    pairs = {" ".join(fragments[k : k + 2]) for k in at if not fragments[k].endswith("\n")}
    _scan_pieces(pairs.difference(pieces.row), pieces)
    final = rows_of.final[rows]
    caption_of = np.cumsum(final) - final
    whole = set()
    end = -1  # the last fragment already joined or inside a caption scanned whole
    for k in at:
        if k <= end:
            continue
        end = k
        while not fragments[end].endswith("\n") and end - k + 1 < _MAX_JOINED:
            end += 1
            row = _row(" ".join(fragments[k : end + 1]), pieces)
            if _DEPENDENT not in pieces.kept[row]:
                rows[k], rows[k + 1 : end + 1] = row, 0
                break
        else:
            whole.add(int(caption_of[k]))
            while not fragments[end].endswith("\n"):
                end += 1
    return whole


def _row(piece: str, pieces: _Pieces) -> int:
    if piece not in pieces.row:
        _scan_pieces({piece}, pieces)
    return pieces.row[piece]


def _scan_pieces(new: set[str], pieces: _Pieces) -> None:
    """Tokenise new pieces into the cache.

    Each piece is scanned followed by its separator (a space, or "\\n" for the last piece of a
    caption), and is dependent (_DEPENDENT) when the scan reads past the separator. Most pieces
    are words that the lexer reads as one token whatever follows: these are recognised for all
    pieces at once (`lexer.single_tokens`; joined pieces, which hold spaces, never are); the
    others are scanned back to back.
    """
    candidates = [p for p in new if p.isascii() and " " not in p]
    one = lexer.single_tokens([p if p.endswith("\n") else p + " " for p in candidates])
    singles = list(itertools.compress(candidates, one.tolist()))
    # Plain words, the common case, are kept lower-cased ("\n" and all), in bulk.
    words = [p for p in singles if p.rstrip("\n").isalnum()]
    pieces.add(words, [p.lower() for p in words])
    for piece in set(singles).difference(words):
        _store(pieces, piece, [piece.rstrip("\n")], False)
    rest = new.difference(singles)
    for separator in (" ", "\n"):
        group = [p for p in rest if p.endswith("\n") == (separator == "\n")]
        _scan_back_to_back(group, separator, pieces)


def _scan_back_to_back(group: list[str], separator: str, pieces: _Pieces) -> None:
    """Tokenise pieces that share a separator, many per scanner call.

    Pieces are scanned one after the other, each followed by its separator exactly as when
    scanned alone; a piece that a previous token ran into is redone alone.
    """
    if not group:
        return
    units = [lexer.utf16_units(p[:-1] if separator == "\n" else p) for p in group]
    text = separator.join(units) + separator
    spans, _ = lexer.scan(text, len(text), newline_ends=False)
    after = list(itertools.accumulate(len(u) + 1 for u in units))  # index after each separator
    redo = []
    k, tokens, dependent, tainted, reach = 0, [], False, False, 0
    for start, end, furthest, word in spans:
        while start >= after[k]:
            if tainted:
                redo.append(group[k])
            else:
                _store(pieces, group[k], tokens, dependent)
            k, tokens, dependent = k + 1, [], False
            tainted = reach > after[k - 1]  # an earlier match ran into this piece
        reach = max(reach, end)
        if start == after[k] - 1:  # the separator's own match
            continue
        tokens.append(word)
        # Looked beyond the separator, or swallowed it: depends on what follows.
        dependent = dependent or furthest > after[k] or end >= after[k]
    if tainted:
        redo.append(group[k])
    else:
        _store(pieces, group[k], tokens, dependent)
    redo.extend(group[k + 1 :])  # swallowed whole by an earlier match
    for piece in redo:
        units = lexer.utf16_units(piece[:-1] if separator == "\n" else piece)
        tokens, open_end, end = lexer.lex(units + separator, len(units))
        _store(pieces, piece, list(tokens), open_end or end > len(units))


def _store(pieces: _Pieces, piece: str, tokens: list[str | None], dependent: bool) -> None:
    """Cache a piece's kept tokens (PTBTokenizer's lower-casing, pycocoevalcap's filter)."""
    tokens = [t for t in tokens if t is not None]
    raw = "".join(tokens)
    words = [t.lower() for t in tokens] if raw.isascii() else [_lower(t) for t in tokens]
    # A token that is empty or holds whitespace interacts with pycocoevalcap's line splitting.
    if dependent or "" in words or _WHITESPACE.search(raw) or _DEPENDENT in raw:
        kept = _DEPENDENT
    else:
        kept = " ".join([w for w in words if w not in PUNCTUATIONS])
    pieces.add([piece], [kept + "\n" if piece.endswith("\n") else kept])


def _drop_punctuation(words: list[str]) -> str:
    """PTBTokenizer writes the tokens joined by spaces; pycocoevalcap strips and filters them."""
    line = " ".join(words).rstrip()
    return " ".join(w for w in line.split(" ") if w not in PUNCTUATIONS)


def _line_in_context(lines: list[str], i: int) -> str:
    """Slow path: scan caption i followed by the captions after it, as the Java tokenizer does.

    The following captions are added one at a time until the scan no longer reaches the end of
    the text it was given (an abbreviation at the end of a caption looks at the next caption's
    first letter); the last caption of the call is followed by the end of the input.
    """
    key = (lines[i], lines[i + 1] if i + 1 < len(lines) else None)
    if key in _IN_CONTEXT:
        return _IN_CONTEXT[key]
    units = lexer.utf16_units(lines[i])
    context = units
    j = i + 1
    while True:
        complete = j >= len(lines)
        tokens, open_end, _ = lexer.lex(context if complete else context + "\n", len(units))
        if complete or not open_end:
            break
        context += "\n" + lexer.utf16_units(lines[j])
        j += 1
    line = _drop_punctuation([_lower(tok) for tok in tokens])
    if j <= i + 2:  # decided by at most the next caption: safe to reuse
        if len(_IN_CONTEXT) >= _MAX_CACHED:
            _IN_CONTEXT.clear()
        _IN_CONTEXT[key] = line
    return line


def _lower(token: str) -> str:
    """PTBTokenizer -lowerCase: Java's String.toLowerCase(Locale.ENGLISH) of each token.

    Python's str.lower applies the same Unicode mappings with two exceptions handled here: Java
    decides whether a capital sigma is word-final using word boundaries ("ΟΔΟΣ1990s" ->
    "οδοσ1990s": the "s" after the digits is in the same word), and Java 17 (Unicode 13) has no
    mapping for capitals added to Unicode later (Vithkuqi, a few Latin and Glagolitic letters).
    """
    token = lexer.from_utf16_units(token)
    if not _SPECIAL_LOWER.search(token):
        return token.lower()
    return "".join(
        _java_sigma(token, i) if c == "\u03a3" else c if _SPECIAL_LOWER.match(c) else c.lower()
        for i, c in enumerate(token)
    )


# Capital sigma, and capitals with no lower-case mapping in Java 17's Unicode 13 tables (added in
# Unicode 14 and 16).
_SPECIAL_LOWER = re.compile(
    "[\u03a3\u1c89\u2c2f\ua7c0\ua7cb\ua7cc\ua7d0\ua7d6\ua7d8\ua7da\ua7dc"
    "\U00010570-\U00010595\U00010d50-\U00010d65]"
)
# Java's word BreakIterator rules, approximated for the final-sigma decision: letters (kana and
# kanji form words of their own) and digits join; ' " . - and the like join two letters,
# ' " , . two digits; marks and format characters are transparent.
_KANA_KANJI = re.compile(
    "[\u3005\u4e00-\u9fa5\uf900-\ufa2d\u3099-\u309c\u30a1-\u30fe\u3041-\u309e]"
)
_MID_LETTER = frozenset("'\".\u00ad\u2027")
_MID_DIGIT = frozenset("'\".,\u066b")


def _char_kind(c: str) -> str:
    """'L' letter, 'N' digit, 'M' transparent, '' anything else (a word boundary)."""
    category = unicodedata.category(c)
    if category in ("Mn", "Me", "Cf"):
        return "M"
    if category[0] == "L" or category in ("Mc", "Pc"):
        return "" if _KANA_KANJI.match(c) else "L"
    return "N" if category[0] == "N" else ""


def _word_length(text: str) -> int:
    """Length of the word-like prefix of `text` (scanned outwards from a sigma)."""
    k, previous = 0, "L"  # the sigma itself is a letter
    while k < len(text):
        kind = _char_kind(text[k])
        if kind:
            previous = kind if kind != "M" else previous
            k += 1
            continue
        following = _char_kind(text[k + 1]) if k + 1 < len(text) else ""
        c = text[k]
        joins_letters = (c in _MID_LETTER or unicodedata.category(c) == "Pd") and previous == "L"
        if (joins_letters and following == "L") or (
            c in _MID_DIGIT and previous == "N" and following == "N"
        ):
            k += 1
            continue
        break
    return k


def _java_sigma(word: str, i: int) -> str:
    """Java's final-sigma rule: a cased letter before it and none after it, within the word."""
    before = _word_length(word[:i][::-1])
    after = _word_length(word[i + 1 :])
    cased_before = any(map(_cased, word[i - before : i]))
    cased_after = any(map(_cased, word[i + 1 : i + 1 + after]))
    return "\u03c2" if cased_before and not cased_after else "\u03c3"


def _cased(c: str) -> bool:
    return c.islower() or c.isupper() or c.istitle()


def clear_cache() -> None:
    """Forget cached tokenisations (used by benchmarks to time a cold start)."""
    with _LOCK:
        _clear()


def _clear() -> None:
    global _PIECES
    _PIECES = _Pieces()
    _IN_CONTEXT.clear()
