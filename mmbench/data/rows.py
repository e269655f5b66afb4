"""Row transforms a task's source declares: `explode` and `raw_frames`.

* `explode: {column: qa, fields: [question, answer], id_from: video_path}` turns one row per video
  into one row per element of the list cell `qa`: element k keeps the row's other columns, spreads
  its items over `fields` (a list element by position, a dict element by key, a scalar as the one
  field) and gets the id `<id_from value>#<k>` (k from 0; the row's position when `id_from` is
  unset) in `id_column` (default `id`). Rows come out in source order, then element order, so
  `--limit N` takes the first N elements.
* `raw_frames: {column: binary_frames, frames: num_frames, height: height, width: width,
  channels: channels}` reads that column as a video stored as raw uint8 frames: its cells become
  `RawFrames` (see `mmbench.data.media`), decoded in DataLoader workers by
  `mmbench.data.video.load_raw_frames`.

`open_source` applies both after reading the rows, whether they come from the hub or from
`--data-dir`, so a local copy in the hub's schema runs through exactly the hub's code path. The
transformed rows are a lazy view: a raw-frame cell of a `datasets.Dataset` is read from its
(memory-mapped) table only when a worker decodes it, and every row exploded from one video shares
that video's cells by reference, so no frame buffer is copied per question.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mmbench.data.media import RawFrames
from mmbench.errors import MMBenchError, check_keys, did_you_mean

EXPLODE_KEYS = ("column", "fields", "id_from", "id_column")
RAW_FRAMES_KEYS = ("column", "frames", "height", "width", "channels")
EXPLODE_EXAMPLE = "{column: qa, fields: [question, answer], id_from: video_path}"
RAW_FRAMES_EXAMPLE = (
    "{column: binary_frames, frames: num_frames, height: height, width: width, channels: channels}"
)


@dataclass(frozen=True)
class ExplodeSpec:
    """`source.explode`: one row per element of the list cell in `column` (module docstring)."""

    column: str
    fields: tuple[str, ...]
    id_from: str | None = None
    id_column: str = "id"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `mmbench show task` and the spec hash."""
        return {**asdict(self), "fields": list(self.fields)}


