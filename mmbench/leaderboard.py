"""`mmbench leaderboard`: turn result JSONs into per-task tables, a summary and plots.

User-facing description: docs/leaderboards.md. In short, for every task:

* `<task>.csv` / `<task>.md`: one row per model URI and configuration, sorted best first by the
  task's headline metric (direction from the metric registry). The headline is the result's
  `task.headline` when present, else the first key of its `metrics` dict. CSV columns: `model`,
  each metric (headline first) followed by `<metric>_ci_lo`, `<metric>_ci_hi` when any result has
  a CI for it, then the provenance columns of `mmbench.leaderboard_columns.TRAILING_COLUMNS`
  (`n`, `limit`, `skipped`, `config`, `dtype`, `seed`, the cost columns of `mmbench.cost`, task,
  version, fingerprints, mmbench version, date). The Markdown copy is the readable view: `model`,
  each metric with its interval in one cell ("0.5333 [0.4286, 0.6190]"), and `n`; provenance
  stays in the CSV.
* Numbers from different task versions or data fingerprints are never put in one column: the
  newest group (highest version, then most recent result) gets `<task>.csv`, every other group
  `<task>@v<version>-<fp8>.csv`, with a warning.
* Runs with `--limit` are left out (with a warning) unless `include_limited`, and then marked.
* Two results for the same model, task, version, data, limit and configuration (dtype, seed,
  model args, generation settings): the newest by created_at wins, with a warning naming both
  files. Results of different configurations are all kept, as rows told apart by `config`, with a
  warning.

Plus `summary.csv` / `summary.md` (rows x `<task>/<headline>` and its `n`, newest group of each
task) and one PNG per task family (`task.type`, else the task name). Everything is written under a
file lock (`<out>/.leaderboard.lock`) and each file atomically, so concurrent builds of the same
leaderboard serialise and readers never see a half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mmbench.cost import cost_of
from mmbench.errors import MMBenchError
from mmbench.leaderboard_columns import TRAILING_COLUMNS
from mmbench.leaderboard_files import LeaderboardLock, csv_text, markdown_doc
from mmbench.metrics.registry import lower_is_better
from mmbench.results import (
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    finite_float,
    has_result_sections,
    load_result,
    result_sections,
    safe_name,
)

LOCK_TIMEOUT_S = 300.0


@dataclass
class LeaderboardReport:
    """What `build_leaderboard` wrote, and what the user should know about (duplicates, groups)."""

    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_results: int = 0


@dataclass
class _Entry:
    """One result JSON, reduced to what the tables need."""

    path: Path
    task: str
    version: Any
    data_fingerprint: str
    family: str
    headline: str | None
    model: str
    model_fingerprint: str
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float]]
    n: Any
    mmbench_version: str
    created_at: str
    limit: int | None = None
    skipped: int = 0
    dtype: str = ""
    seed: Any = None
    #: model args and generation settings, as JSON text ("" when none)
    settings: str = ""
    #: what tells this row apart from the same model's other configurations ("" when alone)
    config: str = ""
    #: `mmbench.cost.cost_of`: speed, wall time, peak GPU memory, tokens, hardware
    cost: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> float:
        return _timestamp(self.created_at)

    @property
    def configuration(self) -> tuple[str, str, str]:
        """What makes two runs of one model on one task's rows different configurations."""
        return (self.dtype, json.dumps(self.seed), self.settings)

    @property
    def label(self) -> str:
        """The row's name in tables and plots: the URI, its configuration, a limit mark."""
        label = f"{self.model} [{self.config}]" if self.config else self.model
        return f"{label} (limit {self.limit})" if self.limit is not None else label


