"""The `media_path` source transform: media files named by a column, laid out beside the rows.

Some benchmarks ship their videos in zip archives next to the annotations instead of in a media
column: Video-MME's rows name a YouTube id (`videoID`), whose file lies at `data/<id>.mp4` once
the archives are extracted (lmms-eval's `videomme/utils.py`, `videomme_doc_to_visual`); MVBench's
rows name a file inside a folder that depends on the subtask (lmms-eval's `mvbench/utils.py`,
`DATA_LIST`). A source declares

    media_path: {column: videoID, into: video_path, template: "data/{value}.mp4",
                 fallbacks: ["data/{value}.MP4", "data/{value}.mkv"]}

    media_path: {column: video, into: video_path, template: "{folder}/{value}",
                 folder_by: config, folders: {action_sequence: star/Charades_segment, ...}}

and each row gains the column `into`: the template with `{value}` replaced by the row's
`column` cell and `{folder}` by `folders[row[folder_by]]`. Paths are relative to the dataset's
folder (`--data-dir`). The first of template, then fallbacks, that names an existing file is
used (lmms-eval tries `.mp4`, `.MP4`, `.mkv` in that order); when none exists the template's
path is kept, so the missing file is a per-sample media error naming it. The rows are a lazy
view: a row's path is resolved when the row is read.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError, check_template, did_you_mean

MEDIA_PATH_KEYS = ("column", "into", "template", "fallbacks", "folder_by", "folders")
MEDIA_PATH_EXAMPLE = '{column: videoID, into: video_path, template: "data/{value}.mp4"}'
_FIELDS = {"value": "", "folder": ""}


@dataclass(frozen=True)
class MediaPathSpec:
    """`source.media_path` (see the module docstring)."""

    column: str
    into: str
    template: str
    fallbacks: tuple[str, ...] = ()
    folder_by: str | None = None
    folders: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `mmbench show task` and the spec hash."""
        return {
            "column": self.column,
            "into": self.into,
            "template": self.template,
            "fallbacks": list(self.fallbacks),
            "folder_by": self.folder_by,
            "folders": dict(self.folders),
        }

    def candidates(self, row: dict[str, Any]) -> list[str] | None:
        """The relative paths to try for `row`, in order; None when the row names no file
        (an empty cell, or a `folder_by` value without a folder)."""
        value = row.get(self.column)
        if value is None or str(value).strip() in ("", "nan"):
            return None
        folder = ""
        if self.folder_by is not None:
            folder = self.folders.get(str(row.get(self.folder_by)))
            if folder is None:
                return None
        return [t.format(value=value, folder=folder) for t in (self.template, *self.fallbacks)]


def parse_media_path(raw: Any, where: str) -> MediaPathSpec:
    """Validate `source.media_path` of the task file `where`; problems are one-line errors."""
    if not isinstance(raw, dict):
        raise MMBenchError(
            f"task file {where}: source.media_path must be a mapping like {MEDIA_PATH_EXAMPLE}"
        )
    unknown = sorted(str(k) for k in set(raw) - set(MEDIA_PATH_KEYS))
    if unknown:
        raise MMBenchError(
            f"task file {where}: unknown source.media_path key {unknown[0]!r}"
            f"{did_you_mean(unknown[0], MEDIA_PATH_KEYS)}; allowed: {', '.join(MEDIA_PATH_KEYS)}"
        )
    for key in ("column", "into", "template"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise MMBenchError(
                f"task file {where}: source.media_path.{key} must be a non-empty string"
                f" (e.g. {MEDIA_PATH_EXAMPLE})"
            )
    fallbacks = raw.get("fallbacks", [])
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) and f for f in fallbacks):
        raise MMBenchError(
            f"task file {where}: source.media_path.fallbacks must be a list of paths"
        )
    folders = raw.get("folders", {})
    folder_by = raw.get("folder_by")
    if not isinstance(folders, dict) or not all(isinstance(v, str) for v in folders.values()):
        raise MMBenchError(
            f"task file {where}: source.media_path.folders must map values of folder_by to folders"
        )
    if (folder_by is None) != (not folders) or (folder_by is not None and not str(folder_by)):
        raise MMBenchError(
            f"task file {where}: source.media_path needs both folder_by and folders, or neither"
        )
    for template in (raw["template"], *fallbacks):
        check_template(
            template,
            _FIELDS,
            f"task file {where}: source.media_path template",
            "{value} and {folder}",
        )
    return MediaPathSpec(
        column=raw["column"],
        into=raw["into"],
        template=raw["template"],
        fallbacks=tuple(fallbacks),
        folder_by=None if folder_by is None else str(folder_by),
        folders={str(k): v for k, v in folders.items()},
    )


def media_path_columns(columns: Sequence[str], spec: MediaPathSpec, what: str) -> tuple[str, ...]:
    """The columns after the transform; a one-line error when a named column is absent."""
    for role, column in (("column", spec.column), ("folder_by", spec.folder_by)):
        if column is not None and column not in columns:
            raise MMBenchError(
                f"dataset {what} has no column {column!r} (source.media_path.{role})"
                f"{did_you_mean(column, columns)}; its columns are {', '.join(columns)}"
            )
    return tuple(columns) if spec.into in columns else (*columns, spec.into)


class MediaPathRows(Sequence):
    """Rows with the resolved media path added (a lazy, read-only view; `select` keeps a subset
    in the given order, which is what `Table.head` uses)."""

    def __init__(self, base: Any, spec: MediaPathSpec, base_dir: Path | None) -> None:
        self.base = base
        self.spec = spec
        self.base_dir = base_dir
        self._indices: list[int] | None = None

    def __len__(self) -> int:
        return len(self.base) if self._indices is None else len(self._indices)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        source = index if self._indices is None else self._indices[index]
        row = dict(self.base[source])
        row[self.spec.into] = self._resolve(row)
        return row

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def select(self, indices: Sequence[int]) -> MediaPathRows:
        subset = copy.copy(self)
        current = range(len(self.base)) if self._indices is None else self._indices
        subset._indices = [current[i] for i in indices]
        return subset

    def _resolve(self, row: dict[str, Any]) -> str | None:
        candidates = self.spec.candidates(row)
        if not candidates:
            return None
        if self.base_dir is not None:
            for candidate in candidates:
                if (self.base_dir / candidate).is_file():
                    return candidate
        return candidates[0]


def require_local_media(source: Any, table: Any, task: str) -> None:
    """A one-line error before any work when a task's media lie beside its rows
    (`source.media_path`) but the rows came from the hub, which holds those media only as
    archives: the run needs a `--data-dir` copy with the media extracted."""
    if getattr(source, "media_path", None) is not None and table.base_dir is None:
        raise MMBenchError(
            f"task {task!r}: its media ship as archives beside the annotations, not in the"
            " dataset's rows; download and extract them and pass --data-dir DIR (docs/tasks.md"
            " gives the layout)"
        )
