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

from mmbench.metrics import _ptb_lexer as lexer

__all__ = ["PUNCTUATIONS", "tokenize_ptb"]

# pycocoevalcap/tokenizer/ptbtokenizer.py: tokens removed after tokenisation (compared after the
# tokenizer lower-cased them, so the upper-case bracket names never match).
PUNCTUATIONS = frozenset(
    {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-"}
    | {"--", "...", ";"}
)

# Characters the lexer treats as line breaks (\n \v \f \r U+2028 U+2029; read off its automaton).
_LINE_BREAKS = re.compile("[\n\u000b\u000c\r\u2028\u2029]")
# Characters that may continue a run of spaces but start tokens of their own (no-break space,
# U+2000..U+200A, U+3000): a caption containing one is scanned whole.
_SPACE_LIKE = re.compile("[\u00a0\u2000-\u200a\u3000]")

# Fragment (a maximal run of non-spaces) -> its kept tokens joined by spaces. A fragment that ends
# a caption is scanned with the caption's "\n" after it and stored with that "\n" appended (to
# the key and to the value). _DEPENDENT marks fragments whose tokens depend on what follows them.
_DEPENDENT = "\x00"
_FRAGMENTS: dict[str, str] = {"": "", "\n": "\n"}
# Caption -> line, or a value containing _DEPENDENT for captions that need the next caption.
_LINES: dict[str, str] = {}
# (caption, next caption or None) -> line, for captions that need their context.
_IN_CONTEXT: dict[tuple[str, str | None], str] = {}
_MAX_CACHED = 1_000_000
_LOCK = threading.RLock()
_WHITESPACE = re.compile(r"\s")  # str.isspace() characters, which str.rstrip() removes


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
    with _LOCK:  # the caches are shared by all threads
        return _tokenized_lines(list(texts))


def _tokenized_lines(lines: list[str]) -> list[str]:
    if not lines:
        return []
    everything = "\x00".join(lines)
    if _LINE_BREAKS.search(everything):
        lines = [_LINE_BREAKS.sub(" ", text) for text in lines]
    # Whole captions seen before come from a cache; the others are assembled from fragments.
    # Captions whose tokens depend on the next caption are cached as needing it (_DEPENDENT).
    body = lines[:-1]
    out: list[str] = list(map(_LINES.get, body))
    todo = [i for i, line in enumerate(out) if line is None]
    if len(todo) == len(body):
        out = _assemble(body)
    elif todo:
        for i, line in zip(todo, _assemble([body[i] for i in todo]), strict=True):
            out[i] = line
    # The last caption is followed by the end of the input, not by "\n": always scanned whole.
    out.append(_DEPENDENT)
    if _DEPENDENT in "".join(out[:-1]):
        slow = [i for i, line in enumerate(out) if _DEPENDENT in line]
    else:
        slow = [len(out) - 1]
    for i in slow:
        out[i] = _line_in_context(lines, i)
    return out


def _assemble(captions: list[str]) -> list[str]:
    """Lines of captions from their fragments, remembered per caption."""
    lines = _lines_from_fragments("\n ".join(captions) + "\n", len(captions))
    if _SPACE_LIKE.search("".join(captions)):
        # Such a caption is scanned whole: its fragments are not independent.
        lines = [
            _DEPENDENT if _SPACE_LIKE.search(c) else x for c, x in zip(captions, lines, strict=True)
        ]
    if len(_LINES) + len(captions) >= _MAX_CACHED:
        _LINES.clear()
    _LINES.update(zip(captions, lines, strict=True))
    return lines


def _lines_from_fragments(body: str, n_lines: int) -> list[str]:
    """Fast path: the captions of `body` (each followed by a newline and a space) from fragments.

    A run of spaces is always a token of its own in PTBLexer (its automaton, after a space, only
    continues with more spacing), so a caption splits into independent fragments unless a
    fragment's scan reads past the separator that follows it, which `_scan_fragments` detects;
    such captions come back containing _DEPENDENT. Everything runs at C speed once the fragments
    are cached.
    """
    if not n_lines:
        return []
    fragments = body.split(" ")
    try:
        values = list(map(_FRAGMENTS.__getitem__, fragments))
    except KeyError:
        missing = set(fragments).difference(_FRAGMENTS)
        if len(_FRAGMENTS) + len(missing) >= _MAX_CACHED:
            _clear()
            missing = set(fragments).difference(_FRAGMENTS)
        _scan_fragments(missing)
        values = list(map(_FRAGMENTS.__getitem__, fragments))
    joined = " ".join(filter(None, values))
    # Kept tokens never hold whitespace, so the only spaces next to a newline are separators.
    return joined.replace(" \n", "\n").replace("\n ", "\n").split("\n")[:n_lines]


def _scan_fragments(fragments: set[str]) -> None:
    """Tokenise new fragments into the cache, many per scanner call.

    Fragments are scanned back to back, each followed by its separator (a space, or "\\n" for
    the last fragment of a caption) exactly as when scanned alone. A fragment whose scan reads
    past its separator depends on its context (marked _DEPENDENT); a fragment that a previous
    token ran into is redone alone.
    """
    redo = []
    for separator in (" ", "\n"):
        group = sorted(f for f in fragments if f.endswith("\n") == (separator == "\n"))
        if not group:
            continue
        units = [lexer.utf16_units(f[:-1] if separator == "\n" else f) for f in group]
        text = separator.join(units) + separator
        spans, _ = lexer.scan(text, len(text), newline_ends=False)
        after = list(itertools.accumulate(len(u) + 1 for u in units))  # index after each separator
        k, tokens, dependent, tainted, reach = 0, [], False, False, 0
        for start, end, furthest, word in spans:
            while start >= after[k]:
                if tainted:
                    redo.append(group[k])
                else:
                    _store(group[k], tokens, dependent)
                k, tokens, dependent = k + 1, [], False
                tainted = reach > after[k - 1]  # an earlier match ran into this fragment
            reach = max(reach, end)
            if start == after[k] - 1:  # the separator's own match
                continue
            tokens.append(word)
            # Looked beyond the separator, or swallowed it: depends on what follows.
            dependent = dependent or furthest > after[k] or end >= after[k]
        if tainted:
            redo.append(group[k])
        else:
            _store(group[k], tokens, dependent)
        redo.extend(group[k + 1 :])  # swallowed whole by an earlier match
    for fragment in redo:
        is_last = fragment.endswith("\n")
        units = lexer.utf16_units(fragment[:-1] if is_last else fragment)
        tokens, open_end, end = lexer.lex(units + ("\n" if is_last else " "), len(units))
        _store(fragment, list(tokens), open_end or end > len(units))


def _store(fragment: str, tokens: list[str | None], dependent: bool) -> None:
    """Cache a fragment's kept tokens (PTBTokenizer's lower-casing, pycocoevalcap's filter)."""
    if len(tokens) == 1 and not dependent and tokens[0] and tokens[0].isascii():
        word = tokens[0]
        if word.isalnum():  # the common case: one plain word
            _FRAGMENTS[fragment] = word.lower() + "\n" if fragment.endswith("\n") else word.lower()
            return
    tokens = [t for t in tokens if t is not None]
    raw = "".join(tokens)
    words = [t.lower() for t in tokens] if raw.isascii() else [_lower(t) for t in tokens]
    # A token that is empty or holds whitespace interacts with pycocoevalcap's line splitting.
    if dependent or "" in words or _WHITESPACE.search(raw) or _DEPENDENT in raw:
        kept = _DEPENDENT
    else:
        kept = " ".join([w for w in words if w not in PUNCTUATIONS])
    _FRAGMENTS[fragment] = kept + "\n" if fragment.endswith("\n") else kept


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
    _FRAGMENTS.clear()
    _FRAGMENTS.update({"": "", "\n": "\n"})
    _LINES.clear()
    _IN_CONTEXT.clear()
