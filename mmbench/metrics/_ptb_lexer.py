"""Exact, Java-free emulation of the PTBLexer inside pycocoevalcap's stanford-corenlp-3.4.1.jar.

pycocoevalcap tokenises captions by running `edu.stanford.nlp.process.PTBTokenizer` (Stanford
CoreNLP 3.4.1, 2014) with `-preserveLines -lowerCase`. That tokenizer is a JFlex 1.4.3 scanner:
a deterministic finite automaton (DFA) stored in the class file as run-length-encoded tables,
plus 54 small Java "actions" that turn each longest match into a token.

This module reproduces it exactly without a JVM:

* the DFA (character classes, transitions, accepting states, action numbers) is *read at run time*
  from the PTBLexer.class inside the jar that ships with the installed pycocoevalcap package, so
  every character class and every longest-match decision is the jar's own (no hand-written
  regular expressions that could drift from it, and no copy of the jar's tables in this repo; the
  decoded tables are kept in the user's cache, see `load_tables`);
* the JFlex 1.4.3 scanning loop, including its "general lookahead" (trailing context) algorithm,
  is re-implemented below (`scan`), and run with numpy on many words at once for the common
  case of a word that is one token (`single_tokens`);
* the 54 actions are re-implemented from the class file's bytecode, specialised to the options
  PTBTokenizer's command line uses (`tokenizeNLs` from -preserveLines; every other option at its
  3.4.1 default: ptb3Escaping-style normalisation, americanize=false, splitAssimilations=true,
  untokenizable=firstDelete).

Text is handled as UTF-16 code units, like Java: a character outside the Basic Multilingual Plane
(e.g. an emoji) is two surrogate units, each classified on its own by the DFA.
"""

from __future__ import annotations

import re

import numpy as np

from mmbench.errors import MMBenchError
from mmbench.metrics._ptb_tables import PLAIN_ACTIONS as _PLAIN
from mmbench.metrics._ptb_tables import START_STATE as _START_STATE
from mmbench.metrics._ptb_tables import LexerTables, find_jar, load_tables

__all__ = [
    "LexerTables",
    "find_jar",
    "from_utf16_units",
    "lex",
    "load_tables",
    "scan",
    "single_tokens",
    "utf16_units",
]


# --------------------------------------------------------------------------------------------
# Token normalisations used by the actions (PTBLexer's private static helpers).

# Unicode quotes by shape, the last four replacements of PTBLexer.latexQuotes (disjoint sets).
_UNICODE_QUOTES = str.maketrans(
    dict.fromkeys("\u0091\u2018\u201b\u2039", "`")
    | dict.fromkeys("\u0092\u2019\u203a", "'")
    | dict.fromkeys("\u0093\u201c\u00ab", "``")
    | dict.fromkeys("\u0094\u201d\u00bb", "''")
)
_AMP = re.compile("&amp;", re.IGNORECASE)
_GENERIC_CURRENCY = str.maketrans(dict.fromkeys("\u0080\u00a4\u20a0\u20ac", "$"))
_FRACTIONS = (
    ("\u00bc", "1/4"),
    ("\u00bd", "1/2"),
    ("\u00be", "3/4"),
    ("\u2153", "1/3"),
    ("\u2154", "2/3"),
)


def _latex_quotes(tok: str, probably_left: bool) -> str:
    """PTBLexer.latexQuotes: ASCII quotes become `` ` or ' '' by guessed side, Unicode by shape."""
    single, double = ("`", "``") if probably_left else ("'", "''")
    tok = tok.replace("&apos;", single).replace("'", single)
    tok = tok.replace('"', double).replace("&quot;", double)
    return tok.translate(_UNICODE_QUOTES)


def _remove_soft_hyphens(tok: str) -> str:
    """PTBLexer.removeSoftHyphens: drop U+00AD; a token of only soft hyphens becomes '-'."""
    if "\u00ad" not in tok:
        return tok
    return tok.replace("\u00ad", "") or "-"


