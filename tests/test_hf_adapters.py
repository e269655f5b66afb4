"""`hf:` adapters (and `open_clip:`) against tiny random transformers models saved to tmp dirs.

Every model goes through the real loading path (`load_model("hf:<dir>")` -> from_pretrained on a
local directory, exactly as for a hub download) and its outputs are compared with the same
transformers calls made directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from mmbench.errors import CapabilityError, MMBenchError
from mmbench.models import load_model
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    GENERATE,
    GenerationInput,
    ModelOptions,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("skimage.data")  # the `photos` fixture

from helpers import open_clip_fake  # noqa: E402
from helpers.hf_models import (  # noqa: E402
    TEXTS,
    assert_one_line,
    build_all,
    build_blip,
    build_clip,
    build_llava,
    build_siglip,
    chat_reference,
    pad_rows,
    reference,
    run,
)

CPU = ModelOptions(device="cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


BUILDERS = {"clip": build_clip, "siglip": build_siglip, "blip": build_blip, "llava": build_llava}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("hf"), BUILDERS)


@pytest.fixture(scope="module")
def adapters(dirs):
    return {name: load_model(f"hf:{path}", CPU) for name, path in dirs.items()}


# --------------------------------------------------------------------------- dual encoders


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_dual_encoder_matches_transformers(name, dirs, adapters, photos):
    adapter = adapters[name]
    assert adapter.capabilities == {ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS}
    model, processor = reference(dirs[name], "dual")
    length = {"clip": 77, "siglip": 64}[name]
    assert adapter.describe()["text_max_length"] == length
    images = run(adapter, ENCODE_IMAGES, photos)
    texts = run(adapter, ENCODE_TEXTS, TEXTS)
    assert images.dtype == texts.dtype == torch.float32
    pixels = processor(images=photos, return_tensors="pt")["pixel_values"]
    tokens = processor.tokenizer(
        TEXTS, padding="max_length", max_length=length, truncation=True, return_tensors="pt"
    )
    with torch.inference_mode():
        # the adapter runs fixed 32-row passes: the same call on the same rows is bitwise equal
        direct_img = model.get_image_features(pixel_values=pad_rows(pixels)).pooler_output
        direct_txt = model.get_text_features(
            **{k: pad_rows(v) for k, v in tokens.items()}
        ).pooler_output
        plain_img = model.get_image_features(pixel_values=pixels).pooler_output
        plain_txt = model.get_text_features(**tokens).pooler_output
    assert torch.equal(images, direct_img[: len(photos)])
    assert torch.equal(texts, direct_txt[: len(TEXTS)])
    torch.testing.assert_close(images, plain_img, atol=1e-6, rtol=0)
    torch.testing.assert_close(texts, plain_txt, atol=1e-6, rtol=0)
    if name == "clip":  # causal mask + EOS pooling: fixed-length padding changes nothing
        with torch.inference_mode():
            dynamic = model.get_text_features(
                **processor.tokenizer(TEXTS, padding=True, return_tensors="pt")
            ).pooler_output
        torch.testing.assert_close(texts, dynamic, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_dual_encoder_is_batch_size_independent(name, adapters, photos):
    adapter = adapters[name]
    for capability, raws in ((ENCODE_IMAGES, photos[:4]), (ENCODE_TEXTS, TEXTS)):
        together = run(adapter, capability, raws)
        alone = torch.cat([run(adapter, capability, [r]) for r in raws])
        reversed_ = run(adapter, capability, raws[::-1]).flip(0)
        assert torch.equal(together, alone), capability
        assert torch.equal(together, reversed_), capability


def test_siglip_pads_text_to_max_length(adapters):
    pre = adapters["siglip"].preprocessor(ENCODE_TEXTS)
    batch = pre.collate([pre("a dog"), pre("the astronaut with a red rocket in the sky")])
    assert batch["input_ids"].shape == (2, 64)
    assert int(batch["input_ids"][0, 2]) == 2  # "a dog </s>" then padding
    assert (batch["input_ids"][0, 3:] == 0).all()


def test_video_embedding_is_mean_of_frames(adapters, photos):
    adapter = adapters["clip"]
    clips = [photos[:3], photos[2:5]]
    videos = run(adapter, ENCODE_VIDEOS, clips)
    frames = run(adapter, ENCODE_IMAGES, photos)
    assert videos.shape == (2, 16)
    torch.testing.assert_close(videos[0], frames[:3].mean(0), atol=0, rtol=0)
    torch.testing.assert_close(videos[1], frames[2:5].mean(0), atol=0, rtol=0)


def test_dual_encoder_cannot_generate(adapters):
    with pytest.raises(CapabilityError, match="cannot generate"):
        adapters["clip"].require(GENERATE, "coco-captions")


def test_fingerprint_tracks_dtype_weights_not_path(dirs, adapters, tmp_path):
    base = adapters["clip"]
    info = base.describe()
    assert info["source"] == "local" and len(info["content_sha256"]) == 64
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    again = load_model(f"hf:{dirs['clip']}", CPU)
    assert again.fingerprint() == base.fingerprint()
    moved = shutil.copytree(dirs["clip"], tmp_path / "moved")
    assert load_model(f"hf:{moved}", CPU).fingerprint() == base.fingerprint()
    bf16 = load_model(f"hf:{dirs['clip']}", ModelOptions(device="cpu", dtype="bfloat16"))
    assert bf16.fingerprint() != base.fingerprint()
    assert bf16.describe()["dtype"] == "bfloat16"
    assert bf16.model.dtype == torch.bfloat16
    retrained = build_clip(tmp_path / "retrained", seed=7)
    other = load_model(f"hf:{retrained}", CPU)
    assert other.fingerprint() != base.fingerprint()
    assert other.describe()["weights_sha256"] != info["weights_sha256"]


def test_relative_path_form(dirs, monkeypatch):
    monkeypatch.chdir(dirs["clip"].parent)
    adapter = load_model("hf:./clip", CPU)
    assert adapter.uri == "hf:./clip"
    assert adapter.describe()["path"] == str(dirs["clip"].resolve())


# --------------------------------------------------------------------------- generators


def test_blip_generation_matches_transformers(dirs, adapters, photos):
    adapter = adapters["blip"]
    assert adapter.capabilities == {GENERATE}
    info = adapter.describe()
    assert info["generation"] == {"max_new_tokens": 32, "do_sample": False, "num_beams": 1}
    assert info["prompt_format"] == "plain" and info["padding"].startswith("none")
    model, processor = reference(dirs["blip"], "gen")
    requests = [
        GenerationInput((photos[0],), "a photo of"),
        GenerationInput((photos[1],), ""),
        GenerationInput((photos[2],), "a photo of"),
        GenerationInput((photos[3],), "what color is the sky"),
    ]
    got = run(adapter, GENERATE, requests)
    expected = []
    for request in requests:
        text = request.prompt or None
        inputs = processor(images=request.images[0], text=text, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=32, do_sample=False)
        full = processor.decode(out[0], skip_special_tokens=True)
        if text:
            assert full.startswith(text)  # BLIP echoes its prompt; mmbench strips it
            full = full[len(text) :]
        expected.append(full.strip())
    assert got == expected
    assert all(got)
    alone = [run(adapter, GENERATE, [r])[0] for r in requests]
    assert alone == got


def test_llava_generation_matches_transformers(dirs, adapters, photos):
    adapter = adapters["llava"]
    info = adapter.describe()
    assert info["prompt_format"] == "chat_template" and info["padding"] == "left"
    model, processor = reference(dirs["llava"], "gen")
    prompts = ["what is this", "what color is the cat", "describe this image"]
    requests = [GenerationInput((im,), p) for im, p in zip(photos[:3], prompts, strict=True)]
    got = run(adapter, GENERATE, requests)
    conversations = [
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": im}, {"type": "text", "text": p}],
            }
        ]
        for im, p in zip(photos[:3], prompts, strict=True)
    ]
    assert got == chat_reference(model, processor, conversations, max_new_tokens=32)
    assert [run(adapter, GENERATE, [r])[0] for r in requests] == got


def test_video_qa_passes_frames_as_images(adapters, photos):
    adapter = adapters["llava"]
    assert adapter.describe()["video_input"] == "frames_as_images"
    pre = adapter.preprocessor(GENERATE)
    item = pre(GenerationInput(tuple(photos[:3]), "what is this", is_video=True))
    assert item.text.count("<image>") == 3 and len(item.images) == 3
    batch = pre.collate([item, pre(GenerationInput((photos[3],), "what is this"))])
    ((indices, features),) = batch.parts
    assert indices == (0, 1) and features["pixel_values"].shape[0] == 4
    answers = adapter.generate(batch)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_single_image_generator_takes_middle_frame(adapters, photos):
    adapter = adapters["blip"]
    assert adapter.describe()["video_input"] == "middle_frame"
    pre = adapter.preprocessor(GENERATE)
    item = pre(GenerationInput(tuple(photos[:3]), "a photo of", is_video=True))
    assert item.images == (photos[1],)
    assert run(adapter, GENERATE, [GenerationInput(tuple(photos[:3]), "", is_video=True)]) == (
        run(adapter, GENERATE, [GenerationInput((photos[1],), "")])
    )


def test_generation_options_override_and_are_recorded(dirs, adapters, photos):
    short = load_model(
        f"hf:{dirs['llava']}", ModelOptions(device="cpu", generation={"max_new_tokens": 2})
    )
    assert short.describe()["generation"]["max_new_tokens"] == 2
    assert short.fingerprint() != adapters["llava"].fingerprint()
    request = [GenerationInput((photos[0],), "what is this")]
    pre = short.preprocessor(GENERATE)
    batch = pre.collate([pre(r) for r in request])
    ((_, features),) = batch.parts
    model, _ = reference(dirs["llava"], "gen")
    out = model.generate(**features, max_new_tokens=2, do_sample=False)
    assert out.shape[1] <= features["input_ids"].shape[1] + 2
    assert short.generate(batch) == [
        short.processor.decode(
            out[0, features["input_ids"].shape[1] :], skip_special_tokens=True
        ).strip()
    ]
    # call-time kwargs (a task's) win over the adapter's defaults
    assert short.generate(batch, max_new_tokens=1)[0] in ("", short.generate(batch)[0].split()[0])


def test_generator_cannot_encode(adapters):
    with pytest.raises(CapabilityError, match="cannot encode images"):
        adapters["llava"].require(ENCODE_IMAGES, "coco-retrieval")


# --------------------------------------------------------------------------- errors


def test_missing_directory(tmp_path):
    with pytest.raises(MMBenchError) as err:
        load_model(f"hf:{tmp_path / 'nope'}", CPU)
    assert_one_line(err, "does not exist", str(tmp_path / "nope"))


def test_directory_without_config(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(MMBenchError) as err:
        load_model(f"hf:{tmp_path}", CPU)
    assert_one_line(err, "no config.json", "save_pretrained")


def test_remote_code_is_refused_by_default(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "mmbench_custom_vlm",
                "architectures": ["CustomModel"],
                "auto_map": {
                    "AutoConfig": "configuration_custom.CustomConfig",
                    "AutoModel": "modeling_custom.CustomModel",
                },
            }
        )
    )
    with pytest.raises(MMBenchError) as err:
        load_model(f"hf:{tmp_path}", CPU)
    assert_one_line(err, "--trust-remote-code", "mmbench_custom_vlm")


def test_hub_model_that_cannot_be_fetched(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(MMBenchError) as err:
        load_model("hf:mmbench-test/no-such-model@v1", CPU)
    assert_one_line(err, "'mmbench-test/no-such-model'", "'v1'", "hf:/path/to/dir", "network")


HUB_SCRIPT = """
import json, sys
from mmbench.models import load_model
from mmbench.models.base import ModelOptions
out = {}
for uri in sys.argv[1:]:
    adapter = load_model(uri, ModelOptions(device="cpu"))
    out[uri] = [adapter.describe(), adapter.fingerprint()]
