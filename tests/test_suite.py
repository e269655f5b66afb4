"""Suites in one command: models x tasks, task groups, --config, lm-eval spellings, --limit as a
fraction, --output FILE, --include-path; one failing pair does not stop the others."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from mmbench.cli import build_parser, main
from mmbench.errors import MMBenchError
from mmbench.suite import expand_tasks, load_config

COUNTING_MODEL = """
import torch
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, ModelAdapter

LOADS = []


class Pre:
    def __init__(self, image):
        self.image = image

    def __call__(self, item):
        if self.image:
            pixel = item.convert("RGB").resize((1, 1)).getpixel((0, 0))
            return torch.tensor(pixel, dtype=torch.float32)
        return torch.tensor([len(item), item.count(" "), 1.0], dtype=torch.float32)

    def collate(self, features):
        return torch.stack(features)


class Counting(ModelAdapter):
    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS})

    def fingerprint(self):
        return "suite-counting-v1"

    def preprocessor(self, capability):
        return Pre(capability == ENCODE_IMAGES)

    def encode_images(self, batch):
        return batch

    def encode_texts(self, batch):
        return batch


def make(options):
    LOADS.append(1)
    return Counting()
"""


@pytest.fixture
def counting(tmp_path, monkeypatch):
    """A `py:` model whose module counts how often the factory was called."""
    module = f"suite_counting_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(COUNTING_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


@pytest.fixture
def groups(tmp_path, monkeypatch):
    folder = tmp_path / "user-tasks"
    (folder / "groups").mkdir(parents=True)
    (folder / "groups" / "pair.yaml").write_text("tasks: [mini-retrieval, mini-classification]\n")
    (folder / "groups" / "outer.yaml").write_text("tasks: [group:pair, mini-captioning]\n")
    (folder / "groups" / "loop.yaml").write_text("tasks: [group:loop]\n")
    monkeypatch.setenv("MMBENCH_TASKS_PATH", str(folder))
    return folder


def test_expand_tasks_commas_repeats_groups(groups):
    assert expand_tasks(["a,b", "c", "b"]) == ["a", "b", "c"]
    assert expand_tasks(["group:outer", "mini-retrieval"]) == [
        "mini-retrieval",
        "mini-classification",
        "mini-captioning",
    ]
    with pytest.raises(MMBenchError, match="includes itself"):
        expand_tasks(["group:loop"])
    with pytest.raises(MMBenchError, match="did you mean 'pair'"):
        expand_tasks(["group:pairs"])


def test_builtin_groups_name_existing_tasks():
    from mmbench.suite import group_files
    from mmbench.tasks import task_files

    files = group_files()
    assert {"mini", "image-retrieval"} <= set(files)
    known = set(task_files())
    for name in files:
        assert set(expand_tasks([f"group:{name}"])) <= known, name


def test_lm_eval_spellings_parse():
    args = build_parser().parse_args(
        [
            *("run", "--model", "builtin:random", "--tasks", "a,b", "--batch_size", "4"),
            *("--output_path", "out", "--gen_kwargs", "max_new_tokens=8"),
            *("--include_path", ".", "--limit", "0.25"),
        ]
    )
    assert args.task == ["a,b"] and args.batch_size == 4 and args.output_dir == Path("out")
    assert args.gen_kwargs == {"max_new_tokens": 8} and args.include_path == [Path(".")]
    assert args.limit == 0.25
    assert build_parser().parse_args(["run", "--limit", "5"]).limit == 5
    for bad in ("0", "1.5", "-0.2", "x"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["run", "--limit", bad])


def _run(tmp_path, *extra):
    base = ["run", "--output-dir", str(tmp_path / "out"), "--no-cache", "--quiet"]
    return main([*base, *extra])


def test_models_x_tasks_each_model_loaded_once(tmp_path, counting, capsys):
    import importlib

    code = _run(
        tmp_path,
        *("--model", f"py:{counting}:make", "--model", "builtin:random"),
        *("--task", "mini-retrieval,mini-classification", "--limit", "3"),
    )
    assert code == 0
    assert len(importlib.import_module(counting).LOADS) == 1  # two tasks, one load
    written = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert len(written) == 4
    err = capsys.readouterr().err
    assert "run 1/4" in err and "run 4/4" in err


def test_one_failing_pair_does_not_stop_the_others(tmp_path, capsys):
    code = _run(
        tmp_path,
        *("--model", "builtin:random", "--model", "py:no_such_module_here:make"),
        *("--task", "mini-classification", "--limit", "2"),
    )
    assert code == 2
    assert len(list((tmp_path / "out").glob("mini-classification__builtin_random*.json"))) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed:" in line]
    assert len(failed) == 1
    assert "py:no_such_module_here:make x mini-classification (exit 2)" in failed[0]


def test_config_file_and_command_line_priority(tmp_path, groups):
    config = tmp_path / "run.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            models: [builtin:random]
            tasks: [group:pair]
            options: {limit: 2, batch-size: "4", seed: 7}
            """
        )
    )
    assert _run(tmp_path, "--config", str(config), "--batch-size", "8") == 0
    results = sorted((tmp_path / "out").glob("*.json"))
    assert [json.loads(p.read_text())["task"]["name"] for p in results] == [
        "mini-classification",
        "mini-retrieval",
    ]
    data = json.loads(results[0].read_text())
    assert data["task"]["limit"] == 2 and data["config"]["seed"] == 7
    assert data["config"]["batch_size_requested"] == 8  # the command line wins over the file


