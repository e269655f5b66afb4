"""Several configs of one dataset read as one table (`source.configs`).

A benchmark split into one hub config per subtask (MVBench: 20 configs, lmms-eval runs them as
20 tasks of the group `mvbench`) is evaluated as one task by listing them:

    source: {hub: OpenGVLab/MVBench, revision: ..., split: train, configs: [action_sequence, ...]}

The rows are the configs' rows in the order listed (each config's rows in their own order), and
each gains the column `config` naming its config, for breakdowns and per-config media folders.
Configs may have different columns (a column a config lacks reads as None). Each config comes
from the same place: the hub repository at the pinned revision, or the `--data-dir` / local
folder, where a config's rows lie as a hub download lays them out (`<config>/<split>-*.parquet`,
or the file `source.data_files` names with `{config}` filled in, e.g. `json/{config}.json`).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Any

from mmbench.data.rows import distinct_names
from mmbench.errors import MMBenchError

#: the column naming each row's config
CONFIG_COLUMN = "config"


def parse_configs(raw: Any, where: str) -> tuple[str, ...]:
    """Validate `source.configs`: a non-empty list of distinct config names."""
    if not distinct_names(raw):
        raise MMBenchError(
            f"task file {where}: source.configs must be a non-empty list of distinct config"
            f" names, not {raw!r}"
        )
    return tuple(raw)


def combined_fingerprint(fingerprints: Sequence[str], names: Sequence[str]) -> str:
    """One fingerprint for the configs' tables; a hub source keeps the `hub:` prefix (so the
    media fingerprint leaves it as it is) and names its configs."""
    if all(f.startswith("hub:") for f in fingerprints):
        return f"{fingerprints[0]}:configs={','.join(names)}"
    pairs = zip(names, fingerprints, strict=True)
    digest = hashlib.sha256("\0".join(f"{n}={f}" for n, f in pairs).encode())
    return "sha256:" + digest.hexdigest()[:16]


def combined_columns(tables_columns: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The union of the configs' columns (first seen first), then `config`."""
    seen: dict[str, None] = {}
    for columns in tables_columns:
        seen.update(dict.fromkeys(columns))
    if CONFIG_COLUMN in seen:
        raise MMBenchError(
            f"source.configs adds the column {CONFIG_COLUMN!r}, which the dataset already has;"
            " read the configs one task each instead"
        )
    return (*seen, CONFIG_COLUMN)


class ConfigRows(Sequence):
    """The rows of several configs in order, each with its config's name (a lazy view)."""

    def __init__(self, parts: Sequence[tuple[str, Any]], columns: Sequence[str]) -> None:
        self.parts = list(parts)
        self.columns = tuple(c for c in columns if c != CONFIG_COLUMN)
        self._positions = [
            (p, i) for p, (_, rows) in enumerate(self.parts) for i in range(len(rows))
        ]

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        part, position = self._positions[index]
        name, rows = self.parts[part]
        row = dict(rows[position])
        out = {c: row.get(c) for c in self.columns}
        out[CONFIG_COLUMN] = name
        return out

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def select(self, indices: Sequence[int]) -> ConfigRows:
        subset = copy.copy(self)
        subset._positions = [self._positions[i] for i in indices]
        return subset
