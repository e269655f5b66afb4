"""`hf:` model adapters: Hugging Face transformers models from the hub or a local directory.

URI forms (``spec`` is the URI without ``hf:``)::

    hf:org/name                 the hub's default branch (resolved to a commit hash)
    hf:org/name@REVISION        a commit hash, branch or tag (resolved to a commit hash)
    hf:/abs/path  hf:./rel/path a directory written by ``save_pretrained`` (content-hashed)

Two families are supported, both detected from the config and the model class, never from the
repository name:

* dual encoders (CLIP, SigLIP, SigLIP2, ALIGN, ...): the class `AutoModel` maps the config to has
  ``get_image_features`` and ``get_text_features``. Loaded with `AutoModel` + `AutoProcessor`;
  capabilities ``encode_images``, ``encode_texts`` and ``encode_videos`` (mean of frames).
* generators (BLIP, GIT, BLIP-2, LLaVA, Qwen2-VL, Idefics, PaliGemma, ...): the checkpoint's
  architecture can generate. Loaded with `AutoModelForImageTextToText` (or the other generation
  Auto classes); capability ``generate``. See `mmbench.models.hf_generation`.

torch and transformers are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmbench.errors import MMBenchError
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    ModelAdapter,
    ModelOptions,
    Preprocessor,
    encoder_preprocessor,
    resolve_device,
)

if TYPE_CHECKING:
    import torch

# Bump when a change here (preprocessing, padding, pooling ...) can move any output: it is part of
# every fingerprint, hence of every cache key.
ADAPTER_VERSION = 1
# The same for the dual-encoder path alone, so that a change there keeps generators' cache entries.
# 2: images go through the image processor itself (see HFImagePreprocessor).
DUAL_ENCODER_VERSION = 2

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
_DTYPE_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

# Auto classes tried, in order, for generators. `AutoModelForVision2Seq` is gone in transformers 5
# but still present in the 4.x releases mmbench supports; missing names are skipped.
GENERATOR_AUTO_CLASSES = (
    "AutoModelForImageTextToText",
    "AutoModelForVision2Seq",
    "AutoModelForMultimodalLM",
    "AutoModelForCausalLM",
    "AutoModelForSeq2SeqLM",
)

# Dual encoders run every forward pass on exactly this many rows (a short last chunk is filled with
# copies of its last row, whose outputs are dropped). CPU and GPU matrix kernels pick their
# algorithm by shape, so a row's last bits change with the number of rows next to it; with one
# fixed shape they do not, which makes embeddings bitwise independent of the batch size.
MICRO_BATCH = 32

# Text lengths the text towers of known dual-encoder families were trained with, used only when
# neither the processor's defaults nor the tokenizer say (keyed by config.model_type, not repo id).
_TRAINED_TEXT_LENGTH = {"siglip": 64, "siglip2": 64, "align": 64}

# Files whose content identifies a local model directory (weights, configs, tokenizer, code).
_HASHED_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".json",
    ".txt",
    ".model",
    ".jinja",
    ".py",
    ".tiktoken",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


# --------------------------------------------------------------------------- source resolution


@dataclass(frozen=True)
class HFSource:
    """Where a model comes from and the immutable identity of its files."""

    spec: str  # as written after 'hf:'
    location: str  # what from_pretrained receives: a hub id or an absolute directory
    is_local: bool
    revision: str | None = None  # requested revision (hub only)
    commit: str | None = None  # resolved commit hash (hub only)
    content_sha256: str | None = None  # hash of the directory's files (local only)
    weights_sha256: str | None = None  # hash of the weight files alone (local only)

    @property
    def name(self) -> str:
        return f"hf:{self.spec}"

    @property
    def load_revision(self) -> str | None:
        """The revision to pass to from_pretrained: the pinned commit, so every file matches."""
        return None if self.is_local else (self.commit or self.revision)

    def identity(self) -> dict[str, Any]:
        if self.is_local:
            return {"local": True, "content_sha256": self.content_sha256}
        return {"hub_id": self.location, "commit": self.commit or self.revision or "main"}

    def describe(self) -> dict[str, Any]:
        if self.is_local:
            return {
                "source": "local",
                "path": self.location,
                "content_sha256": self.content_sha256,
                "weights_sha256": self.weights_sha256,
            }
        return {
            "source": "hub",
            "id": self.location,
            "revision": self.revision or "main",
            "commit": self.commit,
        }


def _is_local_spec(spec: str) -> bool:
    if spec.startswith(("/", "./", "../", "~", ".\\", "..\\")) or spec in (".", ".."):
        return True
    if re.match(r"^[A-Za-z]:[\\/]", spec):  # Windows drive path
        return True
    return os.path.isdir(spec)


def parse_spec(spec: str) -> tuple[str, str | None, bool]:
    """Split an `hf:` spec into (location, revision, is_local) without touching the network."""
    spec = spec.strip()
    if not spec:
        raise MMBenchError("empty hf: model; write hf:org/name, hf:org/name@revision or hf:/path")
    if _is_local_spec(spec):
        return str(Path(spec).expanduser().resolve()), None, True
    repo_id, sep, revision = spec.partition("@")
    if sep and not revision:
        raise MMBenchError(
            f"model 'hf:{spec}' has an empty revision after '@';"
            f" write hf:{repo_id}@<commit|branch|tag>"
        )
    if not _HUB_ID.match(repo_id):
        raise MMBenchError(
            f"model 'hf:{spec}' is neither an existing directory nor a hub id like org/name;"
            " check the spelling, or write a local directory as hf:/abs/path or hf:./rel/path"
        )
    return repo_id, (revision or None), False


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def _fetch_error(repo_id: str, revision: str | None, exc: BaseException) -> MMBenchError:
    at = f" at revision {revision!r}" if revision else ""
    return MMBenchError(
        f"cannot fetch model {repo_id!r}{at} from the Hugging Face hub ({_one_line(exc)});"
        " check the id and revision, your network connection (and HF_TOKEN for gated models),"
        " or download the model and pass its local directory as hf:/path/to/dir"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 23), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _hash_files(root: str, stamp: tuple[tuple[str, int, int], ...]) -> tuple[str, str]:
    """(hash of all files, hash of weight files); memoised on (path, size, mtime) per process."""
    everything, weights = hashlib.sha256(), hashlib.sha256()
    for rel, _size, _mtime in stamp:
        line = f"{rel}\0{file_sha256(Path(root) / rel)}\n".encode()
        everything.update(line)
        if rel.endswith(_WEIGHT_SUFFIXES):
            weights.update(line)
    return everything.hexdigest(), weights.hexdigest()


def local_content_hash(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """sha256 over the weight, config, tokenizer and code files at the top of a model directory.

    Returns (content hash, weights-only hash). The directory's own path is not part of either, so
    moving a model keeps its cache entries.
    """
    root = Path(directory)
    stamp = []
    for path in sorted(root.iterdir()):  # from_pretrained reads the top level only
        rel = path.name
        if rel.startswith(".") or not path.is_file():
            continue
        if rel.endswith(_HASHED_SUFFIXES):
            st = path.stat()
            stamp.append((rel, st.st_size, st.st_mtime_ns))
    return _hash_files(str(root), tuple(stamp))


def resolve_source(spec: str) -> tuple[HFSource, dict[str, Any]]:
    """Check the model exists, pin its files, and return (source, raw config.json dict)."""
    location, revision, is_local = parse_spec(spec)
    if is_local:
        root = Path(location)
        if not root.is_dir():
            raise MMBenchError(
                f"model directory {location} (from hf:{spec}) does not exist; pass a directory"
                " written by save_pretrained, or a hub id such as hf:openai/clip-vit-base-patch32"
            )
        config_path = root / "config.json"
        if not config_path.is_file():
            raise MMBenchError(
                f"model directory {location} has no config.json, so it is not a saved"
                " transformers model; point hf: at the folder save_pretrained wrote (the one"
                " holding config.json)"
            )
        content, weights = local_content_hash(root)
        source = HFSource(
            spec, location, True, content_sha256=content, weights_sha256=weights or None
        )
    else:
        try:
            from huggingface_hub import hf_hub_download

            config_path = Path(hf_hub_download(location, "config.json", revision=revision))
        except Exception as exc:  # offline, not found, gated, bad revision, bad id ...
            raise _fetch_error(location, revision, exc) from exc
        commit = config_path.parent.name if _COMMIT.match(config_path.parent.name) else None
        if commit is None:
            commit = _hub_commit(location, revision)
        source = HFSource(spec, location, False, revision=revision, commit=commit)
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MMBenchError(
            f"cannot read config.json of model 'hf:{spec}' ({_one_line(exc)}); the file is"
            " corrupt: re-save or re-download the model"
        ) from exc
    if not isinstance(raw, dict):
        raise MMBenchError(f"config.json of model 'hf:{spec}' is not a JSON object; re-save it")
    return source, raw


@lru_cache(maxsize=64)
def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit `revision` of a hub model points to, or None when the hub cannot be asked.

    Memoised per process: `identify` and `load` ask once between them, and see the same commit.
    """
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo_id, revision=revision).sha
    except Exception:
        return None


