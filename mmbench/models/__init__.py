"""Model adapters, chosen by URI scheme (`hf:`, `open_clip:`, `builtin:`, `py:`).

The registry maps a scheme to "module:function" and imports the module only when a URI with that
scheme is loaded, so listing models or printing help never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError, did_you_mean

if TYPE_CHECKING:
    from mmbench.models.base import ModelAdapter, ModelOptions

SCHEMES: dict[str, tuple[str, str]] = {
    "builtin": ("mmbench.models.builtin:load", "models that run offline with no download"),
    "hf": ("mmbench.models.hf:load", "Hugging Face transformers models (hub id or local dir)"),
    "open_clip": (
        "mmbench.models.open_clip:load",
        "OpenCLIP models (pip install mmbench[open_clip])",
    ),
    "py": ("mmbench.models.user:load", "your own adapter: py:package.module:factory"),
}


def split_uri(uri: str) -> tuple[str, str]:
    """Split 'scheme:rest' and check the scheme is known."""
    scheme, sep, rest = uri.partition(":")
    if not sep or not rest:
        raise MMBenchError(
            f"model {uri!r} has no scheme; write it as SCHEME:NAME with SCHEME one of"
            f" {', '.join(SCHEMES)} (e.g. builtin:effnet-minilm)"
        )
    if scheme not in SCHEMES:
        raise MMBenchError(
            f"unknown model scheme {scheme!r} in {uri!r}{did_you_mean(scheme, SCHEMES)};"
            f" known schemes: {', '.join(SCHEMES)}"
        )
    return scheme, rest


def load_model(uri: str, options: ModelOptions) -> ModelAdapter:
    """Build the adapter for `uri` (e.g. 'hf:openai/clip-vit-base-patch32', 'builtin:random')."""
    scheme, rest = split_uri(uri)
    module_name, _, func_name = SCHEMES[scheme][0].partition(":")
    factory = getattr(importlib.import_module(module_name), func_name)
    adapter = factory(rest, options)
    adapter.uri = uri
    return adapter
