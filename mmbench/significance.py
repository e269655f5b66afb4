"""Paired significance of two runs from their samples JSONL, for `mmbench compare`.

Each result JSON has its per-sample records beside it (`<stem>.samples.jsonl`). Samples are paired
by `id`; for every metric the registry (`mmbench.metrics.registry`) says how its per-sample values
aggregate, and:

* a metric that is the mean of 0/1 per-sample values (top-1, exact match, R@K hits, multiple-choice
  accuracy) gets the exact two-sided McNemar test on its discordant units;
* every other recomputable metric gets a paired bootstrap (`DEFAULT_RESAMPLES` resamples, seed
  fixed and recorded) that recomputes the metric's own aggregate on each resample, resampling whole
  groups where the registry gives a group key; its p-value inverts the percentile interval;
* every tested metric gets the paired bootstrap's 95% percentile interval of new - baseline.

Before testing, each run's samples must reproduce the value stored in its result JSON; when they do
not (or lack a field the metric needs) the metric is left untested, with a note saying why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.errors import MMBenchError
from mmbench.metrics import paired
from mmbench.metrics.sample_stats import Unavailable, binary_units, groups, statistic

# A stored metric and its recomputation from the samples agree to float rounding.
_REL_TOL = 1e-6


@dataclass
class MetricTest:
    """The paired test of one metric: p-value (unadjusted), interval of new - baseline, method."""

    p_value: float | None = None
    interval: tuple[float, float] | None = None
    method: str | None = None  # "mcnemar" or "bootstrap"
    discordant: tuple[int, int] | None = None  # McNemar's (baseline-only, new-only) right units
    note: str | None = None


@dataclass
class PairedSamples:
    """The samples two runs share, in the baseline's order, plus what did not pair."""

    base: list[dict[str, Any]]
    new: list[dict[str, Any]]
    base_all: list[dict[str, Any]]
    new_all: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def samples_path(result_path: Path) -> Path:
    """`<stem>.samples.jsonl` beside `<stem>.json`."""
    name = result_path.name
    stem = name[: -len(".json")] if name.endswith(".json") else result_path.stem
    return result_path.with_name(f"{stem}.samples.jsonl")


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The records of a samples JSONL file (one JSON object per line; blank lines skipped)."""
    records = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise MMBenchError(
                        f"{path}: line {number} is not a JSON object; re-run the evaluation"
                    )
                records.append(record)
    except json.JSONDecodeError as err:
        raise MMBenchError(
            f"{path}: line {err.lineno} is not valid JSON ({err.msg}); re-run the evaluation"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise MMBenchError(f"cannot read samples file {path} ({err})") from err
    return records


def pair_samples(base: list[dict[str, Any]], new: list[dict[str, Any]]) -> PairedSamples:
    """Pair samples by `id`; samples only one run scored are left out, with a note.

    Records with an `error` (a row that failed and was not scored) are not samples of any metric.
    """
    base = [s for s in base if "error" not in s]
    new = [s for s in new if "error" not in s]
    base_ids = [str(s.get("id")) for s in base]
    new_by_id = {str(s.get("id")): s for s in new}
    if len(set(base_ids)) != len(base_ids) or len(new_by_id) != len(new):
        raise MMBenchError("a samples file repeats a sample id; re-run the evaluation")
    common = [i for i in base_ids if i in new_by_id]
    pairs = PairedSamples(
        base=[s for s, i in zip(base, base_ids, strict=True) if i in new_by_id],
        new=[new_by_id[i] for i in common],
        base_all=base,
        new_all=new,
    )
    only_base, only_new = len(base) - len(common), len(new) - len(common)
    if only_base or only_new:
        pairs.notes.append(
            f"paired tests use the {len(common)} samples both runs scored ({only_base} only in"
            f" the baseline, {only_new} only in the new run, e.g. skipped with --on-error skip)"
        )
    return pairs


def test_metrics(
    names: list[str],
    stored: tuple[dict[str, float], dict[str, float]],
    samples: PairedSamples,
    resamples: int = paired.DEFAULT_RESAMPLES,
    seed: int = paired.DEFAULT_SEED,
) -> dict[str, MetricTest]:
    """The paired test of each metric in `names` (see the module docstring).

    `stored` holds the baseline's and the new run's reported values, which each run's samples
    must reproduce before a metric is tested.
    """
    tests = {name: MetricTest() for name in names}
    by_grouping: dict[bytes | None, tuple[np.ndarray | None, dict[str, Any]]] = {}
    for name in names:
        test = tests[name]
        try:
            _check_reproduces(name, stored, samples)
            pair = (statistic(name, samples.base), statistic(name, samples.new))
            grouping = groups(name, samples.base)
        except Unavailable as why:
            test.note = f"{name}: not tested ({why})"
            continue
        key = None if grouping is None else grouping.tobytes()
        by_grouping.setdefault(key, (grouping, {}))[1][name] = pair
        units = binary_units(name, samples.base), binary_units(name, samples.new)
        if units[0] is not None and units[1] is not None and len(units[0]) == len(units[1]):
            b = int(np.count_nonzero((units[0] == 1) & (units[1] == 0)))
            c = int(np.count_nonzero((units[0] == 0) & (units[1] == 1)))
            test.p_value, test.method, test.discordant = (
                paired.mcnemar_exact(b, c),
                "mcnemar",
                (b, c),
            )
    for grouping, pairs in by_grouping.values():
        outcomes = paired.paired_bootstrap(pairs, grouping, n=resamples, seed=seed)
        for name, outcome in outcomes.items():
            test = tests[name]
            test.interval = outcome.interval
            if test.method is None:
                test.p_value, test.method = outcome.p_value, "bootstrap"
    return tests


def _check_reproduces(
    name: str, stored: tuple[dict[str, float], dict[str, float]], samples: PairedSamples
) -> None:
    for label, values, records in (
        ("baseline", stored[0], samples.base_all),
        ("new run", stored[1], samples.new_all),
    ):
        if name not in values:
            raise Unavailable(f"the {label} has no {name}")
        again = statistic(name, records).full()
        if not math.isclose(again, values[name], rel_tol=_REL_TOL, abs_tol=1e-9):
            raise Unavailable(
                f"the {label}'s samples give {again:.6g}, not the stored {values[name]:.6g}"
            )
