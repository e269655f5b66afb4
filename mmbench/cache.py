"""Content-addressed output cache: every model output is stored once, keyed by what produced it.

Key = sha256(adapter fingerprint, capability, item content hash, preprocessing/prompt version).
Entries live in one SQLite database in WAL mode under `MMBENCH_CACHE` (default
`~/.cache/mmbench`). Each batch is one transaction, so a run killed with `kill -9` keeps every
batch it finished and the next run resumes from there; a half-written batch is rolled back by
SQLite, never read back. (A server-backed model, `openai:`, commits its answers as they arrive
instead, a group per transaction, so a kill loses only the requests in flight: see
`Engine._stream`.) Two tasks over the same images (retrieval and CLIPScore, say) share the
image embeddings because the key does not mention the task. A second table holds small model
memos (`mmbench.models.lazy`), so a fully cached rerun does not load the model at all.

Every entry carries a checksum of its stored fields; an entry whose bytes no longer match (or
that cannot be decoded) is treated as missing and recomputed, never used. A database SQLite finds
malformed, or a disk that fills, is a one-line error naming the fix; `clear_cache_dir` removes
the files even when SQLite cannot open them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError

SCHEMA_VERSION = 1
_CHUNK = 500  # SQLite limits the number of bound parameters in one statement
_INIT_TIMEOUT_S = 60
_FILES = ("outputs.sqlite", "outputs.sqlite-wal", "outputs.sqlite-shm", "outputs.sqlite-journal")
logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$MMBENCH_CACHE`, else `~/.cache/mmbench`."""
    return Path(os.environ.get("MMBENCH_CACHE") or Path.home() / ".cache" / "mmbench")


def cache_key(fingerprint: str, capability: str, content_key: str, version: str = "") -> str:
    """The cache key of one output (see the module docstring)."""
    material = json.dumps([SCHEMA_VERSION, fingerprint, capability, content_key, version])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    path: Path
    entries: int
    size_bytes: int
    by_capability: dict[str, int]


