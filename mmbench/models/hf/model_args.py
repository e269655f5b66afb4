"""`--model-args` of `hf:` models: which are accepted, and where each one goes.

* `revision`: the hub revision, the same as ``hf:ID@REV``: the commit it resolves to is what the
  fingerprint records.
* `attn_implementation`: passed to ``from_pretrained`` (``eager``, ``sdpa``,
  ``flash_attention_2``, ...); kernels differ in rounding, so it is part of the fingerprint.
* `device_map`, `max_memory`, `offload_folder`: placement through accelerate. ``device_map=auto``
  spreads the layers over every visible GPU, then CPU memory, then `offload_folder` on disk, each
  device holding at most its `max_memory` (written ``0:20GiB;1:20GiB;cpu:64GiB``: semicolons,
  because commas separate model args; a bare number is bytes). Placement moves no number (the
  same layers run on the same inputs, only where they run changes), so these stay out of the
  fingerprint.
* `max_pixels`, `min_pixels`: the pixel budget of Qwen2-VL family image processors (Qwen2-VL,
  Qwen2.5-VL, ...), passed to the processor's ``from_pretrained`` as their model cards show; they
  change the image tokens, hence outputs, and are checked to have reached the image processor.
* `image_backend`: `pil` (the default) or `torchvision`, the transformers image-processor class
  images go through (`image_backend.py` says why PIL is the default).
"""

from __future__ import annotations

from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.args import ModelArg
from mmbench.models.hf.image_backend import IMAGE_BACKENDS

MODEL_ARGS: dict[str, ModelArg] = {
    # The commit it resolves to is in the fingerprint already (as for hf:ID@REV).
    "revision": ModelArg((str,), "hub revision (branch, tag or commit), as hf:ID@REV", False),
    "attn_implementation": ModelArg((str,), "eager, sdpa, flash_attention_2, ...", True),
    "device_map": ModelArg((str,), "auto: split over GPUs, CPU memory and disk", False),
    "max_memory": ModelArg((str,), "with device_map: 0:20GiB;cpu:64GiB", False),
    "offload_folder": ModelArg((str,), "where device_map=auto offloads what fits nowhere", False),
    "max_pixels": ModelArg((int,), "Qwen2-VL family: most pixels per image", True),
    "min_pixels": ModelArg((int,), "Qwen2-VL family: fewest pixels per image", True),
    # The image processor's class names its backend and is in the fingerprint already.
    "image_backend": ModelArg(
        (str,), "image processor backend: pil (default) or torchvision", False, IMAGE_BACKENDS
    ),
}
PROCESSOR_ARGS = ("max_pixels", "min_pixels")
PLACEMENT_ARGS = ("device_map", "max_memory", "offload_folder")


def spec_with_revision(spec: str, args: dict[str, Any]) -> str:
    """`spec` with the `revision` model arg appended as @REV (one-line error on a conflict)."""
    revision = args.get("revision")
    if revision is None:
        return spec
    location, sep, pinned = spec.partition("@")
    if sep and pinned != revision:
        raise MMBenchError(
            f"model 'hf:{spec}' names revision {pinned!r} but --model-args says"
            f" revision={revision}; keep one"
        )
    return f"{location}@{revision}"


def parse_max_memory(text: str) -> dict[int | str, int | str]:
    """'0:20GiB;cpu:64GiB' -> {0: '20GiB', 'cpu': '64GiB'} (GPU indices as ints, bytes as ints)."""
    budget: dict[int | str, int | str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        device, sep, size = part.partition(":")
        if not sep or not device or not size:
            raise MMBenchError(
                f"--model-args max_memory: expected DEVICE:SIZE pairs separated by ';',"
                f" got {part!r} (e.g. max_memory=0:20GiB;cpu:64GiB)"
            )
        key: int | str = int(device) if device.isdigit() else device
        budget[key] = int(size) if size.isdigit() else size
    return budget


def weight_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the model's ``from_pretrained``."""
    kwargs: dict[str, Any] = {}
    if "attn_implementation" in args:
        kwargs["attn_implementation"] = args["attn_implementation"]
    if "device_map" in args:
        import importlib.util

        if importlib.util.find_spec("accelerate") is None:
            raise MMBenchError(
                "--model-args device_map needs accelerate; pip install 'mmbench[accelerate]'"
            )
        kwargs["device_map"] = args["device_map"]
    elif "max_memory" in args or "offload_folder" in args:
        raise MMBenchError(
            "--model-args max_memory and offload_folder only apply with device_map (e.g."
            " device_map=auto)"
        )
    if "max_memory" in args:
        kwargs["max_memory"] = parse_max_memory(str(args["max_memory"]))
    if "offload_folder" in args:
        kwargs["offload_folder"] = args["offload_folder"]
    return kwargs


def processor_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the processor's ``from_pretrained``."""
    return {k: args[k] for k in PROCESSOR_ARGS if k in args}


def check_processor_args(processor: Any, args: dict[str, Any], name: str) -> None:
    """Refuse max_pixels / min_pixels that the image processor did not take (not Qwen2-VL-like),
    rather than silently evaluating at the default resolution."""
    size = getattr(getattr(processor, "image_processor", None), "size", None) or {}
    edges = {"max_pixels": "longest_edge", "min_pixels": "shortest_edge"}
    for arg, edge in edges.items():
        if arg in args and size.get(edge) != args[arg]:
            kind = type(getattr(processor, "image_processor", processor)).__name__
            raise MMBenchError(
                f"--model-args {arg}: the image processor of model {name!r} ({kind}) does not"
                " take a pixel budget (Qwen2-VL family processors do); drop it"
            )


def placement_device(model: Any, fallback: str) -> str:
    """Where inputs go for a model placed by device_map: its first GPU, else the CPU."""
    devices = set(getattr(model, "hf_device_map", {}).values())
    gpus = sorted(d for d in devices if isinstance(d, int))
    if gpus:
        return f"cuda:{gpus[0]}"
    named = sorted(str(d) for d in devices if str(d).startswith(("cuda", "xpu", "mps")))
    return named[0] if named else ("cpu" if devices else fallback)
