"""`open_clip:` model adapters (optional extra: ``pip install 'mmbench[open_clip]'``).

URI forms (``spec`` is the URI without ``open_clip:``)::

    open_clip:ViT-B-32/laion2b_s34b_b79k      an architecture and one of its pretrained tags
    open_clip:ViT-B-32/path/to/weights.pt     an architecture and a local checkpoint file
    open_clip:hf-hub:timm/ViT-B-16-SigLIP     a model published on the hub in open_clip format

Uses only open_clip's public API: `create_model_and_transforms`, `get_tokenizer`,
`list_pretrained`, `model.encode_image`, `model.encode_text`. open_clip and torch are imported
when a model is loaded, never at module import.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError, did_you_mean
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    ModelAdapter,
    ModelOptions,
    Preprocessor,
    encoder_preprocessor,
    resolve_device,
)
from mmbench.models.common import (
    MICRO_BATCH,
    dtype_name,
    file_sha256,
    resolve_dtype,
    run_fixed_chunks,
    stable_hash,
)
from mmbench.models.pixel_table import (
    DeviceTable,
    normalise,
    ramp_image,
    random_image,
    table_from_ramp,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

ADAPTER_VERSION = 1
_PRECISION = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
_LIST_HINT = "python -c 'import open_clip; print(open_clip.{}())'"
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
_TO_TENSOR = ("ToTensor", "PILToTensor")


def _import_open_clip(uri: str) -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise MMBenchError(
            f"model {uri!r} needs the optional open_clip package, which is not installed"
            f" ({exc.__class__.__name__}: {exc}); pip install 'mmbench[open_clip]'"
        ) from exc
    return open_clip


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split 'ARCH/PRETRAINED' (or 'hf-hub:org/name') into (model name, pretrained or None)."""
    spec = spec.strip()
    if spec.startswith("hf-hub:"):
        if len(spec) <= len("hf-hub:"):
            raise MMBenchError("open_clip:hf-hub: needs a repository, e.g. hf-hub:org/name")
        return spec, None
    arch, sep, pretrained = spec.partition("/")
    if not arch or not sep or not pretrained:
        raise MMBenchError(
            f"model 'open_clip:{spec}' needs an architecture and weights, written"
            " open_clip:ARCH/PRETRAINED (e.g. open_clip:ViT-B-32/laion2b_s34b_b79k) or"
            " open_clip:ARCH/path/to/checkpoint.pt"
        )
    return arch, pretrained


def _is_checkpoint_path(pretrained: str) -> bool:
    return (
        pretrained.endswith(_CHECKPOINT_SUFFIXES)
        or pretrained.startswith(("/", "./", "../", "~"))
        or os.path.isfile(pretrained)
    )


def _stack(features: list[Any]) -> Any:
    import torch

    return torch.stack(list(features))


def _concatenate(batches: list[Any]) -> Any:
    """Stacked batches -> one: the concatenation of stacks is the stack of all their rows."""
    import torch

    return torch.cat(list(batches))


def _uint8_chw(image: Any) -> torch.Tensor:
    """A PIL image -> its uint8 [C, H, W] tensor (the values torchvision's ToTensor divides)."""
    import numpy as np
    import torch

    array = np.array(image, dtype=np.uint8, copy=True)
    return torch.from_numpy(array.reshape(*array.shape[:2], -1)).permute(2, 0, 1).contiguous()


def _apply(steps: tuple[Any, ...], value: Any) -> Any:
    for step in steps:
        value = step(value)
    return value


@dataclass(frozen=True)
class OpenClipImagePreprocessor:
    """One PIL image -> the model's eval transform output ([3, H, W]); collate stacks.

    With `pil_steps` (the transform's steps before its ToTensor, see `uint8_split`), the worker
    stops there and sends uint8 pixels that the adapter's device call turns into the transform's
    float output through a value table, bitwise (`mmbench.models.pixel_table`).
    """

    transform: Any
    pil_steps: tuple[Any, ...] | None = None

    def __call__(self, image: Any) -> Any:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        if self.pil_steps is None:
            return self.transform(image)
        return _uint8_chw(_apply(self.pil_steps, image))

    def collate(self, features: list[Any]) -> Any:
        return _stack(features)

    def merge(self, batches: list[Any]) -> Any:
        return _concatenate(batches)


