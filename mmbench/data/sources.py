"""Dataset sources: the Hugging Face hub (pinned revision) and local copies in the hub's schema.

Both paths end in the same `Table`, so tests and air-gapped users (`--data-dir`) exercise exactly
the code real runs use. Local sources accept what `datasets` itself writes or reads:

* a `save_to_disk` folder (a `Dataset`, or a `DatasetDict` from which the split is taken);
* a folder of parquet files as on the hub (`data/<split>-*.parquet` or `<split>/*.parquet`);
* a single `.parquet`, `.jsonl` / `.json` file (media as paths relative to that file's folder).

Media columns (`datasets.Image` / `datasets.Video` features) are read undecoded, so decoding
happens in DataLoader workers, not here. A source may also declare row transforms, `explode` and
`raw_frames` (`mmbench.data.rows`), applied to the rows from either origin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.data.configs import ConfigRows, combined_columns, combined_fingerprint
from mmbench.data.join import JoinedRows, JoinSpec, join_columns
from mmbench.data.media_paths import MediaPathRows, MediaPathSpec, media_path_columns
from mmbench.data.rows import ExplodeSpec, RawFramesSpec, SourceRows, transformed_columns
from mmbench.errors import MMBenchError, did_you_mean

#: where the rows come from (always part of the spec hash)
LOCATION_KEYS = ("hub", "revision", "split", "config", "local")
#: row transforms (in the spec hash only when declared, so older specs keep their hash)
TRANSFORM_KEYS = ("explode", "raw_frames", "join", "media_path")
#: several configs read as one table, and where a local copy keeps a config's rows
#: (in the spec hash only when declared; see `mmbench.data.configs`)
CONFIG_KEYS = ("configs", "data_files")
SOURCE_KEYS = set(LOCATION_KEYS) | set(TRANSFORM_KEYS) | set(CONFIG_KEYS)


@dataclass(frozen=True)
class SourceSpec:
    """Where the rows come from (a hub dataset at a pinned revision, or a local path) and the
    row transforms that turn them into the task's rows."""

    hub: str | None = None
    revision: str | None = None
    split: str = "test"
    config: str | None = None
    local: str | None = None
    base_dir: Path | None = None
    explode: ExplodeSpec | None = None
    raw_frames: RawFramesSpec | None = None
    join: JoinSpec | None = None
    media_path: MediaPathSpec | None = None
    configs: tuple[str, ...] | None = None
    data_files: str | None = None

    def as_data(self) -> dict[str, Any]:
        """The YAML-level fields as plain data: every location key, and each declared transform."""
        data: dict[str, Any] = {k: getattr(self, k) for k in LOCATION_KEYS}
        if self.configs is not None:
            data["configs"] = list(self.configs)
        if self.data_files is not None:
            data["data_files"] = self.data_files
        for key in TRANSFORM_KEYS:
            transform = getattr(self, key)
            if transform is not None:
                data[key] = transform.to_dict()
        return data

    def local_path(self) -> Path | None:
        """The local path, resolved against the YAML file's folder when relative."""
        if self.local is None:
            return None
        path = Path(self.local).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path


@dataclass
class Table:
    """Rows of one split, with a fingerprint that changes whenever the data does."""

    rows: Sequence[dict[str, Any]]
    fingerprint: str
    base_dir: Path | None
    columns: tuple[str, ...]
    description: str

    def __len__(self) -> int:
        return len(self.rows)

    def require_columns(self, needed: dict[str, str], task: str) -> None:
        """One-line error when the table is empty or a mapped column is absent (from the table,
        or from one row of a JSON file), naming the columns that exist."""
        if len(self.rows) == 0:
            raise MMBenchError(
                f"dataset {self.description} has no rows; task {task!r} needs at least one:"
                " check the file or the split"
            )
        for role, column in needed.items():
            if column not in self.columns:
                raise MMBenchError(
                    f"dataset {self.description} has no column {column!r} (role {role!r} of task"
                    f" {task!r}){did_you_mean(column, self.columns)}; its columns are"
                    f" {', '.join(self.columns)}: fix `columns:` in the task YAML"
                )
        if isinstance(self.rows, list):
            for number, row in enumerate(self.rows, 1):
                absent = [column for column in needed.values() if column not in row]
                if absent:
                    raise MMBenchError(
                        f"row {number} of dataset {self.description} has no {absent[0]!r} key"
                        f" (task {task!r} needs {', '.join(needed.values())}); add it to every row"
                    )

    def head(self, limit: int | None) -> Table:
        """The first `limit` rows in the source's stable order (the `--limit` subset)."""
        if limit is None or limit >= len(self.rows):
            return self
        if limit < 1:
            raise MMBenchError(f"--limit must be a positive number of rows, not {limit}")
        rows = (
            self.rows.select(range(limit))
            if hasattr(self.rows, "select")
            else list(self.rows[:limit])
        )
        return Table(rows, self.fingerprint, self.base_dir, self.columns, self.description)


