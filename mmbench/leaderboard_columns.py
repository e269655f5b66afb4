"""The columns of a per-task leaderboard CSV that are not metrics, in one place.

`mmbench leaderboard` writes them after the metric columns (`<metric>`, `<metric>_ci_lo`,
`<metric>_ci_hi`); `mmbench compare` reads every other column as a metric.
"""

from __future__ import annotations

from mmbench.cost import COST_COLUMNS

#: Provenance columns, in the order the CSV writes them after the metrics.
TRAILING_COLUMNS = (
    "n",
    "limit",
    "skipped",
    "config",
    "dtype",
    "seed",
    *COST_COLUMNS,  # what the run cost
    "task",
    "task_version",
    "data_fingerprint",
    "model_fingerprint",
    "mmbench_version",
    "date",
)
META_COLUMNS = ("model", *TRAILING_COLUMNS)
INTERVAL_SUFFIXES = ("_ci_lo", "_ci_hi")


def is_interval_column(name: str) -> bool:
    """True for `<metric>_ci_lo` / `<metric>_ci_hi`."""
    return name.endswith(INTERVAL_SUFFIXES)
