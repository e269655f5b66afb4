"""Numbers must not move with batch size, world size, or a crash and resume.

The batch-size tests share one loaded effnet-minilm (loading it costs more than a run) and run
on one torch thread. They evaluate the first photos of the mini benchmark: 12 with their 60
captions for retrieval, 8 for captioning, so that batches of 7 split every kind of item and 64
takes them all at once.
"""

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
from helpers.files import write_jsonl
from helpers.hardening import expected_stem
from helpers.runs import run_task

from mmbench.suite import ModelPool

VIDEO_TASK, EFFNET, SLOW = "mini-video-retrieval", "builtin:effnet-minilm", "py:slow_adapter:make"
RESUMED = expected_stem("resume-task", SLOW)

ROOT = Path(__file__).resolve().parent.parent
BATCH_SIZES = (1, 7, 64)


@pytest.fixture(scope="module")
def effnet(one_thread) -> ModelPool:
    """One effnet-minilm for every batch-size run of this module."""
    return ModelPool()


def runs_by_batch_size(tmp_path: Path, task: str, models: ModelPool, rows: int) -> list[dict]:
    """`task` on its first `rows` rows with effnet-minilm, once per batch size in BATCH_SIZES."""
    return [
        run_task(tmp_path / str(b), task, EFFNET, models, batch_size=b, limit=rows)
        for b in BATCH_SIZES
    ]


@pytest.mark.slow
def test_retrieval_ranks_are_identical_across_batch_sizes(tmp_path: Path, effnet) -> None:
    runs = runs_by_batch_size(tmp_path, "mini-retrieval", effnet, rows=12)
    # well above chance (RSUM ~ 239 for random ranks of 12 photos and 60 captions)
    assert runs[0]["metrics"]["RSUM"] > 300
    for other in runs[1:]:
        assert other["metrics"] == runs[0]["metrics"]
        assert other["samples"] == runs[0]["samples"]


@pytest.mark.slow
def test_generated_captions_are_identical_across_batch_sizes(tmp_path: Path, effnet) -> None:
    first, *others = runs_by_batch_size(tmp_path, "mini-captioning", effnet, rows=8)
    for other in others:
        assert [s["prediction"] for s in first["samples"]] == [
            s["prediction"] for s in other["samples"]
        ]
        assert first["metrics"] == other["metrics"]


@pytest.mark.slow
def test_world_size_two_matches_one(tmp_path: Path, effnet) -> None:
    single = run_task(tmp_path / "single", VIDEO_TASK, EFFNET, effnet, batch_size=3)
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
    command = [sys.executable, "-m", "mmbench", "run", "--model", SLOW, "--quiet"]
    command += ["--task", str(tmp_path / "resume-task.yaml"), "--batch-size", "2"]
    command += ["--output-dir", str(tmp_path / "out")]
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