def _normalize_currency(tok: str) -> str:
    """PTBLexer.normalizeCurrency: the lossy PTB3 mapping (cent sign -> cents, pound -> #, ...)."""
    tok = tok.replace("\u00a2", "cents").replace("\u00a3", "#")
    return tok.translate(_GENERIC_CURRENCY)


def _normalize_fractions(tok: str) -> str:
    for char, text in _FRACTIONS:
        tok = tok.replace(char, text)
    return tok


def _parens(tok: str) -> str:
    return tok.replace("(", "-LRB-").replace(")", "-RRB-")


def _nbsp(tok: str) -> str:
    return tok.replace(" ", "\u00a0")


# --------------------------------------------------------------------------------------------
# The scanner.

# Actions that emit nothing (whitespace, and untokenizable characters deleted with a warning).
_SKIP = frozenset({1, 7, 23})
# Actions that emit a fixed string.
_FIXED = {2: "<", 10: ">", 11: "--", 13: "...", 16: "-RCB-", 17: "-LRB-", 18: "-RRB-"}
_FIXED.update({20: "-LCB-", 21: "-RSB-", 22: "-LSB-"})
# Actions that first give back trailing characters (JFlex yypushback) and emit the rest unchanged.
_PUSHBACK = {25: 1, 42: 2, 48: 2, 50: 3, 53: 4}
# Actions with general trailing context: (forward automaton, backward automaton) start states,
# used by JFlex 1.4.3 to find where the token proper ends inside the longer match.
_LOOKAHEAD = {24: (13, 14), 30: (3, 4), 40: (5, 6), 41: (16, 17), 43: (15, 14)}
_LOOKAHEAD.update({44: (9, 10), 47: (7, 8), 49: (11, 12)})
_TRAILING_SPACE = frozenset(" \t\n\u000b\u000c\r\u0085")
_LONGEST_SINGLE = 64  # characters (unit and separator) that `single_tokens` runs in numpy


def single_tokens(texts: list[str], t: LexerTables | None = None) -> np.ndarray:
    """For ASCII texts, each a unit and one separator character: is the unit one token, its text?

    True exactly when PTBLexer's longest match from the start of the unit is the whole unit,
    the automaton stops at the separator without reading beyond it, and the rule's action emits
    the text as is; `scan` would then give that one token whatever follows the separator. Most
    caption words are such units: this runs the automaton on all of them at once, one character
    position per numpy step, instead of one Python loop iteration per character. Texts longer
    than _LONGEST_SINGLE are answered False (left to `scan`).
    """
    t = t or load_tables()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    single = np.zeros(len(texts), dtype=bool)
    short = np.flatnonzero(lengths <= _LONGEST_SINGLE)
    if not len(short):
        return single
    columns = int(lengths[short].max())
    padded = "".join(texts[i].ljust(columns) for i in short.tolist()).encode("ascii")
    codes = np.frombuffer(padded.translate(t.ascii_classes), dtype=np.uint8).reshape(-1, columns)
    trans, width = t.trans.ravel(), t.trans.shape[1]
    # The units whose separator is in column k are by_length[ends[k] : ends[k + 1]].
    by_length = np.argsort(lengths[short], kind="stable")
    ends = np.searchsorted(lengths[short][by_length], np.arange(columns + 1), side="right")
    state = np.full(len(short), _START_STATE, dtype=np.int64)
    for k in range(columns):
        nxt = trans[state * width + codes[:, k]].astype(np.int64)  # -1 stays -1: see `trans`
        # At the separator the match must end: no transition, and the whole unit accepted.
        done = by_length[ends[k] : ends[k + 1]]
        single[short[done]] = (nxt[done] < 0) & t.verbatim[state[done]]
        state = nxt
    return single


