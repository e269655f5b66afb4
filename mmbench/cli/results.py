"""Commands over results: `leaderboard`, `compare`, `report` and `score`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from mmbench.cli.common import add_include_path, include_paths, positive_int
from mmbench.errors import MMBenchError


def add_leaderboard(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser(
        "leaderboard",
        help="collect result JSONs into CSV/Markdown tables and plots",
        description="Collect result JSONs into one CSV per task, a summary CSV,"
        " Markdown copies and a plot per task family.",
    )
    board.add_argument("inputs", nargs="+", type=Path, help="result JSON files or folders")
    board.add_argument(
        "--out",
        type=Path,
        default=Path("leaderboards"),
        help="output folder (default leaderboards/)",
    )
    board.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    board.add_argument(
        "--include-limited",
        action="store_true",
        help="also show --limit runs (partial data, marked); by default they are left out",
    )
    board.set_defaults(handler=_cmd_leaderboard)


def add_compare(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="regression gate: compare two results (exit 1 on a regression)",
        description="Compare NEW against BASELINE (result JSONs or leaderboard CSVs)."
        " Exit 0 when no"
        " selected metric regressed, 1 when one did, 2 when the inputs are not comparable.",
    )
    compare.add_argument("baseline", type=Path)
    compare.add_argument("new", type=Path)
    compare.add_argument("--tolerance", type=float, default=0.5, help=_tolerance_help())
    compare.add_argument(
        "--metric", action="append", dest="metrics", help="only this metric (repeatable)"
    )
    compare.add_argument(
        "--ci",
        action="store_true",
        help="count a drop only when it also leaves the baseline's bootstrap interval",
    )
    compare.add_argument(
        "--alpha",
        type=float,
        metavar="A",
        help="count a drop only when the paired test on the two runs' samples (McNemar or"
        " paired bootstrap, Holm-adjusted over the metrics) gives p < A, e.g. 0.05",
    )
    compare.add_argument(
        "--json", action="store_true", help="print the whole report as one JSON object"
    )
    compare.add_argument(
        "--show",
        type=int,
        default=10,
        metavar="N",
        help="list the N most informative flipped samples (default 10; 0 = none)",
    )
    compare.set_defaults(handler=_cmd_compare)


def _tolerance_help() -> str:
    # The wording lives beside the rule it describes; importing compare costs nothing.
    from mmbench.compare import TOLERANCE_HELP

    return TOLERANCE_HELP


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from mmbench.leaderboard import build_leaderboard

    report = build_leaderboard(
        list(args.inputs), args.out, plot=not args.no_plot, include_limited=args.include_limited
    )
    for warning in report.warnings:
        print(f"mmbench: warning: {warning}", file=sys.stderr)
    for path in report.written:
        print(path)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from mmbench.compare import compare, report_json

    report = compare(
        args.baseline,
        args.new,
        tolerance=args.tolerance,
        metrics=args.metrics,
        use_ci=args.ci,
        alpha=args.alpha,
        show=args.show,
    )
    print(report_json(report) if args.json else report.format_table())
    return report.exit_code


def add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="write a static HTML report: leaderboard, per-sample views, model comparisons",
        description="Write a self-contained static site (OUT/index.html) from result JSONs:"
        " sortable leaderboards with intervals and cost, each run's samples with thumbnails,"
        " and two models side by side. Opens from file:// or any static host; no network.",
    )
    report.add_argument("inputs", nargs="+", type=Path, help="result JSON files or folders")
    report.add_argument(
        "--out", type=Path, default=Path("report"), help="output folder (default report/)"
    )
    report.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="TASK=DIR",
        help="local copy of TASK's dataset for the thumbnails (repeatable; default: the run's"
        " own --data-dir, else the task's source or the Hugging Face cache)",
    )
    report.add_argument(
        "--no-images", action="store_true", help="do not read datasets (no thumbnails)"
    )
    add_include_path(
        report,
        "also read task YAMLs from DIR (for the thumbnails of your own tasks)",
    )
    report.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from mmbench.report import build_report

    include_paths(args.include_path)
    data_dirs: dict[str, Path] = {}
    for item in args.data_dir:
        task, sep, folder = item.partition("=")
        if not sep or not task or not folder:
            raise MMBenchError(f"--data-dir expects TASK=DIR, got {item!r}")
        data_dirs[task] = Path(folder)
    summary = build_report(
        list(args.inputs), args.out, data_dirs=data_dirs, images=not args.no_images
    )
    for warning in summary.warnings:
        print(f"mmbench: warning: {warning}", file=sys.stderr)
    print(f"report of {summary.runs} runs: {summary.index.resolve().as_uri()}")
    return 0


def add_score(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score",
        help="score predictions made elsewhere with a task's exact metrics",
        description='Score a JSONL of {"id", "prediction"} lines ({"id", "label"} with'
        " the class name for classification; ids as the task's samples JSONL writes them) with"
        " the task's own prompts, answer parsing and metrics; writes a normal result JSON and"
        " samples JSONL.",
    )
    score.add_argument("--task", required=True, help="task name (mmbench list tasks)")
    score.add_argument("--predictions", required=True, type=Path, help="JSONL file of predictions")
    score.add_argument(
        "--model-name", help="name recorded as the model (default: the file name without .jsonl)"
    )
    score.add_argument("--output-dir", type=Path, default=Path("results"))
    score.add_argument("--data-dir", type=Path, help="local copy of the task's dataset")
    score.add_argument("--bootstrap", type=positive_int, default=0, metavar="N")
    score.add_argument("--seed", type=int, default=0)
    add_include_path(score, "also read task YAMLs from DIR (to score your own tasks)")
    score.set_defaults(handler=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from mmbench.scoring import ScoreRequest, score
    from mmbench.table import format_metrics

    include_paths(args.include_path)
    # every ScoreRequest field is a `score` option of the same name
    outcome = score(ScoreRequest(**{f.name: getattr(args, f.name) for f in fields(ScoreRequest)}))
    print(format_metrics(outcome.result.metrics, outcome.result.ci))
    print(outcome.path)
    return outcome.exit_code
