"""Video-MME and MVBench end to end on local copies in their hub schema, and their answer rules.

The rule cases are transcribed from the reference code's behaviour: Video-MME's
`extract_characters_regex` (BradyFU/Video-MME evaluation/eval_your_results.py) and lmms-eval's
MVBench `mcq_acc` (tasks/mvbench/utils.py). A scripted model gives canned answers; the expected
accuracies below are worked out by hand from those rules, row by row (see the builders in
tests/helpers/video_schemas.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import scripted
from helpers.scripted import evaluate
from helpers.video_schemas import (
    CLIP_FRAMES,
    MVBENCH_CANNED,
    MVBENCH_FOLDERS,
    VIDEOMME_CANNED,
    mvbench,
    videomme,
)

from mmbench.data.sources import Table, open_source
from mmbench.errors import MMBenchError
from mmbench.metrics.video_mcq import mvbench_correct, mvbench_letter, mvbench_read, videomme_letter
from mmbench.tasks import get_task_type, load_task
from mmbench.tasks.spec import parse_spec

INSTRUCTION = "Answer with the option's letter from the given choices directly."


# ------------------------------------------------------------------------------ answer rules
@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("C", "C"),
        ("The best answer is C.", "C"),
        ("The correct answer is (B) two", "B"),
        ("The answer is D", "D"),
        ("  The answer: A  ", "A"),  # "The answer" removed, then the first capital A-D
        ("Answer: B", "A"),  # the "A" of "Answer" comes first
        ("Because the car is red, C", "B"),  # so does the "B" of "Because"
        ("the best option is B", "B"),  # prefixes are matched case-sensitively
        ("Best answer: D", "B"),  # not removed (the list lacks a comma): the "B" of "Best"
        ("d", ""),  # lower case is never read
        ("I am not sure", ""),
        ("", ""),
        ("one two three four five six seven eight nine ten eleven", ""),
        ("E", ""),
    ],
)
def test_videomme_letter_follows_extract_characters_regex(response: str, letter: str) -> None:
    assert videomme_letter(response) == letter


@pytest.mark.parametrize(
    ("prediction", "read"),
    [
        ("B", "B"),
        ("b", "B"),
        ("A. 1", "A"),  # "X." at the start of the whole answer
        ("c. the hat", "C"),
        ("(B) Sat on the bed.", "B"),
        ("Best option: (B) no", "B"),  # "best" is no lone letter
        ("A man walks from the beach.", "A"),  # the article "a" is a lone letter
        ("The answer is (C)", "C"),
        ("E", "E"),
        ("F", "f"),  # outside A-E: the cleaned text itself
        ("3", "3"),
        ("", ""),
        ("A.\nfoo", "A"),  # the space after "X." may be a newline
        ("A. foo\nbar", "A"),  # not on one line: cleaned to "a foo bar", the lone "a" read
        ("Yes, 1,000 boxes.", "yes 1000 boxes"),  # a comma between digits: marks deleted
        ("x-ray! (d)", "D"),
    ],
)
def test_mvbench_read_follows_mcq_acc(prediction: str, read: str) -> None:
    assert mvbench_read(prediction) == read


def test_mvbench_correct_and_unparsed() -> None:
    assert mvbench_correct("(B) Sat on the bed.", "B")
    assert not mvbench_correct("A man walks from the beach into a forest.", "B")
    assert not mvbench_correct("3", "B") and mvbench_letter("3") is None
    assert mvbench_letter("") is None and not mvbench_correct("", "C")
    assert mvbench_letter("Best option: (B) no") == "B"


# ------------------------------------------------------------------------------ scripted model
@dataclass(frozen=True)
class Request:
    prompt: str
    frames: int
    is_video: bool


class ScriptedModel(scripted.ScriptedModel):
    def describe(self, request) -> Request:
        return Request(request.prompt, len(request.images), request.is_video)


def by_question(output) -> dict[str, dict]:
    return {s["question"]: s for s in output.samples if "question" in s}


def centres(total: int, count: int) -> list[int]:
    """Segment centres as the YAMLs state them: int((i + 0.5) * total / count)."""
    return [int((i + 0.5) * total / count) for i in range(count)]


# ------------------------------------------------------------------------------ Video-MME
def test_videomme_scores_canned_answers_as_the_official_rule(tmp_path: Path) -> None:
    model = ScriptedModel(VIDEOMME_CANNED)
    output = evaluate("video-mme", videomme(tmp_path), model)
    # scored: 001-1 C right, 001-2 reads "A" (Answer) wrong, 002-1 A right,
    # 002-2 nothing read (unparsed) wrong, 003-1 B right; 003-2 corrupt, 004-1 missing
    assert output.n == 5
    assert output.metrics == {"accuracy": 3 / 5, "unparsed": 1.0}
    assert set(output.failures) == {"003-2", "004-1"}
    assert "corrupt or unreadable" in output.failures["003-2"]
    assert "does not exist" in output.failures["004-1"]
    assert output.breakdown == {
        "duration: long": {"accuracy": 1.0, "n": 1},
        "duration: medium": {"accuracy": 0.5, "n": 2},
        "duration: short": {"accuracy": 0.5, "n": 2},
        "task_type: Action Reasoning": {"accuracy": 0.5, "n": 2},
        "task_type: Counting Problem": {"accuracy": 1.0, "n": 2},
        "task_type: OCR Problems": {"accuracy": 0.0, "n": 1},
    }
    samples = {s["id"]: s for s in output.samples}
    assert samples["001-2"]["parsed"] == "A" and "unparsed" not in samples["001-2"]
    assert samples["002-2"]["unparsed"] is True and samples["002-2"]["parsed"] is None
    # the .MP4 fallback was found; every sample records the 32 segment centres it received
    assert samples["003-1"]["frame_indices"] == centres(CLIP_FRAMES, 32)
    assert samples["001-1"]["prompt"] == (
        "Select the best answer to the following multiple-choice question based on the video and"
        " the subtitles. Respond with only the letter (A, B, C, or D) of the correct option.\n"
        "How many birds fly past?\nA. One.\nB. Two.\nC. Three.\nD. Four.\n\n" + INSTRUCTION
    )
    assert all(r.is_video and r.frames == 32 for r in model.requests)


# ------------------------------------------------------------------------------ MVBench
def test_mvbench_scores_canned_answers_as_lmms_eval(tmp_path: Path) -> None:
    model = ScriptedModel(MVBENCH_CANNED)
    output = evaluate("mvbench", mvbench(tmp_path), model)
    # scored: "(B) Sat on the bed." right; "3" nothing read (unparsed) wrong; "" unparsed wrong;
    # "A. 1" right; "A man walks ..." reads the article "a" (A, not B) wrong; "Best option:
    # (B) no" right. gone.avi missing, bad.mp4 corrupt, "straight on" is no option's text.
    assert output.n == 6
    assert output.metrics == {"accuracy": 3 / 6, "unparsed": 2.0}
    # one scored question per config
    right = ("action_count", "action_sequence", "object_existence")
    wrong = ("action_antonym", "moving_count", "scene_transition")
    assert output.breakdown == {c: {"accuracy": float(c in right), "n": 1} for c in right + wrong}
    assert len(output.failures) == 3
    messages = sorted(output.failures.values())
    assert any("not the text of any option" in m for m in messages)
    assert any("does not exist" in m and "gone.avi" in m for m in messages)
    assert any("corrupt or unreadable" in m for m in messages)
    samples = by_question(output)
    first = samples["What did the person do first?"]
    assert first["prompt"] == (
        "Question:What did the person do first?\nOption:\n(A) Opened the door.\n"
        "(B) Sat on the bed.\n(C) Took a cup.\n" + INSTRUCTION
    )
    assert first["answers"] == ["B"] and first["category"] == {"config": "action_sequence"}
    assert first["frame_indices"] == centres(CLIP_FRAMES, 16)
    assert samples["How does the scene change?"]["parsed"] == "A"
    assert all(r.frames == 16 for r in model.requests)


def test_mvbench_reads_the_configs_in_order_with_their_folders(tmp_path: Path) -> None:
    spec = load_task("mvbench")
    assert list(spec.source.configs) == list(MVBENCH_FOLDERS)
    assert spec.source.media_path.folders == MVBENCH_FOLDERS
    table = open_source(spec.source, data_dir=mvbench(tmp_path))
    rows = list(table.rows)
    assert [r["config"] for r in rows][:3] == ["action_sequence", "moving_count", "action_antonym"]
    assert rows[1]["video_path"] == "clevrer/video_validation/video_1.mp4"
    assert table.base_dir == tmp_path
    assert table.head(2).rows[1]["video_path"] == rows[1]["video_path"]


# ------------------------------------------------------------------------------ runs
@pytest.mark.parametrize(("task", "build"), [("video-mme", videomme), ("mvbench", mvbench)])
def test_builtin_random_runs_end_to_end(tmp_path: Path, task: str, build) -> None:
    from mmbench.runner import RunRequest, run

    request = RunRequest(model="builtin:random", task=task, data_dir=build(tmp_path / "data"))
    request.output_dir, request.use_cache, request.progress = tmp_path / "out", False, False
    request.on_error = "skip"
    outcome = run(request)
    assert outcome.exit_code == 3  # the broken rows are skipped and counted
    result = outcome.result
    assert result.task.n == (5 if task == "video-mme" else 6)
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and "unparsed" in result.metrics
    lines = (tmp_path / "out").glob("*.samples.jsonl")
    samples = [json.loads(x) for f in lines for x in f.read_text().splitlines()]
    assert sum("error" in s for s in samples) == (2 if task == "video-mme" else 3)
    assert all(s["frame_indices"] for s in samples if "error" not in s)


def test_hub_rows_without_the_videos_are_refused(tmp_path: Path) -> None:
    from mmbench.data.media_paths import require_local_media

    spec = load_task("video-mme")
    hub_table = Table([], "hub:lmms-lab/Video-MME@x:test", None, (), "hub")
    with pytest.raises(MMBenchError, match="pass --data-dir DIR"):
        require_local_media(spec.source, hub_table, spec.name)


def test_frame_options_need_a_video(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "t",
            "type": "multiple_choice",
            "version": 1,
            "source": {"local": "x.jsonl"},
            "columns": {"image": "image", "question": "q", "answer": "a"},
            "metrics": ["accuracy"],
            "options": {"num_frames": 8},
        },
        tmp_path / "t.yaml",
    )
    with pytest.raises(MMBenchError, match="num_frames samples video frames"):
        get_task_type("multiple_choice").validate(spec)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    data = mvbench(tmp_path)
    (data / "json" / "state_change.json").unlink()
    with pytest.raises(MMBenchError, match=r"looked for json/state_change\.json"):
        open_source(load_task("mvbench").source, data_dir=data)


def test_report_thumbnails_skip_a_missing_video(tmp_path: Path) -> None:
    from mmbench.report.media import task_media

    data = mvbench(tmp_path / "data")
    ids = {str(i) for i in range(9)}
    media = task_media("mvbench", "", data, tmp_path / "site", ids)
    assert "does not exist" in media.errors["6"] and "corrupt" in media.errors["7"]
    assert set(media.thumbs) == ids - {"6", "7"}


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers.mcq_models import build_idefics3

    return build_idefics3(tmp_path_factory.mktemp("idefics3"))


@pytest.mark.parametrize(("task", "build"), [("video-mme", videomme), ("mvbench", mvbench)])
def test_tiny_hf_generator_gets_the_frames(
    task: str, build, idefics3, tmp_path: Path, one_thread
) -> None:
    """A tiny random Idefics3 (frames as images) through the real hf: path."""
    from mmbench.runner import RunRequest, run

    request = RunRequest(
        model=f"hf:{idefics3}",
        task=task,
        data_dir=build(tmp_path / "data"),
        output_dir=tmp_path / "out",
        use_cache=False,
        progress=False,
        device="cpu",
        generation={"max_new_tokens": 3},
    )
    request.on_error = "skip"
    outcome = run(request)
    result = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert result["task"]["n"] == (5 if task == "video-mme" else 6)
    assert result["failures"]["count"] == (2 if task == "video-mme" else 3)
    assert {"accuracy", "unparsed"} <= set(result["metrics"]) and result["breakdown"]
