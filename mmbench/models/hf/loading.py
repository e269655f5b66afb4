"""Entry point of the `hf:` scheme: pin the source, pick the family, load config, processor and
weights, and build the family's adapter.

torch and transformers are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.base import ModelAdapter, ModelOptions, resolve_device
from mmbench.models.common import resolve_dtype
from mmbench.models.hf.dual_encoder import HFDualEncoder
from mmbench.models.hf.families import (
    GENERATOR,
    check_remote_code,
    detect_family,
    has_feature_methods,
    remote_code_error,
)
from mmbench.models.hf.generator import HFGenerator
from mmbench.models.hf.image_backend import with_image_backend
from mmbench.models.hf.model_args import (
    MODEL_ARGS,
    check_processor_args,
    placement_device,
    processor_kwargs,
    spec_with_revision,
    weight_kwargs,
)
from mmbench.models.hf.source import (
    HFSource,
    fetch_error,
    one_line,
    resolve_source,
)
from mmbench.models.hf.source import identify as identify_source

logger = logging.getLogger(__name__)

# `identify` and `MODEL_ARGS` are looked up here by `mmbench.models.load_model`.
__all__ = ["MODEL_ARGS", "ProcessorPair", "identify", "load", "load_processor", "load_weights"]


def identify(spec: str, options: ModelOptions) -> dict[str, Any] | None:
    """The scheme's cheap identity (`source.identify`), with a `revision` model arg applied."""
    return identify_source(spec_with_revision(spec, options.model_args), options)