def _general_lookahead(
    t: LexerTables, codes: bytes | list[int], start: int, marked: int, forward: int, backward: int
) -> int:
    """JFlex 1.4.3's trailing-context resolution; returns the new end of the token.

    The forward automaton marks every prefix of the match that could be the token part; the
    backward automaton then walks back from the end of the match until it reaches a marked
    position where the remainder is a complete trailing context.
    """
    rows, attr = t.rows, t.attr
    fin = [False] * (marked + 2)
    state, pos = forward, start
    while state != -1 and pos < marked:
        fin[pos] = attr[state] & 1 == 1
        state = rows[state][codes[pos]]
        pos += 1
    if state != -1:
        fin[pos] = attr[state] & 1 == 1
    state, pos = backward, marked
    while not fin[pos] or attr[state] & 1 != 1:
        pos -= 1
        if pos < start or state == -1:  # cannot happen with a consistent jar; never loop forever
            raise MMBenchError("PTB tokenizer lookahead failed; please report this caption")
        state = rows[state][codes[pos]]
    return pos


def lex(text: str, stop_at: int, t: LexerTables | None = None) -> tuple[list[str], bool, int]:
    """Scan `text` exactly as PTBLexer does, returning the tokens that start before `stop_at`.

    `text` is a str of UTF-16 code units (see `utf16_units`): the caption followed by whatever
    follows it in PTBTokenizer's input stream ("\\n" and the next captions, or a single separator
    when scanning a fragment). Scanning stops at a newline token. Tokens are returned before
    PTBTokenizer's lower-casing. Also returns whether the result may depend on text beyond `text`
    (some longest-match scan reached its end while the automaton was still alive) and where the
    last token ended (past `stop_at` when a token ran over the separator).
    """
    spans, open_end = scan(text, stop_at, t)
    return (
        [word for _, _, _, word in spans if word is not None],
        open_end,
        spans[-1][1] if spans else 0,
    )


def scan(
    text: str, stop_at: int, t: LexerTables | None = None, newline_ends: bool = True
) -> tuple[list[tuple[int, int, int, str | None]], bool]:
    """The scanner behind `lex`, reporting every match as (start, end, furthest read, token).

    "Furthest read" is the index after the last character the automaton looked at (len(text) + 1
    when it was still alive at the end of the text). The token is None for skipped matches
    (whitespace, deleted characters). With `newline_ends=False` newline tokens are skipped too and
    the scan runs to `stop_at`, so many fragments separated by newlines can be scanned in one call.
    """
    t = t or load_tables()
    rows, attr, actions = t.rows, t.attr, t.action
    if text.isascii():  # common case: map characters to classes at C speed
        codes = text.encode("ascii").translate(t.ascii_classes) + bytes((t.end_class,))
    else:
        codes = [t.cmap[ord(c)] for c in text]
        codes.append(t.end_class)
    n = len(text)
    spans: list[tuple[int, int, int, str | None]] = []
    open_end = False
    pos = 0
    while pos < stop_at:
        start = pos
        state = _START_STATE
        accept = state if attr[state] & 1 else -1
        marked = cur = start
        # Longest match: run the DFA until it has no transition, remembering the last accept.
        # The END class after the text has no transition either: cur is then n + 1.
        while True:
            nxt = rows[state][codes[cur]]
            cur += 1
            if nxt < 0:
                break
            state = nxt
            a = attr[state]
            if a & 1:
                accept = state
                marked = cur
                if a & 8:  # JFlex: accepting state without outgoing transitions
                    break
        if cur > n:
            open_end = True  # the automaton was still alive when the text ran out
        if accept < 0:  # impossible: PTBLexer has a catch-all rule for any single character
            raise MMBenchError("PTB tokenizer found no match; please report this caption")
        act = actions[accept]
        if act in _SKIP or (act == 5 and not newline_ends):
            spans.append((start, marked, cur, None))
            pos = marked
            continue
        if act == 5:  # a newline token: the end of this caption's line
            break
        if act in _LOOKAHEAD:
            forward, backward = _LOOKAHEAD[act]
            marked = _general_lookahead(t, codes, start, marked, forward, backward)
        word, marked = _act(act, text, start, marked)
        spans.append((start, marked, cur, word))
        pos = marked
    return spans, open_end


