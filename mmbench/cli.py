"""Command-line interface: `mmbench run | list | show | leaderboard | compare | cache`.

Only argparse and the standard library load at start-up; torch and transformers are imported by
the commands that need them, so `--help` and `list` answer instantly. Exit codes: 0 success,
1 a regression found by `compare`, 2 a usage or input error (one line on stderr),
3 a run that finished but skipped failed samples or could not compute a requested metric,
4 an unexpected internal error (one line naming a log file with the traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench import __version__
from mmbench.errors import MMBenchError
from mmbench.verbosity import configure_logging, failure, parse_verbosity

EXIT_USAGE = 2
logger = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _limit(text: str) -> int | float:
    """A row count (>= 1) or a fraction of the rows in (0, 1), as lm-eval's `--limit`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value.is_integer() and value >= 1:
        return int(value)
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(
        f"expected a whole number of rows >= 1 or a fraction between 0 and 1, got {text!r}"
    )


def _batch_size(text: str) -> int | None:
    return None if text == "auto" else _positive_int(text)


def _workers(text: str) -> int | None:
    """A worker count, or None for 'auto' (resolved by the runner once the device is known)."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _gen_kwargs(text: str) -> dict[str, object]:
    """Parse 'k=v,k2=v2' with JSON values where they parse (ints, floats, true/false)."""
    import json

    settings: dict[str, object] = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE pairs, got {pair!r}")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return settings


def _model_args(text: str) -> dict[str, object]:
    """`--model-args k=v,...` (lm-eval's convention, see `mmbench.models.args`)."""
    from mmbench.models.args import parse_model_args

    try:
        return parse_model_args(text)
    except MMBenchError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--model-args: ")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmbench",
        description="Evaluate multimodal models (retrieval, zero-shot classification, captioning,"
        " QA) with exact metrics and a JSON record of what ran.",
        epilog="Example: mmbench run --model builtin:effnet-minilm --task mini-retrieval",
    )
    parser.add_argument("--version", action="version", version=f"mmbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="evaluate a model on a task and write the result JSON",
        description="Evaluate MODEL on TASK, print a metrics table and write"
        " OUTPUT_DIR/<task>__<model>-<sha8 of the URI>[__limit-N].json plus a per-sample"
        " .samples.jsonl beside it (a rerun of another configuration is written beside an"
        " existing result, never over it).",
    )
    run.add_argument(
        "--model",
        action="append",
        help="model URI: builtin:NAME, hf:ID[@REV] or hf:DIR,"
        " open_clip:ARCH/PRETRAINED, py:MODULE:FACTORY, openai:MODEL (a served model);"
        " repeat it to run every model on every task, each model loaded once",
    )
    run.add_argument(
        "--task",
        "--tasks",
        dest="task",
        action="append",
        help="task name (see `mmbench list tasks`) or a YAML path; several: a,b or repeated;"
        " group:NAME for a task group (YAML in a task folder's groups/)",
    )
    run.add_argument(
        "--config",
        type=Path,
        help="run config YAML: models, tasks and options (any run option by its long name);"
        " options given on the command line win",
    )
    run.add_argument(
        "--limit",
        type=_limit,
        help="evaluate only the first N rows (stable order), or a fraction 0<F<1 of them"
        " (recorded as the number of rows it selected)",
    )
    run.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=_batch_size,
        default=32,
        metavar="N|auto",
        help="items per model call (default 32; auto = largest that fits, backing off on OOM)",
    )
    run.add_argument("--device", default="auto", help="auto (GPU if visible), cpu, cuda, cuda:N")
    run.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="model precision (default auto: float32 on CPU)",
    )
    run.add_argument(
        "--output-dir",
        "--output_path",
        dest="output_dir",
        type=Path,
        default=Path("results"),
        help="where results go (default results/)",
    )
    run.add_argument(
        "--seed", type=int, default=0, help="seed for random baselines and the bootstrap"
    )
    run.add_argument(
        "--data-dir", type=Path, help="read the task's dataset from this local copy (hub schema)"
    )
    run.add_argument(
        "--num-workers",
        type=_workers,
        default=None,
        metavar="N|auto",
        help="DataLoader worker processes for decoding (default auto: none on a CPU, where the"
        " model needs every core; all cores but one, at most 8, when the model is on a GPU)",
    )
    run.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="add percentile-bootstrap 95%% intervals from N resamples",
    )
    run.add_argument(
        "--on-error",
        choices=["fail", "skip"],
        default="fail",
        help="a missing/corrupt media file: fail (exit 2) or skip it and exit 3",
    )
    run.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the output cache"
    )
    run.add_argument(
        "--cache-dir", type=Path, help="cache folder (default $MMBENCH_CACHE or ~/.cache/mmbench)"
    )
    run.add_argument(
        "--embedding-store",
        choices=["auto", "memory", "disk"],
        default="auto",
        help="where retrieval keeps its embedding matrices: disk = memory-mapped scratch files in"
        " the cache folder, for galleries larger than memory; auto (default) = disk when a matrix"
        " would take over a quarter of the available memory",
    )
    run.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow hf: models that run code from their repository (off by default)",
    )
    run.add_argument(
        "--gen-kwargs",
        "--gen_kwargs",
        dest="gen_kwargs",
        type=_gen_kwargs,
        default={},
        metavar="K=V,...",
        help="generation settings for generative models, e.g. max_new_tokens=64,num_beams=3"
        " (greedy decoding with 32 new tokens by default; recorded in the result)",
    )
    run.add_argument(
        "--max-image-pixels",
        type=_positive_int,
        default=None,
        metavar="N",
        help="an image with more pixels is a per-sample error, skipped by --on-error skip"
        " (default: Pillow's Image.MAX_IMAGE_PIXELS, about 89 million)",
    )
    run.add_argument(
        "--model-args",
        "--model_args",
        dest="model_args",
        type=_model_args,
        default={},
        metavar="K=V,...",
        help="settings of the model's scheme, e.g. base_url=...,concurrency=16 for openai:"
        " (values read as bool/int/float/str; see docs/models.md; recorded in the result)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the result JSON to exactly FILE (replaced if it exists) and its samples"
        " beside it; one model and one task only",
    )
    run.add_argument(
        "--include-path",
        "--include_path",
        dest="include_path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also read task YAMLs (and groups/) from DIR, before MMBENCH_TASKS_PATH (repeatable)",
    )
    run.set_defaults(handler=_cmd_run)

    listing = commands.add_parser(
        "list",
        help="list tasks, models or metrics",
        description="List what is available, one line each.",
    )
    listing.add_argument("what", choices=["tasks", "models", "metrics"])
    listing.set_defaults(handler=_cmd_list)

    show = commands.add_parser(
        "show",
        help="print a task's resolved spec",
        description="Print the resolved, validated spec of a task as YAML.",
    )
    show.add_argument("what", choices=["task"])
    show.add_argument("name", help="task name or YAML path")
    show.set_defaults(handler=_cmd_show)

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
    _add_report(commands)
    _add_download(commands)
    _add_score(commands)

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

    cache = commands.add_parser(
        "cache",
        help="inspect or clear the output cache",
        description="Inspect or clear the content-addressed output cache.",
    )
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument(
        "--cache-dir", type=Path, help="cache folder (default $MMBENCH_CACHE or ~/.cache/mmbench)"
    )
    cache.set_defaults(handler=_cmd_cache)
    _add_verbosity(parser, commands)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, commands: argparse._SubParsersAction) -> None:
    """`--verbosity` before or after the command name (the command's spelling wins)."""
    text = (
        "quiet (warnings only, no progress bar), info (default) or debug (mmbench's debug log"
        " and tracebacks); lm-eval's DEBUG/INFO/WARNING/ERROR are accepted"
    )
    parser.add_argument(
        "--verbosity", type=parse_verbosity, default="info", metavar="LEVEL", help=text
    )
    for sub in dict.fromkeys(commands.choices.values()):
        sub.add_argument(
            "--verbosity",
            type=parse_verbosity,
            default=argparse.SUPPRESS,
            metavar="LEVEL",
            help=text,
        )


