"""Where an `hf:` model comes from, pinned: a hub commit or the content hash of a local directory.

URI forms (``spec`` is the URI without ``hf:``)::

    hf:org/name                 the hub's default branch (resolved to a commit hash)
    hf:org/name@REVISION        a commit hash, branch or tag (resolved to a commit hash)
    hf:/abs/path  hf:./rel/path a directory written by ``save_pretrained`` (content-hashed)

Also the cheap identity (`identify`) that lets a cached rerun skip loading (`mmbench.models.lazy`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.base import ModelOptions
from mmbench.models.common import file_sha256
from mmbench.models.lazy import file_stamps

logger = logging.getLogger(__name__)

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


def one_line(exc: BaseException, limit: int = 240) -> str:
    """'ExcType: message' on one line, cut to `limit` characters, for one-line errors."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def fetch_error(repo_id: str, revision: str | None, exc: BaseException) -> MMBenchError:
    """The one-line error for a hub model whose files cannot be fetched."""
    at = f" at revision {revision!r}" if revision else ""
    return MMBenchError(
        f"cannot fetch model {repo_id!r}{at} from the Hugging Face hub ({one_line(exc)});"
        " check the id and revision, your network connection (and HF_TOKEN for gated models),"
        " or download the model and pass its local directory as hf:/path/to/dir"
    )


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


def _hashed_files(root: Path) -> list[Path]:
    """The files at the top of a model directory that identify it (from_pretrained reads the
    top level only)."""
    return sorted(
        p
        for p in root.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith(_HASHED_SUFFIXES)
    )


def local_content_hash(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """sha256 over the weight, config, tokenizer and code files at the top of a model directory.

    Returns (content hash, weights-only hash). The directory's own path is not part of either, so
    moving a model keeps its cache entries.
    """
    root = Path(directory)
    return _hash_files(str(root), tuple(file_stamps(_hashed_files(root), root)))


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
            raise fetch_error(location, revision, exc) from exc
        commit = config_path.parent.name if _COMMIT.match(config_path.parent.name) else None
        if commit is None:
            commit = _hub_commit(location, revision)
        source = HFSource(spec, location, False, revision=revision, commit=commit)
    logger.debug("model %s: files pinned as %s", source.name, source.identity())
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MMBenchError(
            f"cannot read config.json of model 'hf:{spec}' ({one_line(exc)}); the file is"
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
        return {"local": location, "files": file_stamps(_hashed_files(root), root)}
    commit = revision if revision and _COMMIT.match(revision) else _hub_commit(location, revision)
    return {"hub_id": location, "commit": commit} if commit else None
