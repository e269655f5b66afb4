"""What every `hf:` adapter shares: the loaded model and processor, its fingerprint's common
parts, and moving inputs to the model's device and dtype."""

from __future__ import annotations

from typing import Any

from mmbench.models.args import output_args
from mmbench.models.base import ModelAdapter, ModelOptions
from mmbench.models.common import dtype_name, stable_hash
from mmbench.models.hf.model_args import MODEL_ARGS
from mmbench.models.hf.source import HFSource

# Bump when a change here (preprocessing, padding, pooling ...) can move any output: it is part of
# every fingerprint, hence of every cache key.
ADAPTER_VERSION = 1


def library_versions() -> dict[str, str]:
    """The transformers version and torch's major.minor: outputs of the same weights may move
    between releases (kernels, processors, defaults), so both are part of every `hf:`
    fingerprint and cached outputs of one release are never served to another."""
    import torch
    import transformers

    return {
        "transformers": transformers.__version__,
        "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2]),
    }


def to_device(features: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    """Move tensors to `device`; floating ones (pixel values) also to the model's dtype."""
    import torch

    out = {}
    for key, value in features.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if value.is_floating_point():
                value = value.to(dtype)
        out[key] = value
    return out


def preprocessing_identity(processor: Any) -> dict[str, Any]:
    """Classes and settings of the processor: part of the fingerprint."""
    image_processor = getattr(processor, "image_processor", None)
    tokenizer = getattr(processor, "tokenizer", None)
    ident: dict[str, Any] = {"processor": type(processor).__name__}
    if image_processor is not None:
        ident["image_processor"] = type(image_processor).__name__
        try:
            ident["image_settings"] = image_processor.to_dict()
        except Exception:
            ident["image_settings"] = repr(image_processor)
    if tokenizer is not None:
        ident["tokenizer"] = type(tokenizer).__name__
        ident["vocab_size"] = len(tokenizer)
    return ident


class HFAdapter(ModelAdapter):
    """What every hf: adapter holds: the loaded model and processor, where it runs, and the
    fingerprint a subclass computes once in its constructor (`_fingerprint`)."""

    _fingerprint: str

    def __init__(
        self,
        source: HFSource,
        model: Any,
        processor: Any,
        options: ModelOptions,
        device: str,
        dtype: Any,
        missing_weights: list[str] | None = None,
    ) -> None:
        self.uri = source.name
        self.source = source
        self.model = model
        self.processor = processor
        self.options = options
        self._device = device
        self.dtype = dtype
        self.missing_weights = list(missing_weights or [])

    @property
    def device(self) -> str:
        return self._device

    def fingerprint(self) -> str:
        identity = {"adapter": self._fingerprint, "libraries": library_versions()}
        changing = output_args(MODEL_ARGS, self.options.model_args)
        if changing:  # absent otherwise, so fingerprints without model args stay as they were
            identity["model_args"] = changing
        return stable_hash(identity)

    def _describe(self, family: str, details: dict[str, Any]) -> dict[str, Any]:
        """The facts every hf: adapter reports, the family's own `details`, then any weights the
        checkpoint lacked."""
        info = {
            **self.source.describe(),
            "family": family,
            "class": type(self.model).__name__,
            "model_type": getattr(self.model.config, "model_type", None),
            "dtype": dtype_name(self.dtype),
            "device": self.device,
            **details,
        }
        image_processor = getattr(self.processor, "image_processor", None)
        if image_processor is not None:
            # its class names the transformers backend too (`image_backend.py`)
            info["image_processor"] = type(image_processor).__name__
        if self.missing_weights:
            info["missing_weights"] = self.missing_weights
        return info
