"""`hf:` generators of the families beyond BLIP and LLaVA, against tiny random checkpoints.

Qwen2-VL (images and video), Idefics3, PaliGemma and BLIP-2: each is built from its transformers
config (two layers, width 32, a word-level vocabulary) with its own processor class and the chat
template its hub checkpoints ship, saved with `save_pretrained`, and loaded through `hf:<dir>`. What
mmbench generates must equal, text for text, what the same processor and `model.generate` give
when called directly the way each model card does (greedy, same `max_new_tokens`).

Weights are drawn with a wide `initializer_range` (see `helpers.hf_generators`) so that a tiny
random model's answer depends on the image, not only on the last prompt token; the tests check that
it does, so a pipeline that dropped the pixels could not pass.

Qwen2-VL's processor has a video processor, and in transformers 5 every video processor (and so
every processor holding one) needs torchvision; its tests are skipped where torchvision does not
import, and there a test checks instead that such a checkpoint fails to load with a one-line error.
"""

from __future__ import annotations

import json

import pytest

from mmbench.models.base import GENERATE, GenerationInput

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from helpers.hf_generators import (  # noqa: E402
    IDEFICS3_TEMPLATE,
    WIDE_INIT,
    assert_chat_answers,
    assert_describes,
    assert_image_matters,
    assert_needs_torchvision,
    batch_features,
    chat,
    chat_reference,
    family_fixture,
    generate_new,
    has_torchvision,
    image_requests,
    needs_torchvision,
    tiny_llm,
    together_and_alone,
)
from helpers.hf_models import run, save, tiny_text, tiny_vision, word_tokenizer  # noqa: E402

# The chat template Qwen2-VL-Instruct ships with.
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# --------------------------------------------------------------------------- tiny model builders


# 32x32 pixels at most: 8x8 patches of 4, merged 2x2 into 16 tokens per image (or frame pair)
QWEN2_VL_PIXELS = dict(
    size={"shortest_edge": 16 * 16, "longest_edge": 32 * 32},
    patch_size=4,
    temporal_patch_size=2,
    merge_size=2,
)


def qwen2_vl_tokenizer():
    """Qwen2-VL's special tokens (chat turns, vision span, image and video pads) and a few words."""
    specials = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>"]
    specials += ["<|image_pad|>", "<|video_pad|>"]
    tokenizer = word_tokenizer(
        ["<|endoftext|>", "[UNK]", *specials, "system", "user", "assistant", "You", "are"],
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        eos_token="<|im_end|>",
    )
    tokenizer.add_tokens(specials, special_tokens=True)
    return tokenizer


def qwen2_vl_config(tokenizer):
    """Qwen2-VL with a two-block vision tower and multimodal rotary sections of 2+1+1."""
    from transformers import Qwen2VLConfig

    ids = tokenizer.convert_tokens_to_ids
    return Qwen2VLConfig(
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=32,
            mlp_ratio=2,
            num_heads=4,
            patch_size=4,
            spatial_merge_size=2,
            temporal_patch_size=2,
            initializer_range=WIDE_INIT,
        ),
        text_config=tiny_llm(
            tokenizer,
            "qwen2_vl_text",
            rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 1, 1]},
        ),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )


def build_qwen2_vl(path):
    """Qwen2-VL with its own processor: image processor, video processor and chat template."""
    from transformers import (
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = qwen2_vl_tokenizer()
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**QWEN2_VL_PIXELS),
        video_processor=Qwen2VLVideoProcessor(**QWEN2_VL_PIXELS),
        tokenizer=tokenizer,
        chat_template=QWEN2_VL_TEMPLATE,
    )
    config = qwen2_vl_config(tokenizer)
    return save(Qwen2VLForConditionalGeneration, config, processor, path, seed=11)


