"""Helpers every adapter family shares (`hf:`, `open_clip:`, `builtin:`).

File hashing, fingerprint hashing, the dtype policy and the fixed-shape chunking that makes
embeddings independent of the batch size. torch is imported inside functions only, so importing
this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
_DTYPE_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

# Dual encoders run every forward pass on exactly this many rows (a short last chunk is filled with
# copies of its last row, whose outputs are dropped). CPU and GPU matrix kernels pick their
# algorithm by shape, so a row's last bits change with the number of rows next to it; with one
# fixed shape they do not, which makes embeddings bitwise independent of the batch size.
MICRO_BATCH = 32

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, memoised per (path, size, mtime) within the process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key not in _HASHES:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
        return _HASHES[key]


def stable_hash(payload: Any) -> str:
    """sha256 of `payload` as canonical JSON (sorted keys, no spaces): a fingerprint's hash."""
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def resolve_dtype(requested: str, device: str, config: Any = None) -> torch.dtype:
    """The torch dtype to run in.

    ``auto``: float32 off CUDA; on CUDA the checkpoint's stored dtype when it is half precision
    (bfloat16 becomes float16 on GPUs without bfloat16), else float32. So CLIP-like float32
    checkpoints are evaluated in float32 everywhere, and large half-precision generators in the
    precision they were published in.
    """
    import torch

    key = str(requested or "auto").lower().replace("torch.", "")
    if key != "auto":
        if key not in _DTYPE_ALIASES:
            raise MMBenchError(
                f"unknown --dtype {requested!r}; use one of {', '.join(DTYPE_CHOICES)}"
            )
        chosen, why = getattr(torch, _DTYPE_ALIASES[key]), f"--dtype {requested}"
    elif not str(device).startswith("cuda"):
        chosen, why = torch.float32, f"auto on {device}: float32 off CUDA"
    else:
        stored = _stored_dtype(config)
        if stored == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            chosen, why = torch.float16, "auto: checkpoint in bfloat16, which this GPU lacks"
        elif stored in (torch.bfloat16, torch.float16):
            chosen, why = stored, "auto: the checkpoint's half precision"
        else:
            kept = dtype_name(stored) if stored is not None else "unknown"
            chosen, why = torch.float32, f"auto: checkpoint stored in {kept}, not half precision"
    logger.debug("dtype %s (%s)", dtype_name(chosen), why)
    return chosen


def _stored_dtype(config: Any) -> torch.dtype | None:
    import torch

    if config is None:
        return None
    candidates = [config]
    get_text_config = getattr(config, "get_text_config", None)
    if callable(get_text_config):
        candidates.append(get_text_config())
    for cfg in candidates:
        value = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        if isinstance(value, str):
            value = getattr(torch, value.replace("torch.", ""), None)
        if isinstance(value, torch.dtype):
            return value
    return None


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32: the spelling fingerprints and result JSONs use."""
    return str(dtype).replace("torch.", "")


def run_fixed_chunks(fn: Any, inputs: dict[str, Any], size: int = MICRO_BATCH) -> torch.Tensor:
    """Apply `fn` to `inputs` in chunks of exactly `size` rows (see MICRO_BATCH)."""
    import torch

    tensors = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    rows = {v.shape[0] for v in tensors.values()}
    if len(rows) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(rows)}")
    n = rows.pop()
    outputs = []
    for start in range(0, n, size):
        chunk = {k: v[start : start + size] for k, v in inputs.items()}
        real = min(size, n - start)
        if real < size:
            chunk = {
                k: torch.cat([v, v[-1:].expand(size - real, *v.shape[1:])]) if k in tensors else v
                for k, v in chunk.items()
            }
        outputs.append(fn(chunk)[:real])
    return torch.cat(outputs)
