"""Model adapters, chosen by URI scheme (`hf:`, `open_clip:`, `builtin:`, `py:`).

The registry maps a scheme to "module:function" and imports the module only when a URI with that
scheme is loaded, so listing models or printing help never imports torch. A scheme's module may
also define `identify(rest, options)`: a cheap identity of the model's files that lets a cached
rerun skip loading the model (see `mmbench.models.lazy`), and `MODEL_ARGS`: the `--model-args`
it accepts (`mmbench.models.args`; none when absent, any when None).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mmbench.errors import MMBenchError, did_you_mean

if TYPE_CHECKING:
    from mmbench.cache import OutputCache
    from mmbench.models.base import ModelAdapter, ModelOptions

SCHEMES: dict[str, tuple[str, str]] = {
    "builtin": ("mmbench.models.builtin:load", "models that run offline with no download"),
    "hf": (
        "mmbench.models.hf.loading:load",
        "Hugging Face transformers models (hub id or local dir)",
    ),
    "open_clip": (
        "mmbench.models.open_clip:load",
        "OpenCLIP models (pip install mmbench[open_clip])",
    ),
    "py": ("mmbench.models.user:load", "your own adapter: py:package.module:factory"),
    "openai": (
        "mmbench.models.openai:load",
        "an OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, OpenAI): openai:MODEL",
    ),
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


def _corrupt_weights(err: BaseException) -> bool:
    """Whether `err` is how safetensors or torch.load report a damaged weight file."""
    name = type(err).__name__
    if name in ("SafetensorError", "UnpicklingError") or isinstance(err, EOFError):
        return True
    return isinstance(err, RuntimeError) and "PytorchStreamReader" in str(err)


def load_model(uri: str, options: ModelOptions, memos: OutputCache | None = None) -> ModelAdapter:
    """Build the adapter for `uri` (e.g. 'hf:openai/clip-vit-base-patch32', 'builtin:random').

    With `memos` (the output cache), a model seen before with the same files and options comes
    back as a `LazyModel` that loads the real one only if some output is not cached.
    """
    scheme, rest = split_uri(uri)
    module_name, _, func_name = SCHEMES[scheme][0].partition(":")
    module = importlib.import_module(module_name)
    from mmbench.models.args import validate_model_args

    declared = getattr(module, "MODEL_ARGS", {})
    if declared is not None:
        validate_model_args(scheme, declared, options.model_args)

    def build() -> ModelAdapter:
        try:
            adapter = getattr(module, func_name)(rest, options)
        except Exception as err:
            if _corrupt_weights(err):
                summary = " ".join(str(err).split())[:200]
                raise MMBenchError(
                    f"the weight files of model {uri!r} are corrupt or truncated"
                    f" ({type(err).__name__}: {summary}); download or save them again"
                ) from err
            raise
        adapter.uri = uri
        return adapter

    identify = getattr(module, "identify", None)
    identity = identify(rest, options) if memos is not None and identify is not None else None
    if identity is None or memos is None:
        return build()
    from mmbench.models.base import resolve_device
    from mmbench.models.lazy import LazyModel, ModelMemo, memo_key

    key = memo_key(uri, options, resolve_device(options.device), identity)
    memo = memos.get_model_memo(key)
    if memo is not None:
        return LazyModel(uri, ModelMemo.from_json(memo), build)
    adapter = build()
    memos.put_model_memo(key, ModelMemo.of(adapter).to_json())
    return adapter
