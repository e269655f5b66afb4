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

The helpers `build_clip_b32` and `write_retrieval_task` are reused by cache_speedup.py.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "immunohistochemistry")
SUBJECTS = {
    "astronaut": "an astronaut in a white suit",
    "chelsea": "an orange tabby cat",
    "coffee": "a cup of coffee on a saucer",
    "rocket": "a rocket on the launch pad",
    "camera": "a man with a camera on a tripod",
    "coins": "old coins on a dark table",
    "immunohistochemistry": "a stained tissue sample under a microscope",
}
ADJECTIVES = ("close up", "blurry", "bright", "dark", "cropped", "tilted", "mirrored", "small")
FRAMES = (
    "a photo of {s}.",
    "{s}, seen {a}.",
    "there is {s} in this {a} picture.",
    "a {a} image showing {s} and some background.",
    "{s} in the middle of the frame, {a} view.",
    "an {a} snapshot of {s} taken indoors.",
    "someone took a {a} photograph of {s}.",
)


# --------------------------------------------------------------------------- model


def learn_bpe(texts: list[str], merges: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE vocabulary learned from `texts` (greedy most-frequent merges).

    Words are split exactly as `CLIPTokenizer` splits them (lowercase, regex, byte-level), and the
    last symbol of a word carries CLIP's `</w>` suffix, so the merges apply to real inputs.
    """
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set(ByteLevel.alphabet())):
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    backend = CLIPTokenizer(vocab=dict(vocab), merges=[]).backend_tokenizer
    words: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        normal = backend.normalizer.normalize_str(text)
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(normal):
            words[(*word[:-1], word[-1] + "</w>")] += 1
    learned: list[tuple[str, str]] = []
    for _ in range(merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        learned.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return vocab, learned


def build_clip_b32(path: Path, texts: list[str], seed: int = 0, merges: int = 2000) -> Path:
    """Save a random ViT-B/32-sized CLIP + CLIP image processor + BPE tokenizer to `path`."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vocab, learned = learn_bpe(texts, merges)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=learned, model_max_length=77)
    # CLIPConfig() defaults are ViT-B/32; only the special-token ids follow our vocabulary (the
    # 49,408-row embedding table keeps its size).
    config = CLIPConfig(text_config=dict(bos_token_id=0, eos_token_id=1, pad_token_id=1))
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(path)
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(
        path
    )
    return path


# --------------------------------------------------------------------------- data


def make_photos(n: int, seed: int = 0) -> list[tuple[str, Any]]:
    """n distinct RGB PIL images: real photos, each variant a different crop / flip / rotation."""
    import numpy as np
    import skimage.data
    from PIL import Image

    bases = []
    for name in PHOTOS:
        array = getattr(skimage.data, name)()
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        bases.append((name, Image.fromarray(array[..., :3]).convert("RGB")))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        name, image = bases[i % len(bases)]
        w, h = image.size
        if i >= len(bases):  # the first round keeps the originals
            cw, ch = int(w * rng.uniform(0.7, 0.95)), int(h * rng.uniform(0.7, 0.95))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            image = image.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            if rng.random() < 0.3:
                image = image.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR)
        out.append((name, image))
    return out


def make_captions(subject: str, count: int, rng: random.Random) -> list[str]:
    frames = rng.sample(FRAMES, k=min(count, len(FRAMES)))
    while len(frames) < count:
        frames.append(rng.choice(FRAMES))
    return [f.format(s=subject, a=rng.choice(ADJECTIVES)) for f in frames]