@dataclass(frozen=True)
class RawFramesSpec:
    """`source.raw_frames`: the raw frame-buffer column and the columns holding its shape."""

    column: str
    frames: str
    height: str
    width: str
    channels: str

    def shape_columns(self) -> tuple[str, str, str, str]:
        return self.frames, self.height, self.width, self.channels

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `mmbench show task` and the spec hash."""
        return asdict(self)


def distinct_names(raw: Any) -> bool:
    """Whether a YAML value is a non-empty list of distinct non-empty strings (the form of every
    list of column or config names a task's source declares)."""
    return (
        isinstance(raw, list)
        and bool(raw)
        and all(isinstance(name, str) and name for name in raw)
        and len(set(raw)) == len(raw)
    )


def parse_explode(raw: Any, where: str) -> ExplodeSpec:
    """Validate `source.explode` of the task file `where`; problems are one-line errors."""
    _check_keys(raw, "explode", EXPLODE_KEYS, ("column", "fields"), EXPLODE_EXAMPLE, where)
    fields = raw["fields"]
    if not distinct_names(fields):
        raise MMBenchError(
            f"task file {where}: source.explode.fields must be a non-empty list of distinct"
            f" column names (one per item of an element, e.g. [question, answer]), not {fields!r}"
        )
    spec = ExplodeSpec(
        column=_name(raw, "explode", "column", where),
        fields=tuple(fields),
        id_from=_name(raw, "explode", "id_from", where) if "id_from" in raw else None,
        id_column=_name(raw, "explode", "id_column", where) if "id_column" in raw else "id",
    )
    if spec.id_column in spec.fields:
        raise MMBenchError(
            f"task file {where}: source.explode.id_column {spec.id_column!r} is also one of its"
            " fields; rename one of them"
        )
    return spec


def parse_raw_frames(raw: Any, where: str) -> RawFramesSpec:
    """Validate `source.raw_frames` of the task file `where`; problems are one-line errors."""
    _check_keys(raw, "raw_frames", RAW_FRAMES_KEYS, RAW_FRAMES_KEYS, RAW_FRAMES_EXAMPLE, where)
    names = {key: _name(raw, "raw_frames", key, where) for key in RAW_FRAMES_KEYS}
    if len(set(names.values())) != len(names):
        raise MMBenchError(
            f"task file {where}: source.raw_frames names the same column twice ({raw});"
            " each of column, frames, height, width, channels is a different column"
        )
    return RawFramesSpec(**names)


def _check_keys(
    raw: Any,
    key: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    example: str,
    where: str,
) -> None:
    if not isinstance(raw, dict):
        raise MMBenchError(f"task file {where}: source.{key} must be a mapping like {example}")
    check_keys(
        raw,
        allowed,
        required,
        unknown=f"task file {where}: unknown source.{key}",
        missing=f"task file {where}: source.{key} needs",
        fix=f", e.g. {example}",
    )


def _name(raw: dict[str, Any], key: str, sub: str, where: str) -> str:
    value = raw[sub]
    if not isinstance(value, str) or not value:
        raise MMBenchError(
            f"task file {where}: source.{key}.{sub} must be a column name (a string), not {value!r}"
        )
    return value


def transformed_columns(
    columns: Sequence[str], explode: ExplodeSpec | None, raw_frames: RawFramesSpec | None, what: str
) -> tuple[str, ...]:
    """The columns after the transforms, checking that every column they name exists."""
    needed = (
        {} if raw_frames is None else {f"raw_frames.{k}": v for k, v in asdict(raw_frames).items()}
    )
    if explode is not None:
        needed["explode.column"] = explode.column
        if explode.id_from is not None:
            needed["explode.id_from"] = explode.id_from
    for key, column in needed.items():
        if column not in columns:
            raise MMBenchError(
                f"dataset {what} has no column {column!r} (named by source.{key})"
                f"{did_you_mean(column, columns)}; its columns are {', '.join(columns)}:"
                " fix `source:` in the task YAML"
            )
    if explode is None:
        return tuple(columns)
    kept = [c for c in columns if c != explode.column]
    for name in (*explode.fields, explode.id_column):
        if name in kept:
            key = "id_column" if name == explode.id_column else "fields"
            raise MMBenchError(
                f"dataset {what} already has a column {name!r}, which source.explode.{key} would"
                f" overwrite; pick another name in source.explode.{key}"
            )
    return (*kept, *explode.fields, explode.id_column)


@dataclass(frozen=True, eq=False)
class DatasetCell:
    """One cell of a `datasets.Dataset`, read when a worker needs it (a `CellReader`)."""

    dataset: Any
    index: int
    column: str

    def read(self) -> Any:
        return self.dataset[self.index][self.column]


class SourceRows(Sequence):
    """The rows of a split after `explode` / `raw_frames`: a lazy, read-only sequence of dicts.

    Output row i is element `k` of source row `j` for the i-th (j, k) of `_positions` (k is None
    without explode); `select` keeps a subset in that order, which is what `Table.head`
    (`--limit`) uses.
    """

    def __init__(
        self, base: Any, explode: ExplodeSpec | None, raw_frames: RawFramesSpec | None, what: str
    ) -> None:
        self.explode = explode
        self.raw_frames = raw_frames
        self.what = what
        self._light, self._buffers = _split_off(base, raw_frames)
        self._frames: dict[int, RawFrames] = {}
        self._cached: tuple[int, dict[str, Any]] | None = None
        self._positions = self._explode_positions()

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        source, element = self._positions[index]
        row = self._source_row(source)
        if self.explode is None or element is None:
            return dict(row)
        spec = self.explode
        out = {c: v for c, v in row.items() if c != spec.column}
        items = _element_items(row[spec.column][element], spec.fields)
        out.update(zip(spec.fields, items, strict=True))
        prefix = source if spec.id_from is None else row[spec.id_from]
        out[spec.id_column] = f"{prefix}#{element}"
        return out

    def select(self, indices: Sequence[int]) -> SourceRows:
        """The rows at `indices`, in that order: still lazy, sharing this view's `RawFrames`."""
        subset = copy.copy(self)
        subset._positions = [self._positions[i] for i in indices]
        subset._cached = None
        return subset

    def _source_row(self, source: int) -> dict[str, Any]:
        """Source row `source`, its frame buffer replaced by the row's shared `RawFrames`.

        The last row read is kept, so the rows exploded from one source row (read one after the
        other) share its cells instead of each reading a copy.
        """
        if self._cached is not None and self._cached[0] == source:
            return self._cached[1]
        row = dict(self._light[source])
        if self.raw_frames is not None:
            row[self.raw_frames.column] = self._raw_frames(source, row)
        self._cached = (source, row)
        return row

    def _raw_frames(self, source: int, row: dict[str, Any]) -> RawFrames:
        if source not in self._frames:
            spec = self.raw_frames
            assert spec is not None
            cell = (
                row[spec.column]
                if self._buffers is None
                else DatasetCell(self._buffers, source, spec.column)
            )
            shape = tuple(row[c] for c in spec.shape_columns())
            self._frames[source] = RawFrames(cell, shape, spec.column)
        return self._frames[source]

    def _explode_positions(self) -> list[tuple[int, int | None]]:
        """(source row, element) pairs in output order; a malformed list cell fails here, early."""
        if self.explode is None:
            return [(i, None) for i in range(len(self._light))]
        spec = self.explode
        cells = _column(self._light, spec.column)
        prefixes = _column(self._light, spec.id_from) if spec.id_from else range(len(cells))
        positions: list[tuple[int, int | None]] = []
        seen: set[str] = set()
        for source, (cell, prefix) in enumerate(zip(cells, prefixes, strict=True)):
            where = f"row {source} of dataset {self.what}"
            if not isinstance(cell, (list, tuple)):
                raise MMBenchError(
                    f"{where}: source.explode.column {spec.column!r} holds a"
                    f" {type(cell).__name__}, not a list; fix the row or the column name"
                )
            for element, value in enumerate(cell):
                problem = _element_problem(value, spec.fields)
                if problem:
                    raise MMBenchError(
                        f"{where}: source.explode.column {spec.column!r} has {problem}, but"
                        f" fields names {len(spec.fields)} ({', '.join(spec.fields)}); fix"
                        " source.explode.fields in the task YAML"
                    )
                positions.append((source, element))
            if cell and str(prefix) in seen:
                raise MMBenchError(
                    f"{where}: source.explode.id_from {spec.id_from!r} repeats the value"
                    f" {str(prefix)!r} of an earlier row, so their ids would clash; name a unique"
                    " column, or drop id_from to number rows by position"
                )
            seen.add(str(prefix))
        return positions


def _split_off(base: Any, raw_frames: RawFramesSpec | None) -> tuple[Any, Any]:
    """(rows without the frame buffers, the buffer column alone) for a `datasets.Dataset`;
    (base, None) for a list of dicts, whose cells are in memory already."""
    if raw_frames is None or not hasattr(base, "remove_columns"):
        return base, None
    return base.remove_columns([raw_frames.column]), base.select_columns([raw_frames.column])


def _column(rows: Any, column: str) -> list[Any]:
    if hasattr(rows, "select_columns"):
        return list(rows.select_columns([column])[column])
    return [row.get(column) for row in rows]


def _element_problem(value: Any, fields: tuple[str, ...]) -> str | None:
    """Why an exploded element cannot fill `fields`, or None when it can (see `_element_items`)."""
    if isinstance(value, dict):
        missing = [f for f in fields if f not in value]
        return f"an element without key(s) {', '.join(missing)}" if missing else None
    if isinstance(value, (list, tuple)):
        return None if len(value) == len(fields) else f"an element of {len(value)} item(s)"
    return None if len(fields) == 1 else f"a single value ({value!r}) as an element"


def _element_items(value: Any, fields: tuple[str, ...]) -> list[Any]:
    """An element's items in `fields` order: a list by position, a dict by key, a scalar alone."""
    if isinstance(value, dict):
        return [value[f] for f in fields]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
