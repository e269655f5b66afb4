"""`mmbench score`: predictions made elsewhere give exactly the metrics of the run that made
them; bad prediction files, missing or unknown ids and embedding tasks are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.mcq_schemas import mmbench as mmbench_copy
from helpers.openqa_schemas import pope as pope_copy

from mmbench.cli import main
from mmbench.errors import MMBenchError
from mmbench.runner import RunRequest, run
from mmbench.scoring import ScoreRequest, read_predictions, score


def run_and_export(tmp_path: Path, task: str, data_dir: Path | None = None, field="prediction"):
    """Run builtin:random on `task`; write its predictions as a `score` input file."""
    outcome = run(
        RunRequest(
            model="builtin:random",
            task=task,
            output_dir=tmp_path / "run",
            data_dir=data_dir,
            use_cache=False,
            progress=False,
            on_error="skip",
        )
    )
    samples = [json.loads(line) for line in outcome.path.with_suffix(".samples.jsonl").open()]
    predictions = tmp_path / "predictions.jsonl"
    with predictions.open("w") as handle:
        for sample in samples:
            value = sample["top5"][0] if field == "label" else sample["prediction"]
            handle.write(json.dumps({"id": sample["id"], field: value}) + "\n")
    return outcome.result, samples, predictions


@pytest.mark.parametrize(
    ("task", "builder"),
    [("mini-captioning", None), ("mmbench-dev-en", mmbench_copy), ("pope", pope_copy)],
)
def test_scored_predictions_equal_the_run_that_made_them(tmp_path, task, builder):
    data_dir = builder(tmp_path / "data")[0] if builder else None
    made, samples, predictions = run_and_export(tmp_path, task, data_dir)
    scored = score(
        ScoreRequest(task, predictions, output_dir=tmp_path / "scored", data_dir=data_dir)
    )
    assert scored.result.metrics == made.metrics
    assert scored.result.breakdown == made.breakdown
    assert scored.result.task.n == made.task.n
    assert scored.result.task.spec_hash == made.task.spec_hash
    assert scored.result.model.uri == "predictions"
    rescored = [json.loads(line) for line in scored.path.with_suffix(".samples.jsonl").open()]
    assert [s.get("scores") for s in rescored] == [s.get("scores") for s in samples]


def test_classification_labels_give_the_runs_top1(tmp_path):
    made, _, predictions = run_and_export(tmp_path, "mini-classification", field="label")
    scored = score(ScoreRequest("mini-classification", predictions, model_name="labels"))
    assert scored.result.metrics["top1"] == made.metrics["top1"]
    assert scored.result.model.uri == "labels"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (['{"id": "a", "prediction": "x"}', "not json"], "line|:2 is not valid JSON"),
        (['{"prediction": "x"}'], 'no "id"'),
        (['{"id": "a", "prediction": 3}'], "must be a string"),
        (['{"id": "a", "prediction": "x"}', '{"id": "a", "prediction": "y"}'], "repeats id"),
        ([], "holds no prediction"),
    ],
)
def test_malformed_prediction_files_are_one_line_errors(tmp_path, lines, match):
    with pytest.raises(MMBenchError, match=match) as err:
        read_predictions(write_lines(tmp_path / "p.jsonl", lines))
    assert "\n" not in str(err.value)


def test_missing_unknown_ids_and_embedding_tasks_exit_2(tmp_path, capsys):
    predictions = run_and_export(tmp_path, "mini-captioning")[2]
    lines = predictions.read_text().splitlines()
    short = write_lines(tmp_path / "short.jsonl", lines[1:])
    extra = write_lines(tmp_path / "extra.jsonl", [*lines, '{"id": "nope", "prediction": "x"}'])
    args = ["score", "--task", "mini-captioning", "--output-dir", str(tmp_path / "out")]
    for path, message in (
        (short, "no entry for 1 sample id"),
        (extra, "'nope'"),
        (tmp_path / "absent.jsonl", "does not exist"),
    ):
        code = main([*args, "--predictions", str(path)])
        assert code == 2
        assert message in capsys.readouterr().err
    code = main(["score", "--task", "mini-retrieval", "--predictions", str(predictions)])
    assert code == 2
    assert "scores embeddings" in capsys.readouterr().err
