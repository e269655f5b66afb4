"""Files of `mmbench leaderboard`: CSV and Markdown text, and the lock that serialises writers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError

LOCK_NAME = ".leaderboard.lock"


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """CSV with full precision (machine-readable; the Markdown is the rounded view)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue()


def markdown_doc(title: str, intro: str, header: list[str], rows: list[list[Any]]) -> str:
    """A titled Markdown table; numbers to 4 decimals; every column but the first right-aligned."""
    cells = [[md_cell(value) for value in row] for row in rows]
    lines = [
        f"# {title}",
        "",
        intro,
        "",
        "| " + " | ".join(md_escape(h) for h in header) + " |",
        "|" + "|".join(["---", *(["---:"] * (len(header) - 1))]) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines) + "\n"


def md_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return md_escape(str(value))


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------- file I/O


class LeaderboardLock:
    """`filelock.FileLock` on `<out>/.leaderboard.lock`, with a user-facing timeout message."""

    def __init__(self, out_dir: Path, timeout_s: float) -> None:
        from filelock import FileLock

        self.path = out_dir / LOCK_NAME
        self.timeout_s = timeout_s
        self.lock = FileLock(str(self.path), timeout=timeout_s)

    def __enter__(self) -> None:
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout as err:
            raise MMBenchError(
                f"another `mmbench leaderboard` has held {self.path} for {self.timeout_s:.0f} s;"
                " wait for it, or delete the lock file if no such process is running"
            ) from err

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
