"""Embedding matrices filled row by row, in memory or memory-mapped from a scratch file.

Retrieval over a gallery larger than memory needs its embeddings somewhere else: the engine
writes each output row (computed, cached or gathered) straight into an `EmbeddingMatrix`, and a
disk-backed one is a float32 memory map, so the kernel pages rows in and out as the chunked
similarity (`mmbench.metrics.retrieval`) walks over them. Nothing holds a second copy: rows are
normalised and compacted in place.

The scratch file is unlinked as soon as it is mapped (POSIX keeps the mapping alive), so a run
killed with `kill -9` leaves no file behind; the cache itself keeps every finished output.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError

if TYPE_CHECKING:
    from torch import Tensor

STORES = ("auto", "memory", "disk")
#: `auto` memory-maps a matrix larger than this share of the memory available when it is made.
AUTO_DISK_SHARE = 0.25
_COMPACT_ROWS = 65536


class EmbeddingMatrix:
    """An `[n, d]` float32 matrix whose rows arrive one batch at a time, in any order.

    `d` is learnt from the first row written. `store` is "memory", "disk" or "auto" (disk when
    the matrix would exceed `AUTO_DISK_SHARE` of the available memory); disk matrices live in
    `scratch_dir`.
    """

    def __init__(self, n_rows: int, store: str = "auto", scratch_dir: Path | None = None) -> None:
        if store not in STORES:
            raise MMBenchError(f"unknown embedding store {store!r}; use one of {', '.join(STORES)}")
        self.n_rows = n_rows
        self.store = store
        self.scratch_dir = Path(scratch_dir) if scratch_dir is not None else None
        self.on_disk = False
        self._data: Tensor | None = None
        self._map = None

    def write(self, index: int, row: Tensor) -> None:
        """Store one output row at `index`."""
        if self._data is None:
            self._allocate(int(row.numel()))
        assert self._data is not None
        self._data[index].copy_(row.reshape(-1))

    def rows(self, kept: Sequence[int]) -> Tensor:
        """The rows `kept` (increasing indices), moved to the front in place; a view, no copy."""
        if self._data is None:
            raise MMBenchError("no embeddings were written: every item failed")
        kept = list(kept)
        if kept == list(range(len(kept))):
            return self._data[: len(kept)]
        import torch

        # Row kept[j] moves up to j <= kept[j]; gathering each block before writing it keeps a
        # later block's sources (all >= the end of this block) intact.
        for start in range(0, len(kept), _COMPACT_ROWS):
            block = torch.tensor(kept[start : start + _COMPACT_ROWS], dtype=torch.long)
            self._data[start : start + len(block)] = self._data.index_select(0, block)
        return self._data[: len(kept)]

    def close(self) -> None:
        """Release the memory (or the mapping and its scratch file)."""
        self._data = None
        if self._map is not None:
            path = Path(self._map.filename)
            del self._map
            self._map = None
            path.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddingMatrix:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _allocate(self, dim: int) -> None:
        import torch

        size = self.n_rows * dim * 4
        self.on_disk = self.store == "disk" or (
            self.store == "auto" and size > AUTO_DISK_SHARE * available_memory()
        )
        if not self.on_disk:
            self._data = torch.empty(self.n_rows, dim, dtype=torch.float32)
            return
        import numpy as np

        directory = self.scratch_dir or Path(tempfile.gettempdir())
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix="embeddings-", suffix=".f32", dir=directory)
            os.close(handle)
            self._map = np.memmap(name, dtype=np.float32, mode="w+", shape=(self.n_rows, dim))
        except OSError as err:
            raise MMBenchError(
                f"cannot create a {size / 2**30:.1f} GiB embedding scratch file in {directory}"
                f" ({err}); free disk space there, point --cache-dir elsewhere, or pass"
                " --embedding-store memory"
            ) from err
        # Windows cannot unlink a mapped file: close() deletes it there instead.
        with contextlib.suppress(OSError):
            os.unlink(name)
        self._data = torch.from_numpy(self._map)


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
