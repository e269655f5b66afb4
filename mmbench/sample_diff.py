"""Samples whose score changed between two runs (`compare --show N`, the report's diff view).

A sample *flips* when its per-sample value of the chosen metric differs between the two runs: a
0/1 metric turned from right to wrong or back, a rank that moved, a caption score that changed.
The most informative come first: worsenings before improvements (a gate looks for what broke), the
largest change first within each, then by id for a stable order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mmbench.metrics.registry import metric_info
from mmbench.metrics.sample_stats import Unavailable, sample_value

_MAX_TEXT = 160


@dataclass
class Flip:
    """One sample whose per-sample value of `metric` changed."""

    id: str
    metric: str
    baseline: float
    new: float
    worse: bool
    prompt: str | None
    baseline_prediction: Any
    new_prediction: Any
    references: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One readable line per flipped sample (texts shortened)."""
        parts = [
            f"{'worse' if self.worse else 'better'} {self.id}:"
            f" {self.metric} {_num(self.baseline)} -> {_num(self.new)}"
        ]
        if self.prompt:
            parts.append(f"prompt {_short(self.prompt)!r}")
        parts.append(f"baseline {_short(self.baseline_prediction)!r}")
        parts.append(f"new {_short(self.new_prediction)!r}")
        if self.references is not None:
            parts.append(f"references {_short(self.references)}")
        return " | ".join(parts)


def flipped_samples(
    base: list[dict[str, Any]], new: list[dict[str, Any]], metric: str
) -> list[Flip]:
    """Samples (paired in order, as `significance.pair_samples` returns them) whose value of
    `metric` differs, most informative first (see the module docstring).

    Raises `Unavailable` when the samples hold no per-sample value of `metric`.
    """
    info = metric_info(metric)
    flips = []
    for old_sample, new_sample in zip(base, new, strict=True):
        old, cur = sample_value(metric, old_sample), sample_value(metric, new_sample)
        if old is None or cur is None or math.isclose(old, cur, rel_tol=1e-12, abs_tol=1e-12):
            continue
        # A diagnostic with no better side (higher_is_better None) never counts as worse.
        worse = {True: cur < old, False: cur > old, None: False}[info.higher_is_better]
        flips.append(
            Flip(
                id=str(old_sample.get("id")),
                metric=metric,
                baseline=old,
                new=cur,
                worse=worse,
                prompt=_first(new_sample, "prompt", "question") or _first(old_sample, "prompt"),
                baseline_prediction=_prediction(old_sample),
                new_prediction=_prediction(new_sample),
                references=_first(new_sample, "references", "answers", "label"),
            )
        )
    flips.sort(key=lambda f: (not f.worse, -abs(f.new - f.baseline), f.id))
    return flips


def diff_metric(headline: str | None, metrics: list[str], sample: dict[str, Any]) -> str | None:
    """The metric whose per-sample values a diff lists: the headline when the samples hold it,
    else the first metric that they hold."""
    for name in [*([headline] if headline else []), *metrics]:
        try:
            if sample_value(name, sample) is not None:
                return name
        except Unavailable:
            continue
    return None


def _prediction(sample: dict[str, Any]) -> Any:
    """What the model answered: `prediction`, else the top class, else the visual query's rank."""
    if "prediction" in sample:
        return sample["prediction"]
    if sample.get("top5"):
        return sample["top5"][0]
    if "rank_visual_to_text" in sample:
        return f"rank {sample['rank_visual_to_text']}"
    return None


def _first(sample: dict[str, Any], *keys: str) -> Any:
    return next((sample[k] for k in keys if sample.get(k) not in (None, "", [])), None)


def _short(value: Any) -> str:
    if isinstance(value, list):
        value = "; ".join(dict.fromkeys(str(v) for v in value))  # 10 equal answers: once
    text = value if isinstance(value, str) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _num(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.4f}"