class OutputCache:
    """A key -> (tensor | text, meta) store; safe across processes and against kills."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / "outputs.sqlite"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._initialise()
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err
        except (OSError, sqlite3.Error) as err:
            raise MMBenchError(
                f"cannot open the output cache at {self.path} ({err}); set MMBENCH_CACHE to a"
                " writable folder or pass --no-cache"
            ) from err

    def _explain(self, err: sqlite3.Error) -> MMBenchError:
        """A one-line error for a full disk or a damaged database file."""
        text = str(err)
        if "full" in text or "disk I/O" in text:
            return MMBenchError(
                f"the output cache at {self.directory} could not grow ({text}): the disk is full;"
                " free space (finished entries are kept), set MMBENCH_CACHE to another disk, or"
                " pass --no-cache"
            )
        return MMBenchError(
            f"the output cache at {self.directory} is damaged ({text}); run `mmbench cache clear"
            f" --cache-dir {self.directory}` (it removes the cache files) and re-run, or pass"
            " --no-cache"
        )

    def _initialise(self) -> None:
        """Switch to WAL and create the tables, retrying while another process does the same.

        Switching a new database to WAL takes an exclusive lock, and SQLite reports a concurrent
        switch (torchrun ranks opening a fresh cache together) as "database is locked" at once
        instead of waiting on the busy timeout.
        """
        deadline = time.monotonic() + _INIT_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, capability TEXT,"
                    " kind TEXT, dtype TEXT, shape TEXT, data BLOB, meta TEXT, checksum TEXT)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS models (key TEXT PRIMARY KEY, memo TEXT)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS file_hashes (key TEXT PRIMARY KEY, sha TEXT)"
                )
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(outputs)")}
                if "checksum" not in columns:  # caches written before checksums
                    try:
                        self._db.execute("ALTER TABLE outputs ADD COLUMN checksum TEXT")
                    except sqlite3.OperationalError as err:  # another process added it first
                        if "duplicate column" not in str(err):
                            raise
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(0.5, delay * 2)

    def close(self) -> None:
        self._db.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        """Cached (output, meta) for the keys present; missing keys are simply absent."""
        found: dict[str, tuple[Any, Any]] = {}
        damaged = 0
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, kind, dtype, shape, data, meta, checksum FROM outputs"
                    f" WHERE key IN ({marks})",
                    chunk,
                )
                for key, kind, dtype, shape, data, meta, checksum in rows:
                    entry = _verified(key, kind, dtype, shape, data, meta, checksum)
                    if entry is None:
                        damaged += 1
                    else:
                        found[key] = entry
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err
        if damaged:
            logger.warning("%d cache entries failed their checksum and will be recomputed", damaged)
        return found

    def put_many(self, capability: str, entries: Iterable[tuple[str, Any, Any]]) -> None:
        """Store (key, output, meta) triples in one transaction."""
        rows = []
        for key, value, meta in entries:
            fields = (*_encode(value), json.dumps(meta))
            rows.append((key, capability, *fields, _checksum(key, *fields)))
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO outputs"
                    " (key, capability, kind, dtype, shape, data, meta, checksum)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err

    def get_model_memo(self, key: str) -> str | None:
        """The model memo stored under `key` (a JSON text), if any."""
        try:
            row = self._db.execute("SELECT memo FROM models WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err
        return row[0] if row else None

    def put_model_memo(self, key: str, memo: str) -> None:
        try:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO models VALUES (?, ?)", (key, memo))
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err

    def get_file_hashes(self, keys: Sequence[str]) -> dict[str, str]:
        """Remembered content hashes of files, keyed by `[path, size, mtime_ns]` JSON texts
        (see `mmbench.data.media_fingerprint`); unknown keys are absent."""
        found: dict[str, str] = {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._db.execute(
                        f"SELECT key, sha FROM file_hashes WHERE key IN ({marks})", chunk
                    )
                )
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err
        return found

    def put_file_hashes(self, hashes: dict[str, str]) -> None:
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO file_hashes VALUES (?, ?)", list(hashes.items())
                )
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err

    def stats(self) -> CacheStats:
        try:
            counts = dict(
                self._db.execute("SELECT capability, COUNT(*) FROM outputs GROUP BY capability")
            )
        except sqlite3.DatabaseError as err:
            raise self._explain(err) from err
        size = sum(p.stat().st_size for p in self.directory.glob("outputs.sqlite*"))
        return CacheStats(self.path, sum(counts.values()), size, counts)

    def clear(self) -> int:
        """Delete every output and model memo; returns how many outputs there were
        (`clear_cache_dir` also copes with a damaged database)."""
        (count,) = self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()
        with self._db:
            self._db.execute("DELETE FROM outputs")
            self._db.execute("DELETE FROM models")
            self._db.execute("DELETE FROM file_hashes")
        self._db.execute("VACUUM")
        return int(count)


def read_cache_stats(directory: Path | None = None) -> CacheStats:
    """Entries per capability and size of the cache at `directory` (default: `default_cache_dir`);
    a folder without a cache reads as empty and is not created."""
    folder = Path(directory) if directory is not None else default_cache_dir()
    if not (folder / "outputs.sqlite").exists():
        return CacheStats(folder / "outputs.sqlite", 0, 0, {})
    cache = OutputCache(folder)
    try:
        return cache.stats()
    finally:
        cache.close()


def clear_cache_dir(directory: Path | None = None) -> str:
    """Empty the cache at `directory`; when SQLite cannot open or clear it (a damaged file),
    remove its files instead. Returns a one-line account of what was done."""
    folder = Path(directory) if directory is not None else default_cache_dir()
    if not (folder / "outputs.sqlite").exists():
        return f"no cache at {folder / 'outputs.sqlite'}; nothing to clear"
    try:
        cache = OutputCache(folder)
        try:
            return f"removed {cache.clear()} entries from {cache.path}"
        finally:
            cache.close()
    except (MMBenchError, sqlite3.Error):
        removed = []
        for name in _FILES:
            path = folder / name
            if path.exists():
                path.unlink()
                removed.append(name)
        return f"the cache was damaged; removed {', '.join(removed)} from {folder}"


def _checksum(key: str, kind: str, dtype: str, shape: str, data: bytes, meta: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (key, kind, dtype, shape, meta):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(data)
    return digest.hexdigest()


def _verified(
    key: str, kind: str, dtype: str, shape: str, data: bytes, meta: str, checksum: str | None
) -> tuple[Any, Any] | None:
    """The decoded entry, or None when its checksum is absent or wrong or it does not decode."""
    if not isinstance(data, bytes) or checksum != _checksum(key, kind, dtype, shape, data, meta):
        return None
    try:
        return _decode(kind, dtype, shape, data), json.loads(meta)
    except (ValueError, TypeError):
        return None


def _encode(value: Any) -> tuple[str, str, str, bytes]:
    if isinstance(value, str):
        return "text", "", "", value.encode("utf-8")
    array = value.detach().cpu().contiguous().numpy()
    return "tensor", str(array.dtype), json.dumps(list(array.shape)), array.tobytes()


def _decode(kind: str, dtype: str, shape: str, data: bytes) -> Any:
    if kind == "text":
        return data.decode("utf-8")
    import numpy as np
    import torch

    array = np.frombuffer(data, dtype=dtype).reshape(json.loads(shape))
    return torch.from_numpy(array.copy())
