"""`mmbench compare`: gate a new evaluation against a baseline (docs/ci.md).

Two inputs of the same kind are compared: two result JSONs (one model x task each), or two
per-task leaderboard CSVs (written by `mmbench leaderboard`; compared row by row for every model
URI present in both).

Units and direction (also in `TOLERANCE_HELP`, the CLI's --help text):

* mmbench stores scores as fractions (R@5 = 0.654, CIDEr-D = 1.358). Deltas and the tolerance
  are in *points*, 1 point = 0.01 of the stored value, the way papers print these numbers
  (65.4, 135.8). The scale is chosen by the metric's name, never by its value, so a metric that
  crosses 1.0 (CIDEr-D, RSUM, CLIPScore) keeps one scale on both sides of the comparison.
* Rank and loss metrics (`MdR`, `MnR`, names ending in `rank`, names containing `loss`) are lower
  is better, and their deltas and the tolerance are in their own units (ranks, loss).
* Everything else is higher is better.

A metric *regresses* when it worsens by more than the tolerance (a worsening of exactly the
tolerance passes). With `use_ci` it must in addition lie outside the baseline's bootstrap
confidence interval; a metric whose baseline has no CI is judged on the tolerance alone and the
report says so. Improvements are judged the same way, mirrored.

Unusable inputs (different tasks, task versions or data fingerprints; files that are not results;
unreadable CSVs; a selected metric present in neither input) raise `MMBenchError`, which the CLI
turns into exit status 2. Otherwise `CompareReport.exit_code` is 1 when a metric regressed, else 0.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.results import finite_float, load_result

TOLERANCE_HELP = (
    "largest allowed worsening before a metric counts as regressed (default 0.5). Scores are "
    "stored as fractions and the tolerance is in points, 1 point = 0.01 (0.5 lets R@5 fall from "
    "0.654 to 0.649, not lower); for rank and loss metrics (MdR, MnR, *rank, *loss*; lower is "
    "better) it is in the metric's own units. A worsening of exactly the tolerance passes."
)

# Columns of a per-task leaderboard CSV that are not metrics (see mmbench/leaderboard.py).
META_COLUMNS = (
    "model",
    "n",
    "task",
    "task_version",
    "data_fingerprint",
    "model_fingerprint",
    "mmbench_version",
    "date",
)

STATUSES = ("regressed", "improved", "ok", "missing")

# Float noise guard: 0.654 -> 0.649 is a drop of 0.50000000000001 points, which must equal 0.5.
_EPS = 1e-9

_RANK_NAME = re.compile(r"(?:^|[^a-z])(?:mdr|mnr)$|rank$|loss", re.IGNORECASE)


def lower_is_better(metric: str) -> bool:
    """True for rank and loss metrics (`MdR`, `MnR`, `*rank`, `*loss*`); scores: higher wins."""
    return bool(_RANK_NAME.search(metric))


def to_points(metric: str, value: float) -> float:
    """`value` in tolerance units: points (x100) for scores, own units for rank / loss metrics."""
    return value if lower_is_better(metric) else 100.0 * value


@dataclass
class CompareRow:
    """One metric (of one model, for CSV inputs) in a comparison.

    `delta` is new - baseline in tolerance units (points for scores, own units for rank / loss
    metrics). `ci_overlap` says whether the new value lies inside the baseline's bootstrap CI;
    None when the baseline has no CI for the metric.
    """

    metric: str
    baseline: float | None
    new: float | None
    delta: float | None
    ci_overlap: bool | None
    status: str
    model: str | None = None


@dataclass
class CompareReport:
    """The outcome of `compare`: one row per metric (per model), and the gate's exit code."""

    rows: list[CompareRow]
    tolerance: float
    use_ci: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when any selected metric regressed, else 0 (unusable inputs raised before this)."""
        return 1 if self.regressed else 0

    @property
    def regressed(self) -> list[CompareRow]:
        return [row for row in self.rows if row.status == "regressed"]

    def format_table(self) -> str:
        """An aligned plain-text table, any notes, and a one-line verdict."""
        by_model = any(row.model is not None for row in self.rows)
        with_ci = any(row.ci_overlap is not None for row in self.rows)
        header = [*(["model"] if by_model else []), "metric", "baseline", "new", "delta"]
        header += [*(["in base CI"] if with_ci else []), "status"]
        lines = [header]
        for row in self.rows:
            cells = [*([row.model or ""] if by_model else []), row.metric]
            cells += [_fmt(row.baseline), _fmt(row.new), _fmt_delta(row.metric, row.delta)]
            if with_ci:
                cells.append({True: "yes", False: "no", None: "-"}[row.ci_overlap])
            lines.append([*cells, row.status])
        text = _align(lines, right={"baseline", "new", "delta"}, header=header)
        notes = [f"note: {note}" for note in self.notes]
        return "\n".join([text, *notes, self.verdict()])

    def verdict(self) -> str:
        """One line: REGRESSED (exit 1) or OK (exit 0), with counts."""
        rule = f"by more than {self.tolerance:g} (points; own units for rank/loss metrics)"
        if self.use_ci:
            rule += " and outside the baseline CI"
        bad = self.regressed
        if bad:
            names = ", ".join(_row_name(row) for row in bad)
            return f"REGRESSED: {len(bad)} of {len(self.rows)} worsened {rule}: {names}"
        counts = {status: sum(row.status == status for row in self.rows) for status in STATUSES}
        parts = [f"{counts[s]} {s}" for s in ("improved", "ok", "missing") if counts[s]]
        return f"OK: nothing worsened {rule} ({', '.join(parts) or 'no metrics'})"


@dataclass
class _Record:
    """The comparable content of one result (a JSON file, or one row of a leaderboard CSV)."""

    task: str
    version: str
    data_fingerprint: str
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]


def compare(
    baseline: Path,
    new: Path,
    tolerance: float = 0.5,
    metrics: list[str] | None = None,
    use_ci: bool = False,
) -> CompareReport:
    """Compare `new` against `baseline` (two result JSONs, or two per-task leaderboard CSVs).

    `metrics` selects metrics (default: every metric in either input). See the module docstring
    for units, direction and the `use_ci` rule. Raises `MMBenchError` for unusable inputs.
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise MMBenchError(f"--tolerance must be a number >= 0, got {tolerance!r}")
    baseline, new = Path(baseline), Path(new)
    kinds = {_kind(baseline), _kind(new)}
    if kinds == {"json"}:
        base_records = {None: _read_json(baseline)}
        new_records = {None: _read_json(new)}
    elif kinds == {"csv"}:
        base_records, new_records = _read_csv(baseline), _read_csv(new)
    else:
        raise MMBenchError(
            f"cannot compare {baseline.name!r} with {new.name!r}: pass two result JSONs or two"
            " per-task leaderboard CSVs"
        )

    report = CompareReport(rows=[], tolerance=tolerance, use_ci=use_ci)
    models = [m for m in base_records if m in new_records]
    _note_unmatched(report, base_records, new_records)
    if not models:
        raise MMBenchError(
            f"{baseline.name!r} and {new.name!r} have no model in common; compare leaderboards"
            " that share at least one model URI"
        )
    for model in models:
        _check_comparable(base_records[model], new_records[model], model)
    selected = metrics or _all_metrics(base_records, new_records, models)
    _check_selected(selected, base_records, new_records, models)
    for model in models:
        base, cur = base_records[model], new_records[model]
        for metric in selected:
            row = _judge(metric, base, cur, tolerance, use_ci)
            row.model = model
            report.rows.append(row)
    if use_ci:
        _note_missing_ci(report)
    return report