def build_idefics3(path):
    """Idefics3 (Llama text model) with image splitting into tiles and its chat template."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tiles = ["<global-img>"] + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tokenizer = word_tokenizer(
        ["<pad>", "[UNK]", "<|begin_of_text|>", "<end_of_utterance>", "User", "Assistant", *tiles],
        ("<|begin_of_text|> $A", ["<|begin_of_text|>"]),
        pad_token="<pad>",
        unk_token="[UNK]",
        bos_token="<|begin_of_text|>",
        eos_token="<end_of_utterance>",
    )
    tokenizer.add_tokens(tiles, special_tokens=True)
    # images are resized to at most 64 pixels and split into 32-pixel tiles plus a global view;
    # each tile is 4x4 patches of 8, pixel-shuffled by 2 into 4 image tokens
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=IDEFICS3_TEMPLATE,
    )
    config = Idefics3Config(
        vision_config=tiny_vision(initializer_range=WIDE_INIT),
        text_config=tiny_llm(tokenizer, "llama", bos_token_id=tokenizer.bos_token_id),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save(Idefics3ForConditionalGeneration, config, processor, path, seed=12)


def build_paligemma(path):
    """PaliGemma (SigLIP + Gemma), no chat template: the processor writes image tokens and BOS."""
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = word_tokenizer(
        ["<pad>", "[UNK]", "<bos>", "<eos>", "<image>"],
        pad_token="<pad>",
        unk_token="[UNK]",
        bos_token="<bos>",
        eos_token="<eos>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32}, image_seq_length=16)
    # adds PaliGemma's <locXXXX> and <segXXX> tokens, so the vocabulary is final only after it
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = PaliGemmaConfig(
        vision_config=tiny_vision(
            model_type="siglip_vision_model", projection_dim=32, initializer_range=WIDE_INIT
        ),
        text_config=tiny_llm(tokenizer, "gemma", head_dim=8, bos_token_id=tokenizer.bos_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vocab_size=len(tokenizer),
        projection_dim=32,
        hidden_size=32,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save(PaliGemmaForConditionalGeneration, config, processor, path, seed=13)


def build_blip2(path, text="opt"):
    """BLIP-2 over OPT (decoder-only, like blip2-opt-2.7b) or T5 (like blip2-flan-t5-xl)."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    # OPT's tokenizer starts every text with </s>, T5's ends it with </s>
    template = ("</s> $A", ["</s>"]) if text == "opt" else ("$A </s>", ["</s>"])
    tokenizer = word_tokenizer(
        ["<pad>", "[UNK]", "</s>"], template, pad_token="<pad>", unk_token="[UNK]", eos_token="</s>"
    )
    # adds the <image> token; the processor puts num_query_tokens of them before each prompt
    processor = Blip2Processor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        num_query_tokens=4,
    )
    if text == "opt":
        language = tiny_llm(tokenizer, "opt", ffn_dim=64, word_embed_proj_dim=32)
        language["init_std"] = language.pop("initializer_range")
    else:
        language = dict(
            model_type="t5",
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
            initializer_factor=WIDE_INIT * 10,  # T5 scales its init by the width itself
        )
    # BLIP-2's generate starts an unconditional caption with the language model's BOS
    language["bos_token_id"] = tokenizer.convert_tokens_to_ids("</s>")
    config = Blip2Config(
        vision_config=tiny_vision(initializer_range=WIDE_INIT),
        # 512 positions: the Q-Former's default
        qformer_config=tiny_text(
            len(tokenizer), 512, encoder_hidden_size=32, initializer_range=WIDE_INIT
        ),
        text_config=language,
        num_query_tokens=4,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        initializer_range=WIDE_INIT,
    )
    return save(Blip2ForConditionalGeneration, config, processor, path, seed=14)


BUILDERS = {
    "qwen2_vl": build_qwen2_vl,
    "idefics3": build_idefics3,
    "paligemma": build_paligemma,
    "blip2": build_blip2,
    "blip2_t5": lambda path: build_blip2(path, text="t5"),
}


pytestmark = pytest.mark.usefixtures("one_thread")
family = family_fixture(BUILDERS)


# --------------------------------------------------------------------------- Qwen2-VL


@needs_torchvision
def test_qwen2_vl_images_match_transformers(family, photos):
    adapter, model, processor = family("qwen2_vl")
    assert_describes(adapter, "Qwen2VLForConditionalGeneration", "chat_template", "left")
    requests = image_requests(photos)
    assert_chat_answers(adapter, model, processor, requests, photos)


@needs_torchvision
def test_qwen2_vl_video_matches_transformers(family, photos, clips):
    adapter, model, processor = family("qwen2_vl")
    assert adapter.describe()["video_input"] == "video"
    requests = [GenerationInput(clip, "what is this", is_video=True) for clip in clips]
    features = batch_features(adapter, requests)
    assert "pixel_values_videos" in features and "pixel_values" not in features
    assert features["video_grid_thw"][:, 0].tolist() == [2, 2]  # 4 frames, 2 per temporal patch
    got = run(adapter, GENERATE, requests)
    # Qwen2-VL's model card: render the template, then pass the frames as `videos=`
    texts = [
        processor.apply_chat_template(
            chat((), r.prompt, video=True), add_generation_prompt=True, tokenize=False
        )
        for r in requests
    ]
    inputs = processor(
        text=texts,
        videos=[list(clip) for clip in clips],
        padding=True,
        padding_side="left",
        return_tensors="pt",
    )
    assert got == generate_new(model, processor, inputs)
    # a video next to an image in one batch: each answered as alone
    mixed = [requests[0], GenerationInput((photos[2],), "what is this")]
    assert run(adapter, GENERATE, mixed) == [got[0], run(adapter, GENERATE, mixed[1:])[0]]


