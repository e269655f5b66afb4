"""Which transformers image-processor backend an `hf:` model's images go through: PIL unless
`--model-args image_backend=torchvision`.

transformers 5 ships most image processors twice, a PIL class (`CLIPImageProcessorPil`) and a
torchvision one (`CLIPImageProcessor`), and loads the torchvision one whenever torchvision is
installed. Their resizes differ: on CLIP, SigLIP and BLIP checkpoints about 70% of the pixel
values differ, by up to one uint8 step. Left to transformers, the same command would give other
numbers depending on whether torchvision happens to be installed. mmbench therefore asks for the
PIL backend by default: it is available wherever transformers reads images, it is what
transformers 4 used by default (most published `hf:` numbers), and it resizes as CLIP's own
preprocessing does (PIL bicubic). The image processor's class, which names the backend, is in
the fingerprint and the model description.

Only the image processor is swapped: a processor's other parts may exist for one backend only
(every transformers 5 video processor needs torchvision), so the processor is loaded as
transformers chooses and its `image_processor` replaced where it is of the other backend.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from mmbench.errors import MMBenchError

logger = logging.getLogger(__name__)

IMAGE_BACKENDS = ("pil", "torchvision")
DEFAULT_IMAGE_BACKEND = "pil"


def backend_of(image_processor: Any) -> str | None:
    """'pil' or 'torchvision' for a transformers 5 image processor; None for anything else (a
    remote-code class, an older transformers)."""
    try:
        from transformers.image_processing_backends import PilBackend, TorchvisionBackend
    except ImportError:
        return None
    if isinstance(image_processor, PilBackend):
        return "pil"
    if isinstance(image_processor, TorchvisionBackend):
        return "torchvision"
    return None


def with_image_backend(
    processor: Any, location: str, kwargs: dict[str, Any], args: dict[str, Any], name: str
) -> Any:
    """`processor` with its image processor on the wanted backend (`image_backend` in `args`,
    else PIL), reloaded from `location` with the processor's own `from_pretrained` `kwargs`.

    An explicit `image_backend` that cannot be honoured is a one-line error; the default falls
    back to what transformers loaded when the checkpoint's image processor has no PIL class.
    """
    image_processor = getattr(processor, "image_processor", None)
    wanted = args.get("image_backend", DEFAULT_IMAGE_BACKEND)
    current = backend_of(image_processor)
    if current is None or current == wanted:
        return processor
    if wanted == "torchvision" and importlib.util.find_spec("torchvision") is None:
        raise MMBenchError(
            "--model-args image_backend=torchvision needs torchvision (the build that matches"
            " your torch); install it or drop image_backend"
        )
    from transformers import AutoImageProcessor

    replacement = AutoImageProcessor.from_pretrained(location, backend=wanted, **kwargs)
    if backend_of(replacement) != wanted:
        kind = type(image_processor).__name__
        if "image_backend" in args:
            raise MMBenchError(
                f"--model-args image_backend={wanted}: model {name!r} has no {wanted} image"
                f" processor in this transformers ({kind} only); drop image_backend"
            )
        logger.debug("model %s: %s has no %s class; keeping it", name, kind, wanted)
        return processor
    logger.debug(
        "model %s: image processor %s instead of %s (image_backend=%s)",
        name,
        type(replacement).__name__,
        type(image_processor).__name__,
        wanted,
    )
    processor.image_processor = replacement
    return processor
