"""The checks that need a CUDA GPU, as one script (also runs on CPU with small sizes).

    python benchmarks/gpu_check.py --out gpu_check.json [--device cuda] [--images 512]

Each check is independent; a failing one is recorded with its error and the rest still run.

* `retrieval_scale`: chunked Recall@K on the device, 100k images x 500k texts x 512 (time, peak
  device memory), and the same ranks on the device and on the CPU for a 5k x 25k slice;
* `clip_run`: `mmbench run` of a random ViT-B/32-sized CLIP (`hf:` dir, built by
  fixtures.py) on a local task of `--images` photos x 5 captions: float32 items/s against the
  model's forward passes alone on the same pre-collated batches (the throughput target, on the
  device it is meant for); batch sizes 7 and 64 and `--batch-size auto` give bitwise the same
  metrics and per-sample ranks; bfloat16 embeddings against float32 ones (cosine);
* `cache_cli`: first and second `mmbench run` of that task as subprocesses (cache speed-up);
* `data_path_sweep`: per capability, model-only items/s against `Engine.run` items/s for each
  `--sweep-workers` x `--sweep-batches` (where the data path stops keeping up); images once per
  pixel mode (`uint8` across the worker boundary, normalised on the device, and the old `float`),
  with the data path alone (the engine's DataLoader, no model: the CPU ceiling) and the
  single-core decode / preprocess ms per image; `data_path.py` measures the same on a CPU;
* `open_clip`: when `open_clip` imports, `open_clip:ViT-B-32/<random weights>.pt` through mmbench
  equals `model.encode_image` / `encode_text` called directly, and its uint8 pixel path gives
  bitwise the float path's image embeddings on the device.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def check_retrieval_scale(device: str, images: int, texts: int) -> dict[str, Any]:
    import retrieval_scale
    import torch

    from mmbench.metrics.retrieval import retrieval_ranks

    with torch.no_grad():
        full = retrieval_scale.run(images, texts, 512, device, 512, (images, texts))
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(5000, 512, generator=g), torch.randn(25000, 512, generator=g)
    owner = torch.arange(25000) % 5000
    on_cpu = retrieval_ranks(img, txt, owner)
    on_device = retrieval_ranks(img.to(device), txt.to(device), owner.to(device))
    return {
        "scale": full,
        "slice_5k_x_25k_ranks_equal_cpu": {
            "i2t": bool(torch.equal(on_cpu.i2t_ranks, on_device.i2t_ranks.cpu())),
            "t2i": bool(torch.equal(on_cpu.t2i_ranks, on_device.t2i_ranks.cpu())),
        },
    }


def build_task(work: Path, n_images: int) -> tuple[Path, Path, list[dict]]:
    from fixtures import build_clip_b32, write_retrieval_task

    task, rows = write_retrieval_task(work / "task", n_images)
    texts = [t for r in rows for t in r["captions"]]
    model = build_clip_b32(work / "clip", texts)
    return task, model, rows


def run_task(model: Path, task: Path, out: Path, device: str, **kw: Any) -> Any:
    """(result, per-sample JSONL text, seconds inside Engine.run) of one in-process run."""
    from timing import phase_timers

    from mmbench.runner import RunRequest, run

    request = dict(
        model=f"hf:{model}",
        task=str(task),
        output_dir=out,
        device=device,
        progress=False,
        use_cache=False,
    )
    request.update(kw)
    with phase_timers() as spent:
        outcome = run(RunRequest(**request))
    samples = outcome.path.with_name(outcome.path.stem + ".samples.jsonl").read_text()
    return outcome.result, samples, spent["Engine.run"]


def model_only_items_per_s(adapter: Any, items: dict[str, list], batch: int) -> float:
    """The adapter's device calls alone over pre-collated batches (outputs copied to the CPU,
    as the engine does)."""
    import torch
    from fixtures import preprocessed_batches

    batches = preprocessed_batches(adapter, items, batch)
    total, seconds = 0, 0.0
    for capability, chunks in batches.items():
        with torch.inference_mode():
            getattr(adapter, capability)(chunks[0]).cpu()  # warm-up (kernels, allocator)
            start = time.perf_counter()
            for chunk in chunks:
                total += getattr(adapter, capability)(chunk).cpu().shape[0]
            seconds += time.perf_counter() - start
    return total / seconds


def check_clip_run(device: str, work: Path, n_images: int, workers: int) -> dict[str, Any]:
    import torch
    from fixtures import task_items

    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    task, model, rows = build_task(work, n_images)
    adapter = load_model(f"hf:{model}", ModelOptions(device=device))
    items = task_items(rows, task.parent)
    report: dict[str, Any] = {"items": sum(len(v) for v in items.values())}
    report["model_only_items_per_s"] = model_only_items_per_s(adapter, items, 64)
    del adapter
    runs = {}
    for label, kw in {
        "b64": {"batch_size": 64, "num_workers": workers},
        "b7": {"batch_size": 7, "num_workers": workers},
        "auto": {"batch_size": None, "num_workers": workers},
        "b64_bf16": {"batch_size": 64, "num_workers": workers, "dtype": "bfloat16"},
    }.items():
        runs[label] = run_task(model, task, work / label, device, **kw)
    base = runs["b64"][0]
    report["run_items_per_s"] = base.timing["items_per_s"]
    report["run_total_s"] = base.timing["total_s"]
    report["engine_items_per_s"] = report["items"] / runs["b64"][2]
    report["ratio_engine_to_model_only"] = (
        report["engine_items_per_s"] / report["model_only_items_per_s"]
    )
    report["ratio_run_to_model_only"] = (
        base.timing["items_per_s"] / report["model_only_items_per_s"]
    )
    report["metrics_fp32"] = base.metrics
    report["metrics_bf16"] = runs["b64_bf16"][0].metrics
    report["auto_batch_size"] = runs["auto"][0].config.batch_size
    for label in ("b7", "auto"):
        report[f"{label}_equal_b64"] = {
            "metrics": runs[label][0].metrics == base.metrics,
            "samples": runs[label][1] == runs["b64"][1],
        }
    report["dtype_recorded"] = {k: v[0].config.dtype for k, v in runs.items()}
    fp32 = load_model(f"hf:{model}", ModelOptions(device=device))
    bf16 = load_model(f"hf:{model}", ModelOptions(device=device, dtype="bfloat16"))
    pre = fp32.preprocessor("encode_images")
    batch = pre.collate([pre(item.load()[0]) for item in items["encode_images"][:32]])
    with torch.inference_mode():
        a = fp32.encode_images(batch).float().cpu()
        b = bf16.encode_images(batch).float().cpu()
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    report["bf16_vs_fp32_image_cosine_min"] = float(cos.min())
    return report


def check_data_path_sweep(
    device: str, work: Path, n_images: int, workers: list[int], batches: list[int]
) -> dict[str, Any]:
    """Per capability and pixel mode: model-only items/s and `Engine.run` items/s for each
    (workers, batch); for images also the data path alone and its per-image CPU cost."""
    import torch
    from data_path import loader_items_per_s, per_image_ms
    from fixtures import task_items

    from mmbench.engine import Engine, EngineConfig
    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    if not (work / "clip").exists():
        build_task(work, n_images)
    rows = [json.loads(x) for x in (work / "task" / "data.jsonl").read_text().splitlines()]
    items = task_items(rows, work / "task")
    pin = device.startswith("cuda")
    report: dict[str, Any] = {}
    adapters = {}
    for mode in ("uint8", "float"):
        adapter = load_model(f"hf:{work / 'clip'}", ModelOptions(device=device))
        if mode == "float":
            adapter.use_float_pixels()
        report[f"pixel_transfer_{mode}"] = adapter.pixel_transfer
        adapters[mode] = adapter
    for mode, steps in per_image_ms(adapters, items["encode_images"][:256]).items():
        for step, value in steps.items():
            report[f"encode_images_{mode}_{step}{'' if step == 'bytes' else '_ms'}"] = value
    # texts have no pixel mode: measured once, with the uint8 adapter
    work_list = [(mode, "encode_images") for mode in adapters] + [("uint8", "encode_texts")]
    names = {(m, c): c + (f"_{m}" if c == "encode_images" else "") for m, c in work_list}
    features = {}
    for mode, capability in work_list:
        pre = adapters[mode].preprocessor(capability)
        features[mode, capability] = (pre, [pre(item.load()[0]) for item in items[capability]])
    for batch in batches:
        for (mode, capability), (pre, feats) in features.items():
            adapter, name = adapters[mode], names[mode, capability]
            chunks = [pre.collate(feats[i : i + batch]) for i in range(0, len(feats), batch)]
            with torch.inference_mode():
                getattr(adapter, capability)(chunks[0]).cpu()
                start = time.perf_counter()
                count = sum(getattr(adapter, capability)(c).cpu().shape[0] for c in chunks)
                report[f"{name}_model_only_b{batch}"] = count / (time.perf_counter() - start)
        for mode, capability in work_list:
            # untimed: the first Engine.run of a process pays one-off set-up costs
            warm = EngineConfig(batch_size=batch, num_workers=0, progress=False)
            Engine(adapters[mode], warm).run(capability, items[capability][:batch])
        for n_workers in workers:
            for mode, capability in work_list:
                adapter, name = adapters[mode], names[mode, capability]
                group = items[capability]
                config = EngineConfig(
                    batch_size=batch, num_workers=n_workers, progress=False, pin_memory=pin
                )
                engine = Engine(adapter, config)
                start = time.perf_counter()
                engine.run(capability, group)
                seconds = time.perf_counter() - start
                key = f"{name}_engine_b{batch}_w{n_workers}"
                model_only = report[f"{name}_model_only_b{batch}"]
                report[key] = len(group) / seconds
                report[key + "_ratio"] = report[key] / model_only
                report[key + "_in_model_share"] = engine.stats.model_s / seconds
                if capability == "encode_images":
                    alone = loader_items_per_s(adapter, group, batch, n_workers, pin)
                    report[f"{name}_data_only_b{batch}_w{n_workers}"] = alone
                    # how close the engine gets to the slower of its two halves
                    report[key + "_of_ceiling"] = report[key] / min(alone, model_only)
    return report


def check_cache_cli(device: str, work: Path, task: Path) -> dict[str, Any]:
    """Runs after `clip_run`, on the task and model it built."""
    model = work / "clip"
    command = [sys.executable, "-m", "mmbench", "run", "--model", f"hf:{model}", "--quiet"]
    command += ["--task", str(task), "--device", device, "--batch-size", "64"]
    command += ["--output-dir", str(work / "cache_runs"), "--cache-dir", str(work / "cache")]
    walls = []
    for _ in range(2):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
    return {"first_s": walls[0], "second_s": walls[1], "speedup": walls[0] / walls[1]}


def check_open_clip(device: str, work: Path) -> dict[str, Any]:
    import open_clip
    import torch
    from PIL import Image

    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    weights = work / "vit_b_32_random.pt"
    torch.save(model.state_dict(), weights)
    adapter = load_model(f"open_clip:ViT-B-32/{weights}", ModelOptions(device=device))
    import skimage.data

    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in ("astronaut",)]
    photos += [Image.fromarray(skimage.data.chelsea()).convert("RGB")]
    texts = ["a photo of a cat", "an astronaut in a suit"]
    ipre, tpre = adapter.preprocessor("encode_images"), adapter.preprocessor("encode_texts")
    with torch.inference_mode():
        ours_i = adapter.encode_images(ipre.collate([ipre(p) for p in photos])).float().cpu()
        ours_t = adapter.encode_texts(tpre.collate([tpre(t) for t in texts])).float().cpu()
        model = model.to(device).eval()
        ref_i = model.encode_image(torch.stack([preprocess(p) for p in photos]).to(device))
        tokenizer = open_clip.get_tokenizer("ViT-B-32")
        ref_t = model.encode_text(tokenizer(texts).to(device))
        pixel_transfer = adapter.pixel_transfer
        adapter.use_float_pixels()
        ipre = adapter.preprocessor("encode_images")
        float_i = adapter.encode_images(ipre.collate([ipre(p) for p in photos])).float().cpu()
    return {
        "open_clip_version": open_clip.__version__,
        "pixel_transfer": pixel_transfer,
        "image_uint8_equals_float_path": bool(torch.equal(ours_i, float_i)),
        "image_max_abs_diff": float((ours_i - ref_i.float().cpu()).abs().max()),
        "text_max_abs_diff": float((ours_t - ref_t.float().cpu()).abs().max()),
        "fingerprint": adapter.fingerprint()[:80],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--scale-images", type=int, default=100_000)
    parser.add_argument("--scale-texts", type=int, default=500_000)
    parser.add_argument("--sweep-workers", type=int, nargs="+", default=[8, 15])
    parser.add_argument("--sweep-batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--only", nargs="*", help="run only these checks")
    args = parser.parse_args()
    import torch

    report: dict[str, Any] = {
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
    }
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    checks = {
        "retrieval_scale": lambda: check_retrieval_scale(
            args.device, args.scale_images, args.scale_texts
        ),
        "clip_run": lambda: check_clip_run(args.device, work, args.images, args.workers),
        "cache_cli": lambda: check_cache_cli(
            args.device,
            work,
            work / "task" / f"bench-retrieval-{args.images}x5.yaml",
        ),
        "open_clip": lambda: check_open_clip(args.device, work),
        "data_path_sweep": lambda: check_data_path_sweep(
            args.device, work, args.images, args.sweep_workers, args.sweep_batches
        ),
    }
    for name, check in checks.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        try:
            report[name] = check()
        except Exception:
            report[name] = {"error": traceback.format_exc()[-3000:]}
        report[name]["check_s"] = round(time.perf_counter() - start, 1)
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(name, json.dumps(report[name], default=str)[:1500], flush=True)


if __name__ == "__main__":
    main()