@dataclass
class _Group:
    """Results of one task that share task version and data fingerprint: one table."""

    task: str
    version: Any
    data_fingerprint: str
    entries: list[_Entry]
    main: bool = True

    @property
    def newest(self) -> _Entry:
        return max(self.entries, key=lambda e: (e.time, str(e.path)))

    def by_age(self) -> list[_Entry]:
        """Entries newest first (ties: by path, so the choice is stable)."""
        return sorted(self.entries, key=lambda e: (e.time, str(e.path)), reverse=True)

    @property
    def headline(self) -> str:
        """`task.headline` of the newest result that has one, else the newest's first metric."""
        entries = self.by_age()
        named = next((e.headline for e in entries if e.headline), None)
        return named or next(iter(entries[0].metrics), "")

    @property
    def family(self) -> str:
        """`task.type` of the newest result that has one, else the task name."""
        return next((e.family for e in self.by_age() if e.family), self.task)

    @property
    def stem(self) -> str:
        """File stem: `<task>` for the newest group, `<task>@v<version>-<fp8>` for the others."""
        if self.main:
            # A task literally named "summary" must not overwrite the summary table.
            return safe_name(self.task) if safe_name(self.task) != "summary" else "summary@task"
        return (
            f"{safe_name(self.task)}@v{safe_name(str(self.version))}-{_fp8(self.data_fingerprint)}"
        )


def build_leaderboard(
    inputs: list[Path], out_dir: Path, plot: bool = True, include_limited: bool = False
) -> LeaderboardReport:
    """Build per-task CSV/Markdown tables, a summary and per-family plots in `out_dir`.

    `inputs` are result JSON files or directories (searched recursively for result JSONs).
    `include_limited` keeps `--limit` runs (marked); by default they are left out.
    Raises `MMBenchError` when an input is missing or not a result, or no result is found.
    """
    report = LeaderboardReport()
    entries = _load_entries(inputs, report.warnings)
    if not entries:
        names = ", ".join(str(p) for p in inputs) or "(no inputs)"
        raise MMBenchError(
            f"no mmbench result JSON found in {names}; pass the --output-dir of `mmbench run`"
        )
    entries = _drop_limited(entries, include_limited, report.warnings)
    if not entries:
        raise MMBenchError(
            "every result found is a --limit run; pass --include-limited to show them (marked)"
        )
    entries = _dedupe(entries, report.warnings)
    report.n_results = len(entries)
    groups = _group(entries, report.warnings)

    # Render everything before taking the lock, so the lock is held only for the renames.
    files: list[tuple[str, str | bytes]] = []
    for group in groups:
        if not any(group.headline in e.metrics for e in group.entries):
            report.warnings.append(
                f"{group.task}: headline metric {group.headline!r} is in none of its results;"
                " rows are ordered by model URI"
            )
        header, rows = _task_table(group)
        files.append((f"{group.stem}.csv", csv_text(header, rows)))
        files.append((f"{group.stem}.md", _task_markdown(group)))
    main_groups = [g for g in groups if g.main]
    header, rows = _summary_table(main_groups)
    files.append(("summary.csv", csv_text(header, rows)))
    files.append(("summary.md", _summary_markdown(main_groups)))
    if plot:
        from mmbench.leaderboard_plot import plot_family

        for family, members in _families(main_groups).items():
            panels = [
                (f"{g.task} (v{g.version})", g.headline, _ranked(g.entries, g.headline))
                for g in members
            ]
            files.append((f"{safe_name(family)}.png", plot_family(family, panels)))

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MMBenchError(f"--out {str(out_dir)!r} is a file; pass a directory")
    check_writable(out_dir)
    with LeaderboardLock(out_dir, LOCK_TIMEOUT_S):
        for name, content in files:
            path = out_dir / name
            if isinstance(content, bytes):
                atomic_write_bytes(path, content)
            else:
                atomic_write_text(path, content)
            report.written.append(path)
    return report


# ------------------------------------------------------------------------------------ inputs


def _load_entries(inputs: Iterable[Path], warnings: list[str]) -> list[_Entry]:
    """Entries from explicit files (must be results) and directories (non-results skipped)."""
    entries: list[_Entry] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise MMBenchError(f"input {str(path)!r} does not exist; pass result files or folders")
        if path.is_dir():
            for candidate in _json_files(path):
                if candidate.resolve() not in seen:
                    seen.add(candidate.resolve())
                    entry = _try_entry(candidate, warnings)
                    if entry is not None:
                        entries.append(entry)
        elif path.name.endswith(".samples.jsonl"):
            continue  # per-sample logs sit next to results; a shell glob picks them up
        elif path.resolve() not in seen:
            seen.add(path.resolve())
            entries.append(_entry(path, _load_explicit(path)))
    return entries