# --------------------------------------------------------------------------- options


def check_remote_code(raw_config: dict[str, Any], name: str, trust_remote_code: bool) -> None:
    """Refuse a model that needs its repository's own Python code unless the user opted in."""
    if trust_remote_code or not raw_config.get("auto_map"):
        return
    from transformers import CONFIG_MAPPING

    model_type = raw_config.get("model_type")
    if model_type and model_type in CONFIG_MAPPING:
        return  # transformers has native code for it and uses that, as it does by default
    raise remote_code_error(name, model_type)


def remote_code_error(name: str, model_type: Any) -> MMBenchError:
    import transformers

    kind = f"model_type {model_type!r}" if model_type else "its architecture"
    return MMBenchError(
        f"model {name!r} needs custom code from its repository ({kind} is not built into"
        f" transformers {transformers.__version__}); pass --trust-remote-code if you trust that"
        " code, or upgrade transformers"
    )


def resolve_dtype(requested: str, device: str, config: Any = None) -> torch.dtype:
    """The torch dtype to run in.

    ``auto``: float32 off CUDA; on CUDA the checkpoint's stored dtype when it is half precision
    (bfloat16 becomes float16 on GPUs without bfloat16), else float32. So CLIP-like float32
    checkpoints are evaluated in float32 everywhere, and large half-precision generators in the
    precision they were published in.
    """
    import torch

    key = str(requested or "auto").lower().replace("torch.", "")
    if key != "auto":
        if key not in _DTYPE_ALIASES:
            raise MMBenchError(
                f"unknown --dtype {requested!r}; use one of {', '.join(DTYPE_CHOICES)}"
            )
        return getattr(torch, _DTYPE_ALIASES[key])
    if not str(device).startswith("cuda"):
        return torch.float32
    stored = _stored_dtype(config)
    if stored == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return torch.float16
    if stored in (torch.bfloat16, torch.float16):
        return stored
    return torch.float32


