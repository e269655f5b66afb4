"""Data path of `hf:` and `open_clip:` image encoders on the CPU: float32 vs uint8 pixels
across the worker boundary.

For one CLIP checkpoint at ViT-B/32's preprocessing (CLIPImageProcessorPil defaults: shortest
edge 224, centre crop 224, OpenAI mean/std) and `--images` JPEG photos (skimage.data, cropped and
flipped, about 300-500 px), each pixel mode ("float": the image processor's float32 pixels, as
before; "uint8": resize + crop in the worker, rescale + normalise in the device call) is measured
for:

* bytes per image crossing the worker boundary (the collated pixel tensor / batch size);
* worker-side ms per image (decode, then preprocess; collate) and the device call's share;
* model-only items/s: the device call alone on pre-collated batches;
* the data path alone for each `--workers` (the engine's DataLoader drained without a model:
  decode, preprocess, collate, the worker-to-main transfer), items/s;
* `Engine.run` items/s for each `--workers`, and its ratio to model-only. The reference for both
  modes is the float model-only speed (the model's own speed before this change); the uint8
  device call also pays the table look-up, which is engine overhead like any other.

`--tower tiny` (default) is a 2-layer, width-64 vision tower at 224 px: its forward pass is about
as fast as the preprocessing, which is the regime of a GPU fed by CPU workers; `--tower b32` is
ViT-B/32 size, where on a CPU the forward pass dominates (as in throughput.py). Modes alternate
within each repetition; medians are printed, and the best repetition (on a shared machine the
least disturbed one) next to them. The embeddings of all modes are compared too. For `hf:`
a third mode, "uint8-call", keeps uint8 pixels but lets the image processor resize and crop
each image itself, as before `mmbench/models/hf/pil_resize.py` called them directly. `--open-clip
ARCH` measures an open_clip architecture instead (random weights, open_clip's eval transform;
needs open_clip and torchvision installed).

    python benchmarks/data_path.py --images 256 --workers 0 1 --repeats 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # mmbench without installing it

from mmbench.table import format_rows

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "immunohistochemistry")
TOWERS = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    "b32": {},  # CLIPVisionConfig() defaults: ViT-B/32
}


def write_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """`n` JPEGs (quality 90) from skimage.data: crops of 70-95% per side, every other one
    flipped."""
    import numpy as np
    import skimage.data
    from PIL import Image

    bases = []
    for name in PHOTOS:
        array = getattr(skimage.data, name)()
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        bases.append(Image.fromarray(array[..., :3]).convert("RGB"))
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image = bases[i % len(bases)]
        w, h = image.size
        cw, ch = int(w * rng.uniform(0.7, 0.95)), int(h * rng.uniform(0.7, 0.95))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        image = image.crop((x, y, x + cw, y + ch))
        if i % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = folder / f"{i:05d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def build_clip(path: Path, tower: str) -> Path:
    """A random CLIP with the given vision tower, CLIPImageProcessorPil at its 224 px defaults and
    a character-level CLIP tokenizer (images only are measured; the tokenizer is required)."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set(ByteLevel.alphabet())):
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text = dict(
        vocab_size=len(vocab), bos_token_id=0, eos_token_id=1, pad_token_id=1, **TOWERS["tiny"]
    )
    config = CLIPConfig(text_config=text, vision_config=TOWERS[tower])
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(path)
    CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer).save_pretrained(
        path
    )
    return path


