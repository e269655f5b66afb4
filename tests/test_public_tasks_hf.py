"""Every public task end to end on its local hub-schema copy with a tiny `hf:` model.

The local copies come from `test_public_tasks.BUILDERS` (real hub column names and feature types)
and the models from `test_hf_adapters`' builders (tiny random transformers checkpoints written with
`save_pretrained`), so each run goes through the real `hf:` loading path: the tiny CLIP for
retrieval (image and video) and zero-shot classification, the tiny BLIP for captioning and QA
(image and video; BLIP answers a video question from its middle frame).

imagenet1k-zeroshot embeds 1000 classes x 80 templates = 80,000 prompts whatever the row count,
so it runs with a CLIP whose text tower is minimal (one layer, width 8, 16 positions).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from mmbench.models import load_model
from mmbench.models.base import ModelOptions
from mmbench.tasks import load_task

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_hf_adapters import build_blip, build_clip, tiny_vision  # noqa: E402
from test_public_tasks import BUILDERS, PUBLIC_TASKS  # noqa: E402

#: which tiny model runs each task type
MODEL_FOR_TYPE = {
    "retrieval": "clip",
    "classification": "clip",
    "captioning": "blip",
    "qa": "blip",
    "openqa": "blip",
}
#: tasks whose prompt count calls for a smaller text tower than the shared tiny CLIP's
MODEL_FOR_TASK = {"imagenet1k-zeroshot": "clip-small-text"}


def build_small_text_clip(path: Path) -> Path:
    """`build_clip` with a minimal text tower: 80k prompts in seconds, not half a minute.

    16 positions truncate the longer ImageNet prompts (char-level tokens), which is fine here.
    """
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set(ByteLevel.alphabet())):
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    text = dict(vocab_size=len(vocab), hidden_size=8, intermediate_size=16)
    text.update(num_hidden_layers=1, num_attention_heads=1, max_position_embeddings=16)
    text.update(bos_token_id=0, eos_token_id=1, pad_token_id=1)
    config = CLIPConfig(text_config=text, vision_config=tiny_vision(), projection_dim=16)
    torch.manual_seed(4)
    CLIPModel(config).eval().save_pretrained(path)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-models")
    return {
        "clip": build_clip(root / "clip"),
        "clip-small-text": build_small_text_clip(root / "clip-small-text"),
        "blip": build_blip(root / "blip"),
    }


@pytest.fixture(scope="module")
def local_copy(tmp_path_factory):
    """Each task's local copy, built on first use: name -> (data_dir, rows)."""
    built: dict[str, tuple[Path, int]] = {}

    def get(name: str) -> tuple[Path, int]:
        if name not in built:
            built[name] = BUILDERS[name](tmp_path_factory.mktemp(name))
        return built[name]

    return get


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
        generation={"max_new_tokens": 4},
    )
    outcome = run(request)
    assert outcome.path is not None and outcome.path.is_file()
    result = json.loads(outcome.path.read_text(encoding="utf-8"))
    assert result["task"]["name"] == name and result["task"]["n"] == rows
    assert result["failures"]["count"] == 0, result["failures"]
    missing = [m for m in spec.metrics if m not in result["metrics"]]
    if missing == ["METEOR"] and shutil.which("java") is None:
        missing = []  # METEOR needs Java; the run reports it under failures.metric_errors
    assert not missing, f"{name}: metrics missing from the result: {missing}"
    for metric, value in result["metrics"].items():
        assert isinstance(value, (int, float)) and math.isfinite(value), (name, metric, value)
    adapter = load_model(uri, ModelOptions(device="cpu", generation=dict(request.generation)))
    assert result["model"]["uri"] == uri
    assert result["model"]["fingerprint"] == adapter.fingerprint()
    if spec.type in ("captioning", "qa"):
        assert result["model"]["generation"]["max_new_tokens"] == 4
