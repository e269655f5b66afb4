"""References to media (images, videos) in a dataset row, and image decoding.

Dataset cells come in many shapes: a path (absolute, relative to the dataset, or
`package:<module>/<file>` for media that ship inside an installed package), raw bytes, the
`{"bytes", "path"}` dict of an undecoded `datasets.Image` / `datasets.Video` feature, an already
decoded PIL image, or a `RawFrames` video (raw uint8 frames plus their shape, built by the source
layer from a `source: {raw_frames: ...}` declaration). `media_ref` turns each into a small
picklable `MediaRef`, so DataLoader workers (not the main process) do the decoding.

Images over the pixel limit (`--max-image-pixels`, default Pillow's `Image.MAX_IMAGE_PIXELS`)
are refused from their header, before decoding, as per-sample `MediaError`s (decompression bombs
are skipped by `--on-error skip`). High-bit-depth images are scaled, not saturated, into 8 bits:
16-bit values v become round(v * 255 / 65535), floating-point values x become
round(clip(x, 0, 1) * 255) (NumPy rounding: halves to even).
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib.util
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mmbench.errors import MediaError

PACKAGE_PREFIX = "package:"
#: the pixel limit of the load in progress (None: Pillow's own `Image.MAX_IMAGE_PIXELS`)
_MAX_PIXELS: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "mmbench_max_image_pixels", default=None
)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
#: sha256 of media files already known in the work in progress (path -> hex digest)
_KNOWN_HASHES: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "mmbench_known_file_hashes", default=None
)
_HASH_BLOCK = 1 << 20


@contextmanager
def image_pixel_limit(limit: int | None) -> Iterator[None]:
    """Within the block, `load_image` refuses images of more than `limit` pixels."""
    token = _MAX_PIXELS.set(limit)
    try:
        yield
    finally:
        _MAX_PIXELS.reset(token)


@contextmanager
def known_file_hashes(hashes: dict[str, str]) -> Iterator[None]:
    """Within the block, `MediaRef.content_hash` of a file named in `hashes` (path -> sha256)
    answers from there instead of reading the file: the engine fills it from the cache's memo
    (by path, size and mtime), so a cached rerun over 100 GB of videos reads none of them."""
    token = _KNOWN_HASHES.set(hashes)
    try:
        yield
    finally:
        _KNOWN_HASHES.reset(token)


def stream_sha256(handle: Any) -> str:
    """sha256 of an open binary file, read in 1 MB blocks (a video can be several GB)."""
    digest = hashlib.sha256()
    while block := handle.read(_HASH_BLOCK):
        digest.update(block)
    return digest.hexdigest()


@runtime_checkable
class CellReader(Protocol):
    """Reads one dataset cell on demand (so rows can refer to a large cell without holding it)."""

    def read(self) -> Any: ...


class RawFrames:
    """A video stored as raw uint8 frames: one buffer plus the shape that cuts it into frames.

    Convention (the layout of `numpy.ndarray.tobytes()` on a (frames, height, width, channels)
    array): frame after frame, each frame's rows top to bottom, pixels left to right, channels last;
    3 channels are RGB, 1 is grayscale, 4 is RGBA. The buffer is given directly or read on demand
    through a `CellReader`; rows exploded from one video share one `RawFrames`, so its content hash
    is computed once per video. Shape values are kept as found and checked when the video loads, so
    a bad row fails as that sample, not the run.
    """

    def __init__(self, source: Any, shape: tuple[Any, ...], column: str) -> None:
        self.source = source
        self.shape = shape
        self.column = column
        self._digest: str | None = None

    def read_bytes(self, row_id: str) -> bytes:
        """The raw buffer; a cell that is not one bytes value is a `MediaError` naming the row."""
        value = self.source.read() if isinstance(self.source, CellReader) else self.source
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        if not isinstance(value, bytes):
            raise MediaError(
                f"row {row_id}: raw-frame column {self.column!r} holds a {type(value).__name__},"
                " not one bytes buffer; check `source: {raw_frames: {column: ...}}` in the task"
            )
        return value

    def content_hash(self, row_id: str) -> str:
        """sha256 of the shape and the buffer (cached: every question on a video shares it)."""
        if self._digest is None:
            shape = "x".join(str(v) for v in self.shape)
            digest = hashlib.sha256(f"raw-frames:{shape}|".encode())
            digest.update(self.read_bytes(row_id))
            self._digest = digest.hexdigest()
        return self._digest


@dataclass(frozen=True)
class MediaRef:
    """Where one medium lives: a file path, in-memory bytes or raw frames, plus its row."""

    row_id: str
    path: str | None = None
    data: bytes | None = None
    frames: RawFrames | None = None

    def describe(self) -> str:
        """Human-readable name for error messages: the path, 'embedded bytes' or 'raw frames'."""
        if self.frames is not None:
            return f"raw frames in column {self.frames.column!r}"
        return self.path if self.path is not None else "embedded bytes"

    def read_bytes(self) -> bytes:
        if self.frames is not None:
            return self.frames.read_bytes(self.row_id)
        if self.data is not None:
            return self.data
        with self._open_file() as handle:
            return handle.read()

    def content_hash(self) -> str:
        """sha256 of the medium's bytes (raw frames: and shape): the cache key of its outputs."""
        if self.frames is not None:
            return self.frames.content_hash(self.row_id)
        if self.data is not None:
            return hashlib.sha256(self.data).hexdigest()
        known = _KNOWN_HASHES.get()
        if known is not None and self.path in known:
            return known[self.path]
        with self._open_file() as handle:
            return stream_sha256(handle)

    def _open_file(self) -> Any:
        assert self.path is not None
        try:
            return open(self.path, "rb")
        except FileNotFoundError as err:
            raise MediaError(
                f"media file {self.path} (row {self.row_id}) does not exist;"
                " fix the path or remove the row, or pass --on-error skip"
            ) from err
        except OSError as err:
            raise MediaError(
                f"media file {self.path} (row {self.row_id}) cannot be read ({err.strerror});"
                " check its permissions"
            ) from err


