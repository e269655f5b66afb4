"""Write the static report: page templates and assets copied from the package, data as JS files.

Layout of `OUT/`::

    index.html            leaderboard: a table per task, the summary, SVG plots (drawn by JS)
    compare.html          two models on one task: the samples where they differ
    assets/               CSS and JS (package data, copied as is)
    data/index.js         every run's metrics, intervals and cost, the summary, the diff files
    runs/<run>/index.html the run's sample view (same page for every run)
    runs/<run>/meta.js    the run's header data; chunk-NNNNN.js: CHUNK samples each
    runs/<run>/ids.js     every sample's id and outcome, loaded on demand (search, failures)
    diffs/<a>__<b>.js     samples two runs of a task disagree on
    media/<task>/*.jpg    thumbnails (see `mmbench.report.media`)

Data files are JavaScript that call `mmbenchData(key, value)` with a JSON value, because pages
opened from file:// may not `fetch` files; pages load them with script tags, the sample chunks
only when shown. Every string from a dataset or a model reaches the page as JSON data and is
written to the DOM as text by the scripts, never as markup.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import string
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import mmbench
import mmbench.report.samples as sample_rules
from mmbench.cost import cost_of
from mmbench.errors import MMBenchError
from mmbench.metrics.registry import lower_is_better
from mmbench.report.collect import Run, collect_runs
from mmbench.report.media import TaskMedia, task_media
from mmbench.results import atomic_write_text, check_writable

#: samples per data chunk: small enough that the first page costs little to load
CHUNK = 250
#: marks a folder as a report, so a rebuild may replace its generated parts
MARKER = ".mmbench-report"
ASSETS = ("report.css", "common.js", "index.js", "run.js", "compare.js")


@dataclass(frozen=True)
class PageHead:
    """The values of a page's head (`static/head.html`, the same for every page, so the pages
    share one Content-Security-Policy); the page's body is `static/<page name>`."""

    title: str
    #: the report folder, relative to the page
    root: str
    #: the data script the page starts from
    data: str
    #: the page's own script in assets/
    script: str


#: pages at the top of the report
PAGES = {
    "index.html": PageHead("mmbench report", "", "data/index.js", "index.js"),
    "compare.html": PageHead("mmbench: compare two models", "", "data/index.js", "compare.js"),
}
#: the sample view, written as runs/<run>/index.html
RUN_PAGE = PageHead("mmbench samples", "../../", "meta.js", "run.js")


@dataclass
class ReportSummary:
    """What `build_report` wrote and what the user should know."""

    index: Path
    runs: int = 0
    warnings: list[str] = field(default_factory=list)


def build_report(
    inputs: list[Path],
    out_dir: Path,
    data_dirs: dict[str, Path] | None = None,
    images: bool = True,
) -> ReportSummary:
    """Write the static report for the results in `inputs` to `out_dir` (see module docstring).

    `data_dirs` maps a task name to a local copy of its dataset (else the run's own `--data-dir`,
    else the task's source); `images=False` skips reading datasets (no thumbnails).
    """
    runs, warnings = collect_runs(inputs)
    check_writable(out_dir)
    remove_stale(out_dir)
    atomic_write_text(
        out_dir / MARKER, "written by mmbench report; rebuilds may replace this folder\n"
    )
    summary = ReportSummary(index=out_dir / "index.html", runs=len(runs), warnings=warnings)
    _copy_static(out_dir)
    tasks: dict[str, list[Run]] = {}
    for run in runs:
        tasks.setdefault(run.task, []).append(run)
    index: dict[str, Any] = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mmbench_version": mmbench.__version__,
        "tasks": [],
    }
    for task, members in tasks.items():
        index["tasks"].append(
            _write_task(task, members, out_dir, (data_dirs or {}).get(task), images, warnings)
        )
    index["summary"] = _summary(index["tasks"])
    _write_data(out_dir / "data" / "index.js", "index", index)
    return summary


def _page(name: str, head: PageHead) -> str:
    """The page `name`: the shared head filled in with `head`, then the page's own body."""
    static = resources.files("mmbench.report") / "static"
    template = string.Template((static / "head.html").read_text(encoding="utf-8"))
    return template.substitute(asdict(head)) + (static / name).read_text(encoding="utf-8")


def _copy_static(out_dir: Path) -> None:
    static = resources.files("mmbench.report") / "static"
    for name, head in PAGES.items():
        atomic_write_text(out_dir / name, _page(name, head))
    for name in ASSETS:
        atomic_write_text(out_dir / "assets" / name, (static / name).read_text(encoding="utf-8"))


