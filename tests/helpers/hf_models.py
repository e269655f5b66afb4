"""Tiny random transformers checkpoints built offline, and the calls that compare them with mmbench.

Every builder writes a model with `save_pretrained` (seeded random weights, width 32, two layers)
and its own processor classes, with a vocabulary built here, so that a test loads it through the
real `hf:<dir>` path exactly as a hub download would be loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

WORD_TEXT = (
    "a an the photo picture of cat dog man woman astronaut coffee cup rocket camera sky red blue"
    " green is on in with what color describe this image question answer yes no"
)
#: the words every word-level test vocabulary holds
WORDS = WORD_TEXT.split()
#: captions whose words are all in WORDS
TEXTS = [
    "a photo of a cat",
    "a dog",
    "the astronaut with a red rocket in the sky",
    "a cup of coffee on the table",
]
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image> "
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    " </s> {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
#: a CLIP / LLaVA image processor at the tiny towers' 32 pixels
CLIP_PIXELS = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
#: LLaVA processors: one image token per patch of 8 plus the CLS token the "default" strategy drops
LLAVA_PROCESSOR = dict(
    patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1
)
#: LLaVA configs: the last vision layer's patch features, CLS dropped
LLAVA_FEATURES = dict(vision_feature_select_strategy="default", vision_feature_layer=-1)


def word_vocab(specials: list[str], words=WORDS, punctuation: str = "?.,!:") -> dict[str, int]:
    """`specials`, then `words` and `punctuation`'s characters, numbered in that order."""
    vocab: dict[str, int] = {}
    for token in [*specials, *words, *punctuation]:
        vocab.setdefault(token, len(vocab))
    return vocab


def word_tokenizer(specials, template=None, words=WORDS, punctuation: str = "?.,!:", **kwargs):
    """A tiny word-level fast tokenizer built offline over `word_vocab(specials, words,
    punctuation)`; `template` is (single, special tokens); `kwargs` go to the tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = word_vocab(specials, words, punctuation)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single=template[0], special_tokens=[(t, vocab[t]) for t in template[1]]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def llama_tokenizer(extra: list[str], **vocabulary):
    """A word-level tokenizer with Llama's specials (every text starts with <s>), `<image>` as its
    image token, and the `extra` tokens (which must include `<image>`); `vocabulary` may give
    `word_tokenizer` other `words` and `punctuation`."""
    return word_tokenizer(
        ["<pad>", "[UNK]", "<s>", "</s>", *extra],
        ("<s> $A", ["<s>"]),
        **vocabulary,
        pad_token="<pad>",
        unk_token="[UNK]",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )


def clip_byte_vocab() -> dict[str, int]:
    """CLIP's two specials and every byte-level character, alone and word-final (`</w>`): a
    character-level BPE vocabulary that needs no merges."""
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in sorted(set(ByteLevel.alphabet())):
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return vocab


#: the transformer size of every tiny tower: two layers of width 32
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)


def tiny_vision(**extra) -> dict[str, Any]:
    """A tiny ViT config over 32-pixel images in patches of 8; `extra` adds or overrides keys."""
    return {**TINY, "image_size": 32, "patch_size": 8, **extra}


def tiny_text(vocab_size: int, max_positions: int, **extra) -> dict[str, Any]:
    """A tiny text-tower config; `extra` adds or overrides keys."""
    return {"vocab_size": vocab_size, **TINY, "max_position_embeddings": max_positions, **extra}


def save(model_cls, config, processor, path, seed: int):
    """Seeded random weights and the processor, written as save_pretrained writes them."""
    import torch

    torch.manual_seed(seed)
    model_cls(config).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_clip(path: Path, seed: int = 0, **text) -> Path:
    """CLIP with a character-level tokenizer; `text` overrides the text tower's config."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vocab = clip_byte_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(**CLIP_PIXELS), tokenizer=tokenizer
    )
    text_config = tiny_text(len(vocab), 77, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    config = CLIPConfig(
        text_config={**text_config, **text}, vision_config=tiny_vision(), projection_dim=16
    )
    return save(CLIPModel, config, processor, path, seed)


def build_siglip(path: Path) -> Path:
    from transformers import SiglipConfig, SiglipModel, SiglipProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = word_tokenizer(
        ["<pad>", "[UNK]", "</s>"],
        ("$A </s>", ["</s>"]),
        pad_token="<pad>",
        unk_token="[UNK]",
        eos_token="</s>",
    )
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    config = SiglipConfig(
        text_config=tiny_text(len(tokenizer), 64, pad_token_id=0, eos_token_id=2),
        vision_config=tiny_vision(),
    )
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return save(SiglipModel, config, processor, path, seed=1)


def build_blip(path: Path) -> Path:
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = word_tokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]"],
        ("[CLS] $A [SEP]", ["[CLS]", "[SEP]"]),
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        bos_token="[DEC]",
    )
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    text = tiny_text(len(tokenizer), 64, encoder_hidden_size=32, bos_token_id=4)
    text.update(eos_token_id=3, sep_token_id=3, pad_token_id=0)
    config = BlipConfig(text_config=text, vision_config=tiny_vision(), projection_dim=16)
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return save(BlipForConditionalGeneration, config, processor, path, seed=2)


