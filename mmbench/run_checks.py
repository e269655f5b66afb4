"""Checks of a run request that need no model: each bad value is a one-line error (exit 2)
before any weights load or data is read.

`--gen-kwargs` are checked against what the generator does with them: schemes whose models
ignore generation settings refuse them; `hf:` settings must be `transformers.GenerationConfig`
fields with values of the right type that the config accepts (its strict validation, which also
refuses settings that would be silently ignored, such as `top_p` without `do_sample=true`).
"""

from __future__ import annotations

import re
from typing import Any

from mmbench.errors import MMBenchError, did_you_mean

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?|xpu(:\d+)?)$")
#: schemes whose adapters never read generation settings
IGNORES_GENERATION = {"builtin": "builtin models", "open_clip": "OpenCLIP models"}
_INTS = {
    "max_new_tokens": 1,
    "min_new_tokens": 0,
    "max_length": 1,
    "min_length": 0,
    "num_beams": 1,
    "num_beam_groups": 1,
    "top_k": 0,
    "num_return_sequences": 1,
    "no_repeat_ngram_size": 0,
}
_FLOATS = ("temperature", "top_p", "typical_p", "min_p", "repetition_penalty", "length_penalty")
_BOOLS = ("do_sample", "use_cache")


def check_device(device: str) -> None:
    """`--device`: auto, cpu, cuda, cuda:N, mps, xpu or xpu:N."""
    if not _DEVICE.match(device):
        raise MMBenchError(
            f"unknown --device {device!r}; use auto, cpu, cuda, cuda:N (a GPU index), mps or xpu"
        )


def check_bootstrap(resamples: int) -> None:
    """`--bootstrap`: 0 (off) or a positive number of resamples."""
    if resamples < 0:
        raise MMBenchError(
            f"--bootstrap {resamples} is negative; pass 0 (no intervals) or a number of"
            " resamples such as 1000"
        )


def check_generation(settings: dict[str, Any], uri: str) -> None:
    """Refuse `--gen-kwargs` the model at `uri` would reject or ignore (see module docstring)."""
    if not settings:
        return
    scheme = uri.partition(":")[0]
    first = next(iter(settings))
    if scheme in IGNORES_GENERATION:
        raise MMBenchError(
            f"--gen-kwargs {first}=... has no effect on {uri!r}: {IGNORES_GENERATION[scheme]}"
            " ignore generation settings; drop --gen-kwargs"
        )
    if scheme == "hf":
        check_hf_generation(settings)


def check_hf_generation(settings: dict[str, Any]) -> None:
    """Names, types and consistency of transformers generation settings."""
    from transformers import GenerationConfig

    known = set(GenerationConfig().to_dict())
    for key, value in settings.items():
        if key not in known:
            raise MMBenchError(
                f"--gen-kwargs {key} is not a transformers generation setting"
                f"{did_you_mean(key, known)}; see transformers.GenerationConfig"
            )
        _check_type(key, value)
    try:
        GenerationConfig(**settings).validate(strict=True)
    except (ValueError, TypeError) as err:
        detail = " ".join(str(err).split())[:300]
        raise MMBenchError(
            f"--gen-kwargs {', '.join(f'{k}={v}' for k, v in settings.items())} rejected by"
            f" transformers ({detail}); fix the settings"
        ) from err


def _check_type(key: str, value: Any) -> None:
    if key in _INTS:
        lowest = _INTS[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise MMBenchError(
                f"--gen-kwargs {key}={value!r} must be a whole number of at least {lowest}"
            )
    elif key in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise MMBenchError(f"--gen-kwargs {key}={value!r} must be a number of at least 0")
    elif key in _BOOLS and not isinstance(value, bool):
        raise MMBenchError(f"--gen-kwargs {key}={value!r} must be true or false")
