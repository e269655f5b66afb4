"""DEBUG log records of the decisions that explain a surprising number (dtype, model family, text
length, cache hits, batch size, workers). Each record is checked against the rule that made the
decision, as stated in the docstrings of the functions that make it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch
import transformers

from mmbench.cache import OutputCache
from mmbench.data.items import TextItem
from mmbench.engine import Engine, EngineConfig, resolve_num_workers
from mmbench.models import load_model
from mmbench.models.base import ENCODE_TEXTS, ModelOptions
from mmbench.models.common import resolve_dtype
from mmbench.models.hf.dual_encoder import text_length
from mmbench.models.hf.families import DUAL_ENCODER, GENERATOR, detect_family


@contextmanager
def debug_lines() -> Iterator[list[str]]:
    """Messages of the `mmbench` loggers at DEBUG, whatever the CLI configured before (it turns
    propagation off, so pytest's caplog would see nothing)."""
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(f"{record.name}: {record.getMessage()}")
    root = logging.getLogger("mmbench")
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_dtype_choice_and_reason() -> None:
    half = transformers.AutoConfig.for_model("llama", dtype="bfloat16")
    with debug_lines() as lines:
        assert resolve_dtype("fp16", "cpu") == torch.float16
        assert resolve_dtype("auto", "cpu", half) == torch.float32
    assert lines == [
        "mmbench.models.common: dtype float16 (--dtype fp16)",
        "mmbench.models.common: dtype float32 (auto on cpu: float32 off CUDA)",
    ]


def test_family_and_loader() -> None:
    clip = transformers.CLIPConfig(architectures=["CLIPModel"])
    blip = transformers.BlipConfig(architectures=["BlipForConditionalGeneration"])
    with debug_lines() as lines:
        assert detect_family(clip, False, "hf:clip")[0] == DUAL_ENCODER
        assert detect_family(blip, False, "hf:blip")[0] == GENERATOR
    assert lines[0].startswith("mmbench.models.hf.families: model hf:clip (model_type clip):")
    assert "dual_encoder, loaded with AutoModel" in lines[0]
    assert "CLIPModel has get_image/text_features" in lines[0]
    assert "generator" in lines[1] and "BlipForConditionalGeneration can generate" in lines[1]


def test_text_length_and_its_source() -> None:
    config = transformers.CLIPConfig()  # text tower: 77 positions
    tokenizer = SimpleNamespace(model_max_length=10**30)  # transformers' "no limit" value
    with debug_lines() as lines:
        assert text_length(SimpleNamespace(), tokenizer, config) == 77
        fixed = SimpleNamespace(text_kwargs={"padding": "max_length", "max_length": 64})
        assert text_length(fixed, tokenizer, config) == 64
    assert lines == [
        "mmbench.models.hf.dual_encoder: texts padded to 77 tokens:"
        " the text tower's max_position_embeddings",
        "mmbench.models.hf.dual_encoder: texts padded to 64 tokens:"
        " the processor's fixed-length padding",
    ]


def test_engine_cache_hits_batch_size_and_workers(tmp_path: Path) -> None:
    model = load_model("builtin:random", ModelOptions(device="cpu"))
    items = [TextItem(f"caption {i}") for i in range(5)]
    cache = OutputCache(tmp_path / "cache")
    with debug_lines() as lines:
        assert resolve_num_workers(None, "cpu") == 0
        Engine(model, EngineConfig(progress=False, batch_size=2), cache).run(
            ENCODE_TEXTS, items[:3]
        )
        Engine(model, EngineConfig(progress=False, batch_size=None), cache).run(ENCODE_TEXTS, items)
    engine_lines = [line for line in lines if line.startswith("mmbench.engine: ")]
    assert engine_lines == [
        "mmbench.engine: data loader workers: 0 (auto on cpu: none on a CPU)",
        "mmbench.engine: builtin:random encode_texts: 3 items, 0 cache hits, 3 misses"
        " (cache on); this rank computes 3",
        "mmbench.engine: batch size 2 (as requested)",
        "mmbench.engine: builtin:random encode_texts: 5 items, 3 cache hits, 2 misses"
        " (cache on); this rank computes 2",
        "mmbench.engine: batch size auto: starting at 32 on cpu, halved on out-of-memory",
    ]