print(json.dumps(out))
"""


def test_hub_ids_resolve_revisions_to_commits(dirs, tmp_path):
    """The hub code path, served offline from a hub cache laid out as a download leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--mmbench-test--tiny-clip"
    shutil.copytree(dirs["clip"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    for ref in ("main", "v1.0"):
        (repo / "refs" / ref).write_text(commit)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
    }
    uris = ["hf:mmbench-test/tiny-clip", "hf:mmbench-test/tiny-clip@v1.0"]
    uris.append(f"hf:mmbench-test/tiny-clip@{commit}")
    done = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, *uris], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    revisions = [result[u][0]["revision"] for u in uris]
    assert revisions == ["main", "v1.0", commit]
    for uri in uris:
        info, fingerprint = result[uri]
        assert info["source"] == "hub" and info["id"] == "mmbench-test/tiny-clip"
        assert info["commit"] == commit
        assert fingerprint == result[uris[0]][1]  # same files, same fingerprint


def test_auto_map_with_native_model_type_needs_no_remote_code(dirs, tmp_path):
    copy = shutil.copytree(dirs["clip"], tmp_path / "clip")
    config = json.loads((copy / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_clip_custom.CLIPModel"}
    (copy / "config.json").write_text(json.dumps(config))
    assert load_model(f"hf:{copy}", CPU).describe()["class"] == "CLIPModel"


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("hf:org/name@", "empty revision"),
        ("hf:not a hub id!", "neither an existing directory nor a hub id"),
    ],
)
def test_bad_specs(uri, needle):
    with pytest.raises(MMBenchError) as err:
        load_model(uri, CPU)
    assert_one_line(err, needle)