def _json_files(directory: Path) -> list[Path]:
    """`*.json` below `directory`, skipping hidden files and folders (.git, checkpoints, temps)."""
    found = []
    for path in sorted(directory.rglob("*.json")):
        parts = path.relative_to(directory).parts
        if not any(part.startswith(".") for part in parts) and path.is_file():
            found.append(path)
    return found


def _load_explicit(path: Path) -> dict[str, Any]:
    try:
        return load_result(path)
    except (TypeError, UnicodeDecodeError) as err:
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result; pass files written by `mmbench run`"
        ) from err
    except OSError as err:
        raise MMBenchError(f"cannot read {str(path)!r} ({err.strerror})") from err


def _try_entry(path: Path, warnings: list[str]) -> _Entry | None:
    """A result found while searching a folder; other JSON files are skipped quietly."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        warnings.append(f"skipped {path}: not readable JSON ({err}); a truncated result?")
        return None
    if not has_result_sections(data):
        return None
    try:
        return _entry(path, data)
    except MMBenchError as err:
        warnings.append(f"skipped {err}")
        return None


def _entry(path: Path, data: dict[str, Any]) -> _Entry:
    sections = result_sections(path, data)
    task, model = sections.task, sections.model
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    failures = data.get("failures") if isinstance(data.get("failures"), dict) else {}
    settings = {
        "model_args": config.get("model_args", model.get("model_args")) or {},
        "generation": model.get("generation") or config.get("generation") or {},
    }
    return _Entry(
        path=path,
        task=str(task["name"]),
        version=task.get("version"),
        data_fingerprint=str(task.get("data_fingerprint") or ""),
        family=str(task.get("type") or ""),
        headline=task.get("headline") or None,
        model=str(model["uri"]),
        model_fingerprint=str(model.get("fingerprint") or ""),
        metrics=sections.metrics,
        ci=sections.ci,
        n=task.get("n"),
        mmbench_version=str(data.get("mmbench_version") or ""),
        created_at=str(data.get("created_at") or ""),
        cost=cost_of(data),
        limit=_whole(task.get("limit")),
        skipped=_whole(failures.get("count")) or 0,
        dtype=str(config.get("dtype") or ""),
        seed=config.get("seed"),
        settings=json.dumps(settings, sort_keys=True, default=str)
        if any(settings.values())
        else "",
    )


def _whole(value: Any) -> int | None:
    number = finite_float(value)
    return None if number is None else int(number)


def _drop_limited(entries: list[_Entry], include: bool, warnings: list[str]) -> list[_Entry]:
    """Leave `--limit` runs out unless asked for: a partial run must not pass for a full one."""
    limited = [e for e in entries if e.limit is not None]
    if include or not limited:
        return entries
    names = ", ".join(str(e.path) for e in limited[:5]) + (" ..." if len(limited) > 5 else "")
    warnings.append(
        f"left out {len(limited)} --limit run(s) (partial data; --include-limited shows them,"
        f" marked): {names}"
    )
    return [e for e in entries if e.limit is None]


def _dedupe(entries: list[_Entry], warnings: list[str]) -> list[_Entry]:
    """Keep the newest result per (model, task, version, data, limit, configuration); label the
    rows of a model that keeps several configurations, and say so."""
    kept: dict[tuple[Any, ...], _Entry] = {}
    for entry in sorted(entries, key=lambda e: (e.time, str(e.path))):
        key = (
            entry.model,
            entry.task,
            str(entry.version),
            entry.data_fingerprint,
            entry.limit,
            entry.configuration,
        )
        old = kept.get(key)
        if old is not None:
            warnings.append(
                f"duplicate result for {entry.model} on {entry.task} v{entry.version}"
                f" (data {_fp8(entry.data_fingerprint)}): kept {entry.path}"
                f" ({entry.created_at or 'no date'}), ignored older {old.path}"
                f" ({old.created_at or 'no date'})"
            )
        kept[key] = entry
    _label_configurations(list(kept.values()), warnings)
    return list(kept.values())


def _label_configurations(entries: list[_Entry], warnings: list[str]) -> None:
    """Set `config` on rows of one model and table that differ only in configuration."""
    tables: dict[tuple[Any, ...], list[_Entry]] = {}
    for entry in entries:
        key = (entry.model, entry.task, str(entry.version), entry.data_fingerprint, entry.limit)
        tables.setdefault(key, []).append(entry)
    for (model, task, *_), rows in tables.items():
        if len(rows) < 2:
            continue
        fields = [
            (name, getter)
            for name, getter in (
                ("dtype", lambda e: e.dtype or "?"),
                ("seed", lambda e: json.dumps(e.seed)),
                ("settings", lambda e: e.settings or "{}"),
            )
            if len({getter(e) for e in rows}) > 1
        ]
        for entry in rows:
            entry.config = ", ".join(f"{name}={getter(entry)}" for name, getter in fields)
        warnings.append(
            f"{model} on {task}: {len(rows)} configurations kept as separate rows"
            f" ({' / '.join(e.config for e in rows)}); no run replaced another"
        )


def _group(entries: list[_Entry], warnings: list[str]) -> list[_Group]:
    """One group per (task, version, fingerprint); the newest group of each task is `main`."""
    by_key: dict[tuple[str, str, str], _Group] = {}
    for entry in entries:
        key = (entry.task, str(entry.version), entry.data_fingerprint)
        if key not in by_key:
            by_key[key] = _Group(entry.task, entry.version, entry.data_fingerprint, [])
        by_key[key].entries.append(entry)
    groups: list[_Group] = []
    for task in sorted({g.task for g in by_key.values()}):
        members = [g for g in by_key.values() if g.task == task]
        members.sort(key=lambda g: (_version_key(g.version), g.newest.time), reverse=True)
        for older in members[1:]:
            older.main = False
            warnings.append(_apart_warning(members[0], older))
        groups.extend(members)
    return groups


def _apart_warning(main: _Group, older: _Group) -> str:
    files = ", ".join(str(e.path) for e in older.entries)
    return (
        f"{main.task}: {len(older.entries)} result(s) with task version {older.version}, data"
        f" {_fp8(older.data_fingerprint)} are not comparable with the newest (version"
        f" {main.version}, data {_fp8(main.data_fingerprint)}); kept apart in {older.stem}.csv"
        f" and left out of the summary: {files}"
    )


# ------------------------------------------------------------------------------------ tables


def _metric_names(group: _Group) -> list[str]:
    """Headline first, then every metric of the group's results, newest result's order first."""
    headline = group.headline
    metrics: dict[str, None] = {headline: None} if headline else {}
    for entry in group.by_age():
        metrics.update(dict.fromkeys(entry.metrics))
    return list(metrics)


def _task_table(group: _Group) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one task's CSV, best headline first."""
    metrics = _metric_names(group)
    with_ci = {m for m in metrics if any(m in e.ci for e in group.entries)}
    header = ["model"]
    for metric in metrics:
        header += [metric, *([f"{metric}_ci_lo", f"{metric}_ci_hi"] if metric in with_ci else [])]
    header += TRAILING_COLUMNS
    rows = []
    for entry in _ranked(group.entries, group.headline):
        row: list[Any] = [entry.model]
        for metric in metrics:
            row.append(entry.metrics.get(metric))
            if metric in with_ci:
                row += list(entry.ci.get(metric, (None, None)))
        provenance = {
            "n": entry.n,
            "limit": entry.limit,
            "skipped": entry.skipped,
            "config": entry.config,
            "dtype": entry.dtype,
            "seed": entry.seed,
            "task": entry.task,
            "task_version": entry.version,
            "data_fingerprint": entry.data_fingerprint,
            "model_fingerprint": entry.model_fingerprint,
            "mmbench_version": entry.mmbench_version,
            "date": entry.created_at,
            **entry.cost,
        }
        rows.append(row + [provenance.get(c) for c in TRAILING_COLUMNS])
    return header, rows


