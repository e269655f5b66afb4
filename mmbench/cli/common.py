"""Values and helpers shared by the command-line commands: argument types, task folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbench.errors import MMBenchError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def limit(text: str) -> int | float:
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


def batch_size(text: str) -> int | None:
    return None if text == "auto" else positive_int(text)


def workers(text: str) -> int | None:
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


def gen_kwargs(text: str) -> dict[str, object]:
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


def model_args(text: str) -> dict[str, object]:
    """`--model-args k=v,...` (lm-eval's convention, see `mmbench.models.args`)."""
    from mmbench.models.args import parse_model_args

    try:
        return parse_model_args(text)
    except MMBenchError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--model-args: ")) from None


def add_include_path(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--include-path DIR` (lm-eval's `--include_path` too), repeatable; see `include_paths`."""
    parser.add_argument(
        "--include-path",
        "--include_path",
        dest="include_path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help=help_text,
    )


def include_paths(folders: list[Path]) -> None:
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
