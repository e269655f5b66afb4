"""What the benchmarks measure on: a ViT-B/32-sized random CLIP and a local retrieval task of real
photos with generated captions, and the engine's items for that task.

A randomly initialised CLIP of ViT-B/32 size (transformers' `CLIPConfig()` defaults: vision 768
wide x 12 layers, patch 32, 224 px; text 512 wide x 12 layers, 77 tokens; 151M parameters) is saved
with a CLIP image processor and an offline-trained byte-level BPE tokenizer, to be evaluated as
`hf:<dir>`. The task holds N real photos (skimage.data, varied by crops / flips / rotations, saved
as JPEG or PNG) with K captions each. Used by throughput.py, cache_speedup.py and gpu_check.py.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

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