def test_config_models_carry_their_own_settings(tmp_path, counting):
    config = tmp_path / "run.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            models:
              - uri: py:{counting}:make
                model_args: "width=2,tag=a"
              - {{uri: "py:{counting}:make", model_args: {{width: 3}}}}
            tasks: [mini-retrieval]
            options: {{limit: 4}}
            """
        )
    )
    assert _run(tmp_path, "--config", str(config), "--model-args", "tag=b") == 0
    results = (json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json"))
    args = sorted((r["config"]["model_args"] for r in results), key=lambda a: a["width"])
    # each model's own settings win over the run's --model-args; both runs are kept
    assert args == [{"tag": "a", "width": 2}, {"tag": "b", "width": 3}]


def test_config_errors(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("models: [builtin:random]\ntask: [mini-retrieval]\n")
    with pytest.raises(MMBenchError, match=r"unknown key 'task'.*did you mean 'tasks'"):
        load_config(config)
    config.write_text("models: [builtin:random]\ntasks: [mini-retrieval]\noptions: {limt: 3}\n")
    assert _run(tmp_path, "--config", str(config)) == 2
    assert "did you mean 'limit'" in capsys.readouterr().err
    config.write_text(
        "models: [{uri: builtin:random, model_arg: {a: 1}}]\ntasks: [mini-retrieval]\n"
    )
    with pytest.raises(MMBenchError, match=r"key\(s\) model_arg \(did you mean 'model_args'"):
        load_config(config)
    config.write_text("models: [{model: builtin:random}]\ntasks: [mini-retrieval]\n")
    with pytest.raises(MMBenchError, match="a mapping with `uri`"):
        load_config(config)


def test_limit_fraction_recorded_as_rows(tmp_path):
    # 21 rows x 0.3 = 6.3: lm-eval takes ceil, 7 rows
    assert _run(tmp_path, "--model", "builtin:random", "--task", "mini-classification",
                "--limit", "0.3") == 0  # fmt: skip
    (result,) = (tmp_path / "out").glob("*.json")
    data = json.loads(result.read_text())
    assert data["task"]["limit"] == 7 and data["task"]["n"] == 7
    assert result.name.endswith("__limit-7.json")


def test_output_file_is_exact_and_replaced(tmp_path, capsys):
    target = tmp_path / "ci" / "new.json"
    target.parent.mkdir()
    target.write_text("old")
    args = ("--model", "builtin:random", "--task", "mini-classification", "--limit", "2")
    assert main(["run", *args, "--output", str(target), "--no-cache", "--quiet"]) == 0
    assert json.loads(target.read_text())["task"]["name"] == "mini-classification"
    assert len((tmp_path / "ci" / "new.samples.jsonl").read_text().splitlines()) == 2
    assert f"wrote {target}" in capsys.readouterr().out
    two = ("--task", "mini-retrieval")
    assert main(["run", *args, *two, "--output", str(target), "--quiet"]) == 2
    assert "--output FILE names one result" in capsys.readouterr().err


def test_include_path(tmp_path, monkeypatch):
    monkeypatch.delenv("MMBENCH_TASKS_PATH", raising=False)
    folder = tmp_path / "mine"
    folder.mkdir()
    source = Path(__file__).resolve().parents[1] / "tasks"
    text = (source / "mini-classification.yaml").read_text()
    text = text.replace("name: mini-classification", "name: my-classification")
    text = text.replace("mini/", f"{source}/mini/")
    (folder / "my-classification.yaml").write_text(text)
    shutil.copytree(source / "groups", folder / "groups", dirs_exist_ok=True)
    args = ("--model", "builtin:random", "--task", "my-classification", "--limit", "2")
    assert _run(tmp_path, *args, "--include-path", str(folder)) == 0
    assert _run(tmp_path, *args, "--include_path", str(tmp_path / "missing")) == 2
