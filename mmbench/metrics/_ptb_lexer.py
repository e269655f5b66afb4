"""Exact, Java-free emulation of the PTBLexer inside pycocoevalcap's stanford-corenlp-3.4.1.jar.

pycocoevalcap tokenises captions by running `edu.stanford.nlp.process.PTBTokenizer` (Stanford
CoreNLP 3.4.1, 2014) with `-preserveLines -lowerCase`. That tokenizer is a JFlex 1.4.3 scanner:
a deterministic finite automaton (DFA) stored in the class file as run-length-encoded tables,
plus 54 small Java "actions" that turn each longest match into a token.

This module reproduces it exactly without a JVM:

* the DFA (character classes, transitions, accepting states, action numbers) is *read at run time*
  from the PTBLexer.class inside the jar that ships with the installed pycocoevalcap package, so
  every character class and every longest-match decision is the jar's own (no hand-written
  regular expressions that could drift from it, and no copy of the jar's tables in this repo);
* the JFlex 1.4.3 scanning loop, including its "general lookahead" (trailing context) algorithm,
  is re-implemented below;
* the 54 actions are re-implemented from the class file's bytecode, specialised to the options
  PTBTokenizer's command line uses (`tokenizeNLs` from -preserveLines; every other option at its
  3.4.1 default: ptb3Escaping-style normalisation, americanize=false, splitAssimilations=true,
  untokenizable=firstDelete).

Text is handled as UTF-16 code units, like Java: a character outside the Basic Multilingual Plane
(e.g. an emoji) is two surrogate units, each classified on its own by the DFA.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmbench.errors import MMBenchError

_JAR_NAME = "stanford-corenlp-3.4.1.jar"
_CLASS_MEMBER = "edu/stanford/nlp/process/PTBLexer.class"
# CRC-32 of the PTBLexer.class this emulation was transcribed from: the action numbers and the
# lookahead automata below are only valid for exactly this class file.
_CLASS_CRC = 0x3A2D8529
# JFlex lexical state `YyTraditionalTreebank3` (strictTreebank3=false) is 4; without `^` rules
# JFlex 1.4.3 lays out ZZ_LEXSTATE as {0, 0, 1, 1, 2, 2}, so the DFA starts in state 4 // 2.
_START_STATE = 2


@dataclass(frozen=True)
class LexerTables:
    """The JFlex tables of PTBLexer, unpacked exactly as its static initialiser does."""

    cmap: list[int]  # UTF-16 code unit -> character class
    action: list[int]  # DFA state -> action number (0 = none)
    rowmap: list[int]  # DFA state -> offset of its row in `trans`
    trans: list[int]  # rowmap[state] + class -> next state, -1 = no transition
    attr: list[int]  # DFA state -> bit 1: accepting, bit 8: no outgoing transitions
    ascii_classes: bytes  # bytes.translate table: ASCII code -> character class (classes < 256)
    # rows[state][class] == trans[rowmap[state] + class], plus a last column END (-1 everywhere)
    # that the scanner appends to its input, so running out of text is one more dead end.
    rows: list[list[int]]
    end_class: int


def find_jar() -> Path:
    """Return the path of pycocoevalcap's CoreNLP jar, or raise a one-line MMBenchError."""
    spec = importlib.util.find_spec("pycocoevalcap")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        jar = Path(location) / "tokenizer" / _JAR_NAME
        if jar.is_file():
            return jar
    raise MMBenchError(
        f"PTB tokenizer needs pycocoevalcap's tokenizer/{_JAR_NAME} (read as data, Java is not "
        "run); install it with `pip install pycocoevalcap>=1.2`"
    )


def _read_member(jar: Path) -> bytes:
    """The bytes of PTBLexer.class inside the jar.

    Found through its local file header (a jar has ~2,700 entries and zipfile parses the whole
    central directory first); zipfile is the fallback for anything unusual.
    """
    name = _CLASS_MEMBER.encode()
    try:
        raw = jar.read_bytes()
        at = raw.find(name)
        header = at - 30
        if at > 0 and raw[header : header + 4] == b"PK\x03\x04":
            # local file header: version, flags, method, time, date, crc, sizes, name/extra lengths
            flags, method, _, _, _, size, _, name_len, extra_len = struct.unpack_from(
                "<HHHHIIIHH", raw, header + 6
            )
            start = header + 30 + name_len + extra_len
            if method == 8 and not flags & 0x08 and size:
                return zlib.decompress(raw[start : start + size], -15)
        with zipfile.ZipFile(jar) as zf:
            return zf.read(_CLASS_MEMBER)
    except (OSError, KeyError, zlib.error, struct.error, zipfile.BadZipFile) as exc:
        raise MMBenchError(f"PTB tokenizer cannot read {_CLASS_MEMBER} from {jar}: {exc}") from exc


