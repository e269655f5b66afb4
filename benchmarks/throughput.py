"""Data-path throughput: `mmbench run` against the model's forward passes alone.

A randomly initialised CLIP of ViT-B/32 size (transformers' `CLIPConfig()` defaults: vision 768
wide x 12 layers, patch 32, 224 px; text 512 wide x 12 layers, 77 tokens; 151M parameters) is saved
with a CLIP image processor and an offline-trained byte-level BPE tokenizer, and evaluated as
`hf:<dir>` on a local retrieval task of N real photos (skimage.data, varied by crops / flips /
rotations, saved as JPEG) with 5 captions each. Items = images + captions.

Measured (medians over repetitions):

* model only: the adapter's `encode_images` / `encode_texts` on batches already preprocessed,
  collated and held in memory, under `torch.inference_mode` (the ceiling for the data path);
* Engine.run: `mmbench.engine.Engine.run` without a cache over the task's image and text items
  with the same adapter instance (DataLoader, read + decode + resize / tokenise, collate, model
  calls), for each `--workers` count. Model only and each engine variant alternate per
  capability, in an order that rotates every repetition;
* run() in process: `mmbench.runner.run(RunRequest(..., use_cache=False))`, its result `timing`
  (`items_per_s` = items / `total_s`, which includes loading the model) and, by patching, the
  seconds spent inside `Engine.run` ("engine phase": everything but model loading, metrics and
  result writing);
* `mmbench run --no-cache` in a subprocess: its JSON `timing` and the wall clock around it
  (interpreter start-up, imports and the weight-file hash of a fresh process included).

ratio = items/s / model-only items/s. Target: Engine.run ratio >= 0.85 with `--num-workers` 0
and 1. On a shared, loaded machine back-to-back timings of the same work vary by 2-3x, so an
"in-run estimate" is printed too: the share of each Engine.run spent inside model calls, less
every CPU second the DataLoader workers used (as if each had been taken from the model calls),
which needs no second measurement. A phase breakdown (per-item cost of every data-path step,
measured one by one) follows, and `--cprofile N` profiles one in-process run with N workers.

    python benchmarks/throughput.py [--images 128] [--captions 5] [--repeats 3] [--workers 0 1]

The model and the task come from fixtures.py, the timers from timing.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # mmbench without installing it

from fixtures import build_clip_b32, preprocessed_batches, task_items, write_retrieval_task
from timing import engine_only, med, model_only, run_cli, run_in_process, table

# --------------------------------------------------------------------------- measurements


def phase_breakdown(adapter: Any, rows: list[dict], folder: Path, batch: int) -> list[tuple]:
    """Per-item cost of every data-path step of an hf: dual encoder, measured one by one."""
    import torch

    from mmbench.cache import OutputCache, cache_key
    from mmbench.data.items import ImageItem, TextItem
    from mmbench.data.media import MediaRef, load_image
    from mmbench.engine import Engine, EngineConfig

    images = [ImageItem(MediaRef(r["id"], path=str(folder / r["image"]))) for r in rows]
    texts = [TextItem(t) for r in rows for t in r["captions"]]
    fp = adapter.fingerprint()
    image_pre = adapter.preprocessor("encode_images")
    text_pre = adapter.preprocessor("encode_texts")
    result = []

    def clock(label, n, fn):
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        result.append((label, n, seconds, 1e3 * seconds / max(n, 1)))
        return value

    clock("image read bytes", len(images), lambda: [i.ref.read_bytes() for i in images])
    decoded = clock(
        "image decode (PIL, RGB)", len(images), lambda: [load_image(i.ref) for i in images]
    )
    feats = clock(
        "image preprocess (CLIP 224)", len(images), lambda: [image_pre(x) for x in decoded]
    )
    clock(
        "image collate",
        len(images),
        lambda: [image_pre.collate(feats[i : i + batch]) for i in range(0, len(feats), batch)],
    )
    tfeats = clock("text tokenise (77)", len(texts), lambda: [text_pre(t.text) for t in texts])
    clock(
        "text collate",
        len(texts),
        lambda: [text_pre.collate(tfeats[i : i + batch]) for i in range(0, len(tfeats), batch)],
    )
    everything = images + texts
    clock(
        "cache keys (content sha256)",
        len(everything),
        lambda: [cache_key(fp, "x", i.content_key()) for i in everything],
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = OutputCache(Path(tmp))
        emb = [(f"k{i}", torch.randn(512), None) for i in range(len(everything))]
        clock(
            "cache put (per batch txn)",
            len(emb),
            lambda: [cache.put_many("x", emb[i : i + batch]) for i in range(0, len(emb), batch)],
        )
        keys = [k for k, _, _ in emb]
        clock("cache get_many (hits)", len(keys), lambda: cache.get_many(keys))
        cache.close()

    class NoModel:
        """The engine's whole data path with a free model call (DataLoader + load + preprocess)."""

        device = "cpu"
        streams = False  # answers come back per batch, as from a local model

        def fingerprint(self):
            return fp

        def preprocessor(self, capability):
            return adapter.preprocessor(capability)

        def call(self, capability, chunk):
            first = next(v for v in chunk.values() if isinstance(v, torch.Tensor))
            return torch.zeros(first.shape[0], 1)

    for workers in (0, 1):
        engine = Engine(
            NoModel(), EngineConfig(batch_size=batch, num_workers=workers, progress=False)
        )
        clock(
            f"engine, no model, {workers} worker(s): images",
            len(images),
            lambda e=engine: e.run("encode_images", images),
        )
        clock(
            f"engine, no model, {workers} worker(s): texts",
            len(texts),
            lambda e=engine: e.run("encode_texts", texts),
        )
    return result