def per_image_ms(adapters: dict[str, Any], items: list, rounds: int = 3) -> dict[str, dict]:
    """Per mode: median ms per image of decode and preprocess (the modes take turns on every
    image, `rounds` times, so load swings hit all alike), collate ms per image (in batches of
    32), and the bytes of one image's features."""
    decode: dict[str, list[float]] = {mode: [] for mode in adapters}
    preprocess: dict[str, list[float]] = {mode: [] for mode in adapters}
    pre = {mode: a.preprocessor("encode_images") for mode, a in adapters.items()}
    features: dict[str, list] = {mode: [] for mode in adapters}
    for round_ in range(rounds):
        for item in items:
            for mode in adapters:
                start = time.perf_counter()
                image, _ = item.load()
                image.load()
                decode[mode].append(time.perf_counter() - start)
                start = time.perf_counter()
                feature = pre[mode](image)
                preprocess[mode].append(time.perf_counter() - start)
                if round_ == 0:
                    features[mode].append(feature)
    report = {}
    for mode in adapters:
        collate = []
        for start_at in range(0, len(features[mode]), 32):
            group = features[mode][start_at : start_at + 32]
            start = time.perf_counter()
            pre[mode].collate(group)
            collate.append((time.perf_counter() - start) / len(group))
        report[mode] = {
            "decode": 1e3 * statistics.median(decode[mode]),
            "preprocess": 1e3 * statistics.median(preprocess[mode]),
            "collate": 1e3 * statistics.median(collate),
            "bytes": _nbytes(features[mode][0]),
        }
    return report


def _nbytes(feature: Any) -> int:
    """Bytes of one image's features: a tensor (open_clip) or a dict of tensors (hf)."""
    if isinstance(feature, dict):
        return sum(v.nbytes for v in feature.values())
    return feature.nbytes


def save_open_clip(folder: Path, arch: str) -> str:
    """An `open_clip:` URI for architecture `arch` with random weights saved as a local
    checkpoint (no download), and open_clip's own eval transform."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}.pt"
    torch.save(model.state_dict(), path)
    return f"open_clip:{arch}/{path}"


def model_only(adapter: Any, batches: list) -> tuple[float, Any]:
    """Items/s of the device call alone over pre-collated batches, and the embeddings."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        outputs = [adapter.call("encode_images", b) for b in batches]
    seconds = time.perf_counter() - start
    embeddings = torch.cat(outputs)
    return len(embeddings) / seconds, embeddings


def loader_items_per_s(adapter: Any, items: list, batch: int, workers: int, pin: bool) -> float:
    """The engine's own DataLoader (decode, preprocess, collate, shared memory, pinning) drained
    without a model: the most the data path can feed with `workers` workers."""
    from mmbench.engine import Engine, EngineConfig

    config = EngineConfig(batch_size=batch, num_workers=workers, progress=False, pin_memory=pin)
    engine = Engine(adapter, config)
    preprocessor = adapter.preprocessor("encode_images")
    indices = list(range(len(items)))
    start = time.perf_counter()
    count = sum(len(b["indices"]) for b in engine._batches(items, indices, preprocessor, batch))
    return count / (time.perf_counter() - start)