def _stored_dtype(config: Any) -> torch.dtype | None:
    import torch

    if config is None:
        return None
    candidates = [config]
    get_text_config = getattr(config, "get_text_config", None)
    if callable(get_text_config):
        candidates.append(get_text_config())
    for cfg in candidates:
        value = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        if isinstance(value, str):
            value = getattr(torch, value.replace("torch.", ""), None)
        if isinstance(value, torch.dtype):
            return value
    return None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# --------------------------------------------------------------------------- family detection

DUAL_ENCODER = "dual_encoder"
GENERATOR = "generator"


def _has_feature_methods(cls: Any) -> bool:
    return callable(getattr(cls, "get_image_features", None)) and callable(
        getattr(cls, "get_text_features", None)
    )


def _can_generate(cls: Any) -> bool:
    try:
        return bool(cls.can_generate())
    except Exception:
        return False


def detect_family(config: Any, trust_remote_code: bool, name: str) -> tuple[str, Any]:
    """Return (family, loader) where loader has `from_pretrained` (an Auto class or model class).

    Decided from the config alone: the checkpoint's declared architecture, what the Auto
    mappings map its config class to, and the methods of that class.
    """
    import transformers

    arch_name = (getattr(config, "architectures", None) or [None])[0]
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and auto_map:
        for auto_name in GENERATOR_AUTO_CLASSES:
            if auto_name in auto_map and hasattr(transformers, auto_name):
                return GENERATOR, getattr(transformers, auto_name)
        if "AutoModel" in auto_map:
            return DUAL_ENCODER, transformers.AutoModel  # methods are checked after loading

    arch_cls = getattr(transformers, arch_name, None) if arch_name else None
    gen_autos = [
        getattr(transformers, n) for n in GENERATOR_AUTO_CLASSES if hasattr(transformers, n)
    ]

    def mapped(auto: Any) -> Any:
        try:
            return auto._model_mapping[type(config)]
        except Exception:
            return None

    if arch_cls is not None and _can_generate(arch_cls):
        for auto in gen_autos:  # prefer an Auto class that maps to the declared architecture
            cls = mapped(auto)
            if cls is not None and cls.__name__ == arch_name:
                return GENERATOR, auto
        return GENERATOR, arch_cls
    base_cls = mapped(transformers.AutoModel)
    if arch_cls is not None and _has_feature_methods(arch_cls):
        if base_cls is arch_cls:
            return DUAL_ENCODER, transformers.AutoModel
        return DUAL_ENCODER, arch_cls
    if arch_cls is None and base_cls is not None and _has_feature_methods(base_cls):
        return DUAL_ENCODER, transformers.AutoModel
    if arch_cls is None:
        for auto in gen_autos[:3]:  # image-text generation mappings only, not text-only LMs
            if mapped(auto) is not None:
                return GENERATOR, auto
    raise MMBenchError(
        f"model {name!r} (model_type {getattr(config, 'model_type', '?')!r}, architecture"
        f" {arch_name or '?'}) is neither a dual encoder (get_image_features/get_text_features)"
        " nor an image-text generator; pick such a checkpoint or write a py: adapter"
    )


