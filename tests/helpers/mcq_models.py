"""A tiny random Idefics3 (multi-image chat model) for the multiple-choice tasks' HF path.

Built offline with `save_pretrained` from a config (two layers, width 32, seeded weights), a
word-level tokenizer made here and Idefics3's own processor and chat template, so a test loads
it through the real `hf:<dir>` path as a hub download would be.
"""

from __future__ import annotations

from pathlib import Path

from helpers.hf_generators import IDEFICS3_TEMPLATE

WORD_TEXT = (
    "A B C D a the is what which how many animal cat dog bird fish answer option letter with"
    " from given choices directly question image photo yes no"
)


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "[UNK]", "<|begin_of_text|>", "<end_of_utterance>", "User", "Assistant"]
    vocab: dict[str, int] = {}
    for token in [*specials, *WORD_TEXT.split(), *"?.,!:'()<>"]:
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        special_tokens=[("<|begin_of_text|>", vocab["<|begin_of_text|>"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
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
    import torch
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
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    config = Idefics3Config(
        vision_config={**tiny, "image_size": 32, "patch_size": 8, "initializer_range": 0.5},
        text_config=dict(
            model_type="llama",
            vocab_size=len(tokenizer),
            num_key_value_heads=2,
            max_position_embeddings=2048,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
            initializer_range=0.5,
            **tiny,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(12)
    Idefics3ForConditionalGeneration(config).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return path
