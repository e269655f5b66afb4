"""`mmbench compare`: gate a new evaluation against a baseline (docs/ci.md).

Two inputs of the same kind are compared: two result JSONs (one model x task each), or two
per-task leaderboard CSVs (written by `mmbench leaderboard`; compared row by row for every model
URI and configuration present in both).

Units and direction come from the metric registry (`mmbench.metrics.registry`), never from a
value: fractions (R@5 = 0.654) and CIDEr-D (1.358) are compared in *points*, 1 point = 0.01 of the
stored value (65.4, 135.8, as papers print them); percentages (RSUM, 0..600) are already points;
ranks (MdR, MnR; lower is better) and scores in their own units.

A metric *regresses* when it worsens by more than the tolerance (a worsening of exactly the
tolerance passes) and, with `alpha`, its paired test (`mmbench.significance`, from the two runs'
samples JSONL) gives a Holm-adjusted p-value below `alpha`; with `use_ci` its new value must also
lie outside the baseline's bootstrap interval. A metric without a test or an interval is judged on
the rules that remain and the report says so. Improvements are judged the same way, mirrored.

Unusable inputs (different tasks, task versions, data fingerprints, `n` or `--limit`; files that
are not results; unreadable CSVs; a selected metric present in neither input; `alpha` without
samples files) raise `MMBenchError`, which the CLI turns into exit status 2. Otherwise
`CompareReport.exit_code` is 1 when a metric regressed, else 0. Differences that do not make
numbers incomparable but may explain them (spec hash, model, dtype, seed, environment, skipped
samples) are reported as warnings.
"""

from __future__ import annotations

import math
from pathlib import Path

from mmbench.compare_inputs import Record, read_csv, read_json
from mmbench.compare_report import CompareReport, CompareRow, report_json
from mmbench.errors import MMBenchError, did_you_mean
from mmbench.metrics.registry import lower_is_better, metric_info, to_points

# Direction and units live in the registry; these names stay importable from here.
__all__ = ["CompareReport", "CompareRow", "compare", "lower_is_better", "report_json", "to_points"]

TOLERANCE_HELP = (
    "largest allowed worsening before a metric counts as regressed (default 0.5). It is in"
    " points, 1 point = 0.01 of a stored fraction (0.5 lets R@5 fall from 0.654 to 0.649, not"
    " lower) or of CIDEr; in percent for RSUM; in the metric's own units for ranks (MdR, MnR;"
    " lower is better). A worsening of exactly the tolerance passes."
)


# Float noise guard: 0.654 -> 0.649 is a drop of 0.50000000000001 points, which must equal 0.5.
_EPS = 1e-9


