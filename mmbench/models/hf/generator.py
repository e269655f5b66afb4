"""Generators behind `hf:` URIs: captioning, VQA and video QA with transformers models.

How a request becomes model inputs (all decided from the processor and config, not the model
name):

* prompt: with a chat template (``processor.chat_template``), one user turn holding an image (or
  video) placeholder and the prompt, rendered with ``add_generation_prompt=True``; without one,
  the processor's image token once per image followed by the prompt (PaliGemma's convention), or
  the bare prompt for models without image tokens (BLIP, GIT). The end token a tokenizer
  appends (BERT's ``[SEP]`` for GIT) is dropped from a decoder-only model's prompt, see
  `prompt_end_token`.
* video: passed as a video when the processor has a video processor and a video placeholder
  (Qwen2-VL, LLaVA-OneVision, ...), else as one image per frame when the model takes several
  images (image tokens), else the middle frame alone (BLIP, GIT).
* batching: decoder-only models with rotary positions (LLaVA, Qwen-VL, Idefics, PaliGemma ...)
  are left-padded into one generate call; everything else (absolute positions, encoder-decoders,
  BLIP) is split into groups of equal prompt length, so no padding is ever needed.
* decoding: greedy (``do_sample=False, num_beams=1``) with ``max_new_tokens=32`` unless
  `ModelOptions.generation` or the task says otherwise; only the new tokens are decoded, special
  tokens are skipped and whitespace is stripped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmbench.data.items import IMAGE_MARKER
from mmbench.errors import MMBenchError
from mmbench.models.base import GENERATE, GENERATE_MULTI_IMAGE, GenerationInput
from mmbench.models.common import dtype_name, stable_hash
from mmbench.models.hf.adapter import ADAPTER_VERSION, HFAdapter, preprocessing_identity, to_device
from mmbench.models.hf.families import GENERATOR

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_GENERATION: dict[str, Any] = {"max_new_tokens": 32, "do_sample": False, "num_beams": 1}

PROMPT_CHAT = "chat_template"
PROMPT_PLAIN = "plain"
VIDEO_AS_VIDEO = "video"
VIDEO_AS_IMAGES = "frames_as_images"
VIDEO_MIDDLE_FRAME = "middle_frame"


@dataclass(frozen=True)
class GenItem:
    """One preprocessed request: the rendered prompt text and the visual inputs."""

    text: str | None
    images: tuple[Any, ...]
    video: bool


@dataclass(frozen=True)
class GenerationBatch:
    """A collated batch: sub-batches of model inputs, each with the positions it answers."""

    parts: tuple[tuple[tuple[int, ...], dict[str, Any]], ...]
    size: int

    def __len__(self) -> int:
        return self.size


def _interleaved_content(prompt: str) -> list[dict[str, Any]]:
    """Chat content for a prompt with IMAGE_MARKERs: text pieces and images in prompt order."""
    content: list[dict[str, Any]] = []
    for index, piece in enumerate(prompt.split(IMAGE_MARKER)):
        if index:
            content.append({"type": "image"})
        if piece:
            content.append({"type": "text", "text": piece})
    return content


def _rgb(image: Any) -> Any:
    return image if getattr(image, "mode", "RGB") == "RGB" else image.convert("RGB")


@dataclass(frozen=True)
class HFGenerationPreprocessor:
    """Renders each request's prompt (per item) and runs the processor over a batch (collate).

    The processor call sits in `collate` because only the processor knows how to batch its own
    outputs (padding text, padding image tiles, merging grids); collate runs in the DataLoader
    workers as well, so this work stays off the main process.
    """

    processor: Any
    prompt_format: str  # PROMPT_CHAT | PROMPT_PLAIN
    video_mode: str  # VIDEO_AS_VIDEO | VIDEO_AS_IMAGES | VIDEO_MIDDLE_FRAME
    left_padding: bool
    image_token: str | None = None
    video_token: str | None = None
    drop_end_token: int | None = None  # see `prompt_end_token`

    # ---------------------------------------------------------------- per item
    def __call__(self, request: GenerationInput) -> GenItem:
        if not isinstance(request, GenerationInput):
            raise TypeError(f"generate expects GenerationInput items, got {type(request).__name__}")
        images = tuple(_rgb(im) for im in request.images)
        if not images:
            raise MMBenchError("a generation request has no image or frame; check the dataset")
        as_video = request.is_video and len(images) > 1
        if as_video and self.video_mode == VIDEO_MIDDLE_FRAME:
            images, as_video = (images[len(images) // 2],), False
        elif not as_video and len(images) > 1 and self.image_token is None:
            raise MMBenchError(
                f"this model takes one image per prompt, but a request has {len(images)};"
                " use a multi-image model"
            )
        video = as_video and self.video_mode == VIDEO_AS_VIDEO
        interleaved = request.interleaved and not request.is_video
        text = self.render(request.prompt, len(images), video, interleaved)
        return GenItem(text, images, video)

    def render(
        self, prompt: str, n_images: int, video: bool, interleaved: bool = False
    ) -> str | None:
        """The prompt text; `interleaved` prompts mark each image's place with IMAGE_MARKER,
        where a chat template gets an image entry and a plain prompt the image token."""
        if self.prompt_format == PROMPT_CHAT:
            if interleaved:
                content = _interleaved_content(prompt)
            else:
                content = (
                    [{"type": "video"}] if video else [{"type": "image"} for _ in range(n_images)]
                )
                if prompt:
                    content.append({"type": "text", "text": prompt})
            messages = [{"role": "user", "content": content}]
            return self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
        if interleaved and self.image_token:
            return prompt.replace(IMAGE_MARKER, self.image_token)
        placeholder = ""
        if video and self.video_token:
            placeholder = self.video_token
        elif self.image_token and self.image_token not in prompt:
            placeholder = self.image_token * n_images
        text = placeholder + prompt
        return text or None

    # ---------------------------------------------------------------- batch
    def _process(self, items: list[GenItem], pad: bool) -> dict[str, Any]:
        texts = [item.text for item in items]
        kwargs: dict[str, Any] = {"return_tensors": "pt"}
        if pad and len(items) > 1:
            kwargs["padding"] = True
        bos = getattr(getattr(self.processor, "tokenizer", None), "bos_token", None)
        if bos and all(t is not None and t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the chat template wrote it (as transformers)
        images = [list(item.images) for item in items if not item.video]
        videos = [list(item.images) for item in items if item.video]
        if images and all(len(group) == 1 for group in images) and self.image_token is None:
            images = [group[0] for group in images]  # models without placeholders: flat list
        out = self.processor(
            text=None if all(t is None for t in texts) else [t or "" for t in texts],
            images=images or None,
            videos=videos or None,
            **kwargs,
        )
        import torch

        features = {k: v for k, v in dict(out).items() if isinstance(v, torch.Tensor)}
        return self._drop_end_token(features)

    def _drop_end_token(self, features: dict[str, Any]) -> dict[str, Any]:
        """Remove the end token closing every prompt, and its column in the per-token tensors."""
        ids = features.get("input_ids")
        if self.drop_end_token is None or ids is None or ids.shape[1] < 2:
            return features
        if not bool((ids[:, -1] == self.drop_end_token).all()):
            return features
        shape = ids.shape
        return {k: v[:, :-1] if v.shape[:2] == shape else v for k, v in features.items()}

    def collate(self, items: list[GenItem]) -> GenerationBatch:
        same_modality = len({item.video for item in items}) == 1
        if self.left_padding and same_modality:
            return GenerationBatch(
                ((tuple(range(len(items))), self._process(items, pad=True)),), len(items)
            )
        import torch

        # No padding: one processor call per item, then items whose inputs have the same shapes
        # (same prompt length) are concatenated into one sub-batch.
        groups: dict[tuple, list[tuple[int, dict[str, Any]]]] = {}
        for index, item in enumerate(items):
            features = self._process([item], pad=False)
            key = tuple(sorted((k, tuple(v.shape[1:])) for k, v in features.items()))
            key += (
                (("input_len", features["input_ids"].shape[-1]),) if "input_ids" in features else ()
            )
            groups.setdefault(key, []).append((index, features))
        parts = []
        for members in groups.values():
            indices = tuple(i for i, _ in members)
            merged = {k: torch.cat([f[k] for _, f in members]) for k in members[0][1]}
            parts.append((indices, merged))
        return GenerationBatch(tuple(parts), len(items))


def _text_config(config: Any) -> Any:
    try:
        return config.get_text_config(decoder=True)
    except Exception:
        return getattr(config, "text_config", config)


def left_padding_ok(config: Any, tokenizer: Any) -> bool:
    """Whether one left-padded batch gives the same answers as unpadded prompts.

    True for decoder-only language models with rotary positions, whose positions follow the
    attention mask; absolute-position decoders (BLIP, GIT) and encoder-decoders are not padded.
    """
    text_config = _text_config(config)
    if getattr(config, "is_encoder_decoder", False) or getattr(
        text_config, "is_encoder_decoder", False
    ):
        return False
    if getattr(tokenizer, "padding_side", None) == "left":
        return True
    rotary = any(
        getattr(text_config, attr, None)
        for attr in ("rope_parameters", "rope_theta", "rope_scaling")
    )
    return bool(rotary or getattr(text_config, "position_embedding_type", None) == "rotary")


def prompt_end_token(model: Any, tokenizer: Any, encoder_decoder: bool) -> int | None:
    """The end-of-text token the tokenizer appends to every prompt, where it must be dropped.

    A decoder-only model continues its prompt, so a prompt closed by BERT's ``[SEP]`` asks it
    for text after the end of the text: GIT's model card asks a question as ``[CLS]`` + the
    question, without ``[SEP]``. Models with a `generate` of their own (BLIP) already drop it,
    and an encoder-decoder reads it as the end of its input, so both keep it.
    """
    from transformers import GenerationMixin

    if encoder_decoder or tokenizer is None:
        return None
    if getattr(type(model), "generate", None) is not GenerationMixin.generate:
        return None
    ends = {getattr(tokenizer, "sep_token_id", None), getattr(tokenizer, "eos_token_id", None)}
    try:
        full = list(tokenizer("a")["input_ids"])
        bare = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    except Exception:  # a tokenizer that cannot encode plain text has no end token to find
        return None
    if len(full) <= len(bare) or full[-1] not in ends - {None}:
        return None
    return full[-1] if full[-len(bare) - 1 : -1] == bare else None


def _has_chat_template(processor: Any) -> bool:
    return bool(getattr(processor, "chat_template", None)) and callable(
        getattr(processor, "apply_chat_template", None)
    )


def _template_text(processor: Any) -> str:
    template = getattr(processor, "chat_template", None)
    if isinstance(template, dict):
        return " ".join(str(v) for v in template.values())
    return str(template or "")


def _token(processor: Any, name: str) -> str | None:
    value = getattr(processor, name, None)
    return value if isinstance(value, str) and value else None


class HFGenerator(HFAdapter):
    """Captioning / VQA / video QA through `model.generate`."""

    capabilities = frozenset({GENERATE})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes `HFAdapter`'s arguments, then reads what generation needs from the model."""
        super().__init__(*args, **kwargs)
        source, model, processor, options = self.source, self.model, self.processor, self.options
        config = model.config
        tokenizer = getattr(processor, "tokenizer", None)
        self.encoder_decoder = bool(
            getattr(config, "is_encoder_decoder", False)
            or getattr(_text_config(config), "is_encoder_decoder", False)
        )
        left = left_padding_ok(config, tokenizer)
        # Absolute-position decoders (BLIP, GIT) index a position table: a longer prompt would
        # fail inside torch; rotary ones only degrade past their trained length.
        text_config = _text_config(config)
        self.max_positions = (
            None
            if left or self.encoder_decoder
            else getattr(text_config, "max_position_embeddings", None)
        )
        if left and tokenizer is not None:
            tokenizer.padding_side = "left"
        image_token = _token(processor, "image_token")
        video_token = _token(processor, "video_token")
        chat = _has_chat_template(processor)
        if image_token:  # image tokens mark each image's place, so a prompt may hold several
            self.capabilities = frozenset({GENERATE, GENERATE_MULTI_IMAGE})
        if getattr(processor, "video_processor", None) is not None and (
            video_token or (chat and "video" in _template_text(processor))
        ):
            video_mode = VIDEO_AS_VIDEO
        elif image_token:
            video_mode = VIDEO_AS_IMAGES
        else:
            video_mode = VIDEO_MIDDLE_FRAME
        self._pre = HFGenerationPreprocessor(
            processor,
            PROMPT_CHAT if chat else PROMPT_PLAIN,
            video_mode,
            left,
            image_token,
            video_token,
            prompt_end_token(model, tokenizer, self.encoder_decoder),
        )
        settings = {**DEFAULT_GENERATION, **dict(options.generation or {})}
        if getattr(model.generation_config, "pad_token_id", None) is None:
            pad = getattr(tokenizer, "pad_token_id", None)
            if pad is None:
                pad = getattr(tokenizer, "eos_token_id", None)
            if pad is not None:
                settings.setdefault("pad_token_id", pad)
        self.generation = settings
        self._pad_id = settings.get("pad_token_id", model.generation_config.pad_token_id)
        self._generated = 0
        logger.debug(
            "model %s: prompts %s, padding %s (tokenizer padding_side %s), video as %s,"
            " dropped end token %s, generation %s",
            source.name,
            self._pre.prompt_format,
            "left, one generate call" if left else "none, grouped by prompt length",
            getattr(tokenizer, "padding_side", None),
            video_mode,
            self._pre.drop_end_token,
            settings,
        )
        self._fingerprint = stable_hash(
            {
                "adapter": "hf-generator",
                "version": ADAPTER_VERSION,
                "model": source.identity(),
                "class": type(model).__name__,
                "dtype": dtype_name(self.dtype),
                "preprocessing": preprocessing_identity(processor),
                "chat_template": _template_text(processor) if chat else None,
                "prompt_format": self._pre.prompt_format,
                "video_input": video_mode,
                "padding": "left" if left else "none",
                "generation": settings,
                "checkpoint_generation_config": self._checkpoint_generation(),
                # only where a token is dropped, so other generators' cache entries stay valid
                **self._dropped_end_token(),
            }
        )

    def _dropped_end_token(self) -> dict[str, Any]:
        """The end token dropped from prompts, by name, or nothing where none is."""
        token = self._pre.drop_end_token
        if token is None:
            return {}
        tokenizer = getattr(self.processor, "tokenizer", None)
        name = tokenizer.convert_ids_to_tokens(token) if tokenizer is not None else token
        return {"dropped_prompt_end_token": name}

    def _checkpoint_generation(self) -> dict[str, Any]:
        try:
            diff = self.model.generation_config.to_diff_dict()
        except Exception:
            return {}
        diff.pop("transformers_version", None)
        return diff

    def describe(self) -> dict[str, Any]:
        return self._describe(
            GENERATOR,
            {
                "generation": dict(self.generation),
                "checkpoint_generation_config": self._checkpoint_generation(),
                "prompt_format": self._pre.prompt_format,
                "video_input": self._pre.video_mode,
                "padding": "left" if self._pre.left_padding else "none (grouped by prompt length)",
                **self._dropped_end_token(),
            },
        )

    def preprocessor(self, capability: str) -> HFGenerationPreprocessor:
        if capability != GENERATE:
            self.require(capability, "?")
        return self._pre

    def generate(self, batch: GenerationBatch, **generation_kwargs: Any) -> list[str]:
        import torch

        settings = {**self.generation, **generation_kwargs}
        settings["return_dict_in_generate"] = False
        results: list[str | None] = [None] * batch.size
        for indices, features in batch.parts:
            self._check_length(features, settings)
            inputs = to_device(features, self.device, self.dtype)
            if settings.get("do_sample"):
                torch.manual_seed(self.options.seed)
            with torch.inference_mode():
                out = self.model.generate(**inputs, **settings)
            out = getattr(out, "sequences", out)
            self._generated += self._new_tokens(out, features.get("input_ids"))
            for index, text in zip(
                indices, self.decode(out, features.get("input_ids")), strict=True
            ):
                results[index] = text
        return [r or "" for r in results]

    def generated_tokens(self) -> int:
        return self._generated

    def _new_tokens(self, out: torch.Tensor, input_ids: torch.Tensor | None) -> int:
        """Generated tokens of a batch: the output past the echoed prompt (an encoder-decoder's
        whole output but its start token), less padding after each answer's end."""
        new = (
            out[:, input_ids.shape[1] :]
            if input_ids is not None and not self.encoder_decoder
            else out[:, 1:]
        )
        if self._pad_id is None:
            return int(new.numel())
        return int((new != self._pad_id).sum())

    def _check_length(self, features: dict[str, Any], settings: dict[str, Any]) -> None:
        """One line, not an index error deep in torch, when a prompt plus its answer would run
        past an absolute-position decoder's position table."""
        ids = features.get("input_ids")
        if self.max_positions is None or ids is None:
            return
        new = int(settings.get("max_new_tokens") or 0)
        if ids.shape[-1] + new > self.max_positions:
            raise MMBenchError(
                f"model {self.uri!r} reads at most {self.max_positions} text positions, but a"
                f" prompt has {ids.shape[-1]} tokens and up to {new} new ones; use a model with a"
                " longer context, a shorter prompt in the task's options, or a lower"
                " --gen-kwargs max_new_tokens"
            )

    def decode(self, out: torch.Tensor, input_ids: torch.Tensor | None) -> list[str]:
        """Text of the new tokens only, whitespace-stripped."""
        import torch

        out = out.cpu()
        if input_ids is not None:
            n = input_ids.shape[1]
            if out.shape[1] >= n and torch.equal(out[:, :n], input_ids.cpu()):
                return [t.strip() for t in self._batch_decode(out[:, n:])]
        texts = self._batch_decode(out)
        if input_ids is None or self.encoder_decoder:
            return [t.strip() for t in texts]
        # Models that rewrite the prompt before echoing it (BLIP swaps [CLS] for [DEC] and drops
        # [SEP]): remove the decoded prompt text, as transformers' image-text pipeline does.
        prompts = self._batch_decode(input_ids.cpu())
        stripped = []
        for text, prompt in zip(texts, prompts, strict=True):
            at = text.find(prompt) if prompt else -1
            stripped.append((text[at + len(prompt) :] if 0 <= at <= 2 else text).strip())
        return stripped

    def _batch_decode(self, ids: torch.Tensor) -> list[str]:
        return self.processor.batch_decode(ids, skip_special_tokens=True)