def _load_config(source: HFSource, options: ModelOptions) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(
            source.location,
            revision=source.load_revision,
            trust_remote_code=options.trust_remote_code,
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        raise MMBenchError(
            f"transformers cannot read the config of model {source.name!r} ({one_line(exc)});"
            " upgrade transformers or check the checkpoint"
        ) from exc
    except OSError as exc:
        raise _load_error(source, "config", exc) from exc


def _load_error(source: HFSource, what: str, exc: BaseException) -> MMBenchError:
    if source.is_local:
        return MMBenchError(
            f"cannot load the {what} of model {source.name!r} ({one_line(exc)}); the directory"
            " must hold everything save_pretrained writes (config, weights, processor files)"
        )
    return fetch_error(source.location, source.revision, exc)


def load_processor(source: HFSource, options: ModelOptions) -> Any:
    """AutoProcessor, falling back to AutoImageProcessor + AutoTokenizer bundled together; the
    image processor on the `image_backend` (`image_backend.py`: PIL unless asked otherwise)."""
    from transformers import AutoProcessor

    kwargs = {"revision": source.load_revision, "trust_remote_code": options.trust_remote_code}
    kwargs.update(processor_kwargs(options.model_args))
    try:
        processor = AutoProcessor.from_pretrained(source.location, **kwargs)
    except ImportError as exc:
        # The processor needs a package that is missing (in transformers 5 every video processor,
        # hence Qwen2-VL's whole processor, needs torchvision). No fallback: an image processor
        # and a tokenizer alone would not expand the image placeholders, so answers would be wrong.
        raise MMBenchError(
            f"cannot load the processor of model {source.name!r} ({one_line(exc)}); install the"
            " package that message names (for a video processor: torchvision, the build that"
            " matches your torch)"
        ) from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        processor = None
    except OSError:
        processor = None
    if processor is not None and hasattr(processor, "image_processor"):
        logger.debug("model %s: processor %s", source.name, type(processor).__name__)
        return with_image_backend(
            processor, source.location, kwargs, options.model_args, source.name
        )
    from transformers import AutoImageProcessor, AutoTokenizer

    try:
        image_processor = AutoImageProcessor.from_pretrained(source.location, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise MMBenchError(
            f"model {source.name!r} has no usable processor (image processor + tokenizer):"
            f" {one_line(exc)}; save them next to the weights with processor.save_pretrained(dir)"
        ) from exc
    logger.debug(
        "model %s: no combined processor (AutoProcessor gave %s); using %s + %s",
        source.name,
        type(processor).__name__,
        type(image_processor).__name__,
        type(tokenizer).__name__,
    )
    pair = ProcessorPair(image_processor, tokenizer)
    return with_image_backend(pair, source.location, kwargs, options.model_args, source.name)


@dataclass
class ProcessorPair:
    """An image processor and a tokenizer standing in for a missing combined processor."""

    image_processor: Any
    tokenizer: Any
    chat_template: Any = None

    def __call__(
        self, images: Any = None, text: Any = None, videos: Any = None, **kwargs: Any
    ) -> Any:
        if videos is not None:
            raise MMBenchError("this model has no video processor; pass frames as images")
        out: dict[str, Any] = {}
        tensors = kwargs.get("return_tensors")
        if images is not None:
            out.update(self.image_processor(images, return_tensors=tensors))
        if text is not None:
            out.update(self.tokenizer(text, **kwargs))
        return out

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)


def load_weights(
    loader: Any, source: HFSource, options: ModelOptions, dtype: Any, device: str
) -> tuple[Any, list[str]]:
    """from_pretrained in `dtype` on `device`, in eval mode; returns (model, missing weight names).

    Refuses a checkpoint that misses a real share of the class's weights (its outputs would come
    from random initialisation), and reports smaller gaps, which land in the result JSON.
    """
    import transformers

    # transformers renamed torch_dtype to dtype in 4.56; mmbench supports releases on both sides
    major, minor = (int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    dtype_kwarg = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    try:
        model, info = loader.from_pretrained(
            source.location,
            revision=source.load_revision,
            trust_remote_code=options.trust_remote_code,
            output_loading_info=True,
            **{dtype_kwarg: dtype},
            **weight_kwargs(options.model_args),
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        raise
    except OSError as exc:
        raise _load_error(source, "weights", exc) from exc
    # A model placed by device_map stays where accelerate put it.
    model = (model if "device_map" in options.model_args else model.to(device)).eval()
    missing = sorted(info.get("missing_keys") or []) if isinstance(info, dict) else []
    logger.debug(
        "model %s: %s loaded on %s in %s, %d weights missing from the checkpoint",
        source.name,
        type(model).__name__,
        device,
        dtype,
        len(missing),
    )
    if missing:
        params = dict(model.named_parameters())
        total = sum(p.numel() for p in params.values()) or 1
        lost = sum(params[k].numel() for k in missing if k in params)
        if lost / total > 0.01:
            raise MMBenchError(
                f"checkpoint of model {source.name!r} lacks {len(missing)} weights of"
                f" {type(model).__name__} (e.g. {missing[0]}), so outputs would be random;"
                " it was saved for another architecture: pick the matching checkpoint"
            )
        warnings.warn(
            f"model {source.name!r}: {len(missing)} weights were not in the checkpoint and keep"
            f" their initial values ({', '.join(missing[:3])})",
            stacklevel=2,
        )
    return model, missing


def load(spec: str, options: ModelOptions) -> ModelAdapter:
    """Entry point of the `hf:` scheme (see `mmbench.models.SCHEMES`)."""
    source, raw_config = resolve_source(spec_with_revision(spec, options.model_args))
    check_remote_code(raw_config, source.name, options.trust_remote_code)
    config = _load_config(source, options)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device, config)
    family, loader = detect_family(config, options.trust_remote_code, source.name)
    processor = load_processor(source, options)
    if family == GENERATOR and getattr(processor, "image_processor", None) is None:
        raise MMBenchError(
            f"model {source.name!r} has no image processor, so it is not a vision-language"
            " generator; pick an image-text-to-text checkpoint"
        )
    check_processor_args(processor, options.model_args, source.name)
    model, missing = load_weights(loader, source, options, dtype, device)
    if "device_map" in options.model_args:
        device = placement_device(model, device)
    if family == GENERATOR:
        return HFGenerator(source, model, processor, options, device, dtype, missing)
    if not has_feature_methods(model):
        raise MMBenchError(
            f"model {source.name!r} ({type(model).__name__}) has no get_image_features /"
            " get_text_features, so it cannot embed images and texts; write a py: adapter for it"
        )
    return HFDualEncoder(source, model, processor, options, device, dtype, missing)
