"""User-facing errors.

Every problem a user can fix (bad input, missing file, unknown name, missing capability) is raised
as an `MMBenchError` whose message is one line naming the thing and the fix. The CLI prints it and
exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

_Entry = TypeVar("_Entry")


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


def registry_entry(registry: Mapping[str, _Entry], name: str, unknown: str, known: str) -> _Entry:
    """`registry[name]`; a missing name raises the one-line `MMBenchError`
    "{unknown} {name!r}{did you mean}; {known}: {every name, in registry order}"."""
    if name not in registry:
        raise MMBenchError(
            f"{unknown} {name!r}{did_you_mean(name, registry)}; {known}: {', '.join(registry)}"
        )
    return registry[name]


def check_template(template: str, fields: Mapping[str, object], what: str, allowed: str) -> None:
    """Fill the `str.format` template with `fields`; a field outside them or a stray brace
    raises the one-line `MMBenchError` "{what} {template!r} may use only {allowed} ({error})"."""
    try:
        template.format(**fields)
    except (KeyError, IndexError, ValueError) as err:
        raise MMBenchError(
            f"{what} {template!r} may use only {allowed} ({type(err).__name__}: {err})"
        ) from err


def check_keys(
    raw: Mapping[str, object],
    allowed: Collection[str],
    required: Iterable[str],
    *,
    unknown: str,
    missing: str,
    fix: str,
) -> None:
    """Check the keys of a YAML mapping: keys outside `allowed` raise the one-line
    `MMBenchError` "{unknown} key(s) a, b{did you mean}; allowed: {allowed}" (sorted, the hint
    for the first), then `required` keys it lacks "{missing} key(s) c, d{fix}"."""
    extra = sorted(set(raw) - set(allowed))
    if extra:
        raise MMBenchError(
            f"{unknown} key(s) {', '.join(extra)}{did_you_mean(extra[0], allowed)};"
            f" allowed: {', '.join(allowed)}"
        )
    absent = [k for k in required if k not in raw]
    if absent:
        raise MMBenchError(f"{missing} key(s) {', '.join(absent)}{fix}")
