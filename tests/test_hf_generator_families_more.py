"""`hf:` generators of GIT and LLaVA-NeXT against tiny random checkpoints (and LLaVA-OneVision's
load error where torchvision is missing).

Built, saved and compared as in `test_hf_generator_families.py`, with the same helpers
(`helpers.hf_generators`): each checkpoint comes from its transformers config (two layers, width
32, a word-level vocabulary) and its own processor class, is loaded through `hf:<dir>`, and what
mmbench generates must equal, text for text, what the processor and `model.generate` give when
called directly as the model card does (greedy, same `max_new_tokens`).

* GIT (CLIP image processor + BERT-style tokenizer, no chat template, absolute positions): its
  model card captions with pixels alone and asks a question as `[CLS]` + the question, without
  the `[SEP]` the tokenizer appends. A video is answered from its middle frame.
* LLaVA-NeXT (anyres: each image is split into tiles of a grid chosen from its size, plus a
  resized whole view): chat template, left padding, and `image_sizes` must reach `generate` so the
  tiles are unpadded. A video is passed as one image per frame.
* LLaVA-OneVision: in transformers 5 its processor cannot be built without a video processor, and
  every video processor needs torchvision (see `test_llava_onevision_without_torchvision...`).
"""

from __future__ import annotations

import json

import pytest

from mmbench.models.base import GENERATE, GenerationInput

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from helpers.hf_generators import (  # noqa: E402
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
    tiny_llm,
    together_and_alone,
)
from helpers.hf_models import (  # noqa: E402
    CLIP_PIXELS,
    LLAVA_FEATURES,
    LLAVA_PROCESSOR,
    llama_tokenizer,
    run,
    save,
    tiny_text,
    tiny_vision,
    word_tokenizer,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# The chat template llava-hf/llava-v1.6-mistral-7b-hf ships: images first, then the text.
LLAVA_NEXT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + message['content'][0]['text'] + '</s> '}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)


# --------------------------------------------------------------------------- tiny model builders


def build_git(path):
    """GIT: a CLIP vision tower whose patch embeddings prefix a BERT-style text decoder."""
    from transformers import GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = word_tokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
        ("[CLS] $A [SEP]", ["[CLS]", "[SEP]"]),
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    processor = GitProcessor(
        image_processor=CLIPImageProcessorPil(**CLIP_PIXELS), tokenizer=tokenizer
    )
    ids = tokenizer.convert_tokens_to_ids
    config = GitConfig(
        vision_config=tiny_vision(initializer_range=WIDE_INIT),
        initializer_range=WIDE_INIT,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=ids("[CLS]"),  # a caption starts from [CLS], as microsoft/git-base's
        eos_token_id=ids("[SEP]"),
        **tiny_text(len(tokenizer), 64),
    )
    return save(GitForCausalLM, config, processor, path, seed=21)


