"""`mmbench run`: its options, config files and suites, and how an outcome is printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmbench.cli.common import (
    add_include_path,
    batch_size,
    gen_kwargs,
    include_paths,
    limit,
    model_args,
    positive_int,
    workers,
)
from mmbench.errors import MMBenchError


def add_run(commands: argparse._SubParsersAction) -> None:
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
        type=limit,
        help="evaluate only the first N rows (stable order), or a fraction 0<F<1 of them"
        " (recorded as the number of rows it selected)",
    )
    run.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=batch_size,
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
        type=workers,
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
        type=gen_kwargs,
        default={},
        metavar="K=V,...",
        help="generation settings for generative models, e.g. max_new_tokens=64,num_beams=3"
        " (greedy decoding with 32 new tokens by default; recorded in the result)",
    )
    run.add_argument(
        "--max-image-pixels",
        type=positive_int,
        default=None,
        metavar="N",
        help="an image with more pixels is a per-sample error, skipped by --on-error skip"
        " (default: Pillow's Image.MAX_IMAGE_PIXELS, about 89 million)",
    )
    run.add_argument(
        "--model-args",
        "--model_args",
        dest="model_args",
        type=model_args,
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
    add_include_path(
        run,
        "also read task YAMLs (and groups/) from DIR, before MMBENCH_TASKS_PATH (repeatable)",
    )
    # the parser itself travels with the arguments: --config checks its options against it
    run.set_defaults(handler=_cmd_run, run_parser=run)


def _cmd_run(args: argparse.Namespace) -> int:
    from mmbench import suite
    from mmbench.runner import RunRequest, run

    config = suite.load_config(args.config) if args.config else None
    if config is not None:
        _apply_config(args, config.options)
    include_paths(args.include_path)
    given = [suite.SuiteModel(uri) for uri in args.model or []]
    candidates = given or (config.models if config else [])
    models = [m for i, m in enumerate(candidates) if m not in candidates[:i]]  # once each
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
        model=models[0].uri,
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
_NOT_CONFIG_OPTIONS = {"help", "config", "model", "task", "handler", "run_parser", "output"}


def _apply_config(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """Set run options from a config file where the command line left them at their default,
    converting text values as the command line would."""
    from mmbench.errors import did_you_mean

    actions = {a.dest: a for a in args.run_parser._actions}
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
