"""The CLI as a user runs it: subprocess round trips, result files, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.hardening import expected_stem

from mmbench.results import RESULT_KEYS


def mmbench(*args: str, cache: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MMBENCH_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "mmbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_help_and_list_answer_without_importing_torch(cache: Path) -> None:
    # Speed comes from importing nothing heavy: checked by what is imported, not by a clock.
    for args in (["--help"], ["run", "--help"], ["list", "tasks"], ["list", "models"]):
        done = mmbench(*args, cache=cache)
        assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mmbench.cli as c; c.main(['list', 'metrics']);"
            " print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip().endswith("False")


def test_list_shows_mini_tasks_and_builtin_models(cache: Path) -> None:
    tasks = mmbench("list", "tasks", cache=cache).stdout
    for name in (
        "mini-retrieval",
        "mini-classification",
        "mini-captioning",
        "mini-video-retrieval",
    ):
        assert name in tasks
    models = mmbench("list", "models", cache=cache).stdout
    assert "builtin:effnet-minilm" in models and "builtin:random" in models
    metrics = mmbench("list", "metrics", cache=cache).stdout
    assert "CIDEr" in metrics and "t2i_R@5" in metrics and "vqa_accuracy" in metrics


def test_show_task_prints_resolved_spec(cache: Path) -> None:
    done = mmbench("show", "task", "mini-retrieval", cache=cache)
    assert done.returncode == 0
    assert "spec_hash:" in done.stdout and "type: retrieval" in done.stdout


def test_run_writes_result_json_and_samples(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "out"
    done = mmbench(
        "run",
        "--model",
        "builtin:random",
        "--task",
        "mini-retrieval",
        "--output-dir",
        str(out),
        "--batch-size",
        "7",
        cache=cache,
    )
    assert done.returncode == 0, done.stderr
    assert "t2i_R@1" in done.stdout
    stem = expected_stem("mini-retrieval", "builtin:random")
    result = json.loads((out / f"{stem}.json").read_text())
    assert list(result) == list(RESULT_KEYS)
    assert result["task"]["n"] == 21 and result["task"]["version"] == 1
    assert result["config"]["batch_size"] == 7 and result["config"]["world_size"] == 1
    assert set(result["metrics"]) >= {"i2t_R@1", "t2i_R@10", "RSUM"}
    samples = (out / f"{stem}.samples.jsonl").read_text().splitlines()
    assert len(samples) == 21
    first = json.loads(samples[0])
    assert first["id"] == "astronaut" and len(first["ranks_text_to_visual"]) == 5
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "builtin:random", "--task", "mini-retreival"],
            "did you mean 'mini-retrieval'",
        ),
        (["--model", "hugface:x", "--task", "mini-retrieval"], "unknown model scheme 'hugface'"),
        (["--model", "builtin:randm", "--task", "mini-retrieval"], "did you mean 'random'"),
        (
            ["--model", "builtin:random", "--task", "mini-retrieval", "--output-dir", "/proc/nope"],
            "cannot write to output directory",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, cache: Path) -> None:
    done = mmbench("run", *args, cache=cache)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_missing_capability_is_reported_before_any_work(tmp_path: Path, cache: Path) -> None:
    module = tmp_path / "textonly_adapter.py"
    module.write_text(
        "from mmbench.models.base import ModelAdapter, ENCODE_TEXTS\n"
        "class TextOnly(ModelAdapter):\n"
        "    capabilities = frozenset({ENCODE_TEXTS})\n"
        "    def fingerprint(self): return 'text-only'\n"
        "    def preprocessor(self, capability): raise AssertionError('no work expected')\n"
        "def make(options=None): return TextOnly()\n"
    )
    env_path = f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmbench",
            "run",
            "--model",
            "py:textonly_adapter:make",
            "--task",
            "mini-retrieval",
            "--output-dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": env_path, "MMBENCH_CACHE": str(cache)},
    )
    assert done.returncode == 2
    assert "cannot encode images" in done.stderr and "mini-retrieval" in done.stderr
    assert not list((tmp_path / "o").glob("*.json"))


def test_corrupt_media_fails_or_is_skipped(tmp_path: Path, cache: Path) -> None:
    from helpers.files import write_jsonl, write_photos

    photos = write_photos(tmp_path / "img")
    (tmp_path / "img" / "bad.png").write_bytes(b"broken")
    rows = [
        {"id": p.stem, "image": f"img/{p.name}", "captions": [f"photo of {p.stem}"]} for p in photos
    ]
    rows.append({"id": "bad", "image": "img/bad.png", "captions": ["nothing"]})
    write_jsonl(tmp_path / "test.jsonl", rows)
    task = tmp_path / "local-ret.yaml"
    task.write_text(
        "name: local-ret\ntype: retrieval\nversion: 1\nsource: {local: test.jsonl}\n"
        "columns: {id: id, image: image, texts: captions}\nmetrics: [t2i_R@1]\n"
    )
    failed = mmbench(
        "run",
        "--model",
        "builtin:random",
        "--task",
        str(task),
        "--output-dir",
        str(tmp_path / "o"),
        cache=cache,
    )
    assert failed.returncode == 2
    assert "bad.png (row bad) is corrupt" in failed.stderr
    stem = expected_stem("local-ret", "builtin:random")
    assert not (tmp_path / "o" / f"{stem}.json").exists()
    skipped = mmbench(
        "run",
        "--model",
        "builtin:random",
        "--task",
        str(task),
        "--on-error",
        "skip",
        "--output-dir",
        str(tmp_path / "o"),
        cache=cache,
    )
    assert skipped.returncode == 3
    result = json.loads((tmp_path / "o" / f"{stem}.json").read_text())
    assert result["task"]["n"] == 4 and result["failures"]["count"] == 1


def test_gen_kwargs_parse_json_values() -> None:
    import argparse

    from mmbench.cli.common import gen_kwargs

    assert gen_kwargs("max_new_tokens=8,do_sample=false,temperature=0.5,stop=END") == {
        "max_new_tokens": 8,
        "do_sample": False,
        "temperature": 0.5,
        "stop": "END",
    }
    with pytest.raises(argparse.ArgumentTypeError):
        gen_kwargs("max_new_tokens")
