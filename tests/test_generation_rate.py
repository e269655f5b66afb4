"""Local generators report the tokens they generated and the rate, for the cost columns."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from helpers.hf_models import build_blip

from mmbench.cost import cost_of
from mmbench.runner import RunRequest, run


def test_tokens_per_second_of_a_local_generator(tmp_path, one_thread) -> None:
    uri = f"hf:{build_blip(tmp_path / 'blip')}"

    def caption(**kw):
        request = RunRequest(
            model=uri,
            task="mini-captioning",
            output_dir=tmp_path / "out",
            cache_dir=tmp_path / "cache",
            progress=False,
            device="cpu",
            generation={"max_new_tokens": 3},
            **kw,
        )
        return run(request).result

    timing = caption().timing
    items = timing["items"]
    assert 0 < timing["generated_tokens"] <= 3 * items  # at most max_new_tokens per caption
    assert timing["tokens_per_s"] == round(timing["generated_tokens"] / timing["total_s"], 2)
    assert cost_of({"timing": timing})["tokens_per_s"] == timing["tokens_per_s"]
    rerun = caption().timing  # every caption comes from the cache: nothing is generated
    assert rerun["computed"] == 0 and "tokens_per_s" not in rerun
