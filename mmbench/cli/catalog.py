"""Commands about what is available and stored: `list`, `show`, `download`, `cache`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmbench.cli.common import add_include_path, include_paths
from mmbench.errors import MMBenchError


def add_catalog(commands: argparse._SubParsersAction) -> None:
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


def add_cache(commands: argparse._SubParsersAction) -> None:
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


def add_download(commands: argparse._SubParsersAction) -> None:
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
    add_include_path(
        download,
        "also read task YAMLs from DIR",
    )
    download.set_defaults(handler=_cmd_download)


def _cmd_download(args: argparse.Namespace) -> int:
    from mmbench.download import download_all
    from mmbench.suite import expand_tasks

    include_paths(args.include_path)
    tasks = expand_tasks(args.tasks)
    if not tasks and not args.model:
        raise MMBenchError("nothing to download: name tasks (or group:NAME) and/or --model URI")
    failed = download_all(tasks, args.model, report=print)
    for name, message in failed:
        print(f"mmbench: failed: {name}: {message}", file=sys.stderr)
    return 2 if failed else 0


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
