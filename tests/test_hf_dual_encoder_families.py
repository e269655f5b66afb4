"""`hf:` dual encoders of the families beyond CLIP and SigLIP: ALIGN and SigLIP2 (NaFlex).

Each is built from its transformers config (two text layers of width 32; ALIGN's EfficientNet cut
to two blocks) with its own processor classes: AlignProcessor = EfficientNetImageProcessorPil +
BertTokenizer, Siglip2Processor = Siglip2ImageProcessorPil + Siglip2Tokenizer (the PIL image
processors, which need no torchvision), with vocabularies built offline. Each is saved with
`save_pretrained` and loaded through `hf:<dir>`. What mmbench embeds must equal, bitwise, what the
same processor and `get_image_features` / `get_text_features` give when called directly on the same
32 rows (mmbench's fixed micro-batch), and match the plain unpadded call to 1e-6, the tolerance of
`test_hf_adapters`.

SigLIP2 keeps each image's aspect ratio: an image becomes up to `max_num_patches` patches, padded
to exactly that many, with `pixel_attention_mask` marking the real ones and `spatial_shapes` giving
the patch grid. The photos here are square, landscape and portrait, so a batch mixes grids.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path
from typing import Any

import pytest

from mmbench.models import load_model
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS, ModelOptions

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

from helpers.hf_models import (  # noqa: E402
    TEXTS,
    WORDS,
    pad_rows,
    reference,
    run,
    save,
    tiny_text,
    tiny_vision,
    word_vocab,
)

CPU = ModelOptions(device="cpu")
#: the text length both families were trained with, and their processors pad to
TEXT_LENGTH = 64
#: SigLIP2 NaFlex checkpoints' patch size and default patch budget
PATCH, PATCHES = 16, 256
LONG_TEXT = " ".join(WORDS * 3)  # over 64 tokens for both tokenizers


# --------------------------------------------------------------------------- tiny model builders


def build_align(path: Path) -> Path:
    """ALIGN: EfficientNet (stem + two blocks) and a two-layer BERT, projected to width 16."""
    from transformers import AlignConfig, AlignModel, AlignProcessor, BertTokenizer
    from transformers.models.efficientnet.image_processing_pil_efficientnet import (
        EfficientNetImageProcessorPil,
    )

    vocab = word_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer = BertTokenizer(vocab=vocab)
    # ALIGN's preprocessing: resize, centre crop, pixels scaled to [-1, 1] (rescale_offset)
    image_processor = EfficientNetImageProcessorPil(
        size={"height": 40, "width": 40},
        crop_size={"height": 32, "width": 32},
        do_center_crop=True,
        rescale_factor=1 / 127.5,
        rescale_offset=True,
        do_normalize=False,
        include_top=False,
    )
    config = AlignConfig(
        text_config=tiny_text(len(vocab), 128, pad_token_id=0),
        # the stem always has 32 channels; the last block's width is the image embedding's
        vision_config=dict(
            image_size=32,
            width_coefficient=1.0,
            depth_coefficient=1.0,
            kernel_sizes=[3, 3],
            in_channels=[32, 16],
            out_channels=[16, 16],
            strides=[1, 2],
            num_block_repeats=[1, 1],
            expand_ratios=[1, 2],
            hidden_dim=64,
            depthwise_padding=[],
        ),
        projection_dim=16,
    )
    processor = AlignProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return save(AlignModel, config, processor, path, seed=4)


def build_siglip2(path: Path) -> Path:
    """SigLIP2 NaFlex: patches of 16, 256 of them at most, and a character-level Gemma-style BPE
    vocabulary (no merges, as `build_clip` does)."""
    from transformers import Siglip2Config, Siglip2Model, Siglip2Processor, Siglip2Tokenizer
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    vocab: dict[str, int] = {}
    for token in [*specials, "▁", *string.ascii_lowercase, *"?.,!:"]:
        vocab.setdefault(token, len(vocab))
    tokenizer = Siglip2Tokenizer(vocab=vocab, merges=[])
    image_processor = Siglip2ImageProcessorPil(patch_size=PATCH, max_num_patches=PATCHES)
    text = tiny_text(len(vocab), TEXT_LENGTH, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    vision = tiny_vision(patch_size=PATCH, num_patches=PATCHES)
    config = Siglip2Config(text_config=text, vision_config=vision)
    processor = Siglip2Processor(image_processor=image_processor, tokenizer=tokenizer)
    return save(Siglip2Model, config, processor, path, seed=5)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_families")
    return {"align": build_align(root / "align"), "siglip2": build_siglip2(root / "siglip2")}


@pytest.fixture(scope="module")
def adapters(dirs):
    return {name: load_model(f"hf:{path}", CPU) for name, path in dirs.items()}


@pytest.fixture(scope="module")
def photos(photos):
    """The shared photos and a portrait one: square, landscape and portrait (one grayscale), so
    SigLIP2 gets several grids."""
    return [*photos, photos[3].transpose(Image.Transpose.ROTATE_90)]


def features(model: Any, inputs: dict[str, Any], kind: str) -> Any:
    """What get_image_features / get_text_features give for `inputs`, called directly."""
    method = model.get_image_features if kind == "image" else model.get_text_features
    with torch.inference_mode():
        return method(**inputs).pooler_output


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", ["align", "siglip2"])
def test_dual_encoder_matches_transformers(name, dirs, adapters, photos):
    adapter = adapters[name]
    assert adapter.capabilities == {ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS}
    info = adapter.describe()
    assert (info["model_type"], info["text_max_length"]) == (name, TEXT_LENGTH)
    model, processor = reference(dirs[name], "dual")
    images = run(adapter, ENCODE_IMAGES, photos)
    texts = run(adapter, ENCODE_TEXTS, TEXTS)
    assert images.dtype == texts.dtype == torch.float32
    pixels = processor(images=photos, return_tensors="pt")
    tokens = processor(text=TEXTS, return_tensors="pt")  # the family's own padding defaults
    padded_img = features(model, {k: pad_rows(v) for k, v in pixels.items()}, "image")
    padded_txt = features(model, {k: pad_rows(v) for k, v in tokens.items()}, "text")
    # the adapter runs fixed 32-row passes: the same call on the same rows is bitwise equal
    assert torch.equal(images, padded_img[: len(photos)])
    assert torch.equal(texts, padded_txt[: len(TEXTS)])
    torch.testing.assert_close(images, features(model, pixels, "image"), atol=1e-6, rtol=0)
    torch.testing.assert_close(texts, features(model, tokens, "text"), atol=1e-6, rtol=0)
    # and they are the embeddings the model's own contrastive forward scores with
    with torch.inference_mode():
        out = model(**pixels, **tokens)
    normalize = torch.nn.functional.normalize
    torch.testing.assert_close(normalize(images, dim=-1), out.image_embeds, atol=1e-6, rtol=0)
    torch.testing.assert_close(normalize(texts, dim=-1), out.text_embeds, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["align", "siglip2"])
def test_dual_encoder_is_batch_size_independent(name, adapters, photos):
    adapter = adapters[name]
    for capability, raws in ((ENCODE_IMAGES, photos), (ENCODE_TEXTS, TEXTS)):
        together = run(adapter, capability, raws)
        alone = torch.cat([run(adapter, capability, [r]) for r in raws])
        reversed_ = run(adapter, capability, raws[::-1]).flip(0)
        assert torch.equal(together, alone), capability
        assert torch.equal(together, reversed_), capability


@pytest.mark.parametrize("name", ["align", "siglip2"])
def test_text_padding_follows_the_family(name, dirs, adapters):
    """Texts are padded to 64 tokens exactly as the family's processor pads them by default."""
    _, processor = reference(dirs[name], "dual")
    pre = adapters[name].preprocessor(ENCODE_TEXTS)
    batch = pre.collate([pre("a dog"), pre(TEXTS[2])])
    direct = processor(text=["a dog", TEXTS[2]], return_tensors="pt")
    assert batch.keys() == direct.keys()
    for key in batch:
        assert torch.equal(batch[key], direct[key]), key
    assert batch["input_ids"].shape == (2, TEXT_LENGTH)
    pad = processor.tokenizer.pad_token_id
    real = int(batch["attention_mask"][0].sum())
    if name == "align":  # BERT: [CLS] a dog [SEP], padded on the right, one token type
        ids = processor.tokenizer.convert_tokens_to_ids(["[CLS]", "a", "dog", "[SEP]"])
        assert batch["input_ids"][0, :real].tolist() == ids
        assert (batch["input_ids"][0, real:] == pad).all()
        assert (batch["token_type_ids"] == 0).all()
    else:  # Siglip2Tokenizer lowercases (a training default) and pads on its own side
        assert processor.tokenizer.padding_side == "left"
        assert (batch["input_ids"][0, : TEXT_LENGTH - real] == pad).all()
        assert torch.equal(pre("A DOG")["input_ids"], batch["input_ids"][0])
    assert pre(LONG_TEXT)["input_ids"].shape == (TEXT_LENGTH,)  # truncated, never longer


