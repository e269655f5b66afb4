"""Content-addressed output cache: every model output is stored once, keyed by what produced it.

Key = sha256(adapter fingerprint, capability, item content hash, preprocessing/prompt version).
Entries live in one SQLite database in WAL mode under `MMBENCH_CACHE` (default
`~/.cache/mmbench`). Each batch is one transaction, so a run killed with `kill -9` keeps every
batch it finished and the next run resumes from there; a half-written batch is rolled back by
SQLite, never read back. Two tasks over the same images (retrieval and CLIPScore, say) share the
image embeddings because the key does not mention the task. A second table holds small model
memos (`mmbench.models.lazy`), so a fully cached rerun does not load the model at all.
"""

from __future__ import annotations

import hashlib
import json
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
        except (OSError, sqlite3.Error) as err:
            raise MMBenchError(
                f"cannot open the output cache at {self.path} ({err}); set MMBENCH_CACHE to a"
                " writable folder or pass --no-cache"
            ) from err

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
                    " kind TEXT, dtype TEXT, shape TEXT, data BLOB, meta TEXT)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS models (key TEXT PRIMARY KEY, memo TEXT)"
                )
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
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, kind, dtype, shape, data, meta FROM outputs WHERE key IN ({marks})",
                chunk,
            )
            for key, kind, dtype, shape, data, meta in rows:
                found[key] = (_decode(kind, dtype, shape, data), json.loads(meta))
        return found

    def put_many(self, capability: str, entries: Iterable[tuple[str, Any, Any]]) -> None:
        """Store (key, output, meta) triples in one transaction."""
        rows = [
            (key, capability, *_encode(value), json.dumps(meta)) for key, value, meta in entries
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def get_model_memo(self, key: str) -> str | None:
        """The model memo stored under `key` (a JSON text), if any."""
        row = self._db.execute("SELECT memo FROM models WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_model_memo(self, key: str, memo: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO models VALUES (?, ?)", (key, memo))

    def stats(self) -> CacheStats:
        counts = dict(
            self._db.execute("SELECT capability, COUNT(*) FROM outputs GROUP BY capability")
        )
        size = sum(p.stat().st_size for p in self.directory.glob("outputs.sqlite*"))
        return CacheStats(self.path, sum(counts.values()), size, counts)

    def clear(self) -> int:
        """Delete every output and model memo; returns how many outputs there were."""
        (count,) = self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()
        with self._db:
            self._db.execute("DELETE FROM outputs")
            self._db.execute("DELETE FROM models")
        self._db.execute("VACUUM")
        return int(count)


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