def _write_task(
    task: str,
    runs: list[Run],
    out_dir: Path,
    data_dir: Path | None,
    images: bool,
    warnings: list[str],
) -> dict[str, Any]:
    headline = runs[0].headline
    loaded = {run.id: list(run.samples()) for run in runs}
    wanted = {sample_rules.sample_id(s, i) for run in runs for i, s in enumerate(loaded[run.id])}
    media = _media(task, runs, out_dir, data_dir, images, wanted)
    if media.note and wanted:
        warnings.append(f"{task}: {media.note}")
    outcomes: dict[str, list[tuple[str, bool | None]]] = {}
    entries = []
    for run in runs:
        outcomes[run.id] = _write_run(run, loaded[run.id], out_dir, media)
        entries.append(_run_entry(run, len(loaded[run.id]), outcomes[run.id]))
    metrics = list(dict.fromkeys([headline, *(m for r in runs for m in r.metrics)]))
    pairs = []
    for a, b in itertools.combinations(runs, 2):
        pairs.append(_write_diff(a, b, loaded, outcomes, out_dir))
    return {
        "name": task,
        "type": str(runs[0].data["task"].get("type") or ""),
        "headline": headline,
        "metrics": metrics,
        "lower_is_better": [m for m in metrics if lower_is_better(m)],
        "runs": entries,
        "pairs": pairs,
        "media_note": media.note,
    }


def _media(
    task: str,
    runs: list[Run],
    out_dir: Path,
    data_dir: Path | None,
    images: bool,
    wanted: set[str],
) -> TaskMedia:
    if not images:
        return TaskMedia(note="no images: the report was built with --no-images")
    recorded = runs[0].data.get("config", {}).get("data_dir")
    chosen = data_dir or (Path(recorded) if recorded else None)
    fingerprint = str(runs[0].data["task"].get("data_fingerprint") or "")
    limit = runs[0].data["task"].get("limit")
    return task_media(
        task, fingerprint, chosen, out_dir, wanted, limit=limit if isinstance(limit, int) else None
    )


def _write_run(
    run: Run, records: list[dict[str, Any]], out_dir: Path, media: TaskMedia
) -> list[tuple[str, bool | None]]:
    """Write the run's page, meta, chunks and id index; return each sample's (id, failure)."""
    folder = out_dir / "runs" / run.id
    atomic_write_text(folder / "index.html", _page("run.html", RUN_PAGE))
    outcomes = []
    rows = []
    for position, sample in enumerate(records):
        sid = sample_rules.sample_id(sample, position)
        failed = sample_rules.is_failure(sample, run.headline)
        outcomes.append((sid, failed))
        rows.append(
            {
                "id": sid,
                "fail": failed,
                "media": media.thumbs.get(sid),
                "media_error": media.errors.get(sid),
                "fields": sample_rules.display_fields(sample, media.texts.get(sid, {})),
                "scores": sample_rules.numeric_scores(sample),
            }
        )
    chunks = max(1, math.ceil(len(rows) / CHUNK))
    for number in range(chunks):
        part = rows[number * CHUNK : (number + 1) * CHUNK]
        _write_data(folder / f"chunk-{number:05d}.js", f"chunk:{run.id}:{number}", part)
    _write_data(folder / "ids.js", f"ids:{run.id}", [[sid, failed] for sid, failed in outcomes])
    meta = {
        **_run_entry(run, len(rows), outcomes),
        "task": run.task,
        "headline": run.headline,
        "chunks": chunks,
        "media_note": media.note,
        "samples_file": run.samples_path.name if run.samples_path.is_file() else None,
    }
    _write_data(folder / "meta.js", f"meta:{run.id}", meta)
    return outcomes


def _run_entry(run: Run, count: int, outcomes: list[tuple[str, bool | None]]) -> dict[str, Any]:
    return {
        "id": run.id,
        "model": run.model,
        "n": run.data["task"].get("n"),
        "samples": count,
        "chunk": CHUNK,
        "failures": sum(1 for _, failed in outcomes if failed),
        "metrics": run.metrics,
        "ci": {k: list(v) for k, v in run.ci.items()},
        "cost": cost_of(run.data),
        "created_at": run.created_at,
        "limit": run.data["task"].get("limit"),
    }