@dataclass(frozen=True)
class OpenClipTextPreprocessor:
    """One text -> token ids at the tokenizer's fixed context length; collate stacks."""

    tokenizer: Any

    def __call__(self, text: str) -> Any:
        return self.tokenizer([text])[0]

    def collate(self, features: list[Any]) -> Any:
        return _stack(features)

    def merge(self, batches: list[Any]) -> Any:
        return _concatenate(batches)


@dataclass(frozen=True)
class Uint8Split:
    """An eval transform cut before its ToTensor: the PIL steps a worker runs, and the [C, 256]
    table of what the remaining steps (ToTensor, Normalize) make of each uint8 value."""

    pil_steps: tuple[Any, ...]
    table: Any


def _is_to_tensor(step: Any) -> bool:
    """torchvision's ToTensor or PILToTensor, or a subclass (open_clip 3's MaybeToTensor)."""
    return any(cls.__name__ in _TO_TENSOR for cls in type(step).__mro__)


def _probe_split(transform: Any) -> tuple[Uint8Split | None, str | None]:
    steps = getattr(transform, "transforms", None)
    if not isinstance(steps, (list, tuple)):
        return None, f"its transform {type(transform).__name__} is not a Compose of steps"
    cut = next((i for i, step in enumerate(steps) if _is_to_tensor(step)), None)
    if cut is None:
        return None, "its transform has no ToTensor step"
    head, tail = tuple(steps[:cut]), tuple(steps[cut:])
    split = Uint8Split(head, table_from_ramp(_apply(tail, ramp_image())))
    image = random_image()
    reference = transform(image)
    small = _uint8_chw(_apply(head, image))
    if not reference.is_floating_point() or reference.shape != small.shape:
        return None, "its output is not a float image of the PIL steps' size"
    if not _bitwise_equal(normalise(small[None], split.table)[0], reference):
        return None, "the value table does not reproduce its output bitwise on a probe image"
    return split, None


def uint8_split(transform: Any, uri: str) -> Uint8Split | None:
    """Where `transform` ends in elementwise steps after a ToTensor (open_clip's eval transforms:
    resize, crop, RGB, ToTensor, Normalize), the split that sends uint8 pixels through the
    workers; None, with the reason logged at DEBUG, where a probe image shows it would change
    any output value."""
    try:
        split, reason = _probe_split(transform)
    except Exception as exc:  # any surprise in a transform means: keep the float path
        split, reason = None, f"probing it failed ({type(exc).__name__}: {exc})"
    if split is None:
        logger.debug("model %s: float pixels through the workers (%s)", uri, reason)
    else:
        logger.debug("model %s: uint8 pixels through the workers, normalised on the device", uri)
    return split


def _bitwise_equal(a: Any, b: Any) -> bool:
    import torch

    return a.dtype == b.dtype and torch.equal(a, b)