def _tolerance_help() -> str:
    # The wording lives beside the rule it describes; importing compare costs nothing.
    from mmbench.compare import TOLERANCE_HELP

    return TOLERANCE_HELP


def main(argv: Sequence[str] | None = None) -> int:
    # Building the parser imports a few modules: a bug there is an internal error too, reported
    # at the verbosity asked for even though the arguments are not parsed yet.
    configure_logging(_early_verbosity(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        configure_logging(getattr(args, "verbosity", "info"))
        return int(args.handler(args) or 0)
    except MMBenchError as err:
        logger.debug("expected error", exc_info=True)
        print(f"mmbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "mmbench: interrupted; finished cache entries are kept, re-run to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as err:  # the last line of defence: a full disk is 2, a bug 4; one line
        code, line = failure(err)
        if code == EXIT_USAGE:
            logger.debug("environment error", exc_info=True)
            line = f"error: {line}"
        print(f"mmbench: {line}", file=sys.stderr)
        return code


def _early_verbosity(argv: Sequence[str]) -> str:
    """`--verbosity LEVEL` (or `--verbosity=LEVEL`) as found in `argv`, else info."""
    for index, arg in enumerate(argv):
        value = None
        if arg == "--verbosity" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--verbosity="):
            value = arg.partition("=")[2]
        if value is not None:
            try:
                return parse_verbosity(value)
            except argparse.ArgumentTypeError:
                return "info"  # argparse reports it once the parser is built
    return "info"


def _cmd_run(args: argparse.Namespace) -> int:
    from mmbench import suite
    from mmbench.runner import RunRequest, run

    config = suite.load_config(args.config) if args.config else None
    if config is not None:
        _apply_config(args, config.options)
    _include_paths(args.include_path)
    models = list(dict.fromkeys(args.model or (config.models if config else [])))
    tasks = suite.expand_tasks(args.task or (config.tasks if config else []))
    if not models:
        raise MMBenchError(
            "no model to run: pass --model URI (repeatable) or `models:` in --config"
        )
    if not tasks:
        raise MMBenchError("no task to run: pass --task NAME[,NAME...] or `tasks:` in --config")
    if args.output is not None and len(models) * len(tasks) > 1:
        raise MMBenchError(
            "--output FILE names one result, but this runs several models or tasks;"
            " pass --output-dir DIR instead"
        )
    quiet = getattr(args, "verbosity", "info") == "quiet"
    request = RunRequest(
        model=models[0],
        task=tasks[0],
        output_dir=args.output_dir,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
        num_workers=args.num_workers,
        data_dir=args.data_dir,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
        embedding_store=args.embedding_store,
        bootstrap=args.bootstrap,
        on_error=args.on_error,
        trust_remote_code=args.trust_remote_code,
        progress=not args.quiet and not quiet,
        generation=args.gen_kwargs,
        model_args=args.model_args,
        max_image_pixels=args.max_image_pixels,
        output=args.output,
    )
    if len(models) == 1 and len(tasks) == 1 and config is None:
        return _print_outcome(run(request))
    pairs = suite.run_suite(
        request,
        models,
        tasks,
        on_done=lambda pair: _print_outcome(pair.outcome) if pair.outcome else None,
        progress=None if quiet else lambda line: print(f"mmbench: {line}", file=sys.stderr),
    )
    suite.print_failures(pairs)
    return max(pair.exit_code for pair in pairs)


def _print_outcome(outcome: Any) -> int:
    """Print one run's metrics, timing, result path and warnings; return its exit code."""
    from mmbench.table import format_metrics

    if outcome.path is None:
        return outcome.exit_code
    result = outcome.result
    print(f"{result.task.name} (v{result.task.version}, n={result.task.n}) — {result.model.uri}")
    print(format_metrics(result.metrics, result.ci))
    print(
        f"time {result.timing['total_s']:.1f}s · {result.timing['items_per_s']:.1f} items/s"
        f" · wrote {outcome.path}"
    )
    for row, message in list(outcome.failures.items())[:5]:
        print(f"mmbench: warning: skipped row {row}: {message}", file=sys.stderr)
    if len(outcome.failures) > 5:
        print(
            f"mmbench: warning: {len(outcome.failures)} rows skipped in all (see the result JSON)",
            file=sys.stderr,
        )
    for metric, message in outcome.metric_errors.items():
        print(f"mmbench: warning: {metric} not computed: {message}", file=sys.stderr)
    return outcome.exit_code


#: run options a config file may not set (they choose what runs, or are the config itself)
_NOT_CONFIG_OPTIONS = {"help", "config", "model", "task", "handler", "output"}


def _apply_config(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """Set run options from a config file where the command line left them at their default,
    converting text values as the command line would."""
    from mmbench.errors import did_you_mean

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.dest: a for a in commands.choices["run"]._actions}
    allowed = sorted(set(actions) - _NOT_CONFIG_OPTIONS)
    for key, value in options.items():
        action = actions.get(key)
        if action is None or key in _NOT_CONFIG_OPTIONS:
            raise MMBenchError(
                f"--config option {key!r} is not a run option{did_you_mean(key, allowed)};"
                f" options: {', '.join(allowed)}"
            )
        if getattr(args, key) != action.default:
            continue  # given on the command line, which wins
        setattr(args, key, _convert(action, value, key))


def _convert(action: argparse.Action, value: Any, key: str) -> Any:
    def one(item: Any) -> Any:
        if isinstance(item, str) and action.type is not None:
            try:
                return action.type(item)
            except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
                raise MMBenchError(f"--config option {key}: {err}") from None
        return item

    converted = [one(v) for v in value] if isinstance(value, list) else one(value)
    if action.choices is not None and converted not in action.choices:
        raise MMBenchError(
            f"--config option {key}: {value!r} is not one of {', '.join(map(str, action.choices))}"
        )
    return converted


def _include_paths(folders: list[Path]) -> None:
    """`--include-path DIR`: search DIR for task YAMLs before MMBENCH_TASKS_PATH's folders."""
    import os

    for folder in folders:
        if not folder.is_dir():
            raise MMBenchError(
                f"--include-path {folder} is not a folder; pass a folder of task YAMLs"
            )
    if folders:
        current = [p for p in os.environ.get("MMBENCH_TASKS_PATH", "").split(os.pathsep) if p]
        os.environ["MMBENCH_TASKS_PATH"] = os.pathsep.join([*map(str, folders), *current])


def _cmd_list(args: argparse.Namespace) -> int:
    from mmbench.table import format_rows

    if args.what == "tasks":
        from mmbench.tasks import read_spec, task_files, task_path_warnings

        rows = []
        for warning in task_path_warnings():
            print(f"mmbench: warning: {warning}", file=sys.stderr)
        for name, path in sorted(task_files().items()):
            try:
                spec = read_spec(path)
            except MMBenchError as err:  # one broken YAML only hides its own task
                print(f"mmbench: warning: task {name!r} unavailable: {err}", file=sys.stderr)
                continue
            rows.append((name, spec.type, spec.description))
        print(format_rows(("task", "type", "description"), rows))
    elif args.what == "models":
        from mmbench.models import SCHEMES
        from mmbench.models.builtin import BUILTIN_MODELS

        rows = [(f"builtin:{name}", text) for name, text in BUILTIN_MODELS.items()]
        rows += [
            (f"{scheme}:…", text) for scheme, (_, text) in SCHEMES.items() if scheme != "builtin"
        ]
        print(format_rows(("model", "description"), rows))
    else:
        from mmbench.tasks import TASK_TYPES, get_task_type

        rows = []
        for type_name in TASK_TYPES:
            for metric, text in get_task_type(type_name).metrics.items():
                rows.append((type_name, metric, text))
        print(format_rows(("task type", "metric", "description"), rows))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from mmbench.tasks import load_task

    print(
        yaml.safe_dump(load_task(args.name).to_dict(), sort_keys=False, allow_unicode=True), end=""
    )
    return 0


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


def _add_report(commands: argparse._SubParsersAction) -> None:
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
    report.add_argument(
        "--include-path",
        "--include_path",
        dest="include_path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also read task YAMLs from DIR (for the thumbnails of your own tasks)",
    )
    report.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from mmbench.report import build_report

    _include_paths(args.include_path)
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


def _add_score(commands: argparse._SubParsersAction) -> None:
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
    score.add_argument("--bootstrap", type=_positive_int, default=0, metavar="N")
    score.add_argument("--seed", type=int, default=0)
    score.set_defaults(handler=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from mmbench.scoring import ScoreRequest, score
    from mmbench.table import format_metrics

    outcome = score(
        ScoreRequest(
            task=args.task,
            predictions=args.predictions,
            model_name=args.model_name,
            output_dir=args.output_dir,
            data_dir=args.data_dir,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
    )
    print(format_metrics(outcome.result.metrics, outcome.result.ci))
    print(outcome.path)
    return outcome.exit_code


def _add_download(commands: argparse._SubParsersAction) -> None:
    download = commands.add_parser(
        "download",
        help="fetch tasks' datasets (and hf: models) into the Hugging Face cache",
        description="Fetch each TASK's dataset (task names or group:NAME) and each --model's"
        " files into the Hugging Face caches (HF_HOME), so a later run works offline with"
        " HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1.",
    )
    download.add_argument("tasks", nargs="*", help="task names, a,b lists or group:NAME")
    download.add_argument(
        "--model", action="append", default=[], help="a model URI to fetch too (repeatable)"
    )
    download.add_argument(
        "--include-path",
        "--include_path",
        dest="include_path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also read task YAMLs from DIR",
    )
    download.set_defaults(handler=_cmd_download)


def _cmd_download(args: argparse.Namespace) -> int:
    from mmbench.download import download_all
    from mmbench.suite import expand_tasks

    _include_paths(args.include_path)
    tasks = expand_tasks(args.tasks)
    if not tasks and not args.model:
        raise MMBenchError("nothing to download: name tasks (or group:NAME) and/or --model URI")
    failed = download_all(tasks, args.model, report=print)
    for name, message in failed:
        print(f"mmbench: failed: {name}: {message}", file=sys.stderr)
    return 2 if failed else 0


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


def _cmd_cache(args: argparse.Namespace) -> int:
    from mmbench.cache import clear_cache_dir, read_cache_stats

    if args.action == "clear":
        print(clear_cache_dir(args.cache_dir))
        return 0
    stats = read_cache_stats(args.cache_dir)
    print(f"cache: {stats.path}")
    print(f"entries: {stats.entries} ({stats.size_bytes / 1e6:.1f} MB)")
    for capability, count in sorted(stats.by_capability.items()):
        print(f"  {capability}: {count}")
    return 0