def _judge(metric: str, base: _Record, cur: _Record, tolerance: float, use_ci: bool) -> CompareRow:
    """Classify one metric as regressed / improved / ok / missing."""
    old, new = base.metrics.get(metric), cur.metrics.get(metric)
    if old is None or new is None:
        return CompareRow(metric, old, new, None, None, "missing")
    delta = to_points(metric, new) - to_points(metric, old)
    gain = -delta if lower_is_better(metric) else delta  # > 0 means better
    ci = base.ci.get(metric)
    inside = None if ci is None else bool(ci[0] <= new <= ci[1])
    status = "ok"
    if gain < -(tolerance + _EPS):
        status = "regressed"
    elif gain > tolerance + _EPS:
        status = "improved"
    if use_ci and inside:
        # Inside the baseline's own sampling noise: not evidence of a change either way.
        status = "ok"
    return CompareRow(metric, old, new, delta, inside, status)


def _check_comparable(base: _Record, cur: _Record, model: str | None) -> None:
    """Refuse to compare numbers from different tasks, task versions or evaluation data."""
    where = f" for {model}" if model else ""
    if base.task != cur.task:
        raise MMBenchError(
            f"task differs{where} ({base.task!r} vs {cur.task!r}): these are results of different"
            " benchmarks; compare results of the same task"
        )
    if base.version != cur.version:
        raise MMBenchError(
            f"task version differs{where} ({base.version} vs {cur.version}): numbers are not"
            " comparable; re-run the baseline"
        )
    if base.data_fingerprint != cur.data_fingerprint:
        old_fp, new_fp = _short_pair(base.data_fingerprint, cur.data_fingerprint)
        raise MMBenchError(
            f"data fingerprint differs{where} ({old_fp} vs {new_fp}): the evaluation data"
            " changed, so numbers are not comparable; re-run the baseline on the same data"
        )