def end_to_end_row(label: str, runs: list[dict], ceiling: float, other: str, share: str) -> tuple:
    """A summary row of whole runs: median total seconds, items/s and its ratio to `ceiling`,
    `other`, and the share of the total spent in model calls followed by `share`."""
    ips = med([x["items_per_s"] for x in runs])
    in_model = med([x["model_s"] / x["total_s"] for x in runs])
    total = med([x["total_s"] for x in runs])
    return (label, total, "", "", ips, ips / ceiling, other, f"{in_model:.3f} of total, {share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=128, help="distinct photos (default 128)")
    parser.add_argument("--captions", type=int, default=5, help="captions per photo (default 5)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--e2e-repeats", type=int, default=1, help="in-process run() per worker")
    parser.add_argument("--cli-repeats", type=int, default=1, help="`mmbench run` subprocesses")
    parser.add_argument("--format", choices=["jpeg", "png"], default="jpeg")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the phase breakdown")
    parser.add_argument("--cprofile", type=int, metavar="WORKERS", help="profile one run()")
    parser.add_argument("--json-out", type=Path, help="write every raw measurement here")
    parser.add_argument("--workdir", type=Path, help="keep the model and data here")
    args = parser.parse_args()

    import torch

    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        task, rows = write_retrieval_task(work / "data", args.images, args.captions, args.format)
        model_dir = work / "clip-b32"
        if not (model_dir / "config.json").exists():
            build_clip_b32(model_dir, [t for r in rows for t in r["captions"]])
        uri = f"hf:{model_dir}"
        n_items = len(rows) * (1 + args.captions)
        print(
            f"CLIP ViT-B/32-sized (random), {len(rows)} {args.format} photos + "
            f"{len(rows) * args.captions} captions = {n_items} items, batch {args.batch_size},"
            f" torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs"
        )
        adapter = load_model(uri, ModelOptions(device="cpu"))
        items = task_items(rows, work / "data")
        batches = preprocessed_batches(adapter, items, args.batch_size)
        for capability, chunks in batches.items():  # warm-up
            model_only(adapter, capability, chunks[:1])

        if args.cprofile is not None:
            profiler = cProfile.Profile()
            profiler.enable()
            run_in_process(uri, task, work / "out", args.cprofile, args.batch_size)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            print(text.getvalue())

        # 1. engine vs model only, same adapter instance, interleaved per capability; the order
        #    rotates every repetition so that drifting background load hits every variant alike.
        variants = ["model only"] + [f"engine, {w} worker(s)" for w in args.workers]
        raw: dict[str, list[dict]] = {v: [] for v in variants}
        for rep in range(args.repeats):
            order = variants[rep % len(variants) :] + variants[: rep % len(variants)]
            per_rep = {v: Counter() for v in variants}
            for capability in items:
                for v in order:
                    if v == "model only":
                        m = model_only(adapter, capability, batches[capability])
                    else:
                        w = args.workers[variants.index(v) - 1]
                        m = engine_only(adapter, capability, items[capability], w, args.batch_size)
                    per_rep[v][capability] = m["s"]
                    per_rep[v].update(m)
            for v in variants:
                raw[v].append(dict(per_rep[v]))
            line = ", ".join(f"{v} {per_rep[v]['s']:.1f}s" for v in variants)
            print(f"  repetition {rep + 1}/{args.repeats}: {line}", file=sys.stderr)

        # 2. end to end: in-process run() and the CLI (each loads its own copy of the model).
        e2e = {w: [] for w in args.workers}
        cli = {w: [] for w in args.workers}
        for _ in range(args.e2e_repeats):
            for w in args.workers:
                e2e[w].append(run_in_process(uri, task, work / "out", w, args.batch_size))
        for _ in range(args.cli_repeats):
            for w in args.workers:
                cli[w].append(run_cli(uri, task, work / "cli", w, args.batch_size, ["--no-cache"]))
        if args.json_out:
            args.json_out.write_text(
                json.dumps({"interleaved": raw, "run": e2e, "cli": cli}, indent=1, default=str)
            )

        base = raw["model only"]
        ceiling = n_items / med([x["s"] for x in base])
        out_rows = [
            (
                "model only (pre-collated, in memory)",
                med([x["s"] for x in base]),
                med([x["encode_images"] for x in base]),
                med([x["encode_texts"] for x in base]),
                ceiling,
                1.0,
                "",
                "",
            )
        ]
        for w in args.workers:
            runs = raw[f"engine, {w} worker(s)"]
            paired = [b["s"] / x["s"] for b, x in zip(base, runs, strict=True)]
            # Noise-proof estimate from inside each run: the share of Engine.run spent in model
            # calls, less (conservatively) every CPU second the workers took from them.
            inside = med([(x["model_s"] - x.get("worker_cpu_s", 0.0)) / x["s"] for x in runs])
            out_rows.append(
                (
                    f"Engine.run, --num-workers {w}",
                    med([x["s"] for x in runs]),
                    med([x["encode_images"] for x in runs]),
                    med([x["encode_texts"] for x in runs]),
                    n_items / med([x["s"] for x in runs]),
                    n_items / med([x["s"] for x in runs]) / ceiling,
                    f"{med(paired):.3f} [{min(paired):.3f}-{max(paired):.3f}]",
                    f"{inside:.3f} ({med([x['s'] - x['model_s'] for x in runs]):.2f}s outside"
                    f" calls, workers {med([x.get('worker_cpu_s', 0.0) for x in runs]):.2f} CPU s)",
                )
            )
        for w in args.workers:
            r = e2e[w]
            engine_ratio = n_items / med([x["engine_s"] for x in r]) / ceiling
            out_rows.append(
                end_to_end_row(
                    f"run() in process, --num-workers {w}",
                    r,
                    ceiling,
                    f"engine phase {engine_ratio:.3f}"
                    f" (load model {med([x['load_s'] for x in r]):.2f}s)",
                    f"{med([x['model_s'] / x['engine_s'] for x in r]):.3f} of engine",
                )
            )
        for w in args.workers:
            c = cli[w]
            wall = med([x["wall_s"] for x in c])
            out_rows.append(
                end_to_end_row(
                    f"`mmbench run --no-cache`, workers {w}",
                    c,
                    ceiling,
                    f"wall {wall:.1f}s: {n_items / wall / ceiling:.3f}",
                    f"{med([x['model_s'] for x in c]) / wall:.3f} of wall",
                )
            )
        print()
        print(
            f"medians of {args.repeats} interleaved repetitions ({args.e2e_repeats} run(),"
            f" {args.cli_repeats} CLI); ratio = items/s / model-only items/s; target >= 0.85"
        )
        print(
            table(
                (
                    "measurement",
                    "seconds",
                    "images s",
                    "texts s",
                    "items/s",
                    "ratio",
                    "paired ratio [min-max] / other",
                    "in-run estimate",
                ),
                out_rows,
            )
        )
        metrics = {json.dumps(x["metrics"], sort_keys=True) for w in args.workers for x in e2e[w]}
        if len(metrics) != 1:
            print("WARNING: metrics differ between runs", file=sys.stderr)

        if not args.no_breakdown:
            print()
            print("data-path phases (each measured alone, main process)")
            print(
                table(
                    ("phase", "items", "seconds", "ms/item"),
                    phase_breakdown(adapter, rows, work / "data", args.batch_size),
                )
            )
            forward = med([x["s"] for x in base])
            print(f"for scale: model forwards alone {1e3 * forward / n_items:.2f} ms/item")


if __name__ == "__main__":
    main()
