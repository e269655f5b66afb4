"""Attach paired tests and flipped samples to a `compare` report of two result JSONs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError
from mmbench.metrics.registry import metric_info
from mmbench.metrics.sample_stats import Unavailable
from mmbench.sample_diff import diff_metric, flipped_samples
from mmbench.significance import pair_samples, read_samples, samples_path, test_metrics

if TYPE_CHECKING:
    from mmbench.compare_inputs import Record
    from mmbench.compare_report import CompareReport


def attach_tests(
    report: CompareReport,
    baseline: Path,
    new: Path,
    base: Record,
    cur: Record,
    show: int,
    seed: int,
    resamples: int,
) -> None:
    """Fill each row's p-value and interval from the samples files beside the two results.

    Without both samples files every p-value stays null with a note, and `report.alpha` set is an
    `MMBenchError` (the gate cannot apply the rule the user asked for).
    """
    paths = samples_path(baseline), samples_path(new)
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        report.notes.append(
            f"p_value is null: no samples file {absent[0]} (results written before samples"
            " files existed, or copied without them)"
        )
        if report.alpha is not None:
            raise MMBenchError(
                f"--alpha needs the per-sample records of both runs; {absent[0]} does not exist:"
                " keep the .samples.jsonl file beside each result JSON"
            )
        return
    samples = pair_samples(read_samples(paths[0]), read_samples(paths[1]))
    report.notes += samples.notes
    if not samples.base:
        report.notes.append("p_value is null: the two runs share no sample id")
        if report.alpha is not None:
            raise MMBenchError(
                "--alpha needs samples both runs scored, and these share no sample id;"
                " compare runs of the same task and rows"
            )
        return
    names = [row.metric for row in report.rows if row.status != "missing"]
    tests = test_metrics(names, (base.metrics, cur.metrics), samples, resamples, seed)
    for row in report.rows:
        test = tests.get(row.metric)
        if test is None:
            continue
        info = metric_info(row.metric)
        row.p_value, row.test, row.discordant = test.p_value, test.method, test.discordant
        if test.interval is not None:
            row.interval = (info.to_points(test.interval[0]), info.to_points(test.interval[1]))
        if test.note:
            report.notes.append(test.note)
    report.bootstrap = {"resamples": resamples, "seed": seed, "level": 0.95}
    _attach_flips(report, samples.base, samples.new, base, names, show)


def _attach_flips(report, base_samples, new_samples, base: Record, names, show: int) -> None:
    metric = diff_metric(base.headline or None, names, base_samples[0])
    if metric is None:
        return
    try:
        flips = flipped_samples(base_samples, new_samples, metric)
    except Unavailable:
        return
    report.flipped_total = len(flips)
    report.flipped = flips[: max(show, 0)]
