"""Chunked retrieval recall at scale, with bounded memory.

    python benchmarks/retrieval_scale.py --images 100000 --texts 500000 --dim 512 [--device cuda]

Random embeddings are generated block by block straight into preallocated tensors, so the inputs
cost exactly their own size (100k + 500k embeddings x 512 float32 = 1.2 GB) and no temporary
full-size random matrix. `retrieval_recall` then adds one normalised copy of the inputs and a
few cache-sized score tiles; the similarity matrix itself (100k x 500k,
200 GB) is never stored. Peak RSS comes from `resource.getrusage(...).ru_maxrss`.

The full size is 2 * 100k * 500k * 512 = 5.1e13 floating-point operations: ~6 minutes on an idle
2-core CPU (~150 GFLOP/s), seconds on a GPU. For a quick check run a slice (e.g. `--images 2000`,
which keeps the full 500k texts and so nearly the full memory footprint) and read the
extrapolated full-size time from the output.

`--memmap DIR` keeps both embedding matrices in float32 memory-mapped scratch files in DIR, as
`mmbench run --embedding-store disk` does: they are normalised in place (`l2_normalize_rows_`)
and ranked with `retrieval_ranks(normalized=True)`, so no copy of them is made. Mapped file pages
count in RSS while resident but the kernel can drop them at any time, so the number that must
stay small is the anonymous memory (`RssAnon`, sampled every 20 ms: `peak_anon_gib`).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import threading
import time
from pathlib import Path

import torch

from mmbench.embedding_matrix import EmbeddingMatrix
from mmbench.metrics.retrieval import (
    DEFAULT_CHUNK_SIZE,
    l2_normalize_rows_,
    recall_from_ranks,
    retrieval_ranks,
    retrieval_recall,
)


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if platform.system() == "Darwin" else 1024  # macOS reports bytes
    return kib * scale / 2**30


class AnonymousMemorySampler:
    """Peak of /proc/self/status RssAnon (Linux), sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> AnonymousMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def _sample(self) -> None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)
        except OSError:
            pass


def random_embeddings(
    n: int, dim: int, device: str, seed: int, block: int = 65536, memmap: Path | None = None
):
    """`[n, dim]` standard-normal float32 embeddings, filled `block` rows at a time.

    With `memmap`, the matrix is a disk-backed `EmbeddingMatrix` in that folder (returned along
    with the tensor, which is valid while the matrix is open).
    """
    matrix = None
    if memmap is not None:
        matrix = EmbeddingMatrix(n, "disk", memmap)
        matrix.write(0, torch.zeros(dim))
        out = matrix.rows(range(n))
    else:
        out = torch.empty(n, dim, device=device)
    g = torch.Generator(device=out.device).manual_seed(seed)
    for start in range(0, n, block):
        out[start : start + block].normal_(generator=g)
    return out, matrix


def run(
    n_images: int,
    n_texts: int,
    dim: int,
    device: str,
    chunk_size: int,
    full: tuple[int, int],
    memmap: Path | None = None,
) -> dict:
    rss_start = peak_rss_gib()
    with AnonymousMemorySampler() as anon:
        images, image_matrix = random_embeddings(n_images, dim, device, seed=0, memmap=memmap)
        texts, text_matrix = random_embeddings(n_texts, dim, device, seed=1, memmap=memmap)
        # COCO-like ownership: text j belongs to image j mod n_images (>= 1 text per image).
        owner = torch.arange(n_texts, device=images.device) % n_images
        rss_inputs = peak_rss_gib()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        if memmap is None:
            metrics = retrieval_recall(images, texts, owner, chunk_size=chunk_size)
        else:
            ranks = retrieval_ranks(
                l2_normalize_rows_(images),
                l2_normalize_rows_(texts),
                owner,
                chunk_size=chunk_size,
                normalized=True,
            )
            metrics = recall_from_ranks(ranks.i2t_ranks, ranks.t2i_ranks)
            image_matrix.close()
            text_matrix.close()
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
        "peak_anon_gib": round(anon.peak / 2**30, 3),
        "inputs_memory_mapped": memmap is not None,
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
    parser.add_argument(
        "--memmap", type=Path, metavar="DIR", help="keep the embeddings in scratch files in DIR"
    )
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
            args.memmap,
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
