"""What a run cost, read from its result JSON: speed, time, memory, tokens and the hardware.

Used by `mmbench leaderboard` (CSV columns) and `mmbench report` (table columns), so both name
and compute the figures the same way.
"""

from __future__ import annotations

from typing import Any

#: cost columns, in the order tables show them
COST_COLUMNS = (
    "items_per_s",
    "wall_s",
    "peak_gpu_memory_mb",
    "tokens_per_s",
    "requests",
    "tokens",
    "hardware",
)


def cost_of(result: dict[str, Any]) -> dict[str, Any]:
    """`{column: value}` for `COST_COLUMNS`; None where the result does not record it.

    * `items_per_s`, `wall_s`: `timing.items_per_s` and `timing.total_s` (the whole run: data,
      model and metrics, as `mmbench run` prints it).
    * `peak_gpu_memory_mb`: `timing.peak_gpu_memory_mb` (torch's peak allocation on the model's
      GPU during the run, MiB).
    * served models (`openai:`): `requests` and `tokens` (prompt + completion) from
      `timing.server`; `tokens_per_s` = completion tokens / wall time. A local generator's
      `timing.tokens_per_s` is used when recorded.
    * `hardware`: the GPU name (with a count when several) for a run on `cuda`, else the CPU model,
      from the result's `environment` record.
    """
    timing = result.get("timing") if isinstance(result.get("timing"), dict) else {}
    env = result.get("environment") if isinstance(result.get("environment"), dict) else {}
    config = result.get("config") if isinstance(result.get("config"), dict) else {}
    server = timing.get("server") if isinstance(timing.get("server"), dict) else {}
    wall = _number(timing.get("total_s"))
    tokens_per_s = _number(timing.get("tokens_per_s"))
    completion = _number(server.get("completion_tokens"))
    if tokens_per_s is None and completion and wall:
        tokens_per_s = round(completion / wall, 2)
    device = str(config.get("device") or "")
    gpus = [str(g) for g in env.get("gpus") or []]
    if device.startswith("cuda") and gpus:
        hardware = f"{len(gpus)}x {gpus[0]}" if len(gpus) > 1 else gpus[0]
    else:
        hardware = str(env.get("cpu") or device) or None
    return {
        "items_per_s": _number(timing.get("items_per_s")),
        "wall_s": wall,
        "peak_gpu_memory_mb": _number(timing.get("peak_gpu_memory_mb")),
        "tokens_per_s": tokens_per_s,
        "requests": _number(server.get("requests")),
        "tokens": _number(server.get("total_tokens")),
        "hardware": hardware,
    }


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
