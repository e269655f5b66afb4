"""A prompt longer than an absolute-position decoder's table is a one-line error, not a crash."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from helpers.hf_models import build_blip
from helpers.media import photo

from mmbench.data.items import GenerationInput
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.base import GENERATE, ModelOptions


def test_too_long_prompt_names_the_limit_and_the_fixes(tmp_path, one_thread) -> None:
    model = load_model(f"hf:{build_blip(tmp_path / 'blip')}", ModelOptions(device="cpu"))
    pre = model.preprocessor(GENERATE)
    image = photo("astronaut")

    def answer(prompt: str, new_tokens: int) -> list[str]:
        batch = pre.collate([pre(GenerationInput(images=(image,), prompt=prompt))])
        return model.generate(batch, max_new_tokens=new_tokens)

    assert len(answer("a photo of", 4)) == 1  # short prompts still run
    with pytest.raises(MMBenchError, match="at most 64 text positions") as err:
        answer(" ".join(["photo"] * 80), 4)
    assert "\n" not in str(err.value) and "max_new_tokens" in str(err.value)