def write_retrieval_task(
    folder: Path, n_images: int, captions: int = 5, image_format: str = "jpeg", seed: int = 0
) -> tuple[Path, list[dict[str, Any]]]:
    """Write `folder/images/*`, `folder/data.jsonl` and `folder/task.yaml`; returns (yaml, rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    rng = random.Random(seed)
    suffix = {"jpeg": "jpg", "png": "png"}[image_format]
    rows = []
    for i, (name, image) in enumerate(make_photos(n_images, seed)):
        rel = f"images/{i:05d}_{name}.{suffix}"
        if image_format == "jpeg":
            image.save(folder / rel, quality=90)
        else:
            image.save(folder / rel)
        rows.append(
            {"id": str(i), "image": rel, "captions": make_captions(SUBJECTS[name], captions, rng)}
        )
    (folder / "data.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    name = f"bench-retrieval-{n_images}x{captions}"
    task = folder / f"{name}.yaml"
    task.write_text(
        f"name: {name}\ntype: retrieval\nversion: 1\n"
        "source: {local: data.jsonl}\ncolumns: {id: id, image: image, texts: captions}\n"
        "metrics: [i2t_R@1, i2t_R@5, t2i_R@1, t2i_R@5, RSUM]\n",
        encoding="utf-8",
    )
    return task, rows


# --------------------------------------------------------------------------- measurements


@contextlib.contextmanager
def phase_timers(extra: tuple[tuple[Any, str, str], ...] = ()):
    """Patch the runner / engine to add up wall time per phase of in-process runs.

    Always timed: `load_model`, `write_result` (as the runner calls them) and `Engine.run`;
    `extra` adds (owner, attribute, label) triples, e.g. (Engine, "_keys", "cache keys").
    """
    import mmbench.runner as runner
    from mmbench.engine import Engine

    targets = [
        (runner, "load_model", "load_model"),
        (runner, "write_result", "write_result"),
        (Engine, "run", "Engine.run"),
        *extra,
    ]
    spent: dict[str, float] = Counter()
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        return wrapper

    for (owner, attr, label), (_, _, fn) in zip(targets, originals, strict=True):
        setattr(owner, attr, timed(label, fn))
    try:
        yield spent
    finally:
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)


def run_in_process(model: str, task: Path, out: Path, workers: int, batch: int, **kw) -> dict:
    from mmbench.runner import RunRequest, run

    with phase_timers() as spent:
        start = time.perf_counter()
        outcome = run(
            RunRequest(
                model=model,
                task=str(task),
                output_dir=out,
                batch_size=batch,
                device="cpu",
                num_workers=workers,
                progress=False,
                **({"use_cache": False} | kw),
            )
        )
        wall = time.perf_counter() - start
    timing = outcome.result.timing
    items = timing["items"]
    return {
        "wall_s": wall,
        "total_s": timing["total_s"],
        "model_s": timing["model_s"],
        "engine_s": spent["Engine.run"],
        "load_s": spent["load_model"],
        "write_s": spent["write_result"],
        "items": items,
        "computed": timing["computed"],
        "items_per_s": timing["items_per_s"],
        "engine_items_per_s": items / spent["Engine.run"],
        "metrics": outcome.result.metrics,
    }


def run_cli(model: str, task: Path, out: Path, workers: int, batch: int, extra=()) -> dict:
    """`mmbench run` in a subprocess: its JSON timing plus the wall clock around it."""
    command = [
        str(Path(sys.executable).with_name("mmbench")),
        "run",
        "--model",
        model,
        "--task",
        str(task),
        "--output-dir",
        str(out),
        "--batch-size",
        str(batch),
        "--device",
        "cpu",
        "--num-workers",
        str(workers),
        "--quiet",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mmbench run failed ({done.returncode}): {done.stderr[-2000:]}")
    (path,) = [p for p in out.glob("*.json")]
    result = json.loads(path.read_text())
    path.unlink()
    return {"wall_s": wall, **result["timing"]}


def task_items(rows: list[dict], folder: Path) -> dict[str, list]:
    """The task's items per capability, as the retrieval task hands them to the engine."""
    from mmbench.data.items import ImageItem, TextItem
    from mmbench.data.media import MediaRef

    return {
        "encode_images": [
            ImageItem(MediaRef(r["id"], path=str(folder / r["image"]))) for r in rows
        ],
        "encode_texts": [TextItem(t) for r in rows for t in r["captions"]],
    }


def preprocessed_batches(adapter: Any, items: dict[str, list], batch: int) -> dict[str, list]:
    """Every item preprocessed and collated into `batch`-sized batches, held in memory."""
    out = {}
    for capability, group in items.items():
        pre = adapter.preprocessor(capability)
        features = [pre(item.load()[0]) for item in group]
        out[capability] = [
            pre.collate(features[i : i + batch]) for i in range(0, len(features), batch)
        ]
    return out


def model_only(adapter: Any, capability: str, batches: list) -> dict:
    """The adapter's device call alone over pre-collated batches."""
    import torch

    items = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for chunk in batches:
            items += getattr(adapter, capability)(chunk).shape[0]
    seconds = time.perf_counter() - start
    return {"s": seconds, "model_s": seconds, "items": items}


def engine_only(adapter: Any, capability: str, items: list, workers: int, batch: int) -> dict:
    """`Engine.run` (no cache) with the same adapter instance: DataLoader + data path + calls."""
    from mmbench.engine import Engine, EngineConfig

    engine = Engine(adapter, EngineConfig(batch_size=batch, num_workers=workers, progress=False))
    children = _children_cpu_s()
    start = time.perf_counter()
    engine.run(capability, items)
    seconds = time.perf_counter() - start
    return {
        "s": seconds,
        "model_s": engine.stats.model_s,
        "items": len(items),
        "worker_cpu_s": _children_cpu_s() - children,  # DataLoader workers, reaped at the end
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


# --------------------------------------------------------------------------- report


def table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def med(values: list[float]) -> float:
    return statistics.median(values)


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
            ips = med([x["items_per_s"] for x in r])
            out_rows.append(
                (
                    f"run() in process, --num-workers {w}",
                    med([x["total_s"] for x in r]),
                    "",
                    "",
                    ips,
                    ips / ceiling,
                    f"engine phase {n_items / med([x['engine_s'] for x in r]) / ceiling:.3f}"
                    f" (load model {med([x['load_s'] for x in r]):.2f}s)",
                    f"{med([x['model_s'] / x['total_s'] for x in r]):.3f} of total,"
                    f" {med([x['model_s'] / x['engine_s'] for x in r]):.3f} of engine",
                )
            )
        for w in args.workers:
            c = cli[w]
            ips = med([x["items_per_s"] for x in c])
            wall = med([x["wall_s"] for x in c])
            out_rows.append(
                (
                    f"`mmbench run --no-cache`, workers {w}",
                    med([x["total_s"] for x in c]),
                    "",
                    "",
                    ips,
                    ips / ceiling,
                    f"wall {wall:.1f}s: {n_items / wall / ceiling:.3f}",
                    f"{med([x['model_s'] / x['total_s'] for x in c]):.3f} of total,"
                    f" {med([x['model_s'] for x in c]) / wall:.3f} of wall",
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
