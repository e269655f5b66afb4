"""Checks of what an adapter's device call returned, before anything is cached or scored.

A `py:` adapter that returns the wrong number of outputs, or outputs of the wrong kind, would
otherwise fail far from the cause (a zip length error, a stack of strings) or be cached as is.
The contract (docs/architecture.md, "Adapter capabilities"): `generate` returns a list of `str`,
one per item; the encoders return a 2-D tensor `[B, D]` or a list of B 1-D tensors of one size.
"""

from __future__ import annotations

from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.base import GENERATE


def check_outputs(uri: str, capability: str, output: Any, expected: int) -> list[Any]:
    """`output` as a list of `expected` per-item outputs, or a one-line `MMBenchError`."""
    import torch

    where = f"model {uri!r}: {capability}() for a batch of {expected}"
    if capability == GENERATE:
        if not isinstance(output, list | tuple):
            raise MMBenchError(f"{where} returned {type(output).__name__}; return a list of str")
        if len(output) != expected:
            raise MMBenchError(
                f"{where} returned {len(output)} outputs; return exactly one str per item"
            )
        bad = next((o for o in output if not isinstance(o, str)), None)
        if bad is not None:
            raise MMBenchError(
                f"{where} returned a {type(bad).__name__} among its outputs; return one str per"
                " item"
            )
        return list(output)
    if isinstance(output, torch.Tensor):
        if output.dim() != 2 or output.shape[0] != expected:
            raise MMBenchError(
                f"{where} returned a tensor of shape {tuple(output.shape)}; return [batch, dim]"
                f" = [{expected}, D]"
            )
        return list(output.detach().to("cpu", torch.float32))
    if not isinstance(output, list | tuple):
        raise MMBenchError(
            f"{where} returned a {type(output).__name__}; return a [{expected}, D] tensor"
        )
    if len(output) != expected:
        raise MMBenchError(
            f"{where} returned {len(output)} outputs; return a [{expected}, D] tensor"
        )
    for item in output:
        if not isinstance(item, torch.Tensor) or item.dim() != 1:
            raise MMBenchError(
                f"{where} returned a list holding a {type(item).__name__}"
                f"{f' of shape {tuple(item.shape)}' if isinstance(item, torch.Tensor) else ''};"
                f" return a [{expected}, D] tensor"
            )
    if len({item.shape[0] for item in output}) > 1:
        raise MMBenchError(f"{where} returned vectors of different sizes; return a [B, D] tensor")
    return [item.detach().to("cpu", torch.float32) for item in output]
