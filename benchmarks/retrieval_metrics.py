"""Speed and agreement of `mmbench.metrics.retrieval_recall` against references.

    python benchmarks/retrieval_metrics.py [--images 5000] [--texts-per-image 5] [--dim 512]

Rows (each timing is the minimum over interleaved repeats, so a busy machine hurts both sides):

* `retrieval_recall` vs the bare `image_emb @ text_emb.T` matmul: the floor, since every score
  must be computed once. The target is a ratio <= 1.3 on 5k x 25k x 512 float32 on a CPU.
* vs a naive CLIP_benchmark-style evaluation (full matrix, `topk` per K for each direction, a
  full sort for the ranks): same numbers when there are no ties.
* vs torchmetrics' `retrieval_recall` for image->text R@1: torchmetrics divides the positives
  found in the top K by *all* positives of the query (5 captions), the COCO convention asks
  whether *any* is there, so the numbers differ by design (about 5x at K=1).

The embeddings are synthetic but correlated like a real model's: each caption is its image's
embedding plus Gaussian noise, so recalls are mid-range rather than ~0.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mmbench.metrics.retrieval import retrieval_recall
from mmbench.table import format_rows


def make_embeddings(
    n_images: int, per_image: int, dim: int, noise: float = 7.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n_images, dim, generator=g)
    owner = torch.arange(n_images).repeat_interleave(per_image)
    texts = images[owner] + noise * torch.randn(len(owner), dim, generator=g)
    return images, texts, owner


def naive_clip_benchmark(
    images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor, ks=(1, 5, 10)
) -> dict[str, float]:
    """CLIP_benchmark's `zeroshot_retrieval.evaluate`, plus full-sort ranks for MdR / MnR."""
    images = torch.nn.functional.normalize(images, dim=-1)
    texts = torch.nn.functional.normalize(texts, dim=-1)
    scores = texts @ images.T  # [n_texts, n_images], as CLIP_benchmark lays it out
    positive = torch.zeros_like(scores, dtype=torch.bool)
    positive[torch.arange(len(owner)), owner] = True
    out: dict[str, float] = {}
    for name, s, pos in (("t2i", scores, positive), ("i2t", scores.T, positive.T)):
        for k in ks:
            top = s.topk(k, dim=1).indices
            out[f"{name}_R@{k}"] = pos.gather(1, top).any(1).double().mean().item()
        order = s.argsort(dim=1, descending=True)
        first_hit = pos.gather(1, order).float().argmax(1) + 1  # 1-based rank of best positive
        out[f"{name}_MdR"] = float(np.median(first_hit.numpy()))
        out[f"{name}_MnR"] = first_hit.double().mean().item()
    out["RSUM"] = 100 * sum(out[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in ks)
    return out


def torchmetrics_i2t_recall_at_1(
    images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor, n_queries: int
) -> float:
    """torchmetrics' functional retrieval_recall(top_k=1), averaged over image queries."""
    from torchmetrics.functional.retrieval import retrieval_recall as tm_recall

    images = torch.nn.functional.normalize(images[:n_queries], dim=-1)
    texts = torch.nn.functional.normalize(texts, dim=-1)
    values = [tm_recall(texts @ image, owner == i, top_k=1) for i, image in enumerate(images)]
    return torch.stack(values).float().mean().item()


def _min_times(fns: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict]:
    times = {name: float("inf") for name in fns}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times, results


def rows(
    n_images: int = 5000, per_image: int = 5, dim: int = 512, repeats: int = 5
) -> list[dict[str, Any]]:
    """The benchmark table as dicts: metric, N, mmbench_s, reference_s, ratio, max_abs_diff."""
    images, texts, owner = make_embeddings(n_images, per_image, dim)
    n = f"{n_images}x{len(texts)}x{dim}"
    table = []

    times, results = _min_times(
        {
            "matmul": lambda: images @ texts.T,
            "mmbench": lambda: retrieval_recall(images, texts, owner),
        },
        repeats,
    )
    ours = results["mmbench"]
    table.append(
        {
            "metric": "recall (both directions) vs bare matmul",
            "N": n,
            "mmbench_s": times["mmbench"],
            "reference_s": times["matmul"],
            "ratio": times["mmbench"] / times["matmul"],
            "max_abs_diff": None,
        }
    )

    times, results = _min_times(
        {
            "naive": lambda: naive_clip_benchmark(images, texts, owner),
            "mmbench": lambda: retrieval_recall(images, texts, owner),
        },
        max(1, repeats // 3),
    )
    naive = results["naive"]
    table.append(
        {
            "metric": "recall vs naive CLIP_benchmark loop",
            "N": n,
            "mmbench_s": times["mmbench"],
            "reference_s": times["naive"],
            "ratio": times["mmbench"] / times["naive"],
            "max_abs_diff": max(abs(ours[k] - naive[k]) for k in naive),
        }
    )

    n_queries = min(1000, n_images)
    times, results = _min_times(
        {
            "torchmetrics": lambda: torchmetrics_i2t_recall_at_1(images, texts, owner, n_queries),
            "mmbench": lambda: _i2t_r1_all_texts(images[:n_queries], texts, owner),
        },
        1,
    )
    table.append(
        {
            "metric": "i2t R@1 vs torchmetrics retrieval_recall (share of positives)",
            "N": f"{n_queries}x{len(texts)}x{dim}",
            "mmbench_s": times["mmbench"],
            "reference_s": times["torchmetrics"],
            "ratio": times["mmbench"] / times["torchmetrics"],
            "max_abs_diff": abs(results["mmbench"] - results["torchmetrics"]),
            "mmbench_value": results["mmbench"],
            "reference_value": results["torchmetrics"],
        }
    )
    return table


def _i2t_r1_all_texts(images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor) -> float:
    """image->text R@1 of the given images against all texts (texts of other images: negatives)."""
    from mmbench.metrics.retrieval import best_positive_ranks

    n = len(images)
    q = torch.nn.functional.normalize(images, dim=-1)
    t = torch.nn.functional.normalize(texts, dim=-1)
    positives = [(owner == i).nonzero().flatten().tolist() for i in range(n)]
    ranks = best_positive_ranks((q, t), positives).query_ranks
    return (ranks <= 1).double().mean().item()


def format_table(table: list[dict[str, Any]]) -> str:
    def cell(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines, notes = [], []
    for row in table:
        lines.append(
            (
                row["metric"],
                row["N"],
                cell(row["mmbench_s"], ".3f"),
                cell(row["reference_s"], ".3f"),
                cell(row["ratio"], ".3f"),
                cell(row["max_abs_diff"], ".2g"),
            )
        )
        if "reference_value" in row:
            notes.append(
                f"{row['metric']}: mmbench {row['mmbench_value']:.3f} (any positive in top 1), "
                f"torchmetrics {row['reference_value']:.3f} (share of the 5 positives in top 1)"
            )
    header = ("metric", "N", "mmbench s", "ref s", "ratio", "max|diff|")
    return "\n".join([format_rows(header, lines), *notes])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--texts-per-image", type=int, default=5)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(format_table(rows(args.images, args.texts_per_image, args.dim, args.repeats)))


if __name__ == "__main__":
    main()
