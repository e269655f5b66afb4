"""Every public task end to end on its local hub-schema copy with a tiny `hf:` model.

The local copies come from `helpers.hub_copies.BUILDERS` (real hub column names and feature types)
and the models from `helpers.hf_models`' builders (tiny random transformers checkpoints written with
`save_pretrained`), so each run goes through the real `hf:` loading path: the tiny CLIP for
retrieval (image and video) and zero-shot classification, the tiny BLIP for captioning and QA (image
and video; BLIP answers a video question from its middle frame).

imagenet1k-zeroshot embeds 1000 classes x 80 templates = 80,000 prompts whatever the row count,
so it runs with a CLIP whose text tower is minimal (one layer, width 8, 16 positions).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmbench.models import load_model
from mmbench.models.base import ModelOptions
from mmbench.tasks import load_task

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers.hf_models import build_all, build_blip, build_clip  # noqa: E402
from helpers.hub_copies import BUILDERS, PUBLIC_TASKS  # noqa: E402
from helpers.mcq_models import build_idefics3  # noqa: E402
from helpers.runs import assert_all_metrics  # noqa: E402

#: which tiny model runs each task type
MODEL_FOR_TYPE = {
    "retrieval": "clip",
    "classification": "clip",
    "captioning": "blip",
    "qa": "blip",
    "openqa": "blip",
    "multiple_choice": "blip",
}
#: tasks whose prompt count calls for a smaller text tower than the shared tiny CLIP's, and
#: MMMU, whose questions hold several images in place (BLIP takes one)
MODEL_FOR_TASK = {
    "imagenet1k-zeroshot": "clip-small-text",
    "mmmu-val": "idefics3",
    "video-mme": "idefics3",  # its prompts outgrow the tiny BLIP's 64 text positions
}
#: task types whose models generate text (the others refuse generation settings)
GENERATING = {"captioning", "qa", "openqa", "multiple_choice"}


def build_small_text_clip(path: Path) -> Path:
    """`build_clip` with a minimal text tower: 80k prompts in seconds, not half a minute.

    16 positions truncate the longer ImageNet prompts (char-level tokens), which is fine here.
    """
    text = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=1)
    return build_clip(path, seed=4, max_position_embeddings=16, **text)


pytestmark = pytest.mark.usefixtures("one_thread")


MODELS = {
    "clip": build_clip,
    "clip-small-text": build_small_text_clip,
    "blip": build_blip,
    "idefics3": build_idefics3,
}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("hf-models"), MODELS)


def test_every_public_task_type_has_a_tiny_model() -> None:
    assert set(BUILDERS) == set(PUBLIC_TASKS)
    assert {load_task(name).type for name in PUBLIC_TASKS} <= set(MODEL_FOR_TYPE)


@pytest.mark.parametrize("name", PUBLIC_TASKS)
def test_runs_end_to_end_with_tiny_hf_model(
    name: str, local_copy, model_dirs, tmp_path: Path
) -> None:
    from mmbench.runner import RunRequest, run

    spec = load_task(name)
    data_dir, rows = local_copy(name)
    model = MODEL_FOR_TASK.get(name, MODEL_FOR_TYPE[spec.type])
    uri = f"hf:{model_dirs[model]}"
    request = RunRequest(
        model=uri,
        task=name,
        data_dir=data_dir,
        output_dir=tmp_path / "out",
        device="cpu",
        use_cache=False,
        progress=False,
        # Tiny random generators babble until max_new_tokens: keep decoding short.
        generation={"max_new_tokens": 4} if spec.type in GENERATING else {},
    )
    outcome = run(request)
    assert outcome.path is not None and outcome.path.is_file()
    result = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert result["task"]["name"] == name and result["task"]["n"] == rows
    assert result["failures"]["count"] == 0, result["failures"]
    assert_all_metrics(result, spec)
    adapter = load_model(uri, ModelOptions(device="cpu", generation=dict(request.generation)))
    assert result["model"]["uri"] == uri
    assert result["model"]["fingerprint"] == adapter.fingerprint()
    if spec.type in ("captioning", "qa"):
        assert result["model"]["generation"]["max_new_tokens"] == 4
