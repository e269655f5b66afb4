"""The `join` source transform: columns looked up in a second table of the same dataset.

Some hub datasets keep media in a config of their own, keyed by an id the questions refer to:
lmms-lab/GQA stores questions in `testdev_balanced_instructions` (column `imageId`) and the
images in `testdev_balanced_images` (columns `id`, `image`), as lmms-eval's gqa task reads them.
A source declares

    join: {config: testdev_balanced_images, split: testdev, by: imageId, key: id,
           columns: [image]}

and each row gains `columns` from the row of that table whose `key` equals the row's `by`
value. The second table comes from the same place as the first: the same hub repository and
revision, or the same `--data-dir` / local folder (`<config>/<split>-*.parquet`, as a hub
download lays it out). A row whose key has no match gets None in those columns, so a missing
image is a per-sample media error like an unreadable one. The joined rows are a lazy view: the
second table is indexed by its key column once, and its cells are read when a row is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmbench.errors import MMBenchError, did_you_mean

JOIN_KEYS = ("config", "split", "by", "key", "columns")
JOIN_EXAMPLE = "{config: images_config, split: test, by: imageId, key: id, columns: [image]}"


@dataclass(frozen=True)
class JoinSpec:
    """`source.join` (see the module docstring)."""

    config: str | None
    split: str
    by: str
    key: str
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `mmbench show task` and the spec hash."""
        return {
            "config": self.config,
            "split": self.split,
            "by": self.by,
            "key": self.key,
            "columns": list(self.columns),
        }


def parse_join(raw: Any, where: str) -> JoinSpec:
    """Validate `source.join` of the task file `where`; problems are one-line errors."""
    if not isinstance(raw, dict):
        raise MMBenchError(f"task file {where}: source.join must be a mapping like {JOIN_EXAMPLE}")
    unknown = sorted(str(k) for k in set(raw) - set(JOIN_KEYS))
    if unknown:
        raise MMBenchError(
            f"task file {where}: unknown source.join key {unknown[0]!r}"
            f"{did_you_mean(unknown[0], JOIN_KEYS)}; allowed: {', '.join(JOIN_KEYS)}"
        )
    missing = [k for k in ("split", "by", "key", "columns") if k not in raw]
    if missing:
        raise MMBenchError(
            f"task file {where}: source.join needs {', '.join(missing)} (e.g. {JOIN_EXAMPLE})"
        )
    for name in ("split", "by", "key"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise MMBenchError(
                f"task file {where}: source.join.{name} must be a column or split name"
            )
    columns = raw["columns"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise MMBenchError(
            f"task file {where}: source.join.columns must be a non-empty list of column names"
        )
    config = raw.get("config")
    if config is not None and not isinstance(config, str):
        raise MMBenchError(f"task file {where}: source.join.config must be a config name")
    return JoinSpec(config, raw["split"], raw["by"], raw["key"], tuple(columns))


class JoinedRows(Sequence):
    """`rows` with `spec.columns` looked up in `other` by key (a lazy, read-only view)."""

    def __init__(self, rows: Sequence, other: Sequence, spec: JoinSpec, what: str) -> None:
        self._rows = rows
        self._other = other
        self._spec = spec
        keys = other[spec.key] if hasattr(other, "column_names") else [r[spec.key] for r in other]
        self._index = {str(k): i for i, k in enumerate(keys)}
        self._what = what

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = dict(self._rows[index])
        if self._spec.by not in row:
            raise MMBenchError(
                f"dataset {self._what} has no column {self._spec.by!r} to join by; fix"
                " source.join.by in the task YAML"
            )
        match = self._index.get(str(row[self._spec.by]))
        other = None if match is None else self._other[match]
        for column in self._spec.columns:
            row[column] = None if other is None else other[column]
        return row

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


def join_columns(columns: Sequence[str], other_columns: Sequence[str], spec: JoinSpec, what: str):
    """The joined table's column names; a one-line error when the second table lacks one."""
    for name in (spec.key, *spec.columns):
        if name not in other_columns:
            raise MMBenchError(
                f"dataset {what} has no column {name!r} (source.join)"
                f"{did_you_mean(name, other_columns)}; its columns are {', '.join(other_columns)}"
            )
    return tuple(dict.fromkeys([*columns, *spec.columns]))
