"""Command-line interface: `mmbench run | list | show | leaderboard | compare | report | score |
download | cache`.

Only argparse and the standard library load at start-up; torch and transformers are imported by
the commands that need them, so `--help` and `list` answer instantly. Exit codes: 0 success,
1 a regression found by `compare`, 2 a usage or input error (one line on stderr),
3 a run that finished but skipped failed samples or could not compute a requested metric,
4 an unexpected internal error (one line naming a log file with the traceback), 130 interrupted.

Each command lives with its options in one module: `run` (runs, suites, configs), `results`
(leaderboard, compare, report, score), `catalog` (list, show, download, cache); `common` holds
the argument types they share.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mmbench import __version__
from mmbench.cli.catalog import add_cache, add_catalog, add_download
from mmbench.cli.results import add_compare, add_leaderboard, add_report, add_score
from mmbench.cli.run import add_run
from mmbench.errors import MMBenchError
from mmbench.verbosity import configure_logging, failure, parse_verbosity

EXIT_USAGE = 2
logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmbench",
        description="Evaluate multimodal models (retrieval, zero-shot classification, captioning,"
        " QA) with exact metrics and a JSON record of what ran.",
        epilog="Example: mmbench run --model builtin:effnet-minilm --task mini-retrieval",
    )
    parser.add_argument("--version", action="version", version=f"mmbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add_run(commands)
    add_catalog(commands)
    add_leaderboard(commands)
    add_report(commands)
    add_download(commands)
    add_score(commands)
    add_compare(commands)
    add_cache(commands)
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