def _java_utf8(raw: bytes) -> str:
    """Decode Java's "modified UTF-8" into a str of UTF-16 code units (lone surrogates kept)."""
    # Modified UTF-8 writes U+0000 as C0 80 (0xC0 can start nothing else) and each surrogate as its
    # own 3-byte sequence, which Python's decoder accepts with surrogatepass.
    return raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")


def _constant_strings(data: bytes) -> dict[str, str]:
    """Map each `static final String` field of a class file to its ConstantValue."""
    pos = 10
    (count,) = struct.unpack_from(">H", data, 8)
    pool: list[object] = [None] * count
    sizes = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2}
    sizes.update({17: 4, 18: 4, 19: 2, 20: 2})
    i = 1
    while i < count:
        tag = data[pos]
        pos += 1
        if tag == 1:  # CONSTANT_Utf8
            (length,) = struct.unpack_from(">H", data, pos)
            pool[i] = data[pos + 2 : pos + 2 + length]
            pos += 2 + length
        elif tag == 8:  # CONSTANT_String -> index of a Utf8 entry
            pool[i] = ("string", struct.unpack_from(">H", data, pos)[0])
            pos += 2
        else:
            pos += sizes[tag]
            if tag in (5, 6):  # long and double take two pool slots
                i += 1
        i += 1
    pos += 6  # access flags, this_class, super_class
    (n_interfaces,) = struct.unpack_from(">H", data, pos)
    pos += 2 + 2 * n_interfaces
    (n_fields,) = struct.unpack_from(">H", data, pos)
    pos += 2
    out: dict[str, str] = {}
    for _ in range(n_fields):
        _flags, name_index, _desc, n_attrs = struct.unpack_from(">HHHH", data, pos)
        pos += 8
        for _ in range(n_attrs):
            attr_name, length = struct.unpack_from(">HI", data, pos)
            if pool[attr_name] == b"ConstantValue":
                (value_index,) = struct.unpack_from(">H", data, pos + 6)
                value = pool[value_index]
                if isinstance(value, tuple):
                    out[_java_utf8(pool[name_index])] = _java_utf8(pool[value[1]])
            pos += 6 + length
    return out


def _pairs(packed: str) -> tuple[np.ndarray, np.ndarray]:
    units = np.frombuffer(packed.encode("utf-16-le", "surrogatepass"), dtype="<u2").astype(np.int64)
    return units[0::2], units[1::2]


def _unpack_rle(packed: str, delta: int = 0) -> list[int]:
    """JFlex's zzUnpackAction/Attribute/Trans/CMap: (count, value) pairs, value shifted by delta."""
    counts, values = _pairs(packed)
    # Python lists, not arrays: the scanner indexes them one element at a time.
    return np.repeat(values + delta, counts).tolist()


def _unpack_rowmap(packed: str) -> list[int]:
    """JFlex's zzUnpackRowMap: each entry is two UTF-16 units, high word first."""
    high, low = _pairs(packed)
    return ((high << 16) | low).tolist()


@functools.lru_cache(maxsize=1)
def load_tables() -> LexerTables:
    """Read and unpack the DFA of PTBLexer from the jar (about 0.1 s, once per process)."""
    jar = find_jar()
    data = _read_member(jar)
    if zlib.crc32(data) != _CLASS_CRC:
        raise MMBenchError(
            f"PTB tokenizer expects the PTBLexer of CoreNLP 3.4.1 in {jar} but found a different "
            "class (CRC mismatch); reinstall pycocoevalcap==1.2"
        )
    strings = _constant_strings(data)
    n_trans_parts = sum(1 for name in strings if name.startswith("ZZ_TRANS_PACKED_"))
    trans_packed = "".join(strings[f"ZZ_TRANS_PACKED_{k}"] for k in range(n_trans_parts))
    cmap = _unpack_rle(strings["ZZ_CMAP_PACKED"])
    action = _unpack_rle(strings["ZZ_ACTION_PACKED_0"])
    rowmap = _unpack_rowmap(strings["ZZ_ROWMAP_PACKED_0"])
    trans = _unpack_rle(trans_packed, delta=-1)
    attr = _unpack_rle(strings["ZZ_ATTRIBUTE_PACKED_0"])
    if len(cmap) != 0x10000 or not (len(action) == len(rowmap) == len(attr)):
        raise MMBenchError(f"PTB tokenizer could not unpack the DFA tables of {jar}")
    ascii_classes = bytes(cmap[:128]) + bytes(128)
    n_classes = max(cmap) + 1
    distinct = {offset: [*trans[offset : offset + n_classes], -1] for offset in set(rowmap)}
    rows = [distinct[offset] for offset in rowmap]
    return LexerTables(cmap, action, rowmap, trans, attr, ascii_classes, rows, n_classes)


