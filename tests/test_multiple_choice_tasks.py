"""The multiple-choice benchmarks end to end on local copies in their hub schema.

A scripted model gives canned answers, and each task must score them as the benchmark's own rule
does (the expected values are worked out by hand from those rules: MMMU's eval_utils, VLMEvalKit's
can_infer with CircularEval, lmms-eval's ScienceQA / AI2D / SEED-Bench / RealWorldQA code), with
the standard prompt rendered exactly. Bad rows become per-sample errors; a single-image model is
refused for MMMU with a one-line error; a tiny Idefics3 runs the multi-image MMMU path for real.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import scripted
from helpers.mcq_schemas import MCQ_BUILDERS, MMMU_ROWS, SEEDBENCH_ROWS, SEEDBENCH_VIDEO_ROW
from helpers.scripted import evaluate

from mmbench.data.items import IMAGE_MARKER
from mmbench.data.sources import open_source
from mmbench.errors import CapabilityError
from mmbench.models.base import GENERATE, GENERATE_MULTI_IMAGE
from mmbench.tasks import get_task_type, load_task

INSTRUCTION = "Answer with the option's letter from the given choices directly."


@dataclass(frozen=True)
class Request:
    sizes: tuple
    prompt: str
    interleaved: bool


class ScriptedModel(scripted.ScriptedModel):
    capabilities = frozenset({GENERATE, GENERATE_MULTI_IMAGE})

    def describe(self, request) -> Request:
        sizes = tuple(image.size for image in request.images)
        return Request(sizes, request.prompt, request.interleaved)


def by_id(output) -> dict[str, dict]:
    return {s["id"]: s for s in output.samples}


# ------------------------------------------------------------------------------------ MMMU


def test_mmmu_scores_with_the_official_parsers(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["mmmu-val"](tmp_path)
    model = ScriptedModel(
        {
            "Which animal": "(A)",
            "Compare": "B",
            "How many objects": "The answer is 2.",
            "shows a cat": "C. <image 3> twice",  # 4 words, no "(C)" or " C ": random fallback
        }
    )
    output = evaluate("mmmu-val", data, model)
    fallback = random.Random("42:validation_Accounting_4").choice("ABCD")
    assert by_id(output)["validation_Accounting_4"]["parsed"] == fallback
    assert by_id(output)["validation_Accounting_4"]["random_fallback"] is True
    assert by_id(output)["validation_Accounting_4"]["fallback_seed"] == 42
    assert "random_fallback" not in by_id(output)["validation_Art_1"]
    assert output.metrics == {
        "accuracy": (3 + (fallback == "C")) / 4,
        "random_fallbacks": 1.0,
    }
    assert output.breakdown["mmmu_subject: Art"] == {"accuracy": 1.0, "n": 1}
    assert output.breakdown["mmmu_discipline: Science"] == {"accuracy": 1.0, "n": 2}
    assert by_id(output)["validation_Physics_3"]["answers"] == ["2"]


def test_mmmu_prompts_and_images_follow_the_tags(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["mmmu-val"](tmp_path)
    model = ScriptedModel({"": "A"})
    evaluate("mmmu-val", data, model)
    requests = {r.prompt.split("\n")[0]: r for r in model.requests}
    # interleaved: every tag (question, then options) becomes a marker, images in tag order
    mc = requests[f"{IMAGE_MARKER} shows a cat. What do {IMAGE_MARKER} and {IMAGE_MARKER} show?"]
    assert mc.interleaved and mc.prompt.count(IMAGE_MARKER) == 4
    assert mc.prompt.endswith(f"C. {IMAGE_MARKER} twice\nD. nothing\n\n{INSTRUCTION}")
    # image_N is 16 * N pixels wide: tags <image 2>, <image 1>, <image 3>, <image 3>
    assert [w for w, _ in mc.sizes] == [32, 16, 48, 48]
    open_q = requests[f"How many objects are in {IMAGE_MARKER}?"]
    assert open_q.prompt.endswith("?\n\nAnswer the question using a single word or phrase.")


def test_mmmu_without_interleaving_sends_tagged_images_in_order(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["mmmu-val"](tmp_path)
    spec = load_task("mmmu-val")
    spec = type(spec)(**{**spec.__dict__, "options": {**spec.options, "interleave": False}})
    model = ScriptedModel({"": "A"})
    evaluate("mmmu-val", data, model, spec)
    request = next(r for r in model.requests if "shows a cat" in r.prompt)
    assert not request.interleaved and [w for w, _ in request.sizes] == [16, 32, 48]
    assert request.prompt.startswith("<image 2> shows a cat.")


def test_mmmu_bad_rows_are_counted_errors(tmp_path: Path) -> None:
    rows = (
        *MMMU_ROWS[:1],
        ("validation_Art_5", "Which one? <image 1>", "not a list", "A", "multiple-choice", 1),
        ("validation_Art_6", "Which one? <image 1>", "[]", "A", "multiple-choice", 1),
        ("validation_Art_7", "Compare <image 1> and <image 2>", "['x', 'y']", "A",
         "multiple-choice", 1),
    )  # fmt: skip
    data, _ = MCQ_BUILDERS["mmmu-val"](tmp_path, rows)
    output = evaluate("mmmu-val", data, ScriptedModel({"": "(A)"}))
    assert output.n == 1 and output.metrics["accuracy"] == 1.0
    assert set(output.failures) == {"validation_Art_5", "validation_Art_6", "validation_Art_7"}
    assert "options must be a non-empty list" in output.failures["validation_Art_5"]
    assert "<image 2>" in output.failures["validation_Art_7"]
    assert all("\n" not in message for message in output.failures.values())
    assert by_id(output)["validation_Art_7"]["error"] == output.failures["validation_Art_7"]


def test_single_image_models_cannot_run_mmmu() -> None:
    spec = load_task("mmmu-val")
    task_type = get_task_type(spec.type)
    needed = task_type.capabilities(spec, task_type.validate(spec), None)
    assert needed == [GENERATE, GENERATE_MULTI_IMAGE]

    class OneImage(ScriptedModel):
        capabilities = frozenset({GENERATE})

    with pytest.raises(CapabilityError) as err:
        for capability in needed:
            OneImage({}).require(capability, spec.name)
    assert "generate multi image" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ MMBench


def test_mmbench_circular_eval_and_prompt(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["mmbench-dev-en"](tmp_path)
    answers = {"0": "A", "1000000": "D", "2000000": "C", "3000000": "The answer is B"}
    answers |= {"1": "yes", "1000001": "A or B"}
    model = ScriptedModel({})
    output = None

    def answer(batch, **kwargs):
        model.requests.extend(batch)
        return [answers[_index_of(r.prompt)] for r in batch]

    model.generate = answer
    output = evaluate("mmbench-dev-en", data, model)
    # question 0: all four shifts right; question 1: its second shift is unparsed (two letters)
    assert output.metrics == {
        "circular_accuracy": 0.5,
        "vanilla_accuracy": 1.0,
        "accuracy": 5 / 6,
        "unparsed": 1.0,
    }
    assert output.breakdown == {
        "attribute_reasoning": {
            "accuracy": 0.5,
            "circular_accuracy": 0.0,
            "vanilla_accuracy": 1.0,
            "n": 1,
        },
        "coarse_perception": {
            "accuracy": 1.0,
            "circular_accuracy": 1.0,
            "vanilla_accuracy": 1.0,
            "n": 1,
        },
    }
    samples = by_id(output)
    assert samples["1000001"]["group"] == "1" and samples["1000001"]["unparsed"] is True
    assert samples["1"]["prompt"] == (
        "A photo from a test set. Is it a photo? There are several options:\nA. yes\nB. no\n\n"
        + INSTRUCTION
    )


def _index_of(prompt: str) -> str:
    """The MMBench row a prompt came from, by its options' order (the builder's rows)."""
    from helpers.mcq_schemas import MMBENCH_ROWS

    for index, _, options, _, _ in MMBENCH_ROWS:
        listed = "\n".join(f"{k}. {v}" for k, v in zip("ABCD", options, strict=True) if v)
        if listed + "\n\n" in prompt:
            return str(index)
    raise AssertionError(prompt)


def test_mmbench_gold_answer_outside_the_options_is_an_error(tmp_path: Path) -> None:
    rows = ((5, "Is it red?", ("yes", "no", None, None), "C", "attribute_reasoning"),)
    data, _ = MCQ_BUILDERS["mmbench-dev-en"](tmp_path, rows)
    output = evaluate("mmbench-dev-en", data, ScriptedModel({"": "A"}))
    assert output.n == 0 and "answer 'C' is not one of the options A, B" in output.failures["5"]


# ------------------------------------------------------------------------------------ the others


def test_mmstar_reads_letters_and_option_texts(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["mmstar"](tmp_path)
    model = ScriptedModel({"Which animal": "A", "How many cups": "B", "in the sky": "no idea"})
    output = evaluate("mmstar", data, model)
    assert output.metrics == {"accuracy": 1 / 3, "unparsed": 1.0}
    assert output.breakdown["coarse perception"] == {"accuracy": 1.0, "n": 1}
    assert by_id(output)["0"]["prompt"] == (
        "Which animal is this?\nOptions: A: a cat, B: a dog, C: a bird, D: a fish\n"
        "Answer with the option's letter from the given choices directly"
    )
    assert by_id(output)["0"]["choices"] == {
        "A": "a cat",
        "B": "a dog",
        "C": "a bird",
        "D": "a fish",
    }
    text = evaluate("mmstar", data, ScriptedModel({"": "It is a rocket"}))
    assert by_id(text)["2"]["parsed"] == "B" and by_id(text)["2"]["scores"]["accuracy"] == 1.0


def test_scienceqa_letter_rule_and_context_prompt(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["scienceqa-img"](tmp_path)
    model = ScriptedModel({"Which animal": "A", "planet": "A. Mars", "hot": "b"})
    output = evaluate("scienceqa-img", data, model)
    assert output.metrics == {"accuracy": 2 / 3, "unparsed": 1.0}
    assert by_id(output)["0"]["prompt"] == (
        "Context: The picture was taken at home.\nWhich animal is shown?\nA. cat\nB. dog\n"
        + INSTRUCTION
    )
    assert by_id(output)["1"]["prompt"].startswith("Which is a planet?\nA. Mars\n")


def test_ai2d_reads_a_leading_letter_then_exact_match(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["ai2d"](tmp_path)
    model = ScriptedModel({"comes first": "A. egg", "arrow": "(c)", "labelled": "It is D"})
    output = evaluate("ai2d", data, model)
    assert output.metrics == {"accuracy": 2 / 3, "unparsed": 1.0}
    assert [s["answers"] for s in output.samples] == [["A"], ["C"], ["D"]]


def test_seedbench_keeps_image_rows_and_reads_the_first_letter(tmp_path: Path) -> None:
    data, n = MCQ_BUILDERS["seedbench-img"](tmp_path, (*SEEDBENCH_ROWS, SEEDBENCH_VIDEO_ROW))
    model = ScriptedModel(
        {"main object": "A", "How many": "B) one", "doing": "The answer is A", "": "C"}
    )
    output = evaluate("seedbench-img", data, model)
    assert n == 3 and output.n == 3 and "v1" not in by_id(output)
    assert output.metrics == {"accuracy": 2 / 3, "unparsed": 1.0}
    assert output.breakdown == {
        "Instance Interaction": {"accuracy": 0.0, "n": 1},
        "Instances Counting": {"accuracy": 1.0, "n": 1},
        "Scene Understanding": {"accuracy": 1.0, "n": 1},
    }


def test_realworldqa_filters_then_exact_match(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["realworldqa"](tmp_path)
    model = ScriptedModel({"in the picture": "a person", "hot": "yes.", "How many": "one"})
    output = evaluate("realworldqa", data, model)
    assert output.metrics == {"accuracy": 1.0, "unparsed": 0.0}
    assert [s["parsed"] for s in output.samples] == ["A", "A", "1"]
    wrong = evaluate("realworldqa", data, ScriptedModel({"": "Blue"}))
    assert wrong.metrics == {"accuracy": 0.0, "unparsed": 2.0}


# ------------------------------------------------------------------------------------ tiny HF model


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers.mcq_models import build_idefics3

    return build_idefics3(tmp_path_factory.mktemp("idefics3"))


@pytest.mark.parametrize("name", sorted(MCQ_BUILDERS))
def test_tiny_idefics3_runs_end_to_end(name: str, idefics3, tmp_path: Path, one_thread) -> None:
    from mmbench.runner import RunRequest, run

    data, rows = MCQ_BUILDERS[name](tmp_path / "data")
    outcome = run(
        RunRequest(
            model=f"hf:{idefics3}",
            task=name,
            data_dir=data,
            output_dir=tmp_path / "out",
            use_cache=False,
            progress=False,
            device="cpu",
            generation={"max_new_tokens": 3},
        )
    )
    result = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert result["task"]["n"] == rows and result["failures"]["count"] == 0
    assert set(load_task(name).metrics) <= set(result["metrics"])
    assert bool(result.get("breakdown")) == bool(load_task(name).options.get("breakdown"))


def test_multiple_choice_metrics_are_declared_in_the_registry() -> None:
    from mmbench.metrics.registry import metric_info

    infos = {m: metric_info(m) for m in get_task_type("multiple_choice").metrics}
    assert all(info.known for info in infos.values())
    assert infos["accuracy"].higher_is_better and infos["accuracy"].binary
    assert not infos["unparsed"].higher_is_better and infos["unparsed"].scale == "score"
    assert not infos["random_fallbacks"].higher_is_better
    assert infos["circular_accuracy"].group == "group"


def test_bad_rows_stop_a_default_run_with_one_line(tmp_path: Path) -> None:
    from mmbench.errors import MMBenchError
    from mmbench.runner import RunRequest, run

    rows = (
        *MMMU_ROWS[:1],
        ("validation_Art_5", "Which? <image 1>", "[]", "A", "multiple-choice", 1),
    )
    data, _ = MCQ_BUILDERS["mmmu-val"](tmp_path / "data", rows)
    request = RunRequest(model="builtin:random", task="mmmu-val", data_dir=data)
    request.output_dir, request.use_cache, request.progress = tmp_path / "out", False, False
    with pytest.raises(MMBenchError) as err:
        run(request)
    assert str(err.value).startswith("row validation_Art_5: options must be a non-empty list")
    request.on_error = "skip"
    outcome = run(request)
    assert outcome.exit_code == 3 and outcome.result.task.n == 1
    assert outcome.failures["validation_Art_5"].startswith("options must be a non-empty list")


def test_lists_of_images_are_read_undecoded(tmp_path: Path) -> None:
    data, _ = MCQ_BUILDERS["seedbench-img"](tmp_path)
    table = open_source(load_task("seedbench-img").source, data_dir=data)
    cell = table.rows[0]["image"]
    assert isinstance(cell, list) and set(cell[0]) == {"bytes", "path"}


def test_idefics3_places_interleaved_images_where_the_markers_stand(idefics3) -> None:
    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    adapter = load_model(f"hf:{idefics3}", ModelOptions(device="cpu"))
    assert GENERATE_MULTI_IMAGE in adapter.capabilities
    pre = adapter.preprocessor(GENERATE)
    text = pre.render(f"a {IMAGE_MARKER} b {IMAGE_MARKER} c", 2, False, interleaved=True)
    assert text == "<|begin_of_text|>User: a <image> b <image> c<end_of_utterance>\nAssistant:"
    first = pre.render(f"{IMAGE_MARKER} b", 1, False, interleaved=True)
    assert first == "<|begin_of_text|>User:<image> b<end_of_utterance>\nAssistant:"
    plain = pre.render("two pictures", 2, False)
    assert plain == "<|begin_of_text|>User:<image><image>two pictures<end_of_utterance>\nAssistant:"


def test_columns_named_in_options_must_exist(tmp_path: Path) -> None:
    from mmbench.errors import MMBenchError

    data, _ = MCQ_BUILDERS["mmbench-dev-en"](tmp_path)
    spec = load_task("mmbench-dev-en")
    options = {**spec.options, "choice_columns": ["A", "B", "C", "E"]}
    spec = type(spec)(**{**spec.__dict__, "options": options})
    with pytest.raises(MMBenchError) as err:
        evaluate("mmbench-dev-en", data, ScriptedModel({"": "A"}), spec)
    assert "no column 'E' (role 'options.choice_columns[3]'" in str(err.value)


def test_bad_templates_are_load_errors() -> None:
    from mmbench.errors import MMBenchError

    spec = load_task("ai2d")
    for key, value in (("option_format", "{letter}) {label}"), ("prompt", "{question} {hint}")):
        bad = type(spec)(**{**spec.__dict__, "options": {**spec.options, key: value}})
        with pytest.raises(MMBenchError):
            get_task_type("multiple_choice").validate(bad)


def test_openai_requests_interleave_image_parts_where_the_markers_stand() -> None:
    from PIL import Image

    from mmbench.data.items import GenerationInput
    from mmbench.models.openai import OpenAIAdapter, chat_messages

    assert GENERATE_MULTI_IMAGE in OpenAIAdapter.capabilities
    images = (Image.new("RGB", (4, 4), "red"), Image.new("RGB", (6, 4), "blue"))
    request = GenerationInput(images, f"{IMAGE_MARKER} or {IMAGE_MARKER}?", interleaved=True)
    content = chat_messages(request, "png", 90)[0]["content"]
    assert [part["type"] for part in content] == ["image_url", "text", "image_url", "text"]
    assert [part.get("text") for part in content] == [None, " or ", None, "?"]
    plain = chat_messages(GenerationInput(images, "which?"), "png", 90)[0]["content"]
    assert [part["type"] for part in plain] == ["image_url", "image_url", "text"]
    assert content[0] == plain[0] and content[2] == plain[1]
