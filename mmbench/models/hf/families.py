"""Which kind of `hf:` model a checkpoint is, decided from its config, never its repository name.

* dual encoders (CLIP, SigLIP, SigLIP2, ALIGN, ...): the class `AutoModel` maps the config to has
  ``get_image_features`` and ``get_text_features``.
* generators (BLIP, GIT, BLIP-2, LLaVA, Qwen2-VL, Idefics, PaliGemma, ...): the checkpoint's
  architecture can generate; loaded with `AutoModelForImageTextToText` or another generation
  Auto class.

Also the check that refuses repository code the user did not opt into.
"""

from __future__ import annotations

import logging
from typing import Any

from mmbench.errors import MMBenchError

logger = logging.getLogger(__name__)

DUAL_ENCODER = "dual_encoder"
GENERATOR = "generator"

# Auto classes tried, in order, for generators. `AutoModelForVision2Seq` is gone in transformers 5
# but still present in the 4.x releases mmbench supports; missing names are skipped.
GENERATOR_AUTO_CLASSES = (
    "AutoModelForImageTextToText",
    "AutoModelForVision2Seq",
    "AutoModelForMultimodalLM",
    "AutoModelForCausalLM",
    "AutoModelForSeq2SeqLM",
)


def check_remote_code(raw_config: dict[str, Any], name: str, trust_remote_code: bool) -> None:
    """Refuse a model that needs its repository's own Python code unless the user opted in."""
    if trust_remote_code or not raw_config.get("auto_map"):
        return
    from transformers import CONFIG_MAPPING

    model_type = raw_config.get("model_type")
    if model_type and model_type in CONFIG_MAPPING:
        return  # transformers has native code for it and uses that, as it does by default
    raise remote_code_error(name, model_type)


def remote_code_error(name: str, model_type: Any) -> MMBenchError:
    """The one-line error for a model whose architecture transformers does not ship."""
    import transformers

    kind = f"model_type {model_type!r}" if model_type else "its architecture"
    return MMBenchError(
        f"model {name!r} needs custom code from its repository ({kind} is not built into"
        f" transformers {transformers.__version__}); pass --trust-remote-code if you trust that"
        " code, or upgrade transformers"
    )


def has_feature_methods(cls: Any) -> bool:
    """Whether a model class (or instance) embeds images and texts like CLIP."""
    return callable(getattr(cls, "get_image_features", None)) and callable(
        getattr(cls, "get_text_features", None)
    )


def _can_generate(cls: Any) -> bool:
    try:
        return bool(cls.can_generate())
    except Exception:
        return False


def detect_family(config: Any, trust_remote_code: bool, name: str) -> tuple[str, Any]:
    """Return (family, loader) where loader has `from_pretrained` (an Auto class or model class).

    Decided from the config alone: the checkpoint's declared architecture, what the Auto
    mappings map its config class to, and the methods of that class.
    """
    family, loader, why = _decide(config, trust_remote_code, name)
    logger.debug(
        "model %s (model_type %s): %s, loaded with %s, because %s",
        name,
        getattr(config, "model_type", "?"),
        family,
        getattr(loader, "__name__", loader),
        why,
    )
    return family, loader


def _decide(config: Any, trust_remote_code: bool, name: str) -> tuple[str, Any, str]:
    """`detect_family`'s (family, loader) and the reason, in words, for the debug log."""
    import transformers

    arch_name = (getattr(config, "architectures", None) or [None])[0]
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and auto_map:
        for auto_name in GENERATOR_AUTO_CLASSES:
            if auto_name in auto_map and hasattr(transformers, auto_name):
                why = f"its remote code maps {auto_name}"
                return GENERATOR, getattr(transformers, auto_name), why
        if "AutoModel" in auto_map:  # methods are checked after loading
            return DUAL_ENCODER, transformers.AutoModel, "its remote code maps AutoModel only"

    arch_cls = getattr(transformers, arch_name, None) if arch_name else None
    gen_autos = [
        getattr(transformers, n) for n in GENERATOR_AUTO_CLASSES if hasattr(transformers, n)
    ]

    def mapped(auto: Any) -> Any:
        try:
            return auto._model_mapping[type(config)]
        except Exception:
            return None

    if arch_cls is not None and _can_generate(arch_cls):
        why = f"the declared architecture {arch_name} can generate"
        for auto in gen_autos:  # prefer an Auto class that maps to the declared architecture
            cls = mapped(auto)
            if cls is not None and cls.__name__ == arch_name:
                return GENERATOR, auto, why
        return GENERATOR, arch_cls, why
    base_cls = mapped(transformers.AutoModel)
    if arch_cls is not None and has_feature_methods(arch_cls):
        why = f"the declared architecture {arch_name} has get_image/text_features"
        if base_cls is arch_cls:
            return DUAL_ENCODER, transformers.AutoModel, why
        return DUAL_ENCODER, arch_cls, why
    if arch_cls is None and base_cls is not None and has_feature_methods(base_cls):
        why = f"no known declared architecture; AutoModel's {base_cls.__name__} embeds"
        return DUAL_ENCODER, transformers.AutoModel, why
    if arch_cls is None:
        for auto in gen_autos[:3]:  # image-text generation mappings only, not text-only LMs
            if mapped(auto) is not None:
                why = f"no known declared architecture; {auto.__name__} maps the config"
                return GENERATOR, auto, why
    raise MMBenchError(
        f"model {name!r} (model_type {getattr(config, 'model_type', '?')!r}, architecture"
        f" {arch_name or '?'}) is neither a dual encoder (get_image_features/get_text_features)"
        " nor an image-text generator; pick such a checkpoint or write a py: adapter"
    )