def engine_items_per_s(adapter: Any, items: list, batch: int, workers: int) -> float:
    from mmbench.engine import Engine, EngineConfig

    config = EngineConfig(batch_size=batch, num_workers=workers, progress=False)
    start = time.perf_counter()
    Engine(adapter, config).run("encode_images", items)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tower", choices=sorted(TOWERS), default="tiny")
    parser.add_argument(
        "--open-clip",
        metavar="ARCH",
        help="measure open_clip's ARCH (random weights, its own eval transform) instead of hf CLIP",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the model")
    parser.add_argument(
        "--whole-batches",
        action="store_true",
        help="each worker loads whole batches (as before the engine split batches over workers)",
    )
    args = parser.parse_args()

    import torch

    from mmbench.data.items import ImageItem
    from mmbench.data.media import MediaRef
    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    torch.set_num_threads(args.threads)
    if args.whole_batches:
        import mmbench.engine

        mmbench.engine._MIN_PART = 1 << 30  # no batch is ever split
    work = Path(tempfile.mkdtemp(prefix="data_path_"))
    paths = write_photos(work / "photos", args.images)
    if args.open_clip:
        uri = save_open_clip(work / "open_clip", args.open_clip)
    else:
        uri = f"hf:{build_clip(work / 'clip', args.tower)}"
    items = [ImageItem(MediaRef(row_id=p.stem, path=str(p))) for p in paths]
    adapters = {}
    for mode in ("float", "uint8-call", "uint8"):
        adapter = load_model(uri, ModelOptions(device="cpu"))
        if mode == "float":
            adapter.use_float_pixels()
        elif mode == "uint8-call":
            if not hasattr(adapter, "use_processor_call"):
                continue  # open_clip: its transform is always called
            adapter.use_processor_call()
        assert adapter.pixel_transfer == mode.split("-")[0], adapter.pixel_transfer
        adapters[mode] = adapter

    steps = per_image_ms(adapters, items)
    batches = {}
    for mode, adapter in adapters.items():
        pre = adapter.preprocessor("encode_images")
        features = [pre(item.load()[0]) for item in items]
        batches[mode] = [
            pre.collate(features[i : i + args.batch]) for i in range(0, len(features), args.batch)
        ]
    samples: dict[tuple[str, str], list[float]] = {}
    embeddings = {}
    for _ in range(args.repeats):
        for mode, adapter in adapters.items():
            speed, embeddings[mode] = model_only(adapter, batches[mode])
            samples.setdefault((mode, "model"), []).append(speed)
            for workers in args.workers:
                speed = engine_items_per_s(adapter, items, args.batch, workers)
                samples.setdefault((mode, f"w{workers}"), []).append(speed)
                speed = loader_items_per_s(adapter, items, args.batch, workers, pin=False)
                samples.setdefault((mode, f"data{workers}"), []).append(speed)
    median = {key: statistics.median(values) for key, values in samples.items()}
    best = {key: max(values) for key, values in samples.items()}
    reference = median[("float", "model")]
    best_reference = best[("float", "model")]

    model_name = f"open_clip {args.open_clip}" if args.open_clip else f"vision tower {args.tower}"
    print(
        f"{args.images} JPEG photos -> 224 px, batch {args.batch}, {model_name},"
        f" {args.threads} torch threads, {args.repeats} repetitions (medians)"
        + (", whole batches per worker" if args.whole_batches else "")
    )
    rows = []
    for mode in adapters:
        s = steps[mode]
        rows.append(
            (
                mode,
                f"{s['bytes']:,}",
                f"{s['decode']:.2f}",
                f"{s['preprocess']:.2f}",
                f"{s['collate']:.3f}",
            )
        )
    print()
    print(
        format_rows(
            ("pixels", "bytes/image", "decode ms", "preprocess ms", "collate ms/image"), rows
        )
    )
    rows = []
    for mode in adapters:
        own, own_best = median[(mode, "model")], best[(mode, "model")]
        rows.append(
            (
                mode,
                "model only (pre-collated)",
                f"{own:.1f}",
                f"{own / reference:.3f}",
                "",
                f"{own_best:.1f}",
                f"{own_best / best_reference:.3f}",
            )
        )
        for workers in args.workers:
            speed, fastest = median[(mode, f"data{workers}")], best[(mode, f"data{workers}")]
            rows.append(
                (
                    mode,
                    f"data path alone, {workers} workers",
                    f"{speed:.1f}",
                    f"{speed / reference:.3f}",
                    "",
                    f"{fastest:.1f}",
                    f"{fastest / best_reference:.3f}",
                )
            )
            speed, fastest = median[(mode, f"w{workers}")], best[(mode, f"w{workers}")]
            rows.append(
                (
                    mode,
                    f"Engine.run, {workers} workers",
                    f"{speed:.1f}",
                    f"{speed / reference:.3f}",
                    f"{speed / own:.3f}",
                    f"{fastest:.1f}",
                    f"{fastest / best_reference:.3f}",
                )
            )
    print()
    header = ("pixels", "measurement", "items/s", "ratio to float model-only", "ratio to own")
    print(format_rows((*header, "best items/s", "best ratio"), rows))
    print()
    for mode in [m for m in adapters if m != "float"]:
        diff = (embeddings[mode] - embeddings["float"]).abs().max().item()
        print(f"max abs difference of the embeddings, {mode} vs float: {diff:.3g}")


if __name__ == "__main__":
    main()
