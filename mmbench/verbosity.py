"""`--verbosity` and what the user sees when something goes wrong.

Three levels: `quiet` (warnings and errors only, no progress bar), `info` (the default) and
`debug` (mmbench's DEBUG log records and the traceback of any error). lm-eval's spellings are
accepted too, case-insensitively: DEBUG -> debug, INFO -> info, WARNING / ERROR / CRITICAL ->
quiet. Only the `mmbench` logger is configured, so a host program's logging is left alone.

Exit codes (docs/architecture.md, "Failure modes"): an expected failure is one line and exit 2;
an unexpected internal error is one line naming a log file that holds the traceback, exit 4
(the traceback goes to stderr instead with `--verbosity debug`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

VERBOSITIES = ("quiet", "info", "debug")
_ALIASES = {
    "quiet": "quiet",
    "info": "info",
    "debug": "debug",
    "warning": "quiet",
    "warn": "quiet",
    "error": "quiet",
    "critical": "quiet",
}
_LEVELS = {"quiet": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
EXIT_USAGE = 2
EXIT_INTERNAL = 4
#: OS errors that come from the user's environment (a full disk, a path that is a folder, no
#: permission), reported as one line with exit 2 rather than as internal errors.
USER_OS_ERRORS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.ENOENT,
    errno.ENAMETOOLONG,
    errno.EMFILE,
}


def parse_verbosity(text: str) -> str:
    """argparse type: one of `VERBOSITIES`, from mmbench's or lm-eval's spelling."""
    value = _ALIASES.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected quiet, info or debug (or DEBUG/INFO/WARNING/ERROR), got {text!r}"
        )
    return value


def configure_logging(verbosity: str) -> None:
    """Send the `mmbench` logger's records at the chosen level to stderr, one line each."""
    logger = logging.getLogger("mmbench")
    logger.setLevel(_LEVELS[verbosity])
    handler = next((h for h in logger.handlers if getattr(h, "_mmbench_cli", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler._mmbench_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setFormatter(_LineFormatter(with_names=verbosity == "debug"))
    logger.propagate = False


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (a host program or a test
    may have replaced it since the handler was made)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _LineFormatter(logging.Formatter):
    """`mmbench: warning: message`, as the CLI's own lines; debug adds the logger's name."""

    def __init__(self, with_names: bool) -> None:
        super().__init__()
        self.with_names = with_names

    def format(self, record: logging.LogRecord) -> str:
        name = f"{record.name}: " if self.with_names else ""
        line = f"mmbench: {record.levelname.lower()}: {name}{record.getMessage()}"
        if record.exc_info and self.with_names:
            line += "\n" + self.formatException(record.exc_info)
        return line


def os_error_line(err: OSError) -> str | None:
    """One line for an OS error caused by the environment, or None when it looks like a bug."""
    if err.errno not in USER_OS_ERRORS:
        return None
    where = f" {err.filename}" if err.filename else ""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device writing{where or ' a file'}; free some space (or point"
            " --output-dir / MMBENCH_CACHE elsewhere) and re-run: finished cache entries and"
            " earlier results are kept"
        )
    return f"cannot use{where or ' a file'} ({err.strerror}); check the path and its permissions"


def failure(err: Exception) -> tuple[int, str]:
    """(exit code, one line) for an exception that was not an `MMBenchError`: 2 for an OS error
    of the environment (a full disk, a path that is a folder), else 4 with `internal_error_line`
    at the verbosity the `mmbench` logger was configured with."""
    if isinstance(err, OSError):
        line = os_error_line(err)
        if line is not None:
            return EXIT_USAGE, line
    debug = logging.getLogger("mmbench").isEnabledFor(logging.DEBUG)
    return EXIT_INTERNAL, internal_error_line(err, "debug" if debug else "info")


def internal_error_line(err: BaseException, verbosity: str) -> str:
    """The one line shown for an unexpected error; writes the traceback to a log file (or to
    stderr with `--verbosity debug`) and names it."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    summary = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    if verbosity == "debug":
        sys.stderr.write(text)
        return f"internal error ({summary}); this is a bug in mmbench, please report it"
    log = _write_log(text)
    where = f"the traceback is in {log}" if log else "re-run with --verbosity debug for details"
    return f"internal error ({summary}); {where}; this is a bug in mmbench, please report it"


def _write_log(text: str) -> Path | None:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = f"mmbench-error-{stamp}-{os.getpid()}.log"
    cache = os.environ.get("MMBENCH_CACHE") or str(Path.home() / ".cache" / "mmbench")
    for folder in (Path(cache) / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None
