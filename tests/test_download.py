"""`mmbench download`: fill the Hugging Face caches from a hub (a stub on 127.0.0.1 through
HF_ENDPOINT), then read the same task data and model offline with the hub unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers.hub_stub import COMMIT, HubStub

pytest.importorskip("datasets")


def _parquet(tmp_path) -> bytes:
    import datasets
    from PIL import Image

    images = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(3)]
    table = datasets.Dataset.from_dict(
        {"id": ["a", "b", "c"], "image": images, "captions": [["x"], ["y"], ["z"]]},
        features=datasets.Features(
            {
                "id": datasets.Value("string"),
                "image": datasets.Image(),
                "captions": datasets.Sequence(datasets.Value("string")),
            }
        ),
    )
    path = tmp_path / "test.parquet"
    table.to_parquet(str(path))
    return path.read_bytes()


def _env(tmp_path, endpoint: str, offline: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(tmp_path / "hf"),
        MMBENCH_TASKS_PATH=str(tmp_path / "tasks"),
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(key, None)
        if offline:
            env[key] = "1"
    return env


@pytest.mark.slow
def test_download_then_run_offline(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "hub-toy.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: hub-toy
            type: captioning
            version: 1
            source: {{hub: mmb/toy, revision: {COMMIT}, split: test}}
            columns: {{id: id, image: image, references: captions}}
            metrics: [CIDEr]
            """
        )
    )
    repos = {
        ("dataset", "mmb/toy"): {"data/test-00000-of-00001.parquet": _parquet(tmp_path)},
        ("model", "mmb/tiny"): {"config.json": json.dumps({"model_type": "bert"}).encode()},
    }
    command = [sys.executable, "-m", "mmbench", "download", "hub-toy", "--model", "hf:mmb/tiny"]
    with HubStub(repos) as hub:
        done = subprocess.run(
            command, env=_env(tmp_path, hub.url, False), capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert "hub-toy: mmb/toy@" in done.stdout and "3 rows" in done.stdout
    assert "hf:mmb/tiny: mmb/tiny@main in the hub cache" in done.stdout
    assert any(r.endswith("/data/test-00000-of-00001.parquet") for r in hub.requests)
    assert any(r.startswith("GET /mmb/tiny/resolve/") for r in hub.requests)

    # Offline, with nothing listening at the endpoint: the run's own readers find everything.
    check = textwrap.dedent(
        """\
        import huggingface_hub
        from mmbench.data.sources import open_source
        from mmbench.tasks import load_task
        table = open_source(load_task("hub-toy").source)
        print(len(table), sorted(table.columns))
        print(sorted(p.name for p in __import__("pathlib").Path(
            huggingface_hub.snapshot_download("mmb/tiny")).iterdir()))
        """
    )
    offline = subprocess.run(
        [sys.executable, "-c", check],
        env=_env(tmp_path, "http://127.0.0.1:9", True),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.splitlines() == ["3 ['captions', 'id', 'image']", "['config.json']"]


def test_download_reports_local_and_unknown(tmp_path, capsys):
    from mmbench.cli import main

    assert main(["download", "mini-retrieval", "--model", "builtin:random"]) == 0
    out = capsys.readouterr().out
    assert "mini-retrieval: local data at" in out and "builtin:random: only hf:" in out
    assert main(["download", "no-such-task"]) == 2
    assert main(["download"]) == 2