def build_llava(path: Path, seed: int = 3, layers: int = 2, **vocabulary) -> Path:
    """LLaVA (CLIP vision tower + Llama) with `layers` layers per tower and a chat template;
    `vocabulary` goes to `word_tokenizer` (`words`, `punctuation`)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = llama_tokenizer(["<image>", "USER", "ASSISTANT", ":"], **vocabulary)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(**CLIP_PIXELS),
        tokenizer=tokenizer,
        image_token="<image>",
        chat_template=LLAVA_TEMPLATE,
        **LLAVA_PROCESSOR,
    )
    text = tiny_text(len(tokenizer), 256, model_type="llama", num_key_value_heads=2)
    text.update(pad_token_id=0, bos_token_id=2, eos_token_id=3, num_hidden_layers=layers)
    config = LlavaConfig(
        vision_config=tiny_vision(model_type="clip_vision_model", num_hidden_layers=layers),
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=0,
        **LLAVA_FEATURES,
    )
    return save(LlavaForConditionalGeneration, config, processor, path, seed)


def build_all(root: Path, builders: dict[str, Any]) -> dict[str, Path]:
    """Each builder's checkpoint saved in `root / name`: name -> that folder."""
    return {name: build(root / name) for name, build in builders.items()}


def reference(path, kind: str):
    """The same checkpoint loaded directly with transformers: (model, processor); `kind` is "dual"
    (AutoModel) or anything else (AutoModelForImageTextToText). The image processor is
    transformers' PIL one, as mmbench's default `image_backend` (transformers itself would pick
    the torchvision class wherever torchvision is installed)."""
    from transformers import (
        AutoImageProcessor,
        AutoModel,
        AutoModelForImageTextToText,
        AutoProcessor,
    )

    cls = AutoModel if kind == "dual" else AutoModelForImageTextToText
    processor = AutoProcessor.from_pretrained(path)
    if getattr(processor, "image_processor", None) is not None:
        processor.image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
    return cls.from_pretrained(path).eval(), processor


def run(adapter, capability: str, raws):
    """Preprocess like a DataLoader worker (pickled preprocessor), collate, call the device."""
    pre = pickle.loads(pickle.dumps(adapter.preprocessor(capability)))
    return adapter.call(capability, pre.collate([pre(r) for r in raws]))


def pad_rows(tensor, rows: int = 32):
    """`tensor` padded to `rows` rows by repeating its last row (mmbench's fixed micro-batch)."""
    import torch

    return torch.cat([tensor, tensor[-1:].expand(rows - len(tensor), *tensor.shape[1:])])


def chat_reference(model, processor, conversations, max_new_tokens: int) -> list[str]:
    """The model-card recipe for chat models: one left-padded apply_chat_template batch, greedy,
    decoded from the first new token."""
    import torch

    inputs = processor.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        padding=True,
        padding_side="left",
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[:, inputs["input_ids"].shape[1] :]
    return [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]


def assert_one_line(err, *needles: str) -> None:
    """The raised error's message is one line holding every needle."""
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