def _short_pair(a: str, b: str, width: int = 12) -> tuple[str, str]:
    """Fingerprints short enough to read (no `sha256:` prefix) but still visibly different."""
    short_a, short_b = a.rsplit(":", 1)[-1][:width], b.rsplit(":", 1)[-1][:width]
    if short_a == short_b:
        return a or "none", b or "none"
    return short_a or "none", short_b or "none"


def _all_metrics(
    base: dict[str | None, _Record], new: dict[str | None, _Record], models: list[str | None]
) -> list[str]:
    """Every metric in either input, baseline order first (dict keys keep insertion order)."""
    names: dict[str, None] = {}
    for records in (base, new):
        for model in models:
            names.update(dict.fromkeys(records[model].metrics))
    return list(names)


def _check_selected(
    selected: list[str],
    base: dict[str | None, _Record],
    new: dict[str | None, _Record],
    models: list[str | None],
) -> None:
    """A selected metric present in neither input is a typo or the wrong files: exit 2."""
    known = set(_all_metrics(base, new, models))
    absent = [m for m in selected if m not in known]
    if absent:
        raise MMBenchError(
            f"metric {absent[0]!r} is in neither input{did_you_mean(absent[0], known)};"
            f" available: {', '.join(sorted(known)) or 'none'}"
        )


def _note_unmatched(
    report: CompareReport, base: dict[str | None, _Record], new: dict[str | None, _Record]
) -> None:
    only_base = [m for m in base if m not in new]
    only_new = [m for m in new if m not in base]
    if only_base:
        report.notes.append(f"only in baseline, not compared: {', '.join(map(str, only_base))}")
    if only_new:
        report.notes.append(f"only in new, not compared: {', '.join(map(str, only_new))}")


def _note_missing_ci(report: CompareReport) -> None:
    """With use_ci, say which compared metrics fell back to the tolerance-only rule."""
    lacking = sorted(
        {r.metric for r in report.rows if r.status != "missing" and r.ci_overlap is None}
    )
    if lacking:
        report.notes.append(
            f"baseline has no CI for {', '.join(lacking)}: judged on the tolerance alone"
            " (re-run the baseline with --bootstrap N)"
        )


# ----------------------------------------------------------------------------------- inputs


