"""Speed of `mmbench compare`'s paired tests on a COCO-sized retrieval result.

Two synthetic runs of 5,000 images x 5 captions (ranks only, as the samples JSONL holds them) are
compared on the nine coco-retrieval metrics: R@1/5/10 both ways (McNemar plus the bootstrap
interval), both median ranks and RSUM (paired bootstrap recomputing the aggregate), 10,000
resamples. The reference is the plain loop a user would write: for each resample, index the
samples and call `recall_from_ranks` on both runs; it runs `--loop-resamples` resamples and its
time is scaled to 10,000. Prints seconds and the ratio (vectorised / loop; lower is better).

    python benchmarks/compare_significance.py [--images 5000] [--loop-resamples 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mmbench.metrics.paired import DEFAULT_RESAMPLES, mcnemar_exact, paired_bootstrap
from mmbench.metrics.retrieval import recall_from_ranks
from mmbench.metrics.sample_stats import binary_units, statistic

METRICS = (
    "i2t_R@1",
    "i2t_R@5",
    "i2t_R@10",
    "t2i_R@1",
    "t2i_R@5",
    "t2i_R@10",
    "i2t_MdR",
    "t2i_MdR",
    "RSUM",
)


def runs(images: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Baseline and new samples: ranks from a heavy-tailed distribution, the new run perturbed."""
    rng = np.random.default_rng(seed)
    base_i2t = rng.geometric(0.3, images)
    base_t2i = rng.geometric(0.15, (images, 5))
    new_i2t = np.maximum(1, base_i2t + rng.integers(-1, 2, images))
    new_t2i = np.maximum(1, base_t2i + rng.integers(-2, 3, (images, 5)))
    out = []
    for i2t, t2i in ((base_i2t, base_t2i), (new_i2t, new_t2i)):
        out.append(
            [
                {
                    "id": str(i),
                    "rank_visual_to_text": int(i2t[i]),
                    "ranks_text_to_visual": t2i[i].tolist(),
                }
                for i in range(images)
            ]
        )
    return out[0], out[1]


def vectorised(base: list[dict], new: list[dict]) -> float:
    started = time.perf_counter()
    pairs = {m: (statistic(m, base), statistic(m, new)) for m in METRICS}
    for m in METRICS:
        units = binary_units(m, base), binary_units(m, new)
        if units[0] is not None:
            mcnemar_exact(
                int(((units[0] == 1) & (units[1] == 0)).sum()),
                int(((units[0] == 0) & (units[1] == 1)).sum()),
            )
    paired_bootstrap(pairs, n=DEFAULT_RESAMPLES, seed=0)
    return time.perf_counter() - started


def loop(base: list[dict], new: list[dict], resamples: int) -> float:
    i2t = [np.array([s["rank_visual_to_text"] for s in run]) for run in (base, new)]
    t2i = [np.array([s["ranks_text_to_visual"] for s in run]) for run in (base, new)]
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(resamples):
        idx = rng.integers(0, len(base), len(base))
        for k in (0, 1):
            recall_from_ranks(i2t[k][idx], t2i[k][idx].ravel())
    return (time.perf_counter() - started) * DEFAULT_RESAMPLES / resamples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--loop-resamples", type=int, default=100)
    args = parser.parse_args()
    base, new = runs(args.images)
    fast = vectorised(base, new)
    slow = loop(base, new, args.loop_resamples)
    print(
        f"{args.images} images x 5 captions, {len(METRICS)} metrics, {DEFAULT_RESAMPLES} resamples"
    )
    print(f"vectorised paired tests: {fast:8.2f} s")
    print(f"per-resample loop (scaled from {args.loop_resamples}): {slow:8.2f} s")
    print(f"ratio vectorised / loop: {fast / slow:.3f}")


if __name__ == "__main__":
    main()