@pytest.mark.skipif(has_torchvision(), reason="checks the error where torchvision is missing")
def test_qwen2_vl_without_torchvision_is_a_one_line_error(tmp_path):
    """A Qwen2-VL checkpoint's files, written piece by piece (its processor cannot be built here),
    fail to load with mmbench's one-line error naming torchvision, not a traceback."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    tokenizer = qwen2_vl_tokenizer()
    qwen2_vl_config(tokenizer).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    Qwen2VLImageProcessorPil(**QWEN2_VL_PIXELS).save_pretrained(tmp_path)
    video = {"video_processor_type": "Qwen2VLVideoProcessor", **QWEN2_VL_PIXELS}
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(video))
    assert_needs_torchvision(tmp_path, "Qwen2VLVideoProcessor")


# --------------------------------------------------------------------------- Idefics3


def test_idefics3_matches_transformers(family, photos):
    adapter, model, processor = family("idefics3")
    assert_describes(adapter, "Idefics3ForConditionalGeneration", "chat_template", "left")
    requests = image_requests(photos)
    features = batch_features(adapter, requests)
    # the template writes BOS itself: it must not be doubled
    assert (features["input_ids"] == processor.tokenizer.bos_token_id).sum(1).tolist() == [1] * 3
    assert_chat_answers(adapter, model, processor, requests, photos)


def test_idefics3_video_is_frames_as_images(family, clips):
    adapter, model, processor = family("idefics3")
    assert adapter.describe()["video_input"] == "frames_as_images"
    frames = clips[0]
    got = run(adapter, GENERATE, [GenerationInput(frames, "what is this", is_video=True)])
    assert got == chat_reference(model, processor, [chat(frames, "what is this")])


# --------------------------------------------------------------------------- PaliGemma


def test_paligemma_matches_transformers(family, photos):
    adapter, model, processor = family("paligemma")
    assert_describes(adapter, "PaliGemmaForConditionalGeneration", "plain", "left")
    requests = image_requests(photos)
    features = batch_features(adapter, requests)
    assert "token_type_ids" in features  # prefix (image + prompt) vs suffix: generate needs it
    got = run(adapter, GENERATE, requests)
    # PaliGemma's model card: prompts without <image>; the processor adds the image tokens, BOS
    # and the closing newline
    inputs = processor(
        text=[r.prompt for r in requests],
        images=[r.images[0] for r in requests],
        padding=True,
        padding_side="left",
        return_tensors="pt",
    )
    inputs.pop("labels")  # training targets the processor adds for fine-tuning
    assert got == generate_new(model, processor, inputs)
    assert any(got)
    assert_image_matters(adapter, photos)


# --------------------------------------------------------------------------- BLIP-2


@pytest.mark.parametrize("name", ["blip2", "blip2_t5"])
def test_blip2_matches_transformers(name, family, photos):
    adapter, model, processor = family(name)
    info = adapter.describe()
    assert info["class"] == "Blip2ForConditionalGeneration"
    # OPT's learned positions and T5's encoder: grouped by prompt length, never padded
    assert info["prompt_format"] == "plain" and info["padding"].startswith("none")
    assert info["video_input"] == "middle_frame"  # one image per prompt
    requests = image_requests(photos)
    requests.append(GenerationInput((photos[3],), "what is this"))
    got = run(adapter, GENERATE, requests)
    decoder_only = not model.config.text_config.is_encoder_decoder
    assert decoder_only == (name == "blip2")
    expected = []
    for request in requests:  # BLIP-2's model card: one image, the prompt or none
        inputs = processor(
            images=request.images[0], text=request.prompt or None, return_tensors="pt"
        )
        expected += generate_new(model, processor, inputs, echoes_prompt=decoder_only)
    assert got == expected
    assert any(got)
    assert_image_matters(adapter, photos)


# --------------------------------------------------------------------------- batch size


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("qwen2_vl", marks=needs_torchvision),
        "idefics3",
        "paligemma",
        "blip2",
        "blip2_t5",
    ],
)
def test_answers_do_not_depend_on_batch_size(name, family, photos):
    together, alone = together_and_alone(family(name)[0], image_requests(photos))
    assert together == alone
