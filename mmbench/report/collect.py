"""Find the runs a report shows: result JSONs (files or folders) and their samples beside them.

A run is one (task, model) result. When several results exist for the same pair, the newest by
`created_at` is shown (like `mmbench leaderboard`), and the older ones are named in a warning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results import has_result_sections, load_result, result_sections, safe_name


@dataclass
class Run:
    """One result JSON reduced to what the report shows."""

    path: Path
    data: dict[str, Any]
    task: str
    model: str
    headline: str
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float]]
    created_at: str
    id: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def samples_path(self) -> Path:
        """`<stem>.samples.jsonl` beside the result JSON (`write_result`'s layout)."""
        return self.path.with_name(self.path.name[: -len(".json")] + ".samples.jsonl")

    def samples(self) -> Iterator[dict[str, Any]]:
        """The per-sample records, in file order; none when the file is absent."""
        if not self.samples_path.is_file():
            return
        with self.samples_path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise MMBenchError(
                        f"{self.samples_path} line {number} is not JSON ({err.msg});"
                        " re-run the evaluation to regenerate it"
                    ) from err
                if isinstance(record, dict):
                    yield record


def collect_runs(inputs: Iterable[Path]) -> tuple[list[Run], list[str]]:
    """Runs from result files and folders (searched recursively), newest per (task, model).

    Explicit files must be results (else a one-line `MMBenchError`); other JSON files found in a
    folder are skipped quietly. Returns the runs sorted by task then model, and warnings.
    """
    warnings: list[str] = []
    found: dict[Path, dict[str, Any]] = {}
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise MMBenchError(f"input {str(path)!r} does not exist; pass result files or folders")
        if path.is_dir():
            for candidate in sorted(path.rglob("*.json")):
                parts = candidate.relative_to(path).parts
                if any(part.startswith(".") for part in parts):
                    continue
                data = _try_result(candidate)
                if data is not None:
                    found[candidate.resolve()] = data
        elif not path.name.endswith(".samples.jsonl"):
            found[path.resolve()] = load_result(path)
    newest: dict[tuple[str, str], Run] = {}
    for path, data in sorted(found.items()):
        run = _run(path, data)
        key = (run.task, run.model)
        old = newest.get(key)
        if old is not None:
            keep, drop = (run, old) if run.created_at >= old.created_at else (old, run)
            warnings.append(
                f"two results for {run.model} on {run.task}: showing {keep.path},"
                f" ignoring older {drop.path}"
            )
            run = keep
        newest[key] = run
    if not newest:
        names = ", ".join(str(p) for p in inputs) or "(no inputs)"
        raise MMBenchError(f"no mmbench results found in {names}; pass files from `mmbench run`")
    return sorted(newest.values(), key=lambda r: (r.task, r.model)), warnings


def _try_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if has_result_sections(data) else None


def _run(path: Path, data: dict[str, Any]) -> Run:
    sections = result_sections(path, data)
    task, model, values = sections.task, sections.model, sections.metrics
    name, uri = str(task["name"]), str(model["uri"])
    headline = str(task.get("headline") or next(iter(values), ""))
    digest = hashlib.sha256(f"{name}\0{uri}".encode()).hexdigest()[:8]
    return Run(
        path=path,
        data=data,
        task=name,
        model=uri,
        headline=headline,
        metrics=values,
        ci=sections.ci,
        created_at=str(data.get("created_at") or ""),
        id=f"{safe_name(name)[:40]}__{safe_name(uri)[:40]}-{digest}",
    )