def _write_diff(
    a: Run,
    b: Run,
    loaded: dict[str, list[dict[str, Any]]],
    outcomes: dict[str, list[tuple[str, bool | None]]],
    out_dir: Path,
) -> dict[str, Any]:
    """The samples runs `a` and `b` disagree on, paired by id.

    Flips are `compare`'s (`mmbench.sample_diff.flipped_samples`): the per-sample value of the
    headline (else the first metric the samples hold) changed, split into better with A and
    better with B, largest change first. Samples without such a value fall back to the report's
    pass/fail (`mmbench.report.samples.flips`). "Other" lists the remaining samples whose
    prediction differs.
    """
    from mmbench.metrics.sample_stats import Unavailable
    from mmbench.sample_diff import diff_metric, flipped_samples

    pos_a = {sid: i for i, (sid, _) in enumerate(outcomes[a.id])}
    pos_b = {sid: i for i, (sid, _) in enumerate(outcomes[b.id])}
    shared = [sid for sid in pos_a if sid in pos_b]
    samples_a = [loaded[a.id][pos_a[sid]] for sid in shared]
    samples_b = [loaded[b.id][pos_b[sid]] for sid in shared]
    metric = diff_metric(a.headline, list(a.metrics), samples_a[0]) if shared else None
    a_better: list[str] = []
    b_better: list[str] = []
    try:
        if metric is None or any("id" not in sample for sample in samples_a):
            raise Unavailable("no per-sample metric or no sample ids")
        for flip in flipped_samples(samples_a, samples_b, metric):
            # flipped_samples reads a as the baseline: "worse" means worse with b
            (a_better if flip.worse else b_better).append(flip.id)
    except Unavailable:
        metric = None
        a_better, b_better = sample_rules.flips(outcomes[a.id], outcomes[b.id])
    flipped = set(a_better) | set(b_better)
    other = [
        sid
        for sid, sa, sb in zip(shared, samples_a, samples_b, strict=True)
        if sid not in flipped and sa.get("prediction") != sb.get("prediction")
    ]
    name = f"{a.id}__{b.id}"
    _write_data(
        out_dir / "diffs" / f"{name}.js",
        f"diff:{name}",
        {
            "a": a.id,
            "b": b.id,
            "metric": metric,
            "a_better": [[sid, pos_a[sid], pos_b[sid]] for sid in a_better],
            "b_better": [[sid, pos_a[sid], pos_b[sid]] for sid in b_better],
            "other": [[sid, pos_a[sid], pos_b[sid]] for sid in other],
        },
    )
    return {
        "a": a.id,
        "b": b.id,
        "file": f"diffs/{name}.js",
        "metric": metric,
        "a_better": len(a_better),
        "b_better": len(b_better),
        "other": len(other),
    }


def _summary(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Models x tasks: each task's headline value and interval."""
    columns = [{"task": t["name"], "metric": t["headline"]} for t in tasks]
    rows: dict[str, dict[str, Any]] = {}
    for task in tasks:
        for entry in task["runs"]:
            row = rows.setdefault(entry["model"], {"model": entry["model"], "values": {}})
            row["values"][task["name"]] = {
                "value": entry["metrics"].get(task["headline"]),
                "ci": entry["ci"].get(task["headline"]),
                "run": entry["id"],
            }
    return {"columns": columns, "rows": list(rows.values())}


def _write_data(path: Path, key: str, value: Any) -> None:
    """`mmbenchData(key, value);` as a script; ASCII-only JSON, so no byte can end the script
    or change its meaning."""
    try:
        payload = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or infinity somewhere: rare, so only then walk the value
        payload = json.dumps(_finite(value), ensure_ascii=True, separators=(",", ":"))
    # No fsync per file: a report is rebuilt whole, and thousands of chunks would wait on the disk
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"mmbenchData({json.dumps(key)},{payload});\n", encoding="ascii")


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def remove_stale(out_dir: Path) -> None:
    """Remove generated run, diff and data folders before a rebuild (thumbnails are kept).

    Only in a folder an earlier `mmbench report` wrote (it holds `MARKER`); any other folder that
    is not empty is refused, so a mistyped `--out` never deletes someone's `data/`.
    """
    if not (out_dir / MARKER).is_file():
        if any(out_dir.iterdir()):
            raise MMBenchError(
                f"--out {out_dir} is not empty and not an mmbench report;"
                " pass a new or empty folder (or an earlier report's folder)"
            )
        return
    for name in ("runs", "diffs", "data"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
