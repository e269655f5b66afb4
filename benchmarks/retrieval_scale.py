"""Chunked retrieval recall at scale, with bounded memory.

    python benchmarks/retrieval_scale.py --images 100000 --texts 500000 --dim 512 [--device cuda]

Random embeddings are generated block by block straight into preallocated tensors, so the inputs
cost exactly their own size (100k + 500k embeddings x 512 float32 = 1.2 GB) and no temporary
full-size random matrix. `retrieval_recall` then adds one normalised copy of the inputs, the
positive tiles and a few cache-sized score tiles; the similarity matrix itself (100k x 500k,
200 GB) is never stored. Peak RSS comes from `resource.getrusage(...).ru_maxrss`.

The full size is 2 * 100k * 500k * 512 = 5.1e13 floating-point operations: ~6 minutes on an idle
2-core CPU (~150 GFLOP/s), seconds on a GPU. For a quick check run a slice (e.g. `--images 2000`,
which keeps the full 500k texts and so nearly the full memory footprint) and read the
extrapolated full-size time from the output.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import torch

from mmbench.metrics.retrieval import DEFAULT_CHUNK_SIZE, retrieval_recall


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if platform.system() == "Darwin" else 1024  # macOS reports bytes
    return kib * scale / 2**30


def random_embeddings(n: int, dim: int, device: str, seed: int, block: int = 65536):
    """`[n, dim]` standard-normal float32 embeddings, filled `block` rows at a time."""
    out = torch.empty(n, dim, device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, n, block):
        out[start : start + block].normal_(generator=g)
    return out


def run(
    n_images: int, n_texts: int, dim: int, device: str, chunk_size: int, full: tuple[int, int]
) -> dict:
    rss_start = peak_rss_gib()
    images = random_embeddings(n_images, dim, device, seed=0)
    texts = random_embeddings(n_texts, dim, device, seed=1)
    # COCO-like ownership: text j belongs to image j mod n_images (>= 1 text per image).
    owner = torch.arange(n_texts, device=device) % n_images
    rss_inputs = peak_rss_gib()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    metrics = retrieval_recall(images, texts, owner, chunk_size=chunk_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    flops = 2.0 * n_images * n_texts * dim
    full_flops = 2.0 * full[0] * full[1] * dim
    report = {
        "images": n_images,
        "texts": n_texts,
        "dim": dim,
        "device": device,
        "threads": torch.get_num_threads(),
        "chunk_size": chunk_size,
        "seconds": round(seconds, 2),
        "gflop_per_s": round(flops / seconds / 1e9, 1),
        "input_gib": round((n_images + n_texts) * dim * 4 / 2**30, 3),
        "peak_rss_gib_before_inputs": round(rss_start, 3),
        "peak_rss_gib_after_inputs": round(rss_inputs, 3),
        "peak_rss_gib": round(peak_rss_gib(), 3),
        "extrapolated_full_size_hours": round(seconds * full_flops / flops / 3600, 2),
        "full_size": f"{full[0]}x{full[1]}x{dim}",
        "i2t_R@1": metrics["i2t_R@1"],
        "t2i_R@1": metrics["t2i_R@1"],
        "i2t_MnR": metrics["i2t_MnR"],
        "t2i_MnR": metrics["t2i_MnR"],
    }
    if device.startswith("cuda"):
        report["peak_cuda_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--texts", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--full-images", type=int, default=100_000, help="for the extrapolation")
    parser.add_argument("--full-texts", type=int, default=500_000, help="for the extrapolation")
    args = parser.parse_args(argv)
    if args.texts < args.images:
        parser.error("--texts must be >= --images (every image needs a text)")
    with torch.no_grad():
        report = run(
            args.images,
            args.texts,
            args.dim,
            args.device,
            args.chunk_size,
            (args.full_images, args.full_texts),
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