# --------------------------------------------------------------------------------------------
# Token normalisations used by the actions (PTBLexer's private static helpers).

_LEFT_SINGLE = re.compile("[\u0091\u2018\u201b\u2039]")
_RIGHT_SINGLE = re.compile("[\u0092\u2019\u203a]")
_LEFT_DOUBLE = re.compile("[\u0093\u201c\u00ab]")
_RIGHT_DOUBLE = re.compile("[\u0094\u201d\u00bb]")
_SINGLE = re.compile("&apos;|'")
_DOUBLE = re.compile('"|&quot;')
_AMP = re.compile("&amp;", re.IGNORECASE)
_GENERIC_CURRENCY = re.compile("[\u0080\u00a4\u20a0\u20ac]")
_FRACTIONS = (
    ("\u00bc", "1/4"),
    ("\u00bd", "1/2"),
    ("\u00be", "3/4"),
    ("\u2153", "1/3"),
    ("\u2154", "2/3"),
)


def _latex_quotes(tok: str, probably_left: bool) -> str:
    """PTBLexer.latexQuotes: ASCII quotes become `` ` or ' '' by guessed side, Unicode by shape."""
    if probably_left:
        tok = _DOUBLE.sub("``", _SINGLE.sub("`", tok))
    else:
        tok = _DOUBLE.sub("''", _SINGLE.sub("'", tok))
    tok = _LEFT_SINGLE.sub("`", tok)
    tok = _RIGHT_SINGLE.sub("'", tok)
    tok = _LEFT_DOUBLE.sub("``", tok)
    return _RIGHT_DOUBLE.sub("''", tok)


def _remove_soft_hyphens(tok: str) -> str:
    """PTBLexer.removeSoftHyphens: drop U+00AD; a token of only soft hyphens becomes '-'."""
    if "\u00ad" not in tok:
        return tok
    return tok.replace("\u00ad", "") or "-"


def _normalize_currency(tok: str) -> str:
    """PTBLexer.normalizeCurrency: the lossy PTB3 mapping (cent sign -> cents, pound -> #, ...)."""
    tok = tok.replace("\u00a2", "cents").replace("\u00a3", "#")
    return _GENERIC_CURRENCY.sub("$", tok)


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

# Actions whose only effect is "emit the matched text unchanged".
_PLAIN = frozenset({3, 9, 19, 31, 45, 52})
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


def _general_lookahead(
    t: LexerTables, codes: bytes | list[int], start: int, marked: int, forward: int, backward: int
) -> int:
    """JFlex 1.4.3's trailing-context resolution; returns the new end of the token.

    The forward automaton marks every prefix of the match that could be the token part; the
    backward automaton then walks back from the end of the match until it reaches a marked
    position where the remainder is a complete trailing context.
    """
    trans, rowmap, attr = t.trans, t.rowmap, t.attr
    fin = [False] * (marked + 2)
    state, pos = forward, start
    while state != -1 and pos < marked:
        fin[pos] = attr[state] & 1 == 1
        state = trans[rowmap[state] + codes[pos]]
        pos += 1
    if state != -1:
        fin[pos] = attr[state] & 1 == 1
    state, pos = backward, marked
    while not fin[pos] or attr[state] & 1 != 1:
        pos -= 1
        if pos < start or state == -1:  # cannot happen with a consistent jar; never loop forever
            raise MMBenchError("PTB tokenizer lookahead failed; please report this caption")
        state = trans[rowmap[state] + codes[pos]]
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
