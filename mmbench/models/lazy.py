"""Skip loading a model whose outputs are all in the cache.

A rerun of a finished (model, task) needs only the model's fingerprint (for the cache keys), its
capabilities (for the up-front check) and the facts its result JSON records; loading weights and
importing transformers would cost seconds and decide nothing. So after a model is loaded once, a
`ModelMemo` of those facts is stored in the output cache under a key made from what can be read
without loading it: the URI, the options, a cheap *identity* of its files and the source of
mmbench's adapter code. The identity is the scheme's own (`identify` in the scheme's module):
file names, sizes and modification times for a local directory, the commit for a pinned hub
revision; a scheme without one (or a URI it cannot vouch for) is always loaded.

The trade-off is the one `make` and ccache make: a weight file rewritten in place with the same
size and modification time would be missed. When the model does get loaded (some output is not
cached) its real fingerprint is compared with the memo's and a mismatch stops the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.base import ModelAdapter, ModelOptions, Preprocessor


@dataclass(frozen=True)
class ModelMemo:
    """What a run needs to know about a model without loading it."""

    fingerprint: str
    capabilities: tuple[str, ...]
    device: str
    details: dict[str, Any]

    @classmethod
    def of(cls, model: ModelAdapter) -> ModelMemo:
        return cls(
            fingerprint=model.fingerprint(),
            capabilities=tuple(sorted(model.capabilities)),
            device=model.device,
            details=model.describe(),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMemo:
        data = json.loads(text)
        data["capabilities"] = tuple(data["capabilities"])
        return cls(**data)


def memo_key(uri: str, options: ModelOptions, device: str, identity: Any) -> str:
    """Key of a model's memo: URI, options (device resolved), file identity and adapter code."""
    import mmbench
    from mmbench.models.args import redact_args

    recorded = dataclasses.asdict(options)
    # A password in a base URL must not reach the cache, not even hashed.
    recorded["model_args"] = redact_args(options.model_args)
    material = json.dumps(
        [
            mmbench.__version__,
            uri,
            recorded,
            device,
            identity,
            adapter_code_hash(),
            _library_versions(),
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries outputs depend on (read without importing them): a
    memo made under other releases is not trusted, as their fingerprints may differ. torchvision
    is one even where it is not asked for: its presence decides which image-processor class
    transformers loads (`hf/image_backend.py`), and open_clip's transforms are its code."""
    import importlib.metadata

    versions: dict[str, str | None] = {}
    for dist in ("torch", "transformers", "torchvision", "pillow"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def adapter_code_hash() -> str:
    """sha256 of mmbench's adapter sources (every .py file under mmbench/models, the `hf`
    package included): a code change that moves fingerprints drops memos."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_stamps(paths: list[Path], root: Path | None = None) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of each file: the cheap identity of files on disk."""
    stamps = []
    for path in paths:
        st = path.stat()
        name = str(path.relative_to(root)) if root is not None else str(path)
        stamps.append((name, st.st_size, st.st_mtime_ns))
    return stamps


class LazyModel(ModelAdapter):
    """Stands in for a model described by a memo; loads the real one at its first device call."""

    def __init__(self, uri: str, memo: ModelMemo, load: Callable[[], ModelAdapter]) -> None:
        self.uri = uri
        self.memo = memo
        self.capabilities = frozenset(memo.capabilities)
        self._load = load
        self._model: ModelAdapter | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> ModelAdapter:
        """The real adapter, loaded on first use and checked against the memo."""
        if self._model is None:
            model = self._load()
            if model.fingerprint() != self.memo.fingerprint:
                raise MMBenchError(
                    f"model {self.uri!r} changed on disk without a change of file size or"
                    " modification time (or its server now reports another model under the"
                    " same name), so cached outputs may be stale; run again with --no-cache"
                    " once, or clear the cache with `mmbench cache clear`"
                )
            self._model = model
        return self._model

    def fingerprint(self) -> str:
        return self.memo.fingerprint

    @property
    def device(self) -> str:
        return self._model.device if self._model is not None else self.memo.device

    def describe(self) -> dict[str, Any]:
        return self._model.describe() if self._model is not None else dict(self.memo.details)

    def preprocessor(self, capability: str) -> Preprocessor:
        return self.model().preprocessor(capability)

    def call(self, capability: str, batch: Any) -> Any:
        return self.model().call(capability, batch)

    @property
    def streams(self) -> bool:  # type: ignore[override]
        return self.model().streams

    def stream(self, capability: str, batches: Iterable[tuple[list[int], Any]]) -> Iterator[Any]:
        return self.model().stream(capability, batches)

    def call_totals(self) -> dict[str, Any]:
        return self._model.call_totals() if self._model is not None else {}

    def generated_tokens(self) -> int:
        return self._model.generated_tokens() if self._model is not None else 0
