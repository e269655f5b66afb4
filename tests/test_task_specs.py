"""Task YAML validation: every bundled task loads; every malformed file is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmbench.errors import MMBenchError
from mmbench.tasks import get_task_type, load_task, read_spec, task_files

GOOD = """\
name: {name}
type: retrieval
version: 1
source: {{local: data.jsonl}}
columns: {{image: image, texts: captions}}
metrics: [i2t_R@1, t2i_R@1]
"""


def write_task(tmp_path: Path, text: str, name: str = "my-task") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_bundled_task_validates() -> None:
    files = task_files()
    assert {
        "mini-retrieval",
        "mini-classification",
        "mini-captioning",
        "mini-video-retrieval",
    } <= set(files)
    for name, path in files.items():
        spec = read_spec(path)
        assert spec.name == name
        assert spec.headline in spec.metrics


def test_spec_hash_changes_with_anything_that_moves_numbers(tmp_path: Path) -> None:
    base = read_spec(write_task(tmp_path, GOOD.format(name="my-task")))
    bumped = read_spec(
        write_task(tmp_path, GOOD.format(name="my-task").replace("version: 1", "version: 2"))
    )
    assert base.spec_hash() != bumped.spec_hash()
    assert (
        base.spec_hash() == read_spec(write_task(tmp_path, GOOD.format(name="my-task"))).spec_hash()
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t + "colums: {}\n", "unknown key(s) colums (did you mean 'columns'?)"),
        (lambda t: t.replace("version: 1\n", ""), "missing required key(s) version"),
        (lambda t: t.replace("version: 1", "version: one"), "version must be a positive integer"),
        (lambda t: t.replace("i2t_R@1", "i2t_R@2"), "metric 'i2t_R@2' is not computed"),
        (lambda t: t.replace("texts: captions", "txts: captions"), "unknown column role(s) txts"),
        (lambda t: t.replace("type: retrieval", "type: retreival"), "did you mean 'retrieval'"),
        (lambda t: t + "options: {chunk: 3}\n", "unknown option(s) chunk"),
        (
            lambda t: t.replace("{local: data.jsonl}", "{hub: a, local: b}"),
            "exactly one of 'hub' or 'local'",
        ),
        (lambda t: t.replace("image: image, ", ""), "exactly one of 'image' or 'video'"),
        (lambda t: "- just\n- a list\n", "must hold a YAML mapping"),
        (lambda t: t + "headline: RSUM\n", "headline 'RSUM' is not one of its metrics"),
    ],
)
def test_malformed_task_files_fail_with_one_line(tmp_path: Path, edit, expected: str) -> None:
    path = write_task(tmp_path, edit(GOOD.format(name="my-task")))
    with pytest.raises(MMBenchError) as info:
        read_spec(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_name_must_match_file(tmp_path: Path) -> None:
    path = write_task(tmp_path, GOOD.format(name="other"), name="my-task")
    with pytest.raises(MMBenchError, match="declares name 'other'"):
        read_spec(path)


def test_unknown_task_suggests_nearest_name() -> None:
    with pytest.raises(MMBenchError, match="did you mean 'mini-retrieval'"):
        load_task("mini-retreival")


def test_unknown_task_type() -> None:
    with pytest.raises(MMBenchError, match="known types: retrieval"):
        get_task_type("segmentation")


def test_task_by_path(tmp_path: Path) -> None:
    spec = load_task(str(write_task(tmp_path, GOOD.format(name="my-task"))))
    assert spec.source.local_path() == tmp_path / "data.jsonl"