def test_bad_dtype(dirs):
    with pytest.raises(MMBenchError) as err:
        load_model(f"hf:{dirs['clip']}", ModelOptions(device="cpu", dtype="float8"))
    assert_one_line(err, "--dtype", "bfloat16")


def test_auto_dtype_rule():
    from mmbench.models.common import resolve_dtype

    half = transformers.AutoConfig.for_model("llama", dtype="bfloat16")
    full = transformers.AutoConfig.for_model("clip")
    assert resolve_dtype("auto", "cpu", half) == torch.float32
    assert resolve_dtype("auto", "cpu", full) == torch.float32
    assert resolve_dtype("fp16", "cpu", full) == torch.float16
    if torch.cuda.is_available():
        assert resolve_dtype("auto", "cuda", full) == torch.float32
        assert resolve_dtype("auto", "cuda", half) in (torch.bfloat16, torch.float16)


def test_spec_parsing():
    from mmbench.models.hf.source import parse_spec

    assert parse_spec("openai/clip-vit-base-patch32") == (
        "openai/clip-vit-base-patch32",
        None,
        False,
    )
    assert parse_spec("org/name@refs/pr/3") == ("org/name", "refs/pr/3", False)
    assert parse_spec("org/name@0123abc") == ("org/name", "0123abc", False)
    location, revision, local = parse_spec("/abs/some@dir")
    assert (location, revision, local) == ("/abs/some@dir", None, True)


