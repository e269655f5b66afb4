"""User-facing errors.

Every problem a user can fix (bad input, missing file, unknown name, missing capability) is raised
as an `MMBenchError` whose message is one line naming the thing and the fix. The CLI prints it and
exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MMBenchError(Exception):
    """A problem the user can fix; `str(err)` is the one-line message shown to them."""


class MediaError(MMBenchError):
    """A media file (image or video) is missing, unreadable or corrupt."""


class CapabilityError(MMBenchError):
    """A task needs a model capability the adapter does not provide."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
