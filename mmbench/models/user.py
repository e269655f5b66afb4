"""`py:` model adapters: your own adapter, named as ``py:package.module:factory``.

mmbench imports ``package.module`` (the current directory is searched too, after everything
else on ``sys.path``), calls ``factory(options)`` (or ``factory()`` when it takes no arguments)
and uses what it returns:

* a `ModelAdapter` subclass instance (recommended), or
* any object with the same shape: ``capabilities`` (a set of capability names),
  ``fingerprint()``, ``preprocessor(capability)`` and one method per capability; it is wrapped in
  a `ModelAdapter` so the rest of mmbench sees one interface.

Either way the adapter is checked before any work: capabilities must be known names, a
duck-typed object must have a method per capability, and ``fingerprint()`` must return a
non-empty string.

The fingerprint mmbench uses (in every cache key and the result) is yours plus a hash of the
adapter's code: every ``.py`` file of the module's top-level package (or the module's own file
when it is not in a package), so editing the adapter never serves outputs cached before the edit
even when ``fingerprint()`` stays the same. Installed dependencies (torch, transformers, your
other packages) are not covered: put their versions into ``fingerprint()`` if they move numbers.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.models.base import (
    ALL_CAPABILITIES,
    ENCODE_IMAGES,
    ENCODE_VIDEOS,
    ModelAdapter,
    ModelOptions,
    Preprocessor,
)

_EXAMPLE = "py:my_pkg.adapters:make_model"
#: `--model-args` reach your factory unchecked, as `options.model_args`: it knows its own settings.
MODEL_ARGS = None


def parse_spec(spec: str) -> tuple[str, str]:
    """Split 'package.module:factory' into (module, factory)."""
    module_name, sep, attr = spec.strip().partition(":")
    if not sep or not module_name or not attr:
        raise MMBenchError(
            f"model 'py:{spec}' must name a module and a factory, written"
            f" py:package.module:factory (e.g. {_EXAMPLE})"
        )
    bad = [p for p in module_name.split(".") + attr.split(".") if not p.isidentifier()]
    if bad:
        raise MMBenchError(
            f"model 'py:{spec}': {bad[0]!r} is not a Python name; write py:package.module:factory"
        )
    return module_name, attr


def _import_module(module_name: str, uri: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)  # lowest priority: never shadows an installed package
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise MMBenchError(
                f"cannot import module {module_name!r} for model {uri!r} (no module named"
                f" {exc.name!r}); install it, or run from its directory / add it to PYTHONPATH"
            ) from exc
        raise MMBenchError(
            f"importing module {module_name!r} for model {uri!r} failed: it needs {exc.name!r},"
            " which is not installed; pip install it"
        ) from exc
    except ImportError as exc:
        raise MMBenchError(
            f"importing module {module_name!r} for model {uri!r} failed"
            f" (ImportError: {' '.join(str(exc).split())}); fix the module's imports"
        ) from exc


def _resolve_attr(module: Any, attr: str, uri: str) -> Any:
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n))]
            raise MMBenchError(
                f"module {module.__name__!r} has no {attr!r} for model {uri!r}"
                f"{did_you_mean(part, names)}; define it, or fix the name after the ':'"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise MMBenchError(
            f"{module.__name__}:{attr} is a {type(obj).__name__}, not a callable; model {uri!r}"
            " must name a function or class that returns the adapter"
        )
    return obj


def _takes_options(factory: Any) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    var = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    return bool(positional) or var


def validate(adapter: Any, uri: str) -> ModelAdapter:
    """Check `adapter` implements what it claims; wrap a duck-typed one in a ModelAdapter."""
    where = f"adapter of model {uri!r} ({type(adapter).__name__})"
    if not isinstance(adapter, ModelAdapter):
        missing = [
            n for n in ("capabilities", "fingerprint", "preprocessor") if not hasattr(adapter, n)
        ]
        if missing:
            raise MMBenchError(
                f"{where} is not a ModelAdapter and lacks {', '.join(missing)}; return an"
                " instance of a mmbench.models.base.ModelAdapter subclass"
            )
    caps = getattr(adapter, "capabilities", None)
    if isinstance(caps, str) or not isinstance(caps, (set, frozenset, list, tuple)):
        raise MMBenchError(
            f"{where} has capabilities={caps!r}; set it to a frozenset of capability names,"
            f" e.g. frozenset({{{ENCODE_IMAGES!r}}})"
        )
    caps = frozenset(caps)
    if not caps:
        raise MMBenchError(
            f"{where} declares no capabilities; list at least one of {', '.join(ALL_CAPABILITIES)}"
        )
    for cap in sorted(caps):
        if cap not in ALL_CAPABILITIES:
            raise MMBenchError(
                f"{where} declares unknown capability {cap!r}{did_you_mean(cap, ALL_CAPABILITIES)};"
                f" known: {', '.join(ALL_CAPABILITIES)}"
            )
    # A ModelAdapter subclass inherits every method (an unimplemented one raises a one-line
    # CapabilityError when called), so only duck-typed objects need their methods checked here.
    if not isinstance(adapter, ModelAdapter):
        for cap in sorted(caps):
            if not callable(getattr(adapter, cap, None)) and not (
                cap == ENCODE_VIDEOS and callable(getattr(adapter, ENCODE_IMAGES, None))
            ):
                raise MMBenchError(
                    f"{where} declares {cap!r} but does not implement {cap}(); add the method"
                )
    wrapped = adapter if isinstance(adapter, ModelAdapter) else DuckAdapter(adapter, caps)
    cls = type(adapter).__name__
    for name in ("fingerprint", "preprocessor"):
        if not callable(getattr(adapter, name, None)):
            raise MMBenchError(f"{cls}.{name} of model {uri!r} is not a method; define {name}()")
    fingerprint = adapter.fingerprint()
    if not isinstance(fingerprint, str) or not fingerprint:
        raise MMBenchError(
            f"{cls}.fingerprint() of model {uri!r} returned {fingerprint!r}; return a non-empty"
            " string naming the weights, preprocessing and dtype (it is part of every cache key)"
        )
    return wrapped


class DuckAdapter(ModelAdapter):
    """Wraps an object that implements the adapter protocol without subclassing ModelAdapter."""

    def __init__(self, inner: Any, capabilities: frozenset[str]) -> None:
        self.inner = inner
        self.capabilities = capabilities

    @property
    def device(self) -> str:
        return str(getattr(self.inner, "device", "cpu"))

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def preprocessor(self, capability: str) -> Preprocessor:
        if capability not in self.capabilities:
            self.require(capability, "?")
        if capability == ENCODE_VIDEOS and not callable(getattr(self.inner, ENCODE_VIDEOS, None)):
            from mmbench.models.base import FramesPreprocessor

            return FramesPreprocessor(self.inner.preprocessor(ENCODE_IMAGES))
        return self.inner.preprocessor(capability)

    def describe(self) -> dict[str, Any]:
        describe = getattr(self.inner, "describe", None)
        return dict(describe()) if callable(describe) else {}

    def encode_images(self, batch: Any) -> Any:
        return self.inner.encode_images(batch)

    def encode_texts(self, batch: Any) -> Any:
        return self.inner.encode_texts(batch)

    def encode_videos(self, batch: Any) -> Any:
        if callable(getattr(self.inner, ENCODE_VIDEOS, None)):
            return self.inner.encode_videos(batch)
        return super().encode_videos(batch)

    def generate(self, batch: Any, **generation_kwargs: Any) -> list[str]:
        return self.inner.generate(batch, **generation_kwargs)


def load(spec: str, options: ModelOptions) -> ModelAdapter:
    """Entry point of the `py:` scheme (see `mmbench.models.SCHEMES`)."""
    uri = f"py:{spec}"
    module_name, attr = parse_spec(spec)
    module = _import_module(module_name, uri)
    factory = _resolve_attr(module, attr, uri)
    adapter = factory(options) if _takes_options(factory) else factory()
    if adapter is None:
        raise MMBenchError(
            f"{module_name}:{attr} returned None for model {uri!r}; return the adapter instance"
        )
    adapter = validate(adapter, uri)
    adapter.uri = uri
    code = code_hash(module_name)
    own = adapter.fingerprint
    # An instance attribute shadows the class's method, so subclasses keep every other method.
    adapter.fingerprint = lambda: f"{own()}|code:{code}"
    return adapter


def code_hash(module_name: str) -> str:
    """First 16 hex digits of the sha256 over the relative path and bytes of every `.py` file of
    the module's top-level package (sorted), or of the module's own file outside a package."""
    top = sys.modules.get(module_name.split(".")[0]) or sys.modules[module_name]
    folders = [Path(p) for p in getattr(top, "__path__", [])]
    digest = hashlib.sha256()
    if folders:
        for folder in folders:
            for path in sorted(folder.rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    elif getattr(top, "__file__", None):
        digest.update(Path(top.__file__).read_bytes())
    return digest.hexdigest()[:16]