class OpenClipAdapter(ModelAdapter):
    """An OpenCLIP dual encoder."""

    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS})

    def __init__(
        self,
        spec: str,
        model: Any,
        transform: Any,
        tokenizer: Any,
        device: str,
        dtype: Any,
        weights_id: dict[str, Any],
        version: str,
    ) -> None:
        self.uri = f"open_clip:{spec}"
        self.spec = spec
        self.model = model
        self._device = device
        self.dtype = dtype
        self.weights_id = weights_id
        self.open_clip_version = version
        split = uint8_split(transform, self.uri)
        self._device_pixels = DeviceTable(split.table) if split else None
        self._image_pre = OpenClipImagePreprocessor(transform, split.pil_steps if split else None)
        self._text_pre = OpenClipTextPreprocessor(tokenizer)
        self._fingerprint = stable_hash(
            {
                "adapter": "open_clip",
                "version": ADAPTER_VERSION,
                "open_clip": version,
                "weights": weights_id,
                "dtype": dtype_name(dtype),
                "transform": repr(transform),
                "tokenizer": type(tokenizer).__name__,
                "context_length": getattr(tokenizer, "context_length", None),
                "micro_batch": MICRO_BATCH,
            }
        )

    @property
    def device(self) -> str:
        return self._device

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {
            "source": "open_clip",
            "open_clip_version": self.open_clip_version,
            **self.weights_id,
            "dtype": dtype_name(self.dtype),
            "device": self.device,
            "pixel_transfer": self.pixel_transfer,
            "micro_batch": MICRO_BATCH,
        }

    @property
    def pixel_transfer(self) -> str:
        """How images cross the worker boundary: `uint8` (normalised on the device) or `float`
        (the eval transform's own output)."""
        return "float" if self._image_pre.pil_steps is None else "uint8"

    def use_float_pixels(self) -> None:
        """Send the transform's float pixels through the workers (for benchmarks and tests
        comparing the two; outputs are the same either way)."""
        self._image_pre = OpenClipImagePreprocessor(self._image_pre.transform)

    def preprocessor(self, capability: str) -> Preprocessor:
        return encoder_preprocessor(self, capability, self._image_pre, self._text_pre)

    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        if self._device_pixels is not None:
            batch = self._device_pixels(batch, self.device)
        pixels = batch.to(self.device, self.dtype)
        with torch.inference_mode():
            return run_fixed_chunks(
                lambda c: self.model.encode_image(c["x"]), {"x": pixels}
            ).float()

    def encode_texts(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        tokens = batch.to(self.device)
        with torch.inference_mode():
            return run_fixed_chunks(lambda c: self.model.encode_text(c["x"]), {"x": tokens}).float()


def load(spec: str, options: ModelOptions) -> ModelAdapter:
    """Entry point of the `open_clip:` scheme (see `mmbench.models.SCHEMES`)."""
    uri = f"open_clip:{spec}"
    model_name, pretrained = parse_spec(spec)
    open_clip = _import_open_clip(uri)
    version = str(getattr(open_clip, "__version__", "unknown"))
    weights_id: dict[str, Any] = {"model": model_name}
    if pretrained is None:
        weights_id["pretrained"] = None
    elif _is_checkpoint_path(pretrained):
        path = Path(pretrained).expanduser().resolve()
        if not path.is_file():
            raise MMBenchError(
                f"checkpoint {path} of model {uri!r} does not exist; pass an existing file or"
                f" a pretrained tag (see {_LIST_HINT.format('list_pretrained')})"
            )
        pretrained = str(path)
        weights_id.update(checkpoint=path.name, checkpoint_sha256=file_sha256(path))
    else:
        known = [tuple(p) for p in _list_pretrained(open_clip)]
        if known and (model_name, pretrained) not in known:
            archs = sorted({a for a, _ in known})
            if model_name not in archs:
                raise MMBenchError(
                    f"open_clip has no architecture {model_name!r}"
                    f"{did_you_mean(model_name, archs)}; list them with"
                    f" {_LIST_HINT.format('list_models')}"
                )
            tags = sorted(t for a, t in known if a == model_name)
            raise MMBenchError(
                f"open_clip has no pretrained weights {pretrained!r} for {model_name}"
                f"{did_you_mean(pretrained, tags)}; known: {', '.join(tags)}"
            )
        weights_id["pretrained"] = pretrained
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    try:
        model, _, transform = open_clip.create_model_and_transforms(
            model_name,
            pretrained=pretrained,
            precision=_PRECISION[dtype_name(dtype)],
            device=device,
        )
    except (RuntimeError, OSError, ValueError) as exc:
        text = " ".join(str(exc).split())[:240]
        raise MMBenchError(
            f"open_clip cannot create model {uri!r} ({type(exc).__name__}: {text}); check the"
            " architecture and weights, your network for downloads, or pass a local checkpoint"
        ) from exc
    model.eval()
    logger.debug(
        "model %s: open_clip %s, weights %s, precision %s on %s",
        uri,
        version,
        weights_id,
        _PRECISION[dtype_name(dtype)],
        device,
    )
    tokenizer = open_clip.get_tokenizer(model_name)
    return OpenClipAdapter(spec, model, transform, tokenizer, device, dtype, weights_id, version)


def _list_pretrained(open_clip: Any) -> list[Any]:
    try:
        return list(open_clip.list_pretrained())
    except Exception:
        return []
