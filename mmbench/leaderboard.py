"""`mmbench leaderboard`: turn result JSONs into per-task tables, a summary and plots.

User-facing description: docs/leaderboards.md. In short, for every task:

* `<task>.csv` / `<task>.md`: one row per model URI, sorted best first by the task's headline
  metric. The headline is the result's `task.headline` when present, else the first key of its
  `metrics` dict. Columns: `model`, each metric (headline first) followed by `<metric>_ci_lo`,
  `<metric>_ci_hi` when any result has a CI for it, then `n`, `task`, `task_version`,
  `data_fingerprint`, `model_fingerprint`, `mmbench_version`, `date` (the result's created_at).
* Numbers from different task versions or data fingerprints are never put in one column: the
  newest group (highest version, then most recent result) gets `<task>.csv`, every other group
  `<task>@v<version>-<fp8>.csv`, with a warning.
* Two results for the same (model, task, version, data fingerprint): the newest by created_at wins,
  with a warning naming both files.

Plus `summary.csv` / `summary.md` (models x `<task>/<headline>`, newest group of each task) and one
PNG per task family (`task.type`, else the task name). Everything is written under a file lock
(`<out>/.leaderboard.lock`) and each file atomically, so concurrent builds of the same leaderboard
serialise and readers never see a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mmbench.compare import lower_is_better
from mmbench.errors import MMBenchError
from mmbench.results import (
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    finite_float,
    load_result,
    safe_name,
)

LOCK_NAME = ".leaderboard.lock"
LOCK_TIMEOUT_S = 300.0
TRAILING_COLUMNS = (
    "n",
    "task",
    "task_version",
    "data_fingerprint",
    "model_fingerprint",
    "mmbench_version",
    "date",
)


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

    @property
    def time(self) -> float:
        return _timestamp(self.created_at)


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


def build_leaderboard(inputs: list[Path], out_dir: Path, plot: bool = True) -> LeaderboardReport:
    """Build per-task CSV/Markdown tables, a summary and per-family plots in `out_dir`.

    `inputs` are result JSON files or directories (searched recursively for result JSONs).
    Raises `MMBenchError` when an input is missing or not a result, or no result is found.
    """
    report = LeaderboardReport()
    entries = _load_entries(inputs, report.warnings)
    if not entries:
        names = ", ".join(str(p) for p in inputs) or "(no inputs)"
        raise MMBenchError(
            f"no mmbench result JSON found in {names}; pass the --output-dir of `mmbench run`"
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
        files.append((f"{group.stem}.csv", _csv_text(header, rows)))
        files.append((f"{group.stem}.md", _task_markdown(group, header, rows)))
    main_groups = [g for g in groups if g.main]
    header, rows = _summary_table(main_groups)
    files.append(("summary.csv", _csv_text(header, rows)))
    files.append(("summary.md", _markdown_doc("Summary", _summary_intro(), header, rows)))
    if plot:
        for family, members in _families(main_groups).items():
            files.append((f"{safe_name(family)}.png", _plot_family(family, members)))

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MMBenchError(f"--out {str(out_dir)!r} is a file; pass a directory")
    check_writable(out_dir)
    with _lock(out_dir):
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
    if not isinstance(data, dict) or not all(k in data for k in ("task", "model", "metrics")):
        return None
    try:
        return _entry(path, data)
    except MMBenchError as err:
        warnings.append(f"skipped {err}")
        return None


def _entry(path: Path, data: dict[str, Any]) -> _Entry:
    task, model, metrics = data.get("task"), data.get("model"), data.get("metrics")
    if not (isinstance(task, dict) and "name" in task and isinstance(metrics, dict)):
        raise MMBenchError(f"{str(path)!r} is not an mmbench result (malformed task or metrics)")
    if not (isinstance(model, dict) and "uri" in model):
        raise MMBenchError(f"{str(path)!r} is not an mmbench result (model has no uri)")
    ci = {}
    for name, value in (data.get("ci") or {}).items():
        if isinstance(value, list | tuple) and len(value) == 2:
            lo, hi = finite_float(value[0]), finite_float(value[1])
            if lo is not None and hi is not None:
                ci[name] = (lo, hi)
    return _Entry(
        path=path,
        task=str(task["name"]),
        version=task.get("version"),
        data_fingerprint=str(task.get("data_fingerprint") or ""),
        family=str(task.get("type") or ""),
        headline=task.get("headline") or None,
        model=str(model["uri"]),
        model_fingerprint=str(model.get("fingerprint") or ""),
        metrics={str(k): finite_float(v) for k, v in metrics.items()},
        ci=ci,
        n=task.get("n"),
        mmbench_version=str(data.get("mmbench_version") or ""),
        created_at=str(data.get("created_at") or ""),
    )


def _dedupe(entries: list[_Entry], warnings: list[str]) -> list[_Entry]:
    """Keep the newest result per (model, task, version, data fingerprint)."""
    kept: dict[tuple[str, str, str, str], _Entry] = {}
    for entry in sorted(entries, key=lambda e: (e.time, str(e.path))):
        key = (entry.model, entry.task, str(entry.version), entry.data_fingerprint)
        old = kept.get(key)
        if old is not None:
            warnings.append(
                f"duplicate result for {entry.model} on {entry.task} v{entry.version}"
                f" (data {_fp8(entry.data_fingerprint)}): kept {entry.path}"
                f" ({entry.created_at or 'no date'}), ignored older {old.path}"
                f" ({old.created_at or 'no date'})"
            )
        kept[key] = entry
    return list(kept.values())


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


def _task_table(group: _Group) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one task table, best headline first."""
    headline = group.headline
    metrics: dict[str, None] = {headline: None} if headline else {}
    for entry in group.by_age():
        metrics.update(dict.fromkeys(entry.metrics))
    with_ci = {m for m in metrics if any(m in e.ci for e in group.entries)}
    header = ["model"]
    for metric in metrics:
        header += [metric, *([f"{metric}_ci_lo", f"{metric}_ci_hi"] if metric in with_ci else [])]
    header += TRAILING_COLUMNS
    rows = []
    for entry in _ranked(group.entries, headline):
        row: list[Any] = [entry.model]
        for metric in metrics:
            row.append(entry.metrics.get(metric))
            if metric in with_ci:
                row += list(entry.ci.get(metric, (None, None)))
        row += [entry.n, entry.task, entry.version, entry.data_fingerprint]
        row += [entry.model_fingerprint, entry.mmbench_version, entry.created_at]
        rows.append(row)
    return header, rows


