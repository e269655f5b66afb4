"""Per-sample records as the report shows them: display fields, pass/fail, and flips between runs.

A sample is a *failure* when it got no credit on its task's headline metric or did not run:

* it has an `error` (its media failed and the run skipped it);
* classification: `correct` is false (top-1 label wrong);
* retrieval: no query of the sample found its match at rank 1 in the headline's direction
  (`rank_visual_to_text` for `i2t_*` / `v2t_*`; every one of `ranks_text_to_visual` for `t2i_*` /
  `t2v_*`), i.e. the sample scores 0 on that direction's R@1;
* otherwise: its per-sample headline score (`scores[<headline>]`) is 0 (VQA accuracy, exact match,
  a CIDEr of 0).

A sample with none of these fields (or a non-zero continuous score) is not a failure. The
comparison view lists the samples whose per-sample headline value changed
(`mmbench.sample_diff`, as `compare --show`); where samples hold no such value it falls back to
`flips` here: passes in one run and fails in the other (McNemar's discordant pairs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

#: fields shown in this order first (the samples JSONL schema), then any others alphabetically
FIELD_ORDER = (
    "question",
    "prompt",
    "choices",
    "prediction",
    "top5",
    "label",
    "references",
    "answers",
    "rank_visual_to_text",
    "ranks_text_to_visual",
    "group",
    "frame_indices",
    "error",
)
#: fields not shown as text: the id has its own column, scores theirs, `correct` is the outcome
HIDDEN = {"id", "scores", "correct"}


def sample_id(sample: dict[str, Any], position: int) -> str:
    """The sample's `id` as text, else its position in the file (like a row without an id)."""
    value = sample.get("id")
    return str(value) if value is not None else str(position)


def is_failure(sample: dict[str, Any], headline: str) -> bool | None:
    """True / False when the sample fails / passes (module docstring), None when undecidable."""
    if sample.get("error"):
        return True
    if isinstance(sample.get("correct"), bool):
        return not sample["correct"]
    direction = headline.split("_", 1)[0]
    if direction.startswith("t2") and isinstance(sample.get("ranks_text_to_visual"), list):
        ranks = [r for r in sample["ranks_text_to_visual"] if isinstance(r, int | float)]
        return all(r > 1 for r in ranks) if ranks else None
    if isinstance(sample.get("rank_visual_to_text"), int | float):
        return sample["rank_visual_to_text"] > 1
    scores = sample.get("scores")
    if isinstance(scores, dict) and isinstance(scores.get(headline), int | float):
        return scores[headline] == 0
    return None


def display_fields(sample: dict[str, Any], extra: dict[str, Any]) -> list[list[Any]]:
    """`[[name, value], ...]` to show as text: the sample's fields in schema order, then the
    dataset's own fields from `extra` (e.g. the captions of a retrieval row) not in the sample."""
    names = [n for n in FIELD_ORDER if n in sample]
    names += sorted(n for n in sample if n not in FIELD_ORDER and n not in HIDDEN)
    shown = [[name, sample[name]] for name in names]
    # a dataset value the sample already shows (the label of a classification row) is not repeated
    present = [value for _, value in shown]
    shown += [[name, value] for name, value in extra.items() if value not in present]
    return shown


def numeric_scores(sample: dict[str, Any]) -> dict[str, float]:
    """`scores` with only finite numeric values (booleans as 0/1)."""
    scores = sample.get("scores")
    if not isinstance(scores, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in scores.items()
        if isinstance(v, int | float) and math.isfinite(v)
    }


def flips(
    a: Iterable[tuple[str, bool | None]], b: Iterable[tuple[str, bool | None]]
) -> tuple[list[str], list[str]]:
    """Ids that pass in `a` but fail in `b`, and those that fail in `a` but pass in `b`.

    Inputs are `(sample id, is_failure)` pairs; only ids present in both runs with a decided
    outcome count. Order follows `a`.
    """
    outcome_b = {sid: failed for sid, failed in b if failed is not None}
    a_better, b_better = [], []
    for sid, failed in a:
        other = outcome_b.get(sid)
        if failed is None or other is None or failed == other:
            continue
        (b_better if failed else a_better).append(sid)
    return a_better, b_better
