"""Shared pieces of the `hf:` generator-family tests: tiny decoder configs, a fixture that builds
each family's checkpoint once, and the model-card references mmbench's answers are compared with.

Weights are drawn with a wide `initializer_range` (WIDE_INIT) so that a tiny random model's answer
depends on the image, not only on the last prompt token; `assert_image_matters` checks that it
does, so a pipeline that dropped the pixels could not pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers.hf_models import chat_reference as chat_reference_for
from helpers.hf_models import reference, run, tiny_text
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.base import GENERATE, GenerationInput, ModelOptions

MAX_NEW = 6
OPTIONS = ModelOptions(device="cpu", generation={"max_new_tokens": MAX_NEW})
WIDE_INIT = 0.5  # see the module docstring
PROMPTS = ["what is this", "", "describe this image"]

# the chat template Idefics3-8B-Llama3 ships with
IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def has_torchvision() -> bool:
    """Whether torchvision imports (a wheel built for another torch fails to)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or a build that does not match torch
        return False
    return True


needs_torchvision = pytest.mark.skipif(
    not has_torchvision(),
    reason="transformers 5 builds Qwen2-VL's processor only with a video processor, which needs"
    " torchvision",
)


def tiny_llm(tokenizer, model_type: str, **extra) -> dict[str, Any]:
    """A two-layer decoder config of width 32 over `tokenizer`'s vocabulary, WIDE_INIT weights."""
    return tiny_text(
        len(tokenizer),
        512,
        model_type=model_type,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=WIDE_INIT,
        **extra,
    )


def family_fixture(builders: dict[str, Any]) -> Any:
    """A module fixture: name -> (adapter, reference model, reference processor), each built from
    `builders[name]` on first use."""

    @pytest.fixture(scope="module")
    def family(tmp_path_factory):
        built: dict[str, tuple[Any, Any, Any]] = {}

        def get(name: str) -> tuple[Any, Any, Any]:
            if name not in built:
                path = builders[name](tmp_path_factory.mktemp(name))
                built[name] = (load_model(f"hf:{path}", OPTIONS), *reference(path, "generator"))
            return built[name]

        return get

    return family


def generate_new(model, processor, inputs, echoes_prompt: bool = True) -> list[str]:
    """Greedy decoding of `inputs`; the text of the new tokens, as a model card decodes it.

    Decoder-only models return the prompt followed by the answer; encoder-decoders the answer.
    """
    import torch

    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False)
    start = inputs["input_ids"].shape[1] if echoes_prompt and "input_ids" in inputs else 0
    return [t.strip() for t in processor.batch_decode(out[:, start:], skip_special_tokens=True)]


def chat(images, prompt: str, video: bool = False) -> list[dict]:
    """One user turn, as the model cards write it."""
    content = [{"type": "video"}] if video else [{"type": "image", "image": im} for im in images]
    if prompt:
        content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


def chat_reference(model, processor, conversations) -> list[str]:
    """The model-card recipe for chat models (`helpers.hf_models.chat_reference`), MAX_NEW
    tokens."""
    return chat_reference_for(model, processor, conversations, MAX_NEW)


def batch_features(adapter, requests) -> dict[str, Any]:
    """The features of `requests` collated into one batch, as the model receives them."""
    pre = adapter.preprocessor(GENERATE)
    ((_, features),) = pre.collate([pre(r) for r in requests]).parts
    return features


def assert_needs_torchvision(path, processor_class: str) -> None:
    """Loading the checkpoint at `path` is a one-line error naming torchvision."""
    with pytest.raises(MMBenchError) as err:
        load_model(f"hf:{path}", OPTIONS)
    message = str(err.value)
    assert "\n" not in message
    assert f"{processor_class} requires the Torchvision library" in message
    assert "torchvision, the build that matches your torch" in message


def image_requests(photos) -> list[GenerationInput]:
    """Three photos, each with its own prompt: short, empty (captioning) and longer."""
    return [GenerationInput((im,), p) for im, p in zip(photos[:3], PROMPTS, strict=True)]


def together_and_alone(adapter, requests) -> tuple[list[str], list[str]]:
    """The answers to `requests` generated in one batch, and each generated alone."""
    return run(adapter, GENERATE, requests), [run(adapter, GENERATE, [r])[0] for r in requests]


def assert_describes(adapter, cls: str, prompt_format: str, padding: str) -> dict[str, Any]:
    """The adapter's description names the model class, prompt format and padding side; returns
    the description."""
    info = adapter.describe()
    assert info["class"] == cls
    assert (info["prompt_format"], info["padding"]) == (prompt_format, padding)
    return info


def assert_image_matters(adapter, photos) -> None:
    """The same prompt over different photos gets different answers: pixels reach the model."""
    answers = run(adapter, GENERATE, [GenerationInput((im,), "what is this") for im in photos])
    assert len(set(answers)) > 1, answers


def assert_chat_answers(adapter, model, processor, requests, photos) -> None:
    """mmbench answers `requests` as the model card's chat template and `generate` do
    (`chat_reference`), not every answer is empty, and the answers depend on the image."""
    got = run(adapter, GENERATE, requests)
    assert got == chat_reference(model, processor, [chat(r.images, r.prompt) for r in requests])
    assert any(got)
    assert_image_matters(adapter, photos)
