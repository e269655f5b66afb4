"""Numbers must not move with batch size, world size, or a crash and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_jsonl
from helpers.hardening import expected_stem

from mmbench.runner import RunRequest, run

VIDEO_TASK, EFFNET, SLOW = "mini-video-retrieval", "builtin:effnet-minilm", "py:slow_adapter:make"
RESUMED = expected_stem("resume-task", SLOW)

ROOT = Path(__file__).resolve().parent.parent


def run_task(tmp_path: Path, task: str, model: str, **kwargs) -> dict:
    request = RunRequest(
        model=model, task=task, output_dir=tmp_path, use_cache=False, progress=False, **kwargs
    )
    outcome = run(request)
    stem = outcome.path.name[: -len(".json")]
    lines = (outcome.path.parent / f"{stem}.samples.jsonl").read_text().splitlines()
    return {"metrics": outcome.result.metrics, "samples": [json.loads(x) for x in lines]}


@pytest.mark.slow
def test_retrieval_ranks_are_identical_across_batch_sizes(tmp_path: Path) -> None:
    runs = [
        run_task(tmp_path / str(b), "mini-retrieval", "builtin:effnet-minilm", batch_size=b)
        for b in (1, 7, 64)
    ]
    assert runs[0]["metrics"]["RSUM"] > 300  # well above chance (RSUM ~ 130 for random)
    for other in runs[1:]:
        assert other["metrics"] == runs[0]["metrics"]
        assert other["samples"] == runs[0]["samples"]


@pytest.mark.slow
def test_generated_captions_are_identical_across_batch_sizes(tmp_path: Path) -> None:
    first = run_task(
        tmp_path / "1", "mini-captioning", "builtin:effnet-minilm", batch_size=1, limit=8
    )
    second = run_task(
        tmp_path / "7", "mini-captioning", "builtin:effnet-minilm", batch_size=7, limit=8
    )
    assert [s["prediction"] for s in first["samples"]] == [
        s["prediction"] for s in second["samples"]
    ]
    assert first["metrics"] == second["metrics"]


@pytest.mark.slow
def test_world_size_two_matches_one(tmp_path: Path) -> None:
    single = run_task(
        tmp_path / "single", "mini-video-retrieval", "builtin:effnet-minilm", batch_size=3
    )
    env = {**os.environ, "MMBENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run(
        [
            str(torchrun),
            "--nproc-per-node",
            "2",
            "-m",
            "mmbench",
            "run",
            "--model",
            "builtin:effnet-minilm",
            "--task",
            "mini-video-retrieval",
            "--batch-size",
            "3",
            "--output-dir",
            str(tmp_path / "ddp"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(
        (tmp_path / "ddp" / f"{expected_stem(VIDEO_TASK, EFFNET)}.json").read_text()
    )
    assert result["config"]["world_size"] == 2
    assert result["metrics"] == single["metrics"]
    samples = (tmp_path / "ddp" / f"{expected_stem(VIDEO_TASK, EFFNET)}.samples.jsonl").read_text()
    assert [json.loads(x) for x in samples.splitlines()] == single["samples"]


SLOW_ADAPTER = """
import hashlib, time, torch
from mmbench.models.base import ModelAdapter, ENCODE_IMAGES, ENCODE_TEXTS

class Pre:
    def __call__(self, raw):
        return raw.tobytes() if hasattr(raw, "tobytes") else raw.encode()
    def collate(self, features):
        return list(features)

class Slow(ModelAdapter):
    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS})
    def fingerprint(self):
        return "slow-adapter-v1"
    def preprocessor(self, capability):
        return Pre()
    def _embed(self, batch):
        time.sleep(0.15)
        return torch.stack([torch.tensor(list(hashlib.sha256(b).digest()[:8]), dtype=torch.float32)
                            for b in batch])
    encode_images = _embed
    encode_texts = _embed

def make(options=None):
    return Slow()
"""


def test_killed_run_resumes_and_matches_a_fresh_run(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "img").mkdir()
    rows = []
    for i in range(30):
        Image.new("RGB", (16, 16), (i * 8, 255 - i * 8, (i * 37) % 256)).save(
            tmp_path / "img" / f"{i}.png"
        )
        rows.append(
            {"id": str(i), "image": f"img/{i}.png", "captions": [f"caption {i}", f"other {i}"]}
        )
    write_jsonl(tmp_path / "test.jsonl", rows)
    (tmp_path / "resume-task.yaml").write_text(
        "name: resume-task\ntype: retrieval\nversion: 1\nsource: {local: test.jsonl}\n"
        "columns: {id: id, image: image, texts: captions}\nmetrics: [i2t_R@1, t2i_R@1, RSUM]\n"
    )
    (tmp_path / "slow_adapter.py").write_text(SLOW_ADAPTER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MMBENCH_CACHE": str(tmp_path / "cache")}
    command = [
        sys.executable,
        "-m",
        "mmbench",
        "run",
        "--model",
        "py:slow_adapter:make",
        "--task",
        str(tmp_path / "resume-task.yaml"),
        "--batch-size",
        "2",
        "--quiet",
        "--output-dir",
        str(tmp_path / "out"),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    database = tmp_path / "cache" / "outputs.sqlite"
    deadline = time.time() + 120
    cached = 0
    while time.time() < deadline and cached < 18:
        time.sleep(0.1)
        if database.exists():
            try:
                cached = (
                    sqlite3.connect(database).execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
                )
            except sqlite3.OperationalError:
                continue
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 18 <= cached < 90, "the run should have been killed part-way"
    survived = sqlite3.connect(database).execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    resumed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads((tmp_path / "out" / f"{RESUMED}.json").read_text())
    assert result["timing"]["computed"] == 90 - survived  # 30 images + 60 captions
    fresh = subprocess.run(
        [*command, "--no-cache", "--output-dir", str(tmp_path / "fresh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert fresh.returncode == 0, fresh.stderr
    fresh_result = json.loads((tmp_path / "fresh" / f"{RESUMED}.json").read_text())
    assert fresh_result["metrics"] == result["metrics"]
    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0
    again = json.loads((tmp_path / "out" / f"{RESUMED}.json").read_text())
    assert again["timing"]["computed"] == 0 and again["metrics"] == result["metrics"]
