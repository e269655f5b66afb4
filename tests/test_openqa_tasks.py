"""The open-answer benchmarks (task type `openqa`) end to end on local hub-schema copies.

A canned-answer model (tests/helpers/openqa_schemas.py) answers every question of each copy;
the expected metrics below are worked out by hand from each official rule (see the row tables
in the helper module and the cases in tests/metrics/test_openqa_metrics.py). Also: the result's
per-category breakdown, the samples' prompt/group/scores fields, the hub's config-folder layout
under --data-dir, and bad rows (unusable labels, missing images) as counted per-sample errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.openqa_schemas import BUILDERS

from mmbench.data.sources import open_source
from mmbench.errors import MMBenchError
from mmbench.tasks import load_task

CANNED = "py:helpers.openqa_schemas:CannedModel"

EXPECTED = {
    # TP 1, FN 2, TN 1, FP 2; per subset F1: adversarial 2/3, popular 0, random 0
    "pope": {
        "mean_f1": 2 / 9,
        "accuracy": 1 / 3,
        "precision": 1 / 3,
        "recall": 1 / 3,
        "f1": 1 / 3,
        "yes_ratio": 1 / 2,
    },
    # existence: acc 3/4, acc+ 1/2 -> 125; code_reasoning: 100 + 100; one "other" answer
    "mme": {"perception": 125.0, "cognition": 200.0, "total": 325.0, "unparsed": 1.0},
    # 10/10 matches -> 1; 2 of 10 ("twenty three" is not "23") -> 0.6; no match -> 0
    "textvqa-val": {"vqa_accuracy": 1.6 / 3, "exact_match": 2 / 3},
    # "a dog" -> "dog", 3 annotators -> 0.9; "firetruck" is not "fire truck"
    "ok-vqa-val": {"vqa_accuracy": 0.45, "exact_match": 0.5},
    # "Unanswerable" x10 -> 1; "basil" 4 of 10 -> 1; "yes" 2 of 10 -> 0.6
    "vizwiz-vqa-val": {"vqa_accuracy": 2.6 / 3, "exact_match": 1.0},
    # 1 (case and spaces ignored), 1 - 1/4, 0 (3/3 > 0.5)
    "docvqa-val": {"anls": 1.75 / 3},
    # 1 - 1/6 (the raw "abd   " is 6 long), 1
    "infovqa-val": {"anls": (5 / 6 + 1) / 2},
    # human: 104 within 5% of 100, "yes" = "Yes"; augmented: "1,000" is text, 50% = 0.5
    "chartqa-test": {"relaxed_accuracy": 0.75, "relaxed_human": 1.0, "relaxed_augmented": 0.5},
    # contained "hello"; "hel lo" not; HME spaces removed; HME case-sensitive
    "ocrbench": {"score": 2.0, "accuracy": 0.5},
    # " Yes." and "T-Shirt" match after lower-casing and deleting punctuation, "Left" too;
    # "dark red" is not "red", "two" is not "2"
    "gqa-testdev": {"exact_match": 0.6},
}


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    built: dict[str, tuple[Path, int]] = {}

    def get(name: str) -> tuple[Path, int]:
        if name not in built:
            built[name] = BUILDERS[name](tmp_path_factory.mktemp(name))
        return built[name]

    return get


def _run(name: str, data_dir: Path, out: Path, model: str = CANNED, **kwargs):
    from mmbench.runner import RunRequest, run

    request = RunRequest(model=model, task=name, data_dir=data_dir, output_dir=out, **kwargs)
    request.use_cache, request.progress = False, False
    outcome = run(request)
    result = json.loads(outcome.path.read_text(encoding="utf-8"))
    samples_path = outcome.path.with_name(outcome.path.name[: -len(".json")] + ".samples.jsonl")
    samples = [json.loads(line) for line in samples_path.read_text(encoding="utf-8").splitlines()]
    return outcome, result, samples


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_canned_answers_score_as_the_official_rules(name: str, copies, tmp_path: Path) -> None:
    data_dir, rows = copies(name)
    outcome, result, samples = _run(name, data_dir, tmp_path)
    assert outcome.exit_code == 0 and result["task"]["n"] == rows
    assert result["metrics"] == pytest.approx(EXPECTED[name], abs=1e-12)
    assert len(samples) == rows
    assert all("prediction" in s and "scores" in s and "error" not in s for s in samples)


def test_pope_breakdown_per_subset(copies, tmp_path: Path) -> None:
    _, result, samples = _run("pope", *copies("pope")[:1], tmp_path)
    breakdown = result["breakdown"]
    assert sorted(breakdown) == ["adversarial", "popular", "random"]
    assert breakdown["adversarial"] == pytest.approx(
        {"accuracy": 0.5, "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "yes_ratio": 0.5, "n": 2}
    )
    assert breakdown["popular"]["f1"] == 0.0 and breakdown["random"]["n"] == 2
    assert samples[0]["prompt"] == (
        "Is there a dog in the image?\nAnswer the question using a single word or phrase."
    )
    assert samples[0]["id"] == "100" and samples[0]["category"] == "adversarial"
    assert [s["scores"]["accuracy"] for s in samples] == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert [s["parsed"] for s in samples] == ["yes", "no", "no", "yes", "no", "yes"]


def test_mme_subtasks_groups_and_prompt(copies, tmp_path: Path) -> None:
    _, result, samples = _run("mme", copies("mme")[0], tmp_path)
    existence = result["breakdown"]["existence"]
    assert existence == pytest.approx({"acc": 0.75, "acc_plus": 0.5, "score": 125.0, "n": 4})
    assert result["breakdown"]["code_reasoning"]["score"] == pytest.approx(200.0)
    assert samples[0]["group"] == "existence/a.jpg"
    assert samples[0]["prompt"] == (
        "Is there a red car in this image?\nAnswer the question using a single word or phrase."
    )
    assert samples[0]["question"].endswith(" Please answer yes or no.")
    assert [s["parsed"] for s in samples] == ["yes", "no", "other", "no", "yes", "no"]
    assert [s.get("unparsed", False) for s in samples] == [False, False, True, False, False, False]


def test_textvqa_question_is_capitalised_and_answers_normalised(copies, tmp_path) -> None:
    _, _, samples = _run("textvqa-val", copies("textvqa-val")[0], tmp_path)
    assert samples[0]["prompt"].startswith("What brand is the phone?\n")
    assert [s["scores"]["vqa_accuracy"] for s in samples] == pytest.approx([1.0, 0.6, 0.0])


def test_vizwiz_breakdown_per_answer_category(copies, tmp_path: Path) -> None:
    _, result, _ = _run("vizwiz-vqa-val", copies("vizwiz-vqa-val")[0], tmp_path)
    breakdown = result["breakdown"]
    assert breakdown["unanswerable"] == pytest.approx(
        {"vqa_accuracy": 1.0, "exact_match": 1.0, "n": 1}
    )
    assert breakdown["yes/no"]["vqa_accuracy"] == pytest.approx(0.6)


def test_chartqa_and_ocrbench_breakdowns(copies, tmp_path: Path) -> None:
    _, chart, _ = _run("chartqa-test", copies("chartqa-test")[0], tmp_path / "c")
    assert chart["breakdown"]["augmented_test"] == {"relaxed_accuracy": 0.5, "n": 2}
    _, ocr, _ = _run("ocrbench", copies("ocrbench")[0], tmp_path / "o")
    regular = ocr["breakdown"]["Regular Text Recognition"]
    assert (regular["score"], regular["n"]) == (1.0, 2)


def test_chartqa_subset_without_a_part_reports_the_missing_metric(copies, tmp_path) -> None:
    outcome, result, _ = _run("chartqa-test", copies("chartqa-test")[0], tmp_path, limit=2)
    assert result["metrics"] == {"relaxed_accuracy": 1.0, "relaxed_human": 1.0}
    assert "relaxed_augmented" in result["failures"]["metric_errors"]
    assert outcome.exit_code == 3


def test_config_folders_of_one_download(copies) -> None:
    """--data-dir on a hub download with configs reads <config>/<split>-*.parquet."""
    root, _ = copies("docvqa-val")
    assert (root / "DocVQA").is_dir() and (root / "InfographicVQA").is_dir()
    docvqa = open_source(load_task("docvqa-val").source, data_dir=root)
    infovqa = open_source(load_task("infovqa-val").source, data_dir=root)
    assert len(docvqa) == 3 and len(infovqa) == 2
    assert "question_types" in docvqa.columns and "answer_type" in infovqa.columns
    # the config folder itself works too
    assert len(open_source(load_task("docvqa-val").source, data_dir=root / "DocVQA")) == 3


def test_bad_labels_and_missing_images_are_counted_per_sample(tmp_path: Path) -> None:
    import datasets
    from helpers.openqa_schemas import pope

    root, _ = pope(tmp_path / "pope")
    path = root / "data" / "test-00000-of-00001.parquet"
    table = datasets.load_dataset("parquet", data_files=str(path), split="train").to_dict()
    table["answer"][1] = "maybe"  # not a POPE label
    table["image"][2] = {"bytes": b"not an image", "path": "broken.png"}
    features = datasets.Dataset.from_parquet(str(path)).features
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(path))
    with pytest.raises(MMBenchError, match=r"row 101: label 'maybe' is not one of yes, no"):
        _run("pope", root, tmp_path / "fail")
    outcome, result, samples = _run("pope", root, tmp_path / "skip", on_error="skip")
    assert outcome.exit_code == 3
    assert result["task"]["n"] == 4 and result["failures"]["count"] == 2
    assert "error" in samples[1] and "error" in samples[2] and "scores" not in samples[1]
    # the four kept rows (0, 3, 4, 5): TP, FP, FN, FP
    metrics = result["metrics"]
    assert (metrics["accuracy"], metrics["recall"]) == pytest.approx((1 / 4, 1 / 2))
    assert metrics["precision"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scorer": "popee"}, "unknown scorer 'popee'"),
        ({"scorer": "anls"}, "metric 'mean_f1' is not reported by scorer 'anls'"),
        ({"scorer": "pope", "prompt": "Answer:"}, "must contain {question}"),
        ({"scorer": "pope", "normalize_references": True}, "applies to scorer 'vqa' only"),
    ],
)
def test_spec_errors_are_one_line(tmp_path: Path, options: dict, message: str) -> None:
    import yaml

    spec = {
        "name": "bad",
        "type": "openqa",
        "version": 1,
        "source": {"local": "x.jsonl"},
        "columns": {"image": "image", "question": "q", "answers": "a", "category": "c"},
        "metrics": ["mean_f1"],
        "options": options,
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(MMBenchError, match=message) as err:
        load_task(str(path))
    assert "\n" not in str(err.value)


def test_scorer_roles_must_be_mapped(tmp_path: Path) -> None:
    path = tmp_path / "mme2.yaml"
    path.write_text(
        "name: mme2\ntype: openqa\nversion: 1\nsource: {local: x.jsonl}\n"
        "columns: {image: i, question: q, answers: a, category: c}\nmetrics: [perception]\n"
        "options: {scorer: mme}\n",
        encoding="utf-8",
    )
    with pytest.raises(MMBenchError, match=r"must map role.*group"):
        load_task(str(path))


def test_gqa_images_come_from_the_images_config(copies, tmp_path: Path) -> None:
    root, _ = copies("gqa-testdev")
    table = open_source(load_task("gqa-testdev").source, data_dir=root)
    assert len(table) == 5 and "image" in table.columns and "imageId" in table.columns
    first = table.rows[0]
    assert first["imageId"] == "n161313" and first["image"]["bytes"][:4] == b"\x89PNG"
    assert [r["id"] for r in table.head(2).rows] == ["20150000", "20150001"]


def test_gqa_question_without_its_image_is_a_per_sample_error(tmp_path: Path) -> None:
    from helpers.openqa_schemas import GQA_ROWS, gqa

    rows = (*GQA_ROWS[:2], ("what is on the table?", "cup", "n000404", "cup"))
    root, _ = gqa(tmp_path / "gqa", rows)
    outcome, result, samples = _run("gqa-testdev", root, tmp_path / "out", on_error="skip")
    assert outcome.exit_code == 3 and result["failures"]["count"] == 1
    assert result["task"]["n"] == 2 and "error" in samples[2]
    assert result["metrics"]["exact_match"] == 1.0


@pytest.mark.parametrize(
    ("join", "message"),
    [
        ("{split: testdev, by: imageId, key: id}", "source.join needs columns"),
        ("{split: testdev, by: imageId, key: id, columns: [image], on: x}", "unknown source.join"),
        ("{split: testdev, by: imageId, key: id, columns: image}", "non-empty list of column"),
    ],
)
def test_join_spec_errors_are_one_line(tmp_path: Path, join: str, message: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        f"name: g\ntype: openqa\nversion: 1\nsource: {{local: x, split: t, join: {join}}}\n"
        "columns: {image: image, question: q, answers: a}\nmetrics: [exact_match]\n"
        "options: {scorer: gqa}\n",
        encoding="utf-8",
    )
    with pytest.raises(MMBenchError, match=message) as err:
        load_task(str(path))
    assert "\n" not in str(err.value)


def test_mmbench_score_replays_predictions_to_the_same_numbers(copies, tmp_path: Path) -> None:
    """`mmbench score` on a file of predictions gives what a run with those answers gives."""
    from helpers.openqa_schemas import MME_ROWS

    from mmbench.scoring import ScoreRequest, score

    predictions = tmp_path / "mme.jsonl"
    lines = [json.dumps({"id": str(i), "prediction": r[4]}) for i, r in enumerate(MME_ROWS)]
    predictions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    request = ScoreRequest(
        task="mme", predictions=predictions, data_dir=copies("mme")[0], output_dir=tmp_path
    )
    outcome = score(request)
    assert outcome.exit_code == 0
    assert outcome.result.metrics == pytest.approx(EXPECTED["mme"])
    assert outcome.result.breakdown["existence"]["acc_plus"] == 0.5
