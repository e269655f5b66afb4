"""The report of `mmbench compare`: one row per metric, the verdict, the table and the JSON.

`mmbench.compare` fills it (rules and exit code), `mmbench.compare_tests` attaches the paired tests
and flipped samples; both import it from here, so neither imports the other back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mmbench.metrics.registry import metric_info

STATUSES = ("regressed", "improved", "ok", "missing")


@dataclass
class CompareRow:
    """One metric (of one model, for CSV inputs) in a comparison.

    `delta` is new - baseline in tolerance units (see the module docstring); `interval` is the
    paired bootstrap's 95% interval of that difference, in the same units. `p_value` is the
    paired test's unadjusted p-value, `p_adjusted` the Holm-adjusted one over every tested row.
    `ci_overlap` says whether the new value lies inside the baseline's bootstrap interval; None
    when the baseline has none.
    """

    metric: str
    baseline: float | None
    new: float | None
    delta: float | None
    ci_overlap: bool | None
    status: str
    model: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    interval: tuple[float, float] | None = None
    test: str | None = None
    #: McNemar's discordant units: (right only in the baseline, right only in the new run)
    discordant: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        info = metric_info(self.metric)
        return {
            "name": self.metric,
            "model": self.model,
            "baseline": self.baseline,
            "new": self.new,
            "delta": self.delta,
            "unit": info.unit.strip() or "own units",
            "higher_is_better": info.higher_is_better,  # None: no better side
            "interval": list(self.interval) if self.interval else None,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "test": self.test,
            "discordant": list(self.discordant) if self.discordant else None,
            "in_baseline_ci": self.ci_overlap,
            "status": self.status,
        }


@dataclass
class CompareReport:
    """The outcome of `compare`: one row per metric (per model), and the gate's exit code."""

    rows: list[CompareRow]
    tolerance: float
    use_ci: bool = False
    alpha: float | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bootstrap: dict[str, Any] | None = None
    flipped: list[Any] = field(default_factory=list)
    flipped_total: int = 0
    inputs: tuple[str, str] = ("", "")

    @property
    def exit_code(self) -> int:
        """1 when any selected metric regressed, else 0 (unusable inputs raised before this)."""
        return 1 if self.regressed else 0

    @property
    def regressed(self) -> list[CompareRow]:
        return [row for row in self.rows if row.status == "regressed"]

    def to_json(self) -> dict[str, Any]:
        """The whole report as one JSON-serialisable object (`compare --json`)."""
        return {
            "baseline": self.inputs[0],
            "new": self.inputs[1],
            "tolerance": self.tolerance,
            "alpha": self.alpha,
            "use_ci": self.use_ci,
            "bootstrap": self.bootstrap,
            "metrics": [row.to_dict() for row in self.rows],
            "warnings": self.warnings,
            "notes": self.notes,
            "flipped": [flip.to_dict() for flip in self.flipped],
            "flipped_total": self.flipped_total,
            "verdict": self.verdict(),
            "exit_code": self.exit_code,
        }

    def format_table(self) -> str:
        """An aligned plain-text table, warnings, notes, flipped samples and a one-line verdict."""
        by_model = any(row.model is not None for row in self.rows)
        with_ci = any(row.ci_overlap is not None for row in self.rows)
        tested = any(row.p_value is not None or row.interval for row in self.rows)
        header = [*(["model"] if by_model else []), "metric", "baseline", "new", "delta"]
        header += ["95% interval", "p", "p (Holm)"] if tested else []
        header += [*(["in base CI"] if with_ci else []), "status"]
        lines = [header]
        for row in self.rows:
            cells = [*([row.model or ""] if by_model else []), row.metric]
            cells += [_fmt(row.baseline), _fmt(row.new), _fmt_delta(row.metric, row.delta)]
            if tested:
                cells += [_fmt_interval(row.interval), _fmt_p(row.p_value), _fmt_p(row.p_adjusted)]
            if with_ci:
                cells.append({True: "yes", False: "no", None: "-"}[row.ci_overlap])
            lines.append([*cells, row.status])
        right = {"baseline", "new", "delta", "95% interval", "p", "p (Holm)"}
        out = [_align(lines, right=right, header=header)]
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"note: {note}" for note in self.notes]
        if self.flipped:
            out.append(
                f"flipped samples: {self.flipped_total} changed"
                f" (showing {len(self.flipped)}, most informative first):"
            )
            out += [f"  {flip.line()}" for flip in self.flipped]
        out.append(self.verdict())
        return "\n".join(out)

    def verdict(self) -> str:
        """One line: REGRESSED (exit 1) or OK (exit 0), with counts."""
        rule = f"by more than {self.tolerance:g} (points; own units for ranks)"
        if self.alpha is not None:
            rule += f" with Holm-adjusted p < {self.alpha:g}"
        if self.use_ci:
            rule += " and outside the baseline CI"
        bad = self.regressed
        if bad:
            names = ", ".join(_row_name(row) for row in bad)
            return f"REGRESSED: {len(bad)} of {len(self.rows)} worsened {rule}: {names}"
        counts = {status: sum(row.status == status for row in self.rows) for status in STATUSES}
        parts = [f"{counts[s]} {s}" for s in ("improved", "ok", "missing") if counts[s]]
        return f"OK: nothing worsened {rule} ({', '.join(parts) or 'no metrics'})"


def report_json(report: CompareReport) -> str:
    """`compare --json`: the report as one JSON object on one line."""
    return json.dumps(report.to_json(), ensure_ascii=False, allow_nan=False)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _fmt_delta(metric: str, delta: float | None) -> str:
    # + 0.0 turns a -0.0 (equal values) into 0.0, so it prints as +0.00
    return "-" if delta is None else f"{delta + 0.0:+.2f}{metric_info(metric).unit}"


def _fmt_interval(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"[{interval[0]:+.2f}, {interval[1]:+.2f}]"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


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