def build_llava_next(path):
    """LLaVA-NeXT (CLIP + Llama) with 32-pixel tiles on grids of 1x1, 1x2 or 2x1 tiles."""
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    specials = ["<image>", "[INST]", "[/INST]"]
    tokenizer = llama_tokenizer(specials)
    tokenizer.add_tokens(specials, special_tokens=True)
    pinpoints = [[32, 32], [32, 64], [64, 32]]  # a square photo gets 1 tile, a wide one 2
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=LLAVA_NEXT_TEMPLATE,
        **LLAVA_PROCESSOR,
    )
    config = LlavaNextConfig(
        vision_config=tiny_vision(model_type="clip_vision_model", initializer_range=WIDE_INIT),
        text_config=tiny_llm(tokenizer, "llama", bos_token_id=tokenizer.bos_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        pad_token_id=tokenizer.pad_token_id,
        **LLAVA_FEATURES,
    )
    return save(LlavaNextForConditionalGeneration, config, processor, path, seed=22)


BUILDERS = {"git": build_git, "llava_next": build_llava_next}


family = family_fixture(BUILDERS)


# --------------------------------------------------------------------------- GIT


def git_reference(model, processor, request: GenerationInput) -> str:
    """GIT's model card: pixels alone to caption; `[CLS]` + the question (no `[SEP]`) to ask."""
    inputs = dict(processor(images=request.images[0], return_tensors="pt"))
    if request.prompt:
        ids = processor(text=request.prompt, add_special_tokens=False).input_ids
        inputs["input_ids"] = torch.tensor([[processor.tokenizer.cls_token_id, *ids]])
    return generate_new(model, processor, inputs)[0]


def test_git_matches_transformers(family, photos):
    """Captions (empty prompt) and questions, batched, as GIT's model card generates them."""
    adapter, model, processor = family("git")
    info = adapter.describe()
    assert info["class"] == "GitForCausalLM"
    # absolute positions: grouped by prompt length, never padded; no image tokens to repeat
    assert info["prompt_format"] == "plain" and info["padding"].startswith("none")
    assert info["dropped_prompt_end_token"] == "[SEP]"
    requests = image_requests(photos)
    requests.append(GenerationInput((photos[3],), "what color is the sky"))
    pre = adapter.preprocessor(GENERATE)
    batch = pre.collate([pre(r) for r in requests])
    sep = processor.tokenizer.sep_token_id
    ends = [f["input_ids"][:, -1] for _, f in batch.parts if "input_ids" in f]
    assert len(torch.cat(ends)) == 3 and sep not in torch.cat(ends).tolist()
    got = adapter.generate(batch)
    assert got == [git_reference(model, processor, r) for r in requests]
    assert got[1] and all(got)  # the empty prompt is a caption
    assert_image_matters(adapter, photos)


def test_git_video_is_middle_frame(family, clips):
    """A single-image model answers a video from its middle frame, with or without a prompt."""
    adapter = family("git")[0]
    assert adapter.describe()["video_input"] == "middle_frame"
    frames = clips[0]
    for prompt in ("", "what is this"):
        video = run(adapter, GENERATE, [GenerationInput(frames, prompt, is_video=True)])
        assert video == run(adapter, GENERATE, [GenerationInput((frames[2],), prompt)])


# --------------------------------------------------------------------------- LLaVA-NeXT


def test_llava_next_matches_transformers(family, photos):
    """Photos of different aspect ratios in one left-padded batch, as the chat template renders."""
    adapter, model, processor = family("llava_next")
    info = assert_describes(adapter, "LlavaNextForConditionalGeneration", "chat_template", "left")
    assert info["video_input"] == "frames_as_images"
    assert "dropped_prompt_end_token" not in info
    requests = image_requests(photos)
    features = batch_features(adapter, requests)
    # the square photo gets one tile, the wide ones two (each plus the whole view), so its tiles
    # are padded to three and its placeholders are fewer: the model unpads by `image_sizes`
    assert features["pixel_values"].shape[:2] == (3, 3)
    assert features["image_sizes"].tolist() == [list(im.size[::-1]) for im in photos[:3]]
    image_tokens = (features["input_ids"] == processor.image_token_id).sum(1).tolist()
    assert image_tokens[0] < image_tokens[1]
    assert (features["input_ids"] == processor.tokenizer.bos_token_id).sum(1).tolist() == [1] * 3
    assert_chat_answers(adapter, model, processor, requests, photos)


def test_llava_next_video_is_frames_as_images(family, clips):
    """A video is one user turn holding each frame as an image."""
    adapter, model, processor = family("llava_next")
    frames = clips[0]
    got = run(adapter, GENERATE, [GenerationInput(frames, "what is this", is_video=True)])
    assert got == chat_reference(model, processor, [chat(frames, "what is this")])


# --------------------------------------------------------------------------- batch size


@pytest.mark.parametrize("name", ["git", "llava_next"])
def test_answers_do_not_depend_on_batch_size(name, family, photos):
    """Three requests together (padded or grouped) get the answers each gets alone."""
    together, alone = together_and_alone(family(name)[0], image_requests(photos))
    assert together == alone


# --------------------------------------------------------------------------- LLaVA-OneVision


@pytest.mark.skipif(has_torchvision(), reason="checks the error where torchvision is missing")
def test_llava_onevision_without_torchvision_is_a_one_line_error(tmp_path):
    """A LLaVA-OneVision checkpoint's files, written piece by piece (its processor cannot be built
    without torchvision), fail to load with mmbench's one-line error naming torchvision."""
    from transformers import LlavaOnevisionConfig
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    tokenizer = word_tokenizer(
        ["<|endoftext|>", "[UNK]", "<image>", "<video>"],
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        eos_token="<|endoftext|>",
    )
    LlavaOnevisionConfig(
        vision_config=tiny_vision(model_type="siglip_vision_model"),
        text_config=tiny_llm(tokenizer, "qwen2"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[[32, 32], [32, 64]],
    ).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    pixels = {"size": {"height": 32, "width": 32}}
    LlavaOnevisionImageProcessorPil(**pixels).save_pretrained(tmp_path)
    video = {"video_processor_type": "LlavaOnevisionVideoProcessor", **pixels}
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(video))
    assert_needs_torchvision(tmp_path, "LlavaOnevisionVideoProcessor")