def resolve_package_path(ref: str) -> Path:
    """Resolve `package:<module>/<path inside it>` to a file path without importing the module."""
    module, _, inner = ref[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MediaError(
            f"media {ref!r} lives in Python package {module!r}, which is not installed;"
            " install it (pip install 'mmbench[builtin]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / inner


def media_ref(value: Any, row_id: str, base_dir: Path | None = None) -> MediaRef:
    """Normalise any supported dataset cell into a `MediaRef` (see the module docstring)."""
    if isinstance(value, RawFrames):
        return MediaRef(row_id=row_id, frames=value)
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        if value.get("bytes"):
            return MediaRef(row_id=row_id, data=bytes(value["bytes"]), path=None)
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return MediaRef(row_id=row_id, data=bytes(value))
    if isinstance(value, str) and value:
        if value.startswith(PACKAGE_PREFIX):
            return MediaRef(row_id=row_id, path=str(resolve_package_path(value)))
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return MediaRef(row_id=row_id, path=str(path))
    if hasattr(value, "save") and hasattr(value, "mode"):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return MediaRef(row_id=row_id, data=buffer.getvalue())
    raise MediaError(
        f"row {row_id}: cannot read a medium from a {type(value).__name__} cell;"
        " expected a path, bytes or an image (check the task's column mapping)"
    )


def load_image(ref: MediaRef) -> Any:
    """Decode an image to RGB PIL (grayscale, palette and RGBA images are converted)."""
    from PIL import Image, UnidentifiedImageError

    data = ref.read_bytes()
    limit = _MAX_PIXELS.get() or Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # our own limit below replaces Pillow's warning (and its error at twice its limit)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = previous
        with image:
            if limit and image.width * image.height > limit:
                raise MediaError(
                    f"image {ref.describe()} (row {ref.row_id}) has {image.width}x{image.height}"
                    f" = {image.width * image.height} pixels, over the limit of {limit}"
                    " (a decompression bomb?); raise --max-image-pixels if it is genuine, or"
                    " pass --on-error skip"
                )
            image.load()
            return to_rgb(image)
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise MediaError(
            f"image {ref.describe()} (row {ref.row_id}) is corrupt or not an image ({err});"
            " replace or remove it, or pass --on-error skip"
        ) from err


def to_rgb(image: Any) -> Any:
    """An RGB PIL image; 16-bit and floating-point grey levels are scaled (module docstring)."""
    import numpy as np
    from PIL import Image

    if image.mode in _SIXTEEN_BIT:
        values = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        grey = np.rint(values * 255.0 / 65535.0).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "F":
        values = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0.0, 1.0)
        grey = np.rint(values * 255.0).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")