def test_align_fixed_length_padding_changes_nothing(dirs, adapters):
    """BERT masks padding and pools [CLS]: padding to 64 equals padding to the longest text."""
    model, processor = reference(dirs["align"], "dual")
    texts = run(adapters["align"], ENCODE_TEXTS, TEXTS)
    dynamic = processor.tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert dynamic["input_ids"].shape[1] < TEXT_LENGTH
    torch.testing.assert_close(texts, features(model, dynamic, "text"), atol=1e-5, rtol=0)


def test_siglip2_collates_mixed_aspect_ratios(adapters, photos):
    """Each image keeps its patch grid and mask through collation, whatever else is batched."""
    pre = adapters["siglip2"].preprocessor(ENCODE_IMAGES)
    items = [pre(p) for p in photos]
    batch = pre.collate(items)
    assert set(batch) == {"pixel_values", "pixel_attention_mask", "spatial_shapes"}
    assert batch["pixel_values"].shape == (len(photos), PATCHES, 3 * PATCH * PATCH)
    grids = [tuple(s) for s in batch["spatial_shapes"].tolist()]
    kinds = {"portrait" if h > w else "landscape" if h < w else "square" for h, w in grids}
    assert kinds == {"portrait", "landscape", "square"}
    for row, (height, width) in enumerate(grids):
        assert int(batch["pixel_attention_mask"][row].sum()) == height * width <= PATCHES
        assert torch.equal(batch["pixel_values"][row], items[row]["pixel_values"])
    assert (batch["pixel_attention_mask"] == 0).any()  # some grids leave padded patches