def _task_markdown(group: _Group) -> str:
    """The readable table: model, each metric with its interval in one cell, n."""
    metrics = _metric_names(group)
    header = ["model", *metrics, "n"]
    rows = [
        [entry.label, *(_with_interval(entry, m) for m in metrics), entry.n]
        for entry in _ranked(group.entries, group.headline)
    ]
    direction = "lower" if lower_is_better(group.headline) else "higher"
    intro = (
        f"Task version {group.version}, data fingerprint `{group.data_fingerprint or '-'}`."
        f" Sorted by `{group.headline}` ({direction} is better). Brackets: 95% bootstrap"
        " interval, where the run computed one. Provenance (fingerprints, dtype, seed, dates)"
        f" is in `{group.stem}.csv`."
    )
    return markdown_doc(group.stem, intro, header, rows)


def _with_interval(entry: _Entry, metric: str) -> str | None:
    value = entry.metrics.get(metric)
    if value is None:
        return None
    ci = entry.ci.get(metric)
    return f"{value:.4f}" if ci is None else f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"


def _ranked(entries: list[_Entry], headline: str) -> list[_Entry]:
    """Best first by the headline (ascending for ranks); no value last; then label."""
    sign = 1.0 if lower_is_better(headline) else -1.0

    def key(entry: _Entry) -> tuple[bool, float, str]:
        value = entry.metrics.get(headline)
        return (value is None, sign * value if value is not None else 0.0, entry.label)

    return sorted(entries, key=key)