def open_source(source: SourceSpec, data_dir: Path | None = None) -> Table:
    """Open the split a task names, then apply its row transforms; `data_dir` replaces a hub
    source with a local copy (the transforms apply to it all the same)."""
    table = _open_configs(source, data_dir) if source.configs else _open_origin(source, data_dir)
    if source.join is not None:
        join = source.join
        other = _open_origin(
            dataclasses.replace(source, config=join.config, split=join.split), data_dir
        )
        columns = join_columns(table.columns, other.columns, join, other.description)
        rows = JoinedRows(table.rows, other.rows, join, table.description)
        fingerprint = f"{table.fingerprint}+{other.fingerprint}"
        table = Table(rows, fingerprint, table.base_dir, columns, table.description)
    return _transform(table, source)


def _open_origin(source: SourceSpec, data_dir: Path | None) -> Table:
    local = source.local_path()
    if data_dir is not None:
        return _open_local(Path(data_dir), source.split, source.config, source.data_files)
    if local is not None:
        return _open_local(local, source.split, source.config, source.data_files)
    return _open_hub(source)


def _open_configs(source: SourceSpec, data_dir: Path | None) -> Table:
    """`source.configs`: each config opened as `_open_origin` would, rows concatenated."""
    names = source.configs or ()
    tables = [_open_origin(dataclasses.replace(source, config=n), data_dir) for n in names]
    columns = combined_columns([t.columns for t in tables])
    rows = ConfigRows([(n, t.rows) for n, t in zip(names, tables, strict=True)], columns)
    fingerprint = combined_fingerprint([t.fingerprint for t in tables], names)
    what = f"{tables[0].description} (+{len(names) - 1} configs)" if len(names) > 1 else ""
    return Table(rows, fingerprint, tables[0].base_dir, columns, what or tables[0].description)


def _transform(table: Table, source: SourceSpec) -> Table:
    if source.explode is not None or source.raw_frames is not None:
        what = table.description
        columns = transformed_columns(table.columns, source.explode, source.raw_frames, what)
        rows = SourceRows(table.rows, source.explode, source.raw_frames, what)
        table = Table(rows, table.fingerprint, table.base_dir, columns, what)
    if source.media_path is not None:
        columns = media_path_columns(table.columns, source.media_path, table.description)
        rows = MediaPathRows(table.rows, source.media_path, table.base_dir)
        table = Table(rows, table.fingerprint, table.base_dir, columns, table.description)
    return table


def _open_hub(source: SourceSpec) -> Table:
    import datasets

    try:
        dataset = datasets.load_dataset(
            source.hub, source.config, split=source.split, revision=source.revision
        )
    except Exception as err:
        raise MMBenchError(
            f"cannot load dataset {source.hub!r} (split {source.split!r}, revision"
            f" {source.revision}) from the Hugging Face hub ({type(err).__name__}); check the"
            " network and the id, or pass --data-dir DIR with a local copy in the hub's schema"
        ) from err
    fingerprint = f"hub:{source.hub}@{source.revision or 'main'}:{source.split}"
    return _from_datasets(dataset, fingerprint, None, f"{source.hub}[{source.split}]")


def _open_local(
    path: Path, split: str, config: str | None = None, data_files: str | None = None
) -> Table:
    if not path.exists():
        raise MMBenchError(
            f"local dataset {path} does not exist; check the path given by --data-dir or"
            " `source: {local: ...}`"
        )
    if path.is_file():
        return _open_file(path)
    import datasets

    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        loaded = _read_or_explain(lambda: datasets.load_from_disk(str(path)), path, "save_to_disk")
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise MMBenchError(
                    f"local dataset {path} has no split {split!r}; it has {', '.join(loaded)}"
                )
            loaded = loaded[split]
        return _from_datasets(loaded, _hash_files(path), path, f"{path}[{split}]")
    if data_files and config and (path / data_files.format(config=config)).is_file():
        # a repository snapshot: the config's file where the hub card's data_files puts it;
        # media paths stay relative to the snapshot's root, not to the file's folder
        found = _open_file(path / data_files.format(config=config))
        return Table(found.rows, found.fingerprint, path, found.columns, found.description)
    files = _split_parquet_files(path, split, config)
    if not files:
        jsonl = sorted(path.glob(f"{split}*.jsonl"))
        if len(jsonl) == 1:
            return _open_file(jsonl[0])
        looked = _layouts(split, config)
        if data_files and config:
            looked = f"{data_files.format(config=config)}, {looked}"
        raise MMBenchError(
            f"local dataset {path} holds neither a save_to_disk dataset nor parquet files for"
            f" split {split!r} (looked for {looked})"
        )
    dataset = _read_parquet(files, path)
    return _from_datasets(dataset, _hash_files(*files), path, f"{path}[{split}]")


