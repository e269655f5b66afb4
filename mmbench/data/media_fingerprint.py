"""The data fingerprint of a local copy covers the media files its rows point to.

A JSONL copy (or an Arrow / parquet copy whose image cells hold paths) names its images and videos
by path, so hashing the table files alone misses a replaced image whose metrics moved. The
fingerprint used in results is therefore

    "sha256:" + sha256(table fingerprint, then for each referenced file in sorted path order:
                       its path, NUL, the sha256 of its bytes, NUL)[:16 hex digits]

over the rows actually evaluated (so a `--limit` run has a fingerprint of its own). Content
hashes are computed once per file and remembered in the output cache by (path, size, mtime_ns),
as the model memos are: a rerun costs one `stat` per file. Media embedded in the table (bytes
cells, raw frames) are already covered by the table fingerprint; hub sources are pinned by
revision and are left as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.data.media import MediaRef, media_ref, stream_sha256
from mmbench.errors import MediaError

if TYPE_CHECKING:
    from mmbench.cache import OutputCache
    from mmbench.data.sources import Table

#: column roles whose cells are media
MEDIA_ROLES = ("image", "video", "images")
_BLOCK = 1 << 20


def media_fingerprint(
    table: Table, columns: dict[str, str], memo: OutputCache | None = None
) -> str:
    """The table's fingerprint extended with the content of the media files its rows name
    (module docstring); the table's own fingerprint when it names none or is a hub source."""
    if table.fingerprint.startswith("hub:"):
        return table.fingerprint
    media_columns = [columns[role] for role in MEDIA_ROLES if role in columns]
    rows = table.rows
    if hasattr(rows, "select_columns"):  # an Arrow dataset: read the media columns only
        rows = rows.select_columns(media_columns)
    paths = sorted(referenced_files(rows, media_columns, table.base_dir))
    if not paths:
        return table.fingerprint
    hashes = file_hashes(paths, memo)
    digest = hashlib.sha256(table.fingerprint.encode("utf-8") + b"\0")
    for path in paths:
        digest.update(f"{path}\0{hashes.get(path, 'missing')}\0".encode())
    return "sha256:" + digest.hexdigest()[:16]


def referenced_files(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], base_dir: Path | None
) -> set[str]:
    """Paths of the media files named by `columns` of `rows` (lists of media included)."""
    found: set[str] = set()
    for index, row in enumerate(rows):
        for column in columns:
            cell = row.get(column) if isinstance(row, dict) else None
            for value in cell if isinstance(cell, list) else [cell]:
                if value is None:
                    continue
                try:
                    ref = media_ref(value, str(index), base_dir)
                except MediaError:
                    continue  # the task reports the bad cell when it loads it
                if _is_file_ref(ref):
                    found.add(str(ref.path))
    return found


def _is_file_ref(ref: MediaRef) -> bool:
    return ref.path is not None and ref.data is None and ref.frames is None


def file_hashes(paths: Sequence[str], memo: OutputCache | None = None) -> dict[str, str]:
    """sha256 of each existing file's bytes, looked up first in `memo` by (path, size,
    mtime_ns); missing files are left out (they fail as samples when loaded)."""
    stamps: dict[str, str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        stamps[path] = json.dumps([path, st.st_size, st.st_mtime_ns])
    known = memo.get_file_hashes(list(stamps.values())) if memo is not None else {}
    hashes: dict[str, str] = {}
    fresh: dict[str, str] = {}
    for path, key in stamps.items():
        sha = known.get(key)
        if sha is None:
            try:
                sha = _sha256_file(path)
            except OSError:
                continue
            fresh[key] = sha
        hashes[path] = sha
    if memo is not None and fresh:
        memo.put_file_hashes(fresh)
    return hashes


def _sha256_file(path: str) -> str:
    with open(path, "rb") as handle:
        return stream_sha256(handle)
