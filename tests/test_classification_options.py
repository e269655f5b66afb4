"""`class_name_replace`: what the model is asked about, the samples, validation and the hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.adapters import CountingAdapter
from helpers.files import write_jsonl

from mmbench.data.sources import open_source
from mmbench.engine import Engine, EngineConfig
from mmbench.errors import MMBenchError
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, GENERATE
from mmbench.tasks import get_task_type, read_spec
from mmbench.tasks.base import TaskContext
from mmbench.tasks.classification import replace_substrings

TASK = """\
name: tidy-names
type: classification
version: 1
source: {{local: rows.jsonl}}
columns: {{id: id, image: image, label: label}}
metrics: [top1, top5]
options:
  classes: [aquarium_fish, maple_tree, sweet__pepper]
  templates: ["a photo of a {{c}}.", "art of the {{c}}."]
{extra}"""


class RecordingAdapter(CountingAdapter):
    """CountingAdapter that keeps every text and generation prompt it is given."""

    def __init__(self, answer: str = "") -> None:
        super().__init__()
        self.answer = answer
        self.texts: list[str] = []
        self.prompts: list[str] = []

    def encode_images(self, batch):
        # 16 of the 64 thumbnail pixels: the width of encode_texts' embeddings
        return super().encode_images(batch)[:, :16]

    def encode_texts(self, batch):
        self.texts.extend(batch)
        return super().encode_texts(batch)

    def generate(self, batch, **kwargs):
        self.prompts.extend(prompt for _, prompt in batch)
        return [self.answer] * len(batch)


class GenerativeOnly(RecordingAdapter):
    capabilities = frozenset({GENERATE})


def write_task(tmp_path: Path, extra: str = "") -> Path:
    """The task YAML plus two rows labelled by index and by the class list's own spelling."""
    from PIL import Image

    for name in ("a", "b"):
        Image.new("RGB", (8, 8), (200, 40, 90) if name == "a" else (10, 220, 30)).save(
            tmp_path / f"{name}.png"
        )
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"id": "a", "image": "a.png", "label": 1},
            {"id": "b", "image": "b.png", "label": "sweet__pepper"},
        ],
    )
    path = tmp_path / "tidy-names.yaml"
    path.write_text(TASK.format(extra=extra), encoding="utf-8")
    return path


def evaluate(path: Path, adapter: RecordingAdapter):
    """Run the classification task type on `adapter` in this process."""
    spec = read_spec(path)
    task_type = get_task_type(spec.type)
    options = task_type.validate(spec)
    engine = Engine(adapter, EngineConfig(batch_size=4, progress=False))
    table = open_source(spec.source)
    return task_type.evaluate(TaskContext(spec, options, table, adapter, engine))


REPLACE = '  class_name_replace: {"_": " ", "__": " "}\n'


def test_templates_receive_the_replaced_names(tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    output = evaluate(write_task(tmp_path, REPLACE), adapter)
    assert sorted(adapter.texts) == sorted(
        [
            "a photo of a aquarium fish.",
            "art of the aquarium fish.",
            "a photo of a maple tree.",
            "art of the maple tree.",
            "a photo of a sweet pepper.",
            "art of the sweet pepper.",
        ]
    )
    assert [s["label"] for s in output.samples] == ["maple tree", "sweet pepper"]
    assert set(output.samples[0]["top5"]) == {"aquarium fish", "maple tree", "sweet pepper"}


def test_without_the_option_names_are_used_as_given(tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    evaluate(write_task(tmp_path), adapter)
    assert "a photo of a sweet__pepper." in adapter.texts
    assert adapter.calls[ENCODE_TEXTS] == 6 and adapter.calls[ENCODE_IMAGES] == 2


def test_generative_prompt_and_answers_use_the_replaced_names(tmp_path: Path) -> None:
    adapter = GenerativeOnly(answer="Maple Tree")
    output = evaluate(write_task(tmp_path, REPLACE), adapter)
    assert set(adapter.prompts) == {
        "What is the main subject of this image? Answer with one of: aquarium fish, maple tree,"
        " sweet pepper. Answer with the option's name only."
    }
    assert [s["correct"] for s in output.samples] == [True, False]
    assert output.metrics["top1"] == 0.5


@pytest.mark.parametrize(
    ("text", "replacements", "expected"),
    [
        ("maple_tree", {"_": " "}, "maple tree"),
        ("a__b_c", {"_": " ", "__": " - "}, "a - b c"),  # the longest key wins at a position
        ("a__b_c", {"__": " - ", "_": " "}, "a - b c"),  # key order does not matter
        ("ab", {"a": "b", "b": "c"}, "bc"),  # inserted text is not replaced again
        ("x.y", {".": ""}, "xy"),  # keys are literal, not regular expressions
        ("plain", {}, "plain"),
    ],
)
def test_replace_substrings(text: str, replacements: dict[str, str], expected: str) -> None:
    assert replace_substrings(text, replacements) == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  class_name_replace: [_, ' ']\n", "class_name_replace must be a mapping"),
        ("  class_name_replace: {'': ' '}\n", "class_name_replace: key '' is not a non-empty"),
        ("  class_name_replace: {'_': 1}\n", "the replacement of '_' is 1, not a string"),
        ("  class_name_replace: {'_': }\n", "the replacement of '_' is None, not a string"),
    ],
)
def test_malformed_option_is_a_one_line_error(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(MMBenchError) as info:
        read_spec(write_task(tmp_path, extra))
    message = str(info.value)
    assert expected in message and 'class_name_replace: {"_": " "}' in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  class_name_replace: {aquarium_fish: tree, maple_tree: tree}\n",
            "turns classes 0 ('aquarium_fish') and 1 ('maple_tree') into the same name 'tree'",
        ),
        (
            "  class_name_replace: {aquarium_fish: ''}\n",
            "turns class 0 ('aquarium_fish') into an empty name",
        ),
    ],
)
def test_merged_or_emptied_names_are_an_error(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(MMBenchError) as info:
        evaluate(write_task(tmp_path, extra), RecordingAdapter())
    assert str(info.value).startswith("task 'tidy-names': options.class_name_replace ")
    assert expected in str(info.value)


def test_option_is_part_of_the_spec_hash(tmp_path: Path) -> None:
    plain = read_spec(write_task(tmp_path)).spec_hash()
    replaced = read_spec(write_task(tmp_path, REPLACE)).spec_hash()
    reordered = read_spec(
        write_task(tmp_path, '  class_name_replace: {"__": " ", "_": " "}\n')
    ).spec_hash()
    assert plain != replaced
    assert replaced == reordered  # the same mapping, and (by construction) the same names