# --------------------------------------------------------------------------- loading


def _load_config(source: HFSource, options: ModelOptions) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(
            source.location,
            revision=source.load_revision,
            trust_remote_code=options.trust_remote_code,
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        raise MMBenchError(
            f"transformers cannot read the config of model {source.name!r} ({_one_line(exc)});"
            " upgrade transformers or check the checkpoint"
        ) from exc
    except OSError as exc:
        raise _load_error(source, "config", exc) from exc


def _load_error(source: HFSource, what: str, exc: BaseException) -> MMBenchError:
    if source.is_local:
        return MMBenchError(
            f"cannot load the {what} of model {source.name!r} ({_one_line(exc)}); the directory"
            " must hold everything save_pretrained writes (config, weights, processor files)"
        )
    return _fetch_error(source.location, source.revision, exc)


def load_processor(source: HFSource, options: ModelOptions) -> Any:
    """AutoProcessor, falling back to AutoImageProcessor + AutoTokenizer bundled together."""
    from transformers import AutoProcessor

    kwargs = {"revision": source.load_revision, "trust_remote_code": options.trust_remote_code}
    try:
        processor = AutoProcessor.from_pretrained(source.location, **kwargs)
    except ImportError as exc:
        # The processor needs a package that is missing (in transformers 5 every video processor,
        # hence Qwen2-VL's whole processor, needs torchvision). No fallback: an image processor
        # and a tokenizer alone would not expand the image placeholders, so answers would be wrong.
        raise MMBenchError(
            f"cannot load the processor of model {source.name!r} ({_one_line(exc)}); install the"
            " package that message names (for a video processor: torchvision, the build that"
            " matches your torch)"
        ) from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        processor = None
    except OSError:
        processor = None
    if processor is not None and hasattr(processor, "image_processor"):
        return processor
    from transformers import AutoImageProcessor, AutoTokenizer

    try:
        image_processor = AutoImageProcessor.from_pretrained(source.location, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise MMBenchError(
            f"model {source.name!r} has no usable processor (image processor + tokenizer):"
            f" {_one_line(exc)}; save them next to the weights with processor.save_pretrained(dir)"
        ) from exc
    return ProcessorPair(image_processor, tokenizer)


@dataclass
class ProcessorPair:
    """An image processor and a tokenizer standing in for a missing combined processor."""

    image_processor: Any
    tokenizer: Any
    chat_template: Any = None

    def __call__(
        self, images: Any = None, text: Any = None, videos: Any = None, **kwargs: Any
    ) -> Any:
        if videos is not None:
            raise MMBenchError("this model has no video processor; pass frames as images")
        out: dict[str, Any] = {}
        tensors = kwargs.get("return_tensors")
        if images is not None:
            out.update(self.image_processor(images, return_tensors=tensors))
        if text is not None:
            out.update(self.tokenizer(text, **kwargs))
        return out

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)


def load_weights(
    loader: Any, source: HFSource, options: ModelOptions, dtype: Any, device: str
) -> tuple[Any, list[str]]:
    """from_pretrained in `dtype` on `device`, in eval mode; returns (model, missing weight names).

    Refuses a checkpoint that misses a real share of the class's weights (its outputs would come
    from random initialisation), and reports smaller gaps, which land in the result JSON.
    """
    import transformers

    # transformers renamed torch_dtype to dtype in 4.56; mmbench supports releases on both sides
    major, minor = (int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    dtype_kwarg = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    try:
        model, info = loader.from_pretrained(
            source.location,
            revision=source.load_revision,
            trust_remote_code=options.trust_remote_code,
            output_loading_info=True,
            **{dtype_kwarg: dtype},
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise remote_code_error(source.name, None) from exc
        raise
    except OSError as exc:
        raise _load_error(source, "weights", exc) from exc
    model = model.to(device).eval()
    missing = sorted(info.get("missing_keys") or []) if isinstance(info, dict) else []
    if missing:
        params = dict(model.named_parameters())
        total = sum(p.numel() for p in params.values()) or 1
        lost = sum(params[k].numel() for k in missing if k in params)
        if lost / total > 0.01:
            raise MMBenchError(
                f"checkpoint of model {source.name!r} lacks {len(missing)} weights of"
                f" {type(model).__name__} (e.g. {missing[0]}), so outputs would be random;"
                " it was saved for another architecture: pick the matching checkpoint"
            )
        warnings.warn(
            f"model {source.name!r}: {len(missing)} weights were not in the checkpoint and keep"
            f" their initial values ({', '.join(missing[:3])})",
            stacklevel=2,
        )
    return model, missing


def load(spec: str, options: ModelOptions) -> ModelAdapter:
    """Entry point of the `hf:` scheme (see `mmbench.models.SCHEMES`)."""
    source, raw_config = resolve_source(spec)
    check_remote_code(raw_config, source.name, options.trust_remote_code)
    config = _load_config(source, options)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device, config)
    family, loader = detect_family(config, options.trust_remote_code, source.name)
    processor = load_processor(source, options)
    if family == GENERATOR and getattr(processor, "image_processor", None) is None:
        raise MMBenchError(
            f"model {source.name!r} has no image processor, so it is not a vision-language"
            " generator; pick an image-text-to-text checkpoint"
        )
    model, missing = load_weights(loader, source, options, dtype, device)
    if family == GENERATOR:
        from mmbench.models.hf_generation import HFGenerator

        return HFGenerator(source, model, processor, options, device, dtype, missing)
    if not _has_feature_methods(model):
        raise MMBenchError(
            f"model {source.name!r} ({type(model).__name__}) has no get_image_features /"
            " get_text_features, so it cannot embed images and texts; write a py: adapter for it"
        )
    return HFDualEncoder(source, model, processor, options, device, dtype, missing)


# --------------------------------------------------------------------------- shared helpers


def to_device(features: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    """Move tensors to `device`; floating ones (pixel values) also to the model's dtype."""
    import torch

    out = {}
    for key, value in features.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if value.is_floating_point():
                value = value.to(dtype)
        out[key] = value
    return out


def accepted_kwargs(method: Any, features: dict[str, Any]) -> dict[str, Any]:
    """Keep only the features `method` names as parameters."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return dict(features)
    named = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {k: v for k, v in features.items() if k in named}


def embedding_of(output: Any) -> torch.Tensor:
    """The projected embedding from get_*_features, which is a tensor in transformers 4 and a
    ModelOutput whose pooler_output holds the projection in transformers 5."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for key in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, key, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find an embedding in {type(output).__name__}")


def stable_hash(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def preprocessing_identity(processor: Any) -> dict[str, Any]:
    """Classes and settings of the processor: part of the fingerprint."""
    image_processor = getattr(processor, "image_processor", None)
    tokenizer = getattr(processor, "tokenizer", None)
    ident: dict[str, Any] = {"processor": type(processor).__name__}
    if image_processor is not None:
        ident["image_processor"] = type(image_processor).__name__
        try:
            ident["image_settings"] = image_processor.to_dict()
        except Exception:
            ident["image_settings"] = repr(image_processor)
    if tokenizer is not None:
        ident["tokenizer"] = type(tokenizer).__name__
        ident["vocab_size"] = len(tokenizer)
    return ident


# --------------------------------------------------------------------------- dual encoders


@dataclass(frozen=True)
class HFImagePreprocessor:
    """One PIL image -> this model's pixel inputs (pixel_values, plus e.g. SigLIP2's
    pixel_attention_mask / spatial_shapes); `collate` stacks them.

    Images go to the image processor itself, not through the combined processor: in transformers 5
    a processor's class-level image defaults override its image processor's saved settings
    (Siglip2Processor always passes patch_size=16 and max_num_patches=256), so a checkpoint saved
    with other settings would be cut into patches its model cannot take, or resized to another
    patch budget than the one it was saved with.
    """

    image_processor: Any

    def __call__(self, image: Any) -> dict[str, Any]:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        out = self.image_processor(images=[image], return_tensors="pt")
        return {k: v[0] for k, v in out.items() if hasattr(v, "shape")}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        return {key: torch.stack([f[key] for f in features]) for key in features[0]}


@dataclass(frozen=True)
class HFTextPreprocessor:
    """One text -> input_ids / attention_mask padded to a fixed `max_length`.

    Padding every text to the same length (the tower's trained text length) makes each row's
    computation identical whatever else is in the batch, so embeddings do not depend on batch
    size; it is also what SigLIP needs (it pools the last position and has no attention mask).
    """

    tokenizer: Any
    max_length: int

    def __call__(self, text: str) -> dict[str, Any]:
        out = self.tokenizer(
            [text],
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {k: v[0] for k, v in out.items() if hasattr(v, "shape")}

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        return {key: torch.stack([f[key] for f in features]) for key in features[0]}


def text_length(processor: Any, tokenizer: Any, config: Any) -> int:
    """The fixed text length of a dual encoder's text tower.

    In order: the processor's own default when it pads to a fixed length (ALIGN, SigLIP2), the
    tokenizer's model_max_length (CLIP 77, SigLIP 64), the family's trained length, the text
    tower's max_position_embeddings; never more than the latter.
    """
    try:
        text_config = config.get_text_config()
    except Exception:
        text_config = getattr(config, "text_config", config)
    max_positions = getattr(text_config, "max_position_embeddings", None)
    defaults = getattr(processor, "text_kwargs", None)
    length = None
    if isinstance(defaults, dict) and defaults.get("padding") == "max_length":
        length = defaults.get("max_length")
    if length is None:
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max <= 100_000:
            length = model_max
    if length is None:
        length = _TRAINED_TEXT_LENGTH.get(getattr(config, "model_type", None))
    if length is None:
        length = max_positions
    if max_positions:
        length = min(length or max_positions, max_positions)
    if not length:
        raise MMBenchError(
            "cannot tell the text length of this model's text tower; set model_max_length in"
            " its tokenizer_config.json"
        )
    return int(length)


class HFAdapter(ModelAdapter):
    """What every hf: adapter holds: the loaded model and processor, where it runs, and the
    fingerprint a subclass computes once in its constructor (`_fingerprint`)."""

    _fingerprint: str

    def __init__(
        self,
        source: HFSource,
        model: Any,
        processor: Any,
        options: ModelOptions,
        device: str,
        dtype: Any,
        missing_weights: list[str] | None = None,
    ) -> None:
        self.uri = source.name
        self.source = source
        self.model = model
        self.processor = processor
        self.options = options
        self._device = device
        self.dtype = dtype
        self.missing_weights = list(missing_weights or [])

    @property
    def device(self) -> str:
        return self._device

    def fingerprint(self) -> str:
        return self._fingerprint

    def _describe(self, family: str, details: dict[str, Any]) -> dict[str, Any]:
        """The facts every hf: adapter reports, the family's own `details`, then any weights the
        checkpoint lacked."""
        info = {
            **self.source.describe(),
            "family": family,
            "class": type(self.model).__name__,
            "model_type": getattr(self.model.config, "model_type", None),
            "dtype": dtype_name(self.dtype),
            "device": self.device,
            **details,
        }
        if self.missing_weights:
            info["missing_weights"] = self.missing_weights
        return info


class HFDualEncoder(HFAdapter):
    """CLIP-style dual encoder: image and text embeddings from get_image/text_features."""

    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS, ENCODE_VIDEOS})

    def __init__(self, source: HFSource, model: Any, processor: Any, *args: Any, **kwargs: Any):
        super().__init__(source, model, processor, *args, **kwargs)
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise MMBenchError(f"model {source.name!r} has no tokenizer; save it with the model")
        self.max_length = text_length(processor, tokenizer, model.config)
        self._image_pre = HFImagePreprocessor(processor.image_processor)
        self._text_pre = HFTextPreprocessor(tokenizer, self.max_length)
        self._fingerprint = stable_hash(
            {
                "adapter": "hf-dual-encoder",
                "version": ADAPTER_VERSION,
                "dual_encoder_version": DUAL_ENCODER_VERSION,
                "model": source.identity(),
                "class": type(model).__name__,
                "dtype": dtype_name(self.dtype),
                "preprocessing": preprocessing_identity(processor),
                "text_max_length": self.max_length,
                "micro_batch": MICRO_BATCH,
            }
        )

    def describe(self) -> dict[str, Any]:
        return self._describe(
            DUAL_ENCODER,
            {
                "image_processor": type(getattr(self.processor, "image_processor", None)).__name__,
                "text_max_length": self.max_length,
                "micro_batch": MICRO_BATCH,
            },
        )

    def preprocessor(self, capability: str) -> Preprocessor:
        return encoder_preprocessor(self, capability, self._image_pre, self._text_pre)

    def encode_images(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._embed(self.model.get_image_features, batch)

    def encode_texts(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._embed(self.model.get_text_features, batch)

    def _embed(self, method: Any, batch: dict[str, Any]) -> torch.Tensor:
        import torch

        inputs = accepted_kwargs(method, to_device(batch, self.device, self.dtype))
        with torch.inference_mode():
            return run_fixed_chunks(lambda chunk: embedding_of(method(**chunk)), inputs).float()


def run_fixed_chunks(fn: Any, inputs: dict[str, Any], size: int = MICRO_BATCH) -> torch.Tensor:
    """Apply `fn` to `inputs` in chunks of exactly `size` rows (see MICRO_BATCH)."""
    import torch

    tensors = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
    rows = {v.shape[0] for v in tensors.values()}
    if len(rows) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(rows)}")
    n = rows.pop()
    outputs = []
    for start in range(0, n, size):
        chunk = {k: v[start : start + size] for k, v in inputs.items()}
        real = min(size, n - start)
        if real < size:
            chunk = {
                k: torch.cat([v, v[-1:].expand(size - real, *v.shape[1:])]) if k in tensors else v
                for k, v in chunk.items()
            }
        outputs.append(fn(chunk)[:real])
    return torch.cat(outputs)


# --------------------------------------------------------------------------- cheap identity


def identify(spec: str, options: ModelOptions) -> dict[str, Any] | None:
    """The model's identity without loading it (`mmbench.models.lazy`), or None to always load.

    A local directory is identified by the names, sizes and modification times of the files
    `local_content_hash` reads; a hub model by its commit, which is immutable (an unpinned
    revision is resolved with one metadata request, as loading would).
    """
    location, revision, is_local = parse_spec(spec)
    if is_local:
        root = Path(location)
        if not (root / "config.json").is_file():
            return None  # loading reports the error
        files = sorted(
            p
            for p in root.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.endswith(_HASHED_SUFFIXES)
        )
        from mmbench.models.lazy import file_stamps

        return {"local": location, "files": file_stamps(files, root)}
    commit = revision if revision and _COMMIT.match(revision) else _hub_commit(location, revision)
    return {"hub_id": location, "commit": commit} if commit else None