def _kind(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "json"


def _read_json(path: Path) -> _Record:
    """A result JSON as a `_Record`; anything else is an `MMBenchError`."""
    if path.is_dir():
        raise MMBenchError(f"{str(path)!r} is a directory; pass a result JSON file")
    try:
        data = load_result(path)
    except (TypeError, UnicodeDecodeError) as err:  # valid JSON but not an object, or binary
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result; pass files written by `mmbench run`"
        ) from err
    except OSError as err:
        raise MMBenchError(f"cannot read {str(path)!r} ({err.strerror})") from err
    task, metrics = data.get("task"), data.get("metrics")
    if not isinstance(task, dict) or not isinstance(metrics, dict) or "name" not in task:
        raise MMBenchError(
            f"{str(path)!r} is not an mmbench result (task or metrics malformed);"
            " pass files written by `mmbench run`"
        )
    ci_raw = data.get("ci") or {}
    return _Record(
        task=str(task["name"]),
        version=_text(task.get("version")),
        data_fingerprint=_text(task.get("data_fingerprint")),
        metrics={
            k: v for k, v in ((k, finite_float(v)) for k, v in metrics.items()) if v is not None
        },
        ci={k: ci for k, ci in ((k, _interval(v)) for k, v in ci_raw.items()) if ci is not None},
    )


def _read_csv(path: Path) -> dict[str | None, _Record]:
    """A per-task leaderboard CSV as {model uri: record}."""
    frame = _load_frame(path)
    missing = [c for c in ("model", "task_version", "data_fingerprint") if c not in frame.columns]
    if missing:
        raise MMBenchError(
            f"{str(path)!r} is not a per-task leaderboard CSV (no {', '.join(missing)} column);"
            " pass <task>.csv files written by `mmbench leaderboard`, not summary.csv"
        )
    metric_cols = [
        c for c in frame.columns if c not in META_COLUMNS and not c.endswith(("_ci_lo", "_ci_hi"))
    ]
    default_task = path.stem.split("@", 1)[0]  # <task>.csv or <task>@v<version>-<fp8>.csv
    records: dict[str | None, _Record] = {}
    for row in frame.to_dict("records"):
        model = _text(row.get("model"))
        if model in records:
            raise MMBenchError(
                f"{str(path)!r} lists model {model!r} twice; rebuild it with `mmbench leaderboard`"
            )
        metrics = {
            c: v for c, v in ((c, finite_float(row.get(c))) for c in metric_cols) if v is not None
        }
        ci = {}
        for c in metric_cols:
            interval = _interval([row.get(f"{c}_ci_lo"), row.get(f"{c}_ci_hi")])
            if interval is not None:
                ci[c] = interval
        records[model] = _Record(
            task=_text(row.get("task")) or default_task,
            version=_text(row.get("task_version")),
            data_fingerprint=_text(row.get("data_fingerprint")),
            metrics=metrics,
            ci=ci,
        )
    return records


def _load_frame(path: Path) -> Any:
    """Read a CSV with every column as text (fingerprints like '01234567' must stay strings)."""
    import pandas as pd  # lazy: keeps `mmbench --help` fast

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as err:
        raise MMBenchError(f"CSV file {str(path)!r} does not exist; check the path") from err
    except IsADirectoryError as err:
        raise MMBenchError(f"{str(path)!r} is a directory; pass a leaderboard CSV file") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise MMBenchError(
            f"cannot read {str(path)!r} as CSV ({reason}); rebuild it with `mmbench leaderboard`"
        ) from err
    except OSError as err:
        raise MMBenchError(f"cannot read {str(path)!r} ({err.strerror})") from err


def _interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = finite_float(value[0]), finite_float(value[1])
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def _text(value: Any) -> str:
    """Version / fingerprint as text, so JSON 1 and CSV '1' compare equal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else json.dumps(value)


# ----------------------------------------------------------------------------------- output


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fmt_delta(metric: str, delta: float | None) -> str:
    if delta is None:
        return "-"
    return f"{delta:+.2f}" if lower_is_better(metric) else f"{delta:+.2f} pts"


def _row_name(row: CompareRow) -> str:
    return f"{row.model}: {row.metric}" if row.model else row.metric


def _align(lines: list[list[str]], right: set[str], header: list[str]) -> str:
    """Columns padded to their widest cell; numeric columns right-aligned."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [
            cell.rjust(w) if name in right else cell.ljust(w)
            for cell, w, name in zip(line, widths, header, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