def _read_parquet(files: Sequence[Path], what: Path) -> Any:
    import datasets

    return _read_or_explain(
        lambda: datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train"),
        what,
        "parquet",
    )


def _read_or_explain(read: Any, path: Path, kind: str) -> Any:
    """Run `read()`; a corrupt or truncated file (bad JSON metadata, Arrow or parquet bytes)
    becomes a one-line error naming the copy, instead of a library traceback."""
    # datasets logs its own ERROR line for bad bytes; ours says the same in one line
    library = logging.getLogger("datasets")
    level = library.level
    if not logging.getLogger("mmbench").isEnabledFor(logging.DEBUG):
        library.setLevel(logging.CRITICAL)
    try:
        return read()
    except MMBenchError:
        raise
    except Exception as err:  # datasets / pyarrow raise many unrelated types for bad bytes
        summary = f"{type(err).__name__}: {err}".splitlines()[0][:200]
        raise MMBenchError(
            f"local dataset {path} could not be read as {kind} ({summary}); the files are"
            " corrupt or truncated: copy or re-create them"
        ) from err
    finally:
        library.setLevel(level)


def _parquet_patterns(split: str, config: str | None) -> tuple[str, ...]:
    """Where a split's parquet files may lie; a hub download of a dataset with configs keeps
    each config in its own folder (`<config>/<split>-*.parquet`, e.g. DocVQA/validation-*)."""
    patterns = (f"data/{split}-*.parquet", f"data/{split}.parquet", f"{split}/*.parquet")
    patterns += (f"{split}-*.parquet", f"{split}.parquet")
    if config:
        in_config = (f"{config}/{split}-*.parquet", f"{config}/{split}.parquet")
        in_config += (f"{config}/{split}/*.parquet", f"data/{config}/{split}-*.parquet")
        patterns = (*in_config, *patterns)
    return patterns


def _layouts(split: str, config: str | None) -> str:
    patterns = _parquet_patterns(split, config)
    return ", ".join(p for p in patterns if p.endswith(("-*.parquet", "/*.parquet")))


def _split_parquet_files(path: Path, split: str, config: str | None = None) -> list[Path]:
    for pattern in _parquet_patterns(split, config):
        found = sorted(path.glob(pattern))
        if found:
            return found
    return []


def _open_file(path: Path) -> Table:
    if path.suffix == ".parquet":
        dataset = _read_parquet([path], path)
        return _from_datasets(dataset, _hash_files(path), path.parent, str(path))
    if path.suffix not in (".jsonl", ".json"):
        raise MMBenchError(f"local dataset file {path} must be .jsonl, .json or .parquet")
    rows = _read_json_rows(path)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return Table(rows, _hash_files(path), path.parent, tuple(columns), str(path))


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MMBenchError(
            f"dataset file {path} is not UTF-8 text (byte {err.start}: {err.reason});"
            " re-save it as UTF-8"
        ) from err
    if path.suffix == ".json":
        rows = _parse_json(text, path, 0)
    else:
        lines = text.splitlines()
        rows = [_parse_json(line, path, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise MMBenchError(f"dataset file {path} must hold a list of JSON objects (one per row)")
    return rows


def _parse_json(text: str, path: Path, line: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = line or err.lineno
        raise MMBenchError(
            f"dataset file {path} is not valid JSON (line {where}: {err.msg}); fix the file"
        ) from err


def _from_datasets(dataset: Any, fingerprint: str, base_dir: Path | None, what: str) -> Table:
    import datasets

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image) and feature.decode:
            dataset = dataset.cast_column(name, datasets.Image(decode=False))
        elif hasattr(datasets, "Video") and isinstance(feature, datasets.Video) and feature.decode:
            dataset = dataset.cast_column(name, datasets.Video(decode=False))
        elif _decoded_image_list(feature, datasets):
            # a list of images per row (SEED-Bench's `image`): undecoded too
            dataset = dataset.cast_column(name, type(feature)(datasets.Image(decode=False)))
    return Table(dataset, fingerprint, base_dir, tuple(dataset.column_names), what)


def _decoded_image_list(feature: Any, datasets: Any) -> bool:
    inner = getattr(feature, "feature", None)
    return isinstance(inner, datasets.Image) and inner.decode


def _hash_files(*paths: Path) -> str:
    """Content hash of a local dataset: every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            digest.update(str(file.relative_to(root if root.is_dir() else root.parent)).encode())
            with file.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def class_names_from_features(table: Table, column: str) -> list[str] | None:
    """The `ClassLabel` names of a label column, when the dataset declares them."""
    features = getattr(table.rows, "features", None)
    feature = None if features is None else features.get(column)
    return list(feature.names) if feature is not None and hasattr(feature, "names") else None