def _ranked(entries: list[_Entry], headline: str) -> list[_Entry]:
    """Best first by the headline (ascending for rank/loss metrics); no value last; then URI."""
    sign = 1.0 if lower_is_better(headline) else -1.0

    def key(entry: _Entry) -> tuple[bool, float, str]:
        value = entry.metrics.get(headline)
        return (value is None, sign * value if value is not None else 0.0, entry.model)

    return sorted(entries, key=key)


def _summary_table(groups: list[_Group]) -> tuple[list[str], list[list[Any]]]:
    """Models (alphabetical) x `<task>/<headline>` of each task's newest group."""
    groups = sorted(groups, key=lambda g: g.task)
    header = ["model", *(f"{g.task}/{g.headline}" for g in groups)]
    values = {(g.task, e.model): e.metrics.get(g.headline) for g in groups for e in g.entries}
    models = sorted({e.model for g in groups for e in g.entries})
    rows = [[model, *(values.get((g.task, model)) for g in groups)] for model in models]
    return header, rows


def _summary_intro() -> str:
    return (
        "Headline metric of each task (newest task version and data only); empty where a model"
        " has no result for a task."
    )


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """CSV with full precision (machine-readable; the Markdown is the rounded view)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue()


def _task_markdown(group: _Group, header: list[str], rows: list[list[Any]]) -> str:
    direction = "lower" if lower_is_better(group.headline) else "higher"
    intro = (
        f"Task version {group.version}, data fingerprint `{group.data_fingerprint or '-'}`."
        f" Sorted by `{group.headline}` ({direction} is better)."
    )
    return _markdown_doc(group.stem, intro, header, rows)


def _markdown_doc(title: str, intro: str, header: list[str], rows: list[list[Any]]) -> str:
    """A titled Markdown table; numbers to 4 decimals, numeric columns right-aligned."""
    cells = [[_md_cell(value) for value in row] for row in rows]
    numeric = [
        any(finite_float(row[i]) is not None for row in rows)
        and all(row[i] is None or isinstance(row[i], int | float) for row in rows)
        for i in range(len(header))
    ]
    lines = [
        f"# {title}",
        "",
        intro,
        "",
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines) + "\n"


def _md_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return _md_escape(str(value))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------- plots


def _families(groups: list[_Group]) -> dict[str, list[_Group]]:
    families: dict[str, list[_Group]] = {}
    for group in sorted(groups, key=lambda g: g.task):
        families.setdefault(group.family, []).append(group)
    return families


def _plot_family(family: str, groups: list[_Group]) -> bytes:
    """PNG bytes: one horizontal bar chart per task of the family, CI error bars when present."""
    # Figure + Agg canvas directly, not pyplot: no global backend switch in the caller's process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heights = [1.2 + 0.35 * max(len(g.entries), 1) for g in groups]
    fig = Figure(figsize=(9, sum(heights) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, group in zip(axes[:, 0], groups, strict=True):
        _bars(ax, group)
    fig.suptitle(f"{family}: headline metric per task")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _bars(ax: Any, group: _Group) -> None:
    headline = group.headline
    ranked = [e for e in _ranked(group.entries, headline) if e.metrics.get(headline) is not None]
    ax.set_title(f"{group.task} (v{group.version})", fontsize=10, loc="left")
    ax.set_xlabel(headline)
    if not ranked:
        ax.text(0.5, 0.5, f"no {headline} values", ha="center", va="center")
        ax.set_yticks([])
        return
    values = [e.metrics[headline] for e in ranked]
    # Error bar lengths below / above the value; 0 where a model has no CI.
    lower, upper = [], []
    for entry, value in zip(ranked, values, strict=True):
        lo, hi = entry.ci.get(headline, (value, value))
        lower.append(max(value - lo, 0.0))
        upper.append(max(hi - value, 0.0))
    positions = list(range(len(ranked)))
    ax.barh(positions, values, color="#4C72B0")
    # Error bars only where a CI exists (a zero-length bar would still draw a misleading cap).
    with_ci = [i for i, e in enumerate(ranked) if headline in e.ci]
    if with_ci:
        ax.errorbar(
            [values[i] for i in with_ci],
            with_ci,
            xerr=[[lower[i] for i in with_ci], [upper[i] for i in with_ci]],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
    ax.set_yticks(positions, [e.model for e in ranked], fontsize=8)
    ax.invert_yaxis()  # best at the top
    for pos, value, up in zip(positions, values, upper, strict=True):
        ax.text(value + up, pos, f" {value:.4f}", va="center", fontsize=7)
    ax.margins(x=0.15)


# --------------------------------------------------------------------------------- file I/O


class _lock:
    """`filelock.FileLock` on `<out>/.leaderboard.lock`, with a user-facing timeout message."""

    def __init__(self, out_dir: Path) -> None:
        from filelock import FileLock

        self.path = out_dir / LOCK_NAME
        self.lock = FileLock(str(self.path), timeout=LOCK_TIMEOUT_S)

    def __enter__(self) -> None:
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout as err:
            raise MMBenchError(
                f"another `mmbench leaderboard` has held {self.path} for {LOCK_TIMEOUT_S:.0f} s;"
                " wait for it, or delete the lock file if no such process is running"
            ) from err

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


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