def compare(
    baseline: Path,
    new: Path,
    tolerance: float = 0.5,
    metrics: list[str] | None = None,
    use_ci: bool = False,
    alpha: float | None = None,
    show: int = 10,
    resamples: int = 10_000,
    seed: int = 0,
) -> CompareReport:
    """Compare `new` against `baseline` (two result JSONs, or two per-task leaderboard CSVs).

    `metrics` selects metrics (default: every metric in either input); `alpha` turns on the
    significance rule; `show` caps the flipped samples listed. See the module docstring for
    units, direction and rules. Raises `MMBenchError` for unusable inputs.
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise MMBenchError(f"--tolerance must be a number >= 0, got {tolerance!r}")
    if alpha is not None and not 0 < alpha < 1:
        raise MMBenchError(f"--alpha must lie between 0 and 1 (e.g. 0.05), got {alpha!r}")
    baseline, new = Path(baseline), Path(new)
    kinds = {_kind(baseline), _kind(new)}
    if kinds == {"json"}:
        base_records, new_records = {None: read_json(baseline)}, {None: read_json(new)}
    elif kinds == {"csv"}:
        base_records, new_records = read_csv(baseline), read_csv(new)
    else:
        raise MMBenchError(
            f"cannot compare {baseline.name!r} with {new.name!r}: pass two result JSONs or two"
            " per-task leaderboard CSVs"
        )

    report = CompareReport(
        rows=[], tolerance=tolerance, use_ci=use_ci, alpha=alpha, inputs=(str(baseline), str(new))
    )
    models = [m for m in base_records if m in new_records]
    _note_unmatched(report, base_records, new_records)
    if not models:
        raise MMBenchError(
            f"{baseline.name!r} and {new.name!r} have no model in common; compare leaderboards"
            " that share at least one model URI"
        )
    for model in models:
        _check_comparable(base_records[model], new_records[model], model)
        report.warnings += _differences(base_records[model], new_records[model])
    selected = metrics or _all_metrics(base_records, new_records, models)
    _check_selected(selected, base_records, new_records, models)
    for model in models:
        for metric in selected:
            row = _values(metric, base_records[model], new_records[model])
            row.model = model
            report.rows.append(row)

    if kinds == {"json"}:
        from mmbench.compare_tests import attach_tests

        attach_tests(
            report, baseline, new, base_records[None], new_records[None], show, seed, resamples
        )
    else:
        report.notes.append(
            "p_value is null: leaderboard CSVs hold no per-sample records; compare the result"
            " JSONs (with their .samples.jsonl files) for paired tests"
        )
        if alpha is not None:
            raise MMBenchError(
                "--alpha needs the per-sample records of both runs, which leaderboard CSVs do not"
                " hold; compare the result JSONs (with their .samples.jsonl files) instead"
            )
    _adjust(report)
    for model in models:
        for row in report.rows:
            if row.model == model:
                _judge(row, base_records[model], report)
    _note_untested(report)
    return report


def _values(metric: str, base: Record, cur: Record) -> CompareRow:
    old, new = base.metrics.get(metric), cur.metrics.get(metric)
    if old is None or new is None:
        return CompareRow(metric, old, new, None, None, "missing")
    info = metric_info(metric)
    return CompareRow(metric, old, new, info.to_points(new) - info.to_points(old), None, "ok")


def _adjust(report: CompareReport) -> None:
    """Holm over every row that has a p-value."""
    from mmbench.metrics.paired import holm

    adjusted = holm([row.p_value for row in report.rows])
    for row, p in zip(report.rows, adjusted, strict=True):
        row.p_adjusted = p


def _judge(row: CompareRow, base: Record, report: CompareReport) -> None:
    """Classify one row as regressed / improved / ok (missing rows stay missing)."""
    if row.status == "missing" or row.delta is None or row.new is None:
        return
    direction = metric_info(row.metric).higher_is_better
    ci = base.ci.get(row.metric)
    row.ci_overlap = None if ci is None else bool(ci[0] <= row.new <= ci[1])
    row.status = "ok"
    if direction is None:
        return  # a diagnostic with no better side (POPE's yes-ratio): reported, never judged
    gain = row.delta if direction else -row.delta  # > 0: better
    significant = True
    if report.alpha is not None and row.p_adjusted is not None:
        significant = row.p_adjusted < report.alpha
    if report.use_ci and row.ci_overlap:
        # Inside the baseline's own sampling noise: not evidence of a change either way.
        significant = False
    if significant and gain < -(report.tolerance + _EPS):
        row.status = "regressed"
    elif significant and gain > report.tolerance + _EPS:
        row.status = "improved"


def _check_comparable(base: Record, cur: Record, model: str | None) -> None:
    """Refuse numbers from different tasks, task versions, evaluation data, row counts or limits."""
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
    if base.limit != cur.limit:
        raise MMBenchError(
            f"--limit differs{where} ({base.limit or 'none'} vs {cur.limit or 'none'}): a partial"
            " run is not comparable with another row count; run both with the same --limit"
        )
    if base.selected != cur.selected and base.selected and cur.selected:
        raise MMBenchError(
            f"n differs{where} ({base.selected} vs {cur.selected} rows selected, skipped ones"
            " included): numbers over different rows are not comparable; run both on the same rows"
        )


def _differences(base: Record, cur: Record) -> list[str]:
    """Warnings for what differs without making the numbers incomparable."""
    out = []
    for label, old, new in (
        ("spec hash", base.spec_hash, cur.spec_hash),
        ("model", base.model, cur.model),
        ("dtype", base.dtype, cur.dtype),
        ("seed", base.seed, cur.seed),
    ):
        if old and new and old != new:
            out.append(f"{label} differs ({old} vs {new})")
    if base.skipped != cur.skipped:
        out.append(f"skipped samples differ ({base.skipped} vs {cur.skipped})")
    if base.environment and cur.environment:
        changed = [
            f"{key} {base.environment.get(key)} vs {cur.environment.get(key)}"
            for key in dict.fromkeys([*base.environment, *cur.environment])
            if base.environment.get(key) != cur.environment.get(key)
        ]
        if changed:
            out.append(f"environment differs: {'; '.join(changed)}")
    return out


def _short_pair(a: str, b: str, width: int = 12) -> tuple[str, str]:
    """Fingerprints short enough to read (no `sha256:` prefix) but still visibly different."""
    short_a, short_b = a.rsplit(":", 1)[-1][:width], b.rsplit(":", 1)[-1][:width]
    if short_a == short_b:
        return a or "none", b or "none"
    return short_a or "none", short_b or "none"


def _all_metrics(
    base: dict[str | None, Record], new: dict[str | None, Record], models: list[str | None]
) -> list[str]:
    """Every metric in either input, baseline order first (dict keys keep insertion order)."""
    names: dict[str, None] = {}
    for records in (base, new):
        for model in models:
            names.update(dict.fromkeys(records[model].metrics))
    return list(names)


def _check_selected(
    selected: list[str],
    base: dict[str | None, Record],
    new: dict[str | None, Record],
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
    report: CompareReport, base: dict[str | None, Record], new: dict[str | None, Record]
) -> None:
    only_base = [m for m in base if m not in new]
    only_new = [m for m in new if m not in base]
    if only_base:
        report.notes.append(f"only in baseline, not compared: {', '.join(map(str, only_base))}")
    if only_new:
        report.notes.append(f"only in new, not compared: {', '.join(map(str, only_new))}")


def _note_untested(report: CompareReport) -> None:
    """Say which compared metrics fell back to fewer rules (no interval, no test)."""
    compared = [r for r in report.rows if r.status != "missing"]
    if report.use_ci:
        lacking = sorted({r.metric for r in compared if r.ci_overlap is None})
        never = [m for m in lacking if not metric_info(m).bootstrap]
        rerun = [m for m in lacking if metric_info(m).bootstrap]
        if never:
            report.notes.append(
                f"mmbench computes no bootstrap interval for {', '.join(never)}: judged without"
                " the CI rule (use --alpha with the runs' samples files for a paired test)"
            )
        if rerun:
            report.notes.append(
                f"baseline has no CI for {', '.join(rerun)}: judged without the CI rule"
                " (re-run the baseline with --bootstrap N)"
            )
    if report.alpha is not None:
        untested = sorted({r.metric for r in compared if r.p_adjusted is None})
        if untested:
            report.notes.append(
                f"no paired test for {', '.join(untested)}: judged on the tolerance alone"
            )


def _kind(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "json"


# ----------------------------------------------------------------------------------- output
