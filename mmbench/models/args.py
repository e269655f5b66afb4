"""`--model-args k=v,...`: per-model settings, parsed once and validated by each scheme.

The text follows lm-evaluation-harness (`simple_parse_args_string` / `handle_arg_string`): pairs
separated by commas, key and value by the first `=`; a value reads as a bool when it is
`true`/`false` (any case), else an int, else a float, else it stays a string. Each scheme's module
declares the arguments it accepts in `MODEL_ARGS` (name -> `ModelArg`); an unknown name is a
one-line error with the nearest valid one, and a value of the wrong type is one too. Values that
are URLs have their credentials redacted wherever they are recorded (`redact_args`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmbench.errors import MMBenchError, did_you_mean

REDACTED = "***"


@dataclass(frozen=True)
class ModelArg:
    """One accepted model argument: its type(s), what it does, and whether outputs depend on it
    (those go into the adapter's fingerprint)."""

    types: tuple[type, ...]
    help: str
    affects_outputs: bool = True
    choices: tuple[Any, ...] = ()


def parse_value(text: str) -> bool | int | float | str:
    """lm-eval's rule: true/false (any case) -> bool, then int, then float, else the string."""
    if text.lower() == "true":
        return True
    if text.lower() == "false":
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_args(text: str) -> dict[str, Any]:
    """Parse 'k=v,k2=v2' (empty pairs ignored); a pair without '=' or a repeated key is an error."""
    args: dict[str, Any] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MMBenchError(
                f"--model-args: expected KEY=VALUE pairs separated by commas, got {pair!r}"
                " (e.g. --model-args concurrency=8,timeout=60)"
            )
        if key in args:
            raise MMBenchError(f"--model-args: {key!r} is given twice; keep one")
        args[key] = parse_value(value.strip())
    return args


def validate_model_args(
    scheme: str, declared: Mapping[str, ModelArg] | None, args: Mapping[str, Any]
) -> dict[str, Any]:
    """Check `args` against a scheme's `MODEL_ARGS`; ints are accepted where floats are."""
    if not args:
        return {}
    if declared is None:
        declared = {}
    for name, value in args.items():
        spec = declared.get(name)
        if spec is None:
            accepted = ", ".join(sorted(declared)) or "none"
            raise MMBenchError(
                f"--model-args: {scheme}: models do not take {name!r}"
                f"{did_you_mean(name, declared)}; accepted: {accepted}"
            )
        kinds = spec.types + ((int,) if float in spec.types else ())
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in spec.types):
            wanted = " or ".join(t.__name__ for t in spec.types)
            raise MMBenchError(
                f"--model-args: {name} must be a {wanted}, got {value!r} (a {type(value).__name__})"
            )
        if spec.choices and value not in spec.choices:
            raise MMBenchError(
                f"--model-args: {name} must be one of {', '.join(map(str, spec.choices))},"
                f" got {value!r}{did_you_mean(str(value), map(str, spec.choices))}"
            )
    return dict(args)


def redact_url(url: str) -> str:
    """`url` with any user:password and query string replaced by '***' (they may hold secrets)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rpartition("@")[2]
    query = REDACTED if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `args` safe to record: URL values lose their credentials (`redact_url`)."""
    return {k: redact_url(v) if isinstance(v, str) and "://" in v else v for k, v in args.items()}


def output_args(declared: Mapping[str, ModelArg], args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that can change outputs (part of a fingerprint), sorted by name."""
    return {k: args[k] for k in sorted(args) if k in declared and declared[k].affects_outputs}