def test_modules_import_without_torch():
    code = (
        "import sys; import mmbench.models.hf.loading, mmbench.models.common,"
        " mmbench.models.open_clip, mmbench.models.user;"
        " print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- open_clip


def test_open_clip_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # makes `import open_clip` fail
    with pytest.raises(MMBenchError) as err:
        load_model("open_clip:ViT-B-32/laion2b_s34b_b79k", CPU)
    assert_one_line(err, "pip install 'mmbench[open_clip]'", "open_clip:ViT-B-32/laion2b_s34b_b79k")


@pytest.fixture
def fake_open_clip(monkeypatch):
    module = open_clip_fake.fake_open_clip()
    monkeypatch.setitem(sys.modules, "open_clip", module)
    return module


def test_open_clip_adapter_with_fake_module(fake_open_clip, photos, tmp_path):
    adapter = load_model("open_clip:ViT-B-32/laion2b_s34b_b79k", CPU)
    assert fake_open_clip.calls == [("ViT-B-32", "laion2b_s34b_b79k", "fp32", "cpu")]
    assert adapter.uri == "open_clip:ViT-B-32/laion2b_s34b_b79k"
    reference = open_clip_fake.FakeClip()
    assert adapter.pixel_transfer == "float"  # one function, not a Compose it could split
    images = run(adapter, ENCODE_IMAGES, photos[:3])
    transform = open_clip_fake.plain_transform
    expected = reference.encode_image(torch.stack([transform(p) for p in photos[:3]]))
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=0)
    texts = run(adapter, ENCODE_TEXTS, TEXTS)
    torch.testing.assert_close(texts, reference.encode_text(open_clip_fake.FakeTokenizer()(TEXTS)))
    assert torch.equal(run(adapter, ENCODE_IMAGES, photos[:1]), images[:1])
    videos = run(adapter, ENCODE_VIDEOS, [photos[:3]])
    torch.testing.assert_close(videos[0], images.mean(0), atol=0, rtol=0)
    assert adapter.describe()["pretrained"] == "laion2b_s34b_b79k"

    other = load_model("open_clip:ViT-B-32/openai", CPU)
    assert other.fingerprint() != adapter.fingerprint()
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(b"fake weights")
    local = load_model(f"open_clip:ViT-B-32/{checkpoint}", CPU)
    assert fake_open_clip.calls[-1][1] == str(checkpoint)
    assert len(local.describe()["checkpoint_sha256"]) == 64


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("ViT-B-32/laion2b_s34b_b79", "did you mean 'laion2b_s34b_b79k'"),
        ("ViT-B-23/openai", "did you mean 'ViT-B-32'"),
        ("ViT-B-32", "open_clip:ARCH/PRETRAINED"),
        ("ViT-B-32/missing.pt", "does not exist"),
    ],
)
def test_open_clip_errors(fake_open_clip, spec, needle):
    with pytest.raises(MMBenchError) as err:
        load_model(f"open_clip:{spec}", CPU)
    assert_one_line(err, needle)
