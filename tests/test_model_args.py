"""`--model-args`: lm-eval's parsing rules, per-scheme validation, redaction, and the `hf:`
arguments (device_map splits over CPU memory and disk, Qwen2-VL pixel budgets, revision)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from helpers.openai_server import build_tiny_llava

from mmbench.cli import build_parser, main
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.args import parse_model_args, redact_args, redact_url
from mmbench.models.base import GENERATE, GenerationInput, ModelOptions
from mmbench.models.hf.model_args import parse_max_memory, spec_with_revision


def test_values_follow_lm_eval():
    # lm-eval's handle_arg_string: true/false any case -> bool, then int, then float, else str.
    parsed = parse_model_args("a=1,b=2.5,c=True,d=false,e=hello,f=,g=1e3,h=-4, i = x y ")
    assert parsed == {
        "a": 1,
        "b": 2.5,
        "c": True,
        "d": False,
        "e": "hello",
        "f": "",
        "g": 1000.0,
        "h": -4,
        "i": "x y",
    }
    assert [type(parsed[k]) for k in "abcd"] == [int, float, bool, bool]
    assert parse_model_args("") == {} and parse_model_args("a=1,,") == {"a": 1}
    with pytest.raises(MMBenchError, match="expected KEY=VALUE pairs"):
        parse_model_args("pretrained")
    with pytest.raises(MMBenchError, match="'a' is given twice"):
        parse_model_args("a=1,a=2")


def test_cli_accepts_both_spellings(capsys):
    parser = build_parser()
    base = ["run", "--model", "builtin:random", "--task", "mini-retrieval"]
    for flag in ("--model-args", "--model_args"):
        args = parser.parse_args([*base, flag, "device_map=auto,max_pixels=1024"])
        assert args.model_args == {"device_map": "auto", "max_pixels": 1024}
    with pytest.raises(SystemExit) as stop:
        parser.parse_args([*base, "--model-args", "nokey"])
    assert stop.value.code == 2 and "expected KEY=VALUE" in capsys.readouterr().err


def test_each_scheme_validates_its_args(capsys):
    with pytest.raises(MMBenchError, match=r"'attn_implementaton' \(did you mean 'attn_impl"):
        load_model("hf:/nowhere", ModelOptions(model_args={"attn_implementaton": "sdpa"}))
    with pytest.raises(MMBenchError, match="max_pixels must be a int, got 'many'"):
        load_model("hf:/nowhere", ModelOptions(model_args={"max_pixels": "many"}))
    with pytest.raises(MMBenchError, match="builtin: models do not take 'x'; accepted: none"):
        load_model("builtin:random", ModelOptions(model_args={"x": 1}))
    code = main(
        ["run", "--model", "builtin:random", "--task", "mini-retrieval", "--model-args", "y=2"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "do not take 'y'" in err


def test_redaction():
    assert redact_url("https://u:p@host:8443/v1?key=abc") == "https://***@host:8443/v1?***"
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"
    assert redact_args({"base_url": "http://a:b@h/v1", "n": 3}) == {
        "base_url": "http://***@h/v1",
        "n": 3,
    }


def test_hf_revision_and_max_memory_forms():
    assert spec_with_revision("org/m", {"revision": "v2"}) == "org/m@v2"
    assert spec_with_revision("org/m@v2", {"revision": "v2"}) == "org/m@v2"
    with pytest.raises(MMBenchError, match="names revision 'v1' but --model-args says"):
        spec_with_revision("org/m@v1", {"revision": "v2"})
    assert parse_max_memory("0:20GiB;1:18GiB;cpu:64GiB") == {0: "20GiB", 1: "18GiB", "cpu": "64GiB"}
    assert parse_max_memory("cpu:100000") == {"cpu": 100000}
    with pytest.raises(MMBenchError, match="DEVICE:SIZE"):
        parse_max_memory("20GiB")


@pytest.fixture(scope="module")
def llava(tmp_path_factory, one_thread):
    return build_tiny_llava(tmp_path_factory.mktemp("m") / "llava")


def answers(adapter) -> list[str]:
    from PIL import Image

    images = [Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (50, 50), (0, 90, 200))]
    pre = adapter.preprocessor(GENERATE)
    batch = pre.collate([pre(GenerationInput((im,), "caption this")) for im in images])
    return adapter.generate(batch)


def test_device_map_split_over_cpu_and_disk_gives_the_same_answers(llava, tmp_path):
    plain = load_model(f"hf:{llava}", ModelOptions(device="cpu"))
    # The model's 28,736 float32 weights take 115 kB; 100 kB of CPU memory forces a split.
    args = {"device_map": "auto", "max_memory": "cpu:100000", "offload_folder": str(tmp_path)}
    split = load_model(f"hf:{llava}", ModelOptions(device="cpu", model_args=args))
    placed = split.model.hf_device_map
    assert set(placed.values()) == {"cpu", "disk"} and placed["model.language_model"] == "disk"
    assert split.device == "cpu"
    assert answers(split) == answers(plain)
    # Placement does not move outputs, so cached outputs are shared.
    assert split.fingerprint() == plain.fingerprint()
    with pytest.raises(MMBenchError, match="only apply with device_map"):
        load_model(f"hf:{llava}", ModelOptions(device="cpu", model_args={"max_memory": "cpu:1"}))


def test_attn_implementation_reaches_the_model_and_the_fingerprint(llava):
    plain = load_model(f"hf:{llava}", ModelOptions(device="cpu"))
    eager = load_model(
        f"hf:{llava}", ModelOptions(device="cpu", model_args={"attn_implementation": "eager"})
    )
    assert eager.model.config._attn_implementation == "eager"
    assert eager.fingerprint() != plain.fingerprint()


def write_qwen2vl_processor(folder: Path) -> Path:
    """A Qwen2-VL image processor and a tokenizer, without the video processor (which needs
    torchvision): enough to check that pixel budgets reach the image processor."""
    from tokenizers import Tokenizer, models
    from transformers import LlavaConfig, PreTrainedTokenizerFast
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    folder.mkdir(parents=True)
    LlavaConfig().save_pretrained(folder)
    Qwen2VLImageProcessorPil().save_pretrained(folder)
    core = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]").save_pretrained(folder)
    return folder


def test_max_and_min_pixels_reach_a_qwen2vl_image_processor(tmp_path):
    from PIL import Image

    from mmbench.models.hf.loading import load_processor
    from mmbench.models.hf.model_args import check_processor_args
    from mmbench.models.hf.source import resolve_source

    folder = write_qwen2vl_processor(tmp_path / "qwen")
    source, _ = resolve_source(str(folder))
    budget = {"max_pixels": 112 * 112, "min_pixels": 56 * 56}
    processor = load_processor(source, ModelOptions(model_args=budget))
    check_processor_args(processor, budget, "qwen")
    out = processor.image_processor(Image.new("RGB", (640, 480)), return_tensors="pt")
    (t, h, w) = out["image_grid_thw"][0].tolist()
    # Qwen2-VL's smart_resize: sides are multiples of 28 (2x2 patches of 14 px) whose product is
    # at most max_pixels: 640x480 at 12544 pixels -> 112x84 -> a grid of 8x6 patches.
    assert (t, h * 14, w * 14) == (1, 84, 112) and h * w * 14 * 14 <= budget["max_pixels"]
    default = load_processor(source, ModelOptions())
    grid = default.image_processor(Image.new("RGB", (640, 480)), return_tensors="pt")
    assert grid["image_grid_thw"][0].tolist() == [1, 34, 46]  # 476x644: the default budget


def test_pixel_budget_is_refused_by_other_processors(llava):
    with pytest.raises(MMBenchError, match=r"does not take a pixel budget \(Qwen2-VL family"):
        load_model(f"hf:{llava}", ModelOptions(device="cpu", model_args={"max_pixels": 50176}))


def test_py_factories_get_their_model_args(tmp_path, monkeypatch):
    (tmp_path / "argsmod_for_test.py").write_text(
        "from mmbench.models.base import ENCODE_TEXTS, ModelAdapter\n"
        "class Echo(ModelAdapter):\n"
        "    capabilities = frozenset({ENCODE_TEXTS})\n"
        "    def __init__(self, args):\n"
        "        self.args = args\n"
        "    def fingerprint(self):\n"
        "        return 'echo-' + str(sorted(self.args.items()))\n"
        "    def preprocessor(self, capability):\n"
        "        return None\n"
        "def make(options):\n"
        "    return Echo(options.model_args)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = parse_model_args("width=3,mode=fast,scale=0.5")
    model = load_model("py:argsmod_for_test:make", ModelOptions(model_args=args))
    assert model.args == {"width": 3, "mode": "fast", "scale": 0.5}


def test_image_backend_is_pil_by_default_and_validated(llava):
    from mmbench.models.hf.image_backend import backend_of

    plain = load_model(f"hf:{llava}", ModelOptions(device="cpu"))
    assert backend_of(plain.processor.image_processor) == "pil"
    assert plain.describe()["image_processor"] == "CLIPImageProcessorPil"
    with pytest.raises(
        MMBenchError, match="image_backend must be one of pil, torchvision, got 'tv'"
    ):
        load_model(f"hf:{llava}", ModelOptions(device="cpu", model_args={"image_backend": "tv"}))
    asked = ModelOptions(device="cpu", model_args={"image_backend": "torchvision"})
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(MMBenchError, match="image_backend=torchvision needs torchvision"):
            load_model(f"hf:{llava}", asked)
    else:
        other = load_model(f"hf:{llava}", asked)
        assert backend_of(other.processor.image_processor) == "torchvision"
        assert other.fingerprint() != plain.fingerprint()


def test_image_processor_of_the_other_backend_is_replaced(tmp_path, monkeypatch):
    """transformers picks the torchvision class wherever torchvision is installed (not here, so a
    stand-in plays it); mmbench swaps in the PIL class unless told otherwise."""
    from types import SimpleNamespace

    import transformers
    from helpers.hf_models import build_clip

    from mmbench.models.hf import image_backend

    folder = str(build_clip(tmp_path / "clip"))
    picked, only_torchvision = object(), object()
    real = image_backend.backend_of
    monkeypatch.setattr(
        image_backend,
        "backend_of",
        lambda ip: "torchvision" if ip in (picked, only_torchvision) else real(ip),
    )

    def swap(args):
        loaded = SimpleNamespace(image_processor=picked)
        return image_backend.with_image_backend(loaded, folder, {}, args, "clip").image_processor

    assert type(swap({})).__name__ == "CLIPImageProcessorPil"
    assert swap({"image_backend": "pil"}) is not picked
    if importlib.util.find_spec("torchvision") is not None:
        assert swap({"image_backend": "torchvision"}) is picked
    # A checkpoint whose image processor has no PIL class: the default keeps it, pil is refused.
    monkeypatch.setattr(
        transformers.AutoImageProcessor, "from_pretrained", lambda *a, **k: only_torchvision
    )
    assert swap({}) is picked
    with pytest.raises(MMBenchError, match="has no pil image processor"):
        swap({"image_backend": "pil"})