def _act(act: int, text: str, start: int, marked: int) -> tuple[str, int]:
    """Run PTBLexer action `act` on text[start:marked]; return (token, position to resume at)."""
    if act in _PLAIN:
        return text[start:marked], marked
    if act in _FIXED:
        return _FIXED[act], marked
    if act in _PUSHBACK:
        marked -= _PUSHBACK[act]
        return text[start:marked], marked
    if act in (24, 41, 43):  # general lookahead, then the text as is
        return text[start:marked], marked
    if act in (6, 12, 29, 30, 40):  # words: soft hyphens removed (americanize is off)
        return _remove_soft_hyphens(text[start:marked]), marked
    if act in (32, 46):
        marked -= 1
        return _remove_soft_hyphens(text[start:marked]), marked
    if act == 4:  # runs of dashes: 3 or 4 become the PTB "--"
        tok = text[start:marked]
        return ("--" if 3 <= len(tok) <= 4 else tok), marked
    if act == 8:
        return _latex_quotes(text[start:marked], False), marked
    if act == 26:
        marked -= 1
        return _latex_quotes(text[start:marked], True), marked
    if act == 35:  # a single quote character guessed to open a quotation
        marked = start + 1
        return _latex_quotes(text[start:marked], True), marked
    if act == 36:
        marked -= 1
        return _latex_quotes(text[start:marked], False), marked
    if act == 14:
        return _normalize_fractions(text[start:marked]), marked
    if act == 15:
        return _normalize_currency(text[start:marked]), marked
    if act in (27, 38, 39):  # tokens that may contain spaces (phone numbers, fractions, ...)
        return _nbsp(text[start:marked]), marked
    if act == 28:
        return _parens(text[start:marked]), marked
    if act == 34:
        marked -= 1
        return _parens(text[start:marked]), marked
    if act == 54:
        return _parens(_nbsp(text[start:marked])), marked
    if act == 37:
        return _AMP.sub("&", text[start:marked]), marked
    if act == 51:
        marked -= 1
        return _AMP.sub("&", text[start:marked]), marked
    if act == 33:  # acronym before a sentence end: keep the period and also re-read it
        return text[start:marked], marked - 1
    if act == 49:
        return text[start:marked], marked - 1
    if act in (44, 47):  # trailing context may have included whitespace: give it back
        while marked > start and text[marked - 1] in _TRAILING_SPACE:
            marked -= 1
        if act == 44:
            return text[start:marked], marked
        if marked - start == 2:
            return text[start : marked - 1], marked - 1
        return text[start:marked], marked - 1
    raise MMBenchError(f"PTB tokenizer reached unknown action {act}; please report this caption")


def utf16_units(text: str) -> str:
    """Return `text` as a str of UTF-16 code units (astral characters become surrogate pairs)."""
    if text.isascii() or max(text) <= "\uffff":
        return text
    return _split_astral(text)


def _split_astral(text: str) -> str:
    out = []
    for c in text:
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)))
            out.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            out.append(c)
    return "".join(out)


def from_utf16_units(token: str) -> str:
    """Inverse of `utf16_units`; a lone surrogate becomes '?' as Java's UTF-8 writer does."""
    if token.isascii() or not any("\ud800" <= c <= "\udfff" for c in token):
        return token
    return _join_surrogates(token)


def _join_surrogates(token: str) -> str:
    out = []
    i = 0
    while i < len(token):
        c = token[i]
        if (
            "\ud800" <= c <= "\udbff"
            and i + 1 < len(token)
            and "\udc00" <= token[i + 1] <= "\udfff"
        ):
            out.append(chr(0x10000 + ((ord(c) - 0xD800) << 10) + (ord(token[i + 1]) - 0xDC00)))
            i += 2
            continue
        out.append("?" if "\ud800" <= c <= "\udfff" else c)
        i += 1
    return "".join(out)
