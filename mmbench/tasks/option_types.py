"""Type checks of a task YAML's `options:` against the task type's options dataclass.

The dataclasses are built straight from YAML values, which would accept `num_frames: abc` and
fail deep inside a run. Each value is checked against its field's annotation first: int (not
bool), float (an int is fine), str, bool, None, unions, `Literal`, and the container kind of
list / tuple / dict (a YAML list is fine for a tuple). Fields annotated `Any` are checked by the
dataclass itself.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from mmbench.errors import MMBenchError

_NAMES = {
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
    type(None): "null",
    list: "a list",
    tuple: "a list",
    dict: "a mapping",
}


def check_option_types(options_class: type, values: dict[str, Any], task: str) -> None:
    """Raise a one-line `MMBenchError` for the first option whose value has the wrong type."""
    hints = typing.get_type_hints(options_class)
    for key, value in values.items():
        hint = hints.get(key, Any)
        if not _matches(value, hint):
            raise MMBenchError(
                f"task {task!r}: option {key}: {value!r} is not {_describe(hint)};"
                " fix it in the task YAML"
            )


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    container = origin or hint
    if container is tuple:
        return isinstance(value, list | tuple)
    if container in (list, dict):
        return isinstance(value, container)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return _NAMES.get(origin or hint, getattr(hint, "__name__", str(hint)))
