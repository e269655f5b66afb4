"""A tiny random Idefics3 (multi-image chat model) for the multiple-choice tasks' HF path.

Built offline with `save_pretrained` from a config (two layers, width 32, seeded weights), a
word-level tokenizer made here and Idefics3's own processor and chat template, so a test loads
it through the real `hf:<dir>` path as a hub download would be.
"""

from __future__ import annotations

from pathlib import Path

from helpers.hf_generators import IDEFICS3_TEMPLATE, WIDE_INIT, tiny_llm
from helpers.hf_models import save, tiny_vision, word_tokenizer

WORD_TEXT = (
    "A B C D a the is what which how many animal cat dog bird fish answer option letter with"
    " from given choices directly question image photo yes no"
)


def _tokenizer():
    specials = ["<pad>", "[UNK]", "<|begin_of_text|>", "<end_of_utterance>", "User", "Assistant"]
    tokenizer = word_tokenizer(
        specials,
        ("<|begin_of_text|> $A", ["<|begin_of_text|>"]),
        words=WORD_TEXT.split(),
        punctuation="?.,!:'()<>",
        pad_token="<pad>",
        unk_token="[UNK]",
        bos_token="<|begin_of_text|>",
        eos_token="<end_of_utterance>",
    )
    tiles = ["<global-img>"] + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tokenizer.add_tokens(tiles, special_tokens=True)
    return tokenizer


def build_idefics3(path: Path) -> Path:
    """Idefics3 with a Llama text model; images resized to at most 32 pixels (one tile)."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tokenizer = _tokenizer()
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(
            size={"longest_edge": 32}, max_image_size={"longest_edge": 32}
        ),
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=IDEFICS3_TEMPLATE,
    )
    config = Idefics3Config(
        vision_config=tiny_vision(initializer_range=WIDE_INIT),
        text_config=tiny_llm(
            tokenizer, "llama", max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save(Idefics3ForConditionalGeneration, config, processor, path, seed=12)
