"""Output-cache speed-up: the same `mmbench run` twice over one fresh cache.

The first run computes every output and writes it to a fresh `MMBENCH_CACHE` (a temp dir); the
second finds every output there (`timing.computed` must be 0) and only loads the model, looks up
the keys, computes metrics and writes the result. Target: second run >= 20x faster than the first.

Each pair is measured two ways, alternating, repeated (medians reported):

* in process: wall clock around `mmbench.runner.run` (= the result JSON's `timing.total_s` plus a
  few ms). A warm-up run first imports everything and fills the page cache; before every timed
  run the per-process memo of weight-file hashes is cleared, so each run hashes the weights as a
  fresh `mmbench run` process would. Only interpreter start-up and imports are left out.
* subprocess: the wall clock of `mmbench run` as a user types it (interpreter start-up, imports
  of torch / transformers and everything else included), plus the JSON's `timing.total_s`.

Where the second run's time goes is measured in process (model loading, cache-key hashing,
SQLite lookups, the rest of the task = metrics / dataset reading, result writing), next to the
bare import cost of a subprocess (`python -c "import torch"` etc.).

Tasks: `builtin:effnet-minilm` on the bundled `mini-retrieval` and `mini-classification`, and
(`--clip`) the ViT-B/32-sized random CLIP `hf:` model of fixtures.py on its local retrieval task
of `--clip-images` photos x 5 captions (a computing run takes ~25 s on 2 idle CPU cores).

    python benchmarks/cache_speedup.py [--repeats 3] [--clip] [--clip-images 128]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures import build_clip_b32, write_retrieval_task
from timing import med, phase_timers, run_cli, run_in_process, table


def forget_weight_hashes() -> None:
    """Drop the per-process memo of weight-file hashes (a new process starts without it)."""
    from mmbench.models import common
    from mmbench.models.hf import source

    common._HASHES.clear()
    source._hash_files.cache_clear()


def cache_phases():
    from mmbench.cache import OutputCache
    from mmbench.engine import Engine
    from mmbench.models import builtin_effnet
    from mmbench.models.hf import source

    return (
        # hf: hashes its weight files while loading, builtin: on its first fingerprint() call
        (source, "local_content_hash", "weight sha256 in load"),
        (builtin_effnet, "file_sha256", "weight sha256 in keys"),
        (Engine, "_keys", "cache keys (content sha256 + fingerprint)"),
        (OutputCache, "get_many", "cache lookups (SQLite get_many)"),
        (OutputCache, "put_many", "cache writes (SQLite put_many)"),
    )


def in_process_pair(model: str, task: str, work: Path, batch: int) -> dict[str, Any]:
    cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
    out = {}
    for name in ("first", "second"):
        forget_weight_hashes()
        with phase_timers(cache_phases()) as spent:
            start = time.perf_counter()
            result = run_in_process(
                model, Path(task), work / "out", 0, batch, use_cache=True, cache_dir=cache
            )
            result["wall_s"] = time.perf_counter() - start
        result["phases"] = dict(spent)
        out[name] = result
    return out


def subprocess_pair(model: str, task: str, work: Path, batch: int) -> dict[str, Any]:
    cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
    env = {**os.environ, "MMBENCH_CACHE": str(cache)}
    return {
        name: run_cli(model, task, work / "cli", 0, batch, env=env) for name in ("first", "second")
    }


def import_cost(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def measure(label: str, model: str, task: str, work: Path, repeats: int, batch: int) -> dict:
    print(f"{label}: warm-up run", file=sys.stderr)
    run_in_process(model, Path(task), work / "out", 0, batch, limit=2)  # imports, page cache
    pairs, cli = [], []
    for rep in range(repeats):
        pairs.append(in_process_pair(model, task, work, batch))
        cli.append(subprocess_pair(model, task, work, batch))
        print(f"{label}: repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return {"label": label, "in_process": pairs, "cli": cli}


def report(measured: list[dict]) -> None:
    rows = []
    for m in measured:
        ip, cli = m["in_process"], m["cli"]
        first = med(p["first"]["wall_s"] for p in ip)
        second = med(p["second"]["wall_s"] for p in ip)
        computed = (
            f"{ip[0]['first']['computed']} / "
            f"{max(p['second']['computed'] for p in ip + cli)}"  # worst second run of all
        )
        rows.append((m["label"], "in-process run()", first, second, first / second, computed))
        c_first = med(p["first"]["wall_s"] for p in cli)
        c_second = med(p["second"]["wall_s"] for p in cli)
        rows.append(
            (m["label"], "`mmbench run` wall", c_first, c_second, c_first / c_second, computed)
        )
        j_first = med(p["first"]["total_s"] for p in cli)
        j_second = med(p["second"]["total_s"] for p in cli)
        rows.append(
            (m["label"], "`mmbench run` total_s", j_first, j_second, j_first / j_second, computed)
        )
    print()
    print("medians; target: second run >= 20x faster, second run computes 0 items")
    print(
        table(
            ("task / model", "measured as", "first s", "second s", "speed-up", "computed 1st/2nd"),
            rows,
        )
    )
    print()
    print("where the second (cached) run's time goes, in process (median seconds)")
    rows = []
    for m in measured:
        seconds = [p["second"] for p in m["in_process"]]

        def part(label, seconds=seconds):
            return med(s["phases"].get(label, 0.0) for s in seconds)

        wall = med(s["wall_s"] for s in seconds)
        hash_load, hash_keys = part("weight sha256 in load"), part("weight sha256 in keys")
        load = part("load_model")
        keys = part("cache keys (content sha256 + fingerprint)")
        get = part("cache lookups (SQLite get_many)")
        engine = part("Engine.run")
        write = part("write_result")
        rows.append(
            (
                m["label"],
                wall,
                load - hash_load,
                hash_load + hash_keys,
                keys - hash_keys,
                get,
                engine - keys - get,
                write,
                wall - load - engine - write,
            )
        )
    print(
        table(
            (
                "task / model",
                "total",
                "load model",
                "weights sha256",
                "item keys",
                "SQLite get",
                "engine other",
                "write",
                "rest (spec, data, metrics)",
            ),
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--tasks",
        nargs="*",
        default=["mini-retrieval", "mini-classification"],
        help="bundled tasks to run with builtin:effnet-minilm",
    )
    parser.add_argument("--clip", action="store_true", help="add the ViT-B/32-sized CLIP task")
    parser.add_argument("--clip-images", type=int, default=128)
    parser.add_argument("--clip-repeats", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the CLIP model and data here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        measured = [
            measure(
                f"{task} / builtin:effnet-minilm",
                "builtin:effnet-minilm",
                task,
                work,
                args.repeats,
                args.batch_size,
            )
            for task in args.tasks
        ]
        if args.clip:
            data = args.workdir or work
            task, rows = write_retrieval_task(data / "data", args.clip_images, 5)
            model_dir = data / "clip-b32"
            if not (model_dir / "config.json").exists():
                build_clip_b32(model_dir, [t for r in rows for t in r["captions"]])
            measured.append(
                measure(
                    f"{task.stem} / hf: CLIP B/32",
                    f"hf:{model_dir}",
                    str(task),
                    work,
                    args.clip_repeats,
                    args.batch_size,
                )
            )
        report(measured)
        print()
        print("subprocess start-up alone (one run each, seconds):")
        print(
            table(
                ("command", "wall s"),
                [
                    ("python -c pass", import_cost("pass")),
                    ("python -c 'import torch'", import_cost("import torch")),
                    (
                        "python -c 'import torch, transformers.CLIPModel'",
                        import_cost("import torch; from transformers import CLIPModel"),
                    ),
                    ("python -c 'import mmbench.cli'", import_cost("import mmbench.cli")),
                ],
            )
        )


if __name__ == "__main__":
    main()