def _summary_table(groups: list[_Group]) -> tuple[list[str], list[list[Any]]]:
    """Rows (alphabetical) x (`<task>/<headline>`, `<task>/n`) of each task's newest group."""
    groups = sorted(groups, key=lambda g: g.task)
    header = ["model"]
    for g in groups:
        header += [f"{g.task}/{g.headline}", f"{g.task}/n"]
    cells = {(g.task, e.label): e for g in groups for e in g.entries}
    labels = sorted({e.label for g in groups for e in g.entries})
    rows = []
    for label in labels:
        row: list[Any] = [label]
        for g in groups:
            entry = cells.get((g.task, label))
            row += [None, None] if entry is None else [entry.metrics.get(g.headline), entry.n]
        rows.append(row)
    return header, rows


def _summary_markdown(groups: list[_Group]) -> str:
    """The summary's readable view: one cell per task, "value (n=N)"."""
    groups = sorted(groups, key=lambda g: g.task)
    header = ["model", *(f"{g.task}/{g.headline}" for g in groups)]
    cells = {(g.task, e.label): e for g in groups for e in g.entries}
    rows = []
    for label in sorted({e.label for g in groups for e in g.entries}):
        row: list[Any] = [label]
        for g in groups:
            entry = cells.get((g.task, label))
            value = _with_interval(entry, g.headline) if entry else None
            row.append(None if value is None else f"{value} (n={entry.n})")
        rows.append(row)
    intro = (
        "Headline metric of each task (newest task version and data only) with its 95%"
        " bootstrap interval where computed and the number of evaluated samples n; empty where a"
        " model has no result for a task."
    )
    return markdown_doc("Summary", intro, header, rows)


def _families(groups: list[_Group]) -> dict[str, list[_Group]]:
    families: dict[str, list[_Group]] = {}
    for group in sorted(groups, key=lambda g: g.task):
        families.setdefault(group.family, []).append(group)
    return families


# ------------------------------------------------------------------------------------ values


def _timestamp(text: str) -> float:
    """POSIX seconds of an ISO-8601 created_at (naive = UTC); -inf when missing or unparsable."""
    if not text:
        return float("-inf")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return float("-inf")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _version_key(version: Any) -> tuple[int, float, str]:
    """Order task versions numerically when they are numbers (10 > 9), else as text."""
    number = finite_float(version)
    return (1, number, "") if number is not None else (0, 0.0, str(version))


def _fp8(fingerprint: str) -> str:
    """First 8 characters of a fingerprint, without an `algo:` prefix, filesystem-safe."""
    return safe_name(fingerprint.rsplit(":", 1)[-1])[:8] if fingerprint else "nofp"