def test_siglip2_uses_the_saved_patch_budget(dirs, adapters, photos, tmp_path):
    """A checkpoint saved with another max_num_patches is embedded at that budget.

    Siglip2Processor's call passes its own defaults (256 patches) over the image processor's saved
    settings, so mmbench calls the image processor itself; the reference does the same.
    """
    copy = Path(shutil.copytree(dirs["siglip2"], tmp_path / "siglip2_64"))
    config_path = copy / "processor_config.json"
    saved = json.loads(config_path.read_text())
    saved["image_processor"]["max_num_patches"] = 64
    config_path.write_text(json.dumps(saved))
    adapter = load_model(f"hf:{copy}", CPU)
    assert adapter.fingerprint() != adapters["siglip2"].fingerprint()
    model, processor = reference(copy, "dual")
    assert processor.image_processor.max_num_patches == 64
    pre = adapter.preprocessor(ENCODE_IMAGES)
    assert pre(photos[0])["pixel_values"].shape == (64, 3 * PATCH * PATCH)
    images = run(adapter, ENCODE_IMAGES, photos)
    pixels = processor.image_processor(images=photos, return_tensors="pt")
    padded = features(model, {k: pad_rows(v) for k, v in pixels.items()}, "image")
    assert torch.equal(images, padded[: len(photos)])
