"""Declarative task specs: one versioned YAML per benchmark, validated into a `TaskSpec`.

A spec names its task type; the type declares which columns, options and metrics it accepts, so a
typo in a YAML file is an error at load time (with the nearest valid name), never a silent default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.data.configs import parse_configs
from mmbench.data.join import parse_join
from mmbench.data.media_paths import parse_media_path
from mmbench.data.rows import parse_explode, parse_raw_frames
from mmbench.data.sources import SOURCE_KEYS, SourceSpec
from mmbench.errors import MMBenchError, check_keys

TOP_LEVEL_KEYS = {
    "name": "task name (must equal the file name without .yaml)",
    "type": "task type: retrieval, classification, captioning, qa, multiple_choice, openqa",
    "version": "integer; bump on any change that moves numbers",
    "description": "one line shown by `mmbench list tasks`",
    "source": (
        "{hub: ID, revision: REV, split: S, config: C} or {local: PATH, split: S}; optional row"
        " transforms explode, raw_frames, join and media_path; configs: [C1, C2, ...] reads"
        " several configs as one table"
    ),
    "columns": "mapping from the task type's roles to dataset column names",
    "metrics": "metrics to report (subset of the task type's)",
    "headline": "the metric shown in leaderboard summaries (default: the first metric)",
    "options": "task-type options (templates, prompt, frames ...)",
    "reference": "published numbers for well-known models, for users to check theirs",
    "citation": "where the benchmark comes from",
}
REQUIRED_KEYS = ("name", "type", "version", "source", "columns", "metrics")


@dataclass(frozen=True)
class TaskSpec:
    """A validated task definition (see docs/tasks.md for every field)."""

    name: str
    type: str
    version: int
    source: SourceSpec
    columns: dict[str, str]
    metrics: tuple[str, ...]
    headline: str
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    path: Path | None = None

    def spec_hash(self) -> str:
        """Hash of everything that can move numbers (not the description or reference notes)."""
        payload = {
            "name": self.name,
            "type": self.type,
            "version": self.version,
            "source": self.source.as_data(),
            "columns": self.columns,
            "metrics": list(self.metrics),
            "options": self.options,
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data (what `mmbench show task` prints)."""
        source = self.source.as_data()
        return {
            "name": self.name,
            "type": self.type,
            "version": self.version,
            "description": self.description,
            "source": {k: v for k, v in source.items() if v is not None},
            "columns": self.columns,
            "metrics": list(self.metrics),
            "headline": self.headline,
            "options": self.options,
            "reference": self.reference,
            "citation": self.citation,
            "spec_hash": self.spec_hash(),
            "file": str(self.path) if self.path else None,
        }


def parse_spec(data: Any, path: Path) -> TaskSpec:
    """Validate raw YAML data into a `TaskSpec`; every problem is a one-line `MMBenchError`."""
    where = str(path)
    if not isinstance(data, dict):
        raise MMBenchError(f"task file {where} must hold a YAML mapping; see docs/tasks.md")
    check_keys(
        data,
        TOP_LEVEL_KEYS,
        REQUIRED_KEYS,
        unknown=f"task file {where} has unknown",
        missing=f"task file {where} is missing required",
        fix="; see docs/tasks.md for the schema",
    )
    name = _typed(data, "name", str, where)
    if path.suffix in (".yaml", ".yml") and path.stem != name:
        raise MMBenchError(f"task file {where} declares name {name!r}; rename the file or the name")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MMBenchError(
            f"task file {where}: version must be a positive integer, not {version!r}"
        )
    metrics = data["metrics"]
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise MMBenchError(f"task file {where}: metrics must be a non-empty list of metric names")
    columns = data["columns"]
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise MMBenchError(f"task file {where}: columns must map roles to column names")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise MMBenchError(f"task file {where}: options must be a mapping")
    headline = data.get("headline", metrics[0])
    if headline not in metrics:
        raise MMBenchError(
            f"task file {where}: headline {headline!r} is not one of its metrics {metrics}"
        )
    source = _parse_source(data["source"], path)
    if source.raw_frames is not None and options.get("fps") is not None:
        raise MMBenchError(
            f"task file {where}: videos read through source.raw_frames carry no frame rate, so"
            " options.fps cannot apply; sample them with options.num_frames instead"
        )
    return TaskSpec(
        name=name,
        type=_typed(data, "type", str, where),
        version=version,
        source=source,
        columns=dict(columns),
        metrics=tuple(metrics),
        headline=headline,
        description=str(data.get("description", "")),
        options=dict(options),
        reference=dict(data.get("reference") or {}),
        citation=str(data.get("citation", "")),
        path=path,
    )


def _parse_source(raw: Any, path: Path) -> SourceSpec:
    if not isinstance(raw, dict):
        raise MMBenchError(f"task file {path}: source must be a mapping with 'hub' or 'local'")
    unknown = sorted(set(raw) - SOURCE_KEYS)
    if unknown:
        raise MMBenchError(
            f"task file {path}: unknown source key(s) {', '.join(unknown)};"
            f" allowed: {', '.join(sorted(SOURCE_KEYS))}"
        )
    if ("hub" in raw) == ("local" in raw):
        raise MMBenchError(f"task file {path}: source needs exactly one of 'hub' or 'local'")
    return SourceSpec(
        hub=raw.get("hub"),
        revision=None if raw.get("revision") is None else str(raw["revision"]),
        split=str(raw.get("split", "test")),
        config=raw.get("config"),
        local=raw.get("local"),
        base_dir=path.parent,
        explode=parse_explode(raw["explode"], str(path)) if "explode" in raw else None,
        raw_frames=parse_raw_frames(raw["raw_frames"], str(path)) if "raw_frames" in raw else None,
        join=parse_join(raw["join"], str(path)) if "join" in raw else None,
        media_path=parse_media_path(raw["media_path"], str(path)) if "media_path" in raw else None,
        configs=parse_configs(raw["configs"], str(path)) if "configs" in raw else None,
        data_files=_data_files(raw.get("data_files"), path),
    )


def _data_files(raw: Any, path: Path) -> str | None:
    """`source.data_files`: where a local copy keeps a config's rows, with `{config}`."""
    if raw is None:
        return None
    if not isinstance(raw, str) or "{config}" not in raw:
        raise MMBenchError(
            f"task file {path}: source.data_files must be a path holding {{config}}"
            f" (e.g. json/{{config}}.json), not {raw!r}"
        )
    return raw


def _typed(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = data[key]
    if not isinstance(value, kind):
        raise MMBenchError(f"task file {where}: {key} must be a {kind.__name__}, not {value!r}")
    return value
