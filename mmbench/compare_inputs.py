"""The inputs of `mmbench compare`: a result JSON, or a per-task leaderboard CSV, as `Record`s."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.leaderboard_columns import META_COLUMNS, is_interval_column
from mmbench.results import finite_float, load_result


@dataclass
class Record:
    """The comparable content of one result (a JSON file, or one row of a leaderboard CSV)."""

    task: str
    version: str
    data_fingerprint: str
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]]
    n: int | None = None
    limit: int | None = None
    skipped: int = 0
    spec_hash: str = ""
    model: str = ""
    dtype: str = ""
    seed: str = ""
    headline: str = ""
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def selected(self) -> int | None:
        """Rows selected before any were skipped: the result's `n` counts the rows scored and
        `failures.count` the rows skipped (`--on-error skip`), so a run that skipped a few rows
        stays comparable with one that skipped none."""
        return None if self.n is None else self.n + self.skipped


def read_json(path: Path) -> Record:
    """A result JSON as a `Record`; anything else is an `MMBenchError`."""
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
    model, config = _dict(data.get("model")), _dict(data.get("config"))
    failures = _dict(data.get("failures"))
    return Record(
        task=str(task["name"]),
        version=text(task.get("version")),
        data_fingerprint=text(task.get("data_fingerprint")),
        metrics={
            k: v for k, v in ((k, finite_float(v)) for k, v in metrics.items()) if v is not None
        },
        ci=_intervals(_dict(data.get("ci"))),
        n=_int(task.get("n")),
        limit=_int(task.get("limit")),
        skipped=_int(failures.get("count")) or 0,
        spec_hash=text(task.get("spec_hash")),
        model=text(model.get("uri")),
        dtype=text(config.get("dtype")),
        seed=text(config.get("seed")),
        headline=text(task.get("headline")),
        environment=_dict(data.get("environment")),
    )


def read_csv(path: Path) -> dict[str | None, Record]:
    """A per-task leaderboard CSV as {row key: record}; the key is the model URI, followed by
    the row's configuration label when the leaderboard keeps several configurations apart."""
    frame = _load_frame(path)
    missing = [c for c in ("model", "task_version", "data_fingerprint") if c not in frame.columns]
    if missing:
        raise MMBenchError(
            f"{str(path)!r} is not a per-task leaderboard CSV (no {', '.join(missing)} column);"
            " pass <task>.csv files written by `mmbench leaderboard`, not summary.csv"
        )
    metric_cols = [c for c in frame.columns if c not in META_COLUMNS and not is_interval_column(c)]
    default_task = path.stem.split("@", 1)[0]  # <task>.csv or <task>@v<version>-<fp8>.csv
    records: dict[str | None, Record] = {}
    for row in frame.to_dict("records"):
        model = text(row.get("model"))
        key = f"{model} [{row['config']}]" if text(row.get("config")) else model
        if key in records:
            raise MMBenchError(
                f"{str(path)!r} lists model {key!r} twice; rebuild it with `mmbench leaderboard`"
            )
        metrics = {
            c: v for c, v in ((c, finite_float(row.get(c))) for c in metric_cols) if v is not None
        }
        ci = {}
        for c in metric_cols:
            interval = _interval([row.get(f"{c}_ci_lo"), row.get(f"{c}_ci_hi")])
            if interval is not None:
                ci[c] = interval
        records[key] = Record(
            task=text(row.get("task")) or default_task,
            version=text(row.get("task_version")),
            data_fingerprint=text(row.get("data_fingerprint")),
            metrics=metrics,
            ci=ci,
            n=_int(row.get("n")),
            limit=_int(row.get("limit")),
            skipped=_int(row.get("skipped")) or 0,
            model=model,
            dtype=text(row.get("dtype")),
            seed=text(row.get("seed")),
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


def _intervals(raw: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {k: ci for k, ci in ((k, _interval(v)) for k, v in raw.items()) if ci is not None}


def _interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = finite_float(value[0]), finite_float(value[1])
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    number = finite_float(value)
    return None if number is None else int(number)


def text(value: Any) -> str:
    """Version / fingerprint as text, so JSON 1 and CSV '1' compare equal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else json.dumps(value)
