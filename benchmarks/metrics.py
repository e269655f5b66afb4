"""One table for every metric benchmark: metric, N, mmbench seconds, reference seconds, ratio,
max abs difference, each reference measured in the same run.

    python benchmarks/metrics.py [--captions ../shared/data/flickr8k/captions.json] [--n 5000]

Caption metrics are compared with pycocoevalcap 1.2 (Java PTB tokenizer, Bleu, Rouge, Cider) on
real Flickr8k captions (`caption_metrics.py`); Recall@K with the bare similarity matmul, a naive
CLIP_benchmark-style loop and torchmetrics (`retrieval_metrics.py`). Targets: caption metrics
together >= 20x faster than pycocoevalcap; recall within 1.3x of the matmul.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import caption_metrics
import retrieval_metrics

from mmbench.table import format_rows


def unified_rows(n: int, captions: Path | None, repeats: int) -> list[dict[str, Any]]:
    """Both scripts' rows under one schema."""
    table = []
    for row in caption_metrics.rows(n=n, captions_path=captions, repeats=repeats):
        diffs = [row.get("diff_corpus"), row.get("diff_per_id")]
        diffs = [d for d in diffs if d is not None and not math.isnan(d)]
        table.append(
            {
                "metric": row["metric"],
                "N": str(row["n"]),
                "mmbench_s": row["mmbench_s"],
                "reference_s": row["reference_s"],
                "max_abs_diff": max(diffs) if diffs else None,
            }
        )
    for row in retrieval_metrics.rows(repeats=repeats):
        table.append(
            {k: row[k] for k in ("metric", "N", "mmbench_s", "reference_s", "max_abs_diff")}
        )
    return table


def format_table(table: list[dict[str, Any]]) -> str:
    def number(value: Any, fmt: str) -> str:
        return (
            "-"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else format(value, fmt)
        )

    lines = []
    for row in table:
        reference = row["reference_s"]
        valid = reference is not None and not math.isnan(reference) and row["mmbench_s"]
        ratio = f"{reference / row['mmbench_s']:.1f}x" if valid else "-"
        lines.append(
            (
                row["metric"][:44],
                row["N"],
                number(row["mmbench_s"], ".3f"),
                number(reference, ".3f"),
                ratio,
                number(row["max_abs_diff"], ".2g"),
            )
        )
    header = ("metric", "N", "mmbench s", "ref s", "ratio", "max|diff|")
    note = "ratio = reference seconds / mmbench seconds (for recall vs matmul, < 1 is expected)"
    return format_rows(header, lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=Path, default=None, help="Flickr8k captions JSON")
    parser.add_argument("--n", type=int, default=5000, help="images for the caption metrics")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(format_table(unified_rows(args.n, args.captions, args.repeats)))


if __name__ == "__main__":
    main()
