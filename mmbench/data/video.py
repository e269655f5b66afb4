"""Video decoding with PyAV (a registry wheel that carries its own ffmpeg).

Frame sampling follows the convention of CLIP4Clip / lmms-eval: `uniform` takes N frames at the
centres of N equal segments of the clip; `fps` takes one frame every 1/fps seconds, capped at
`max_frames` by uniform subsampling. The chosen frame indices are returned so they can be recorded
per sample: a reader can always tell exactly which frames a model saw.

Videos stored as raw uint8 frames (`mmbench.data.media.RawFrames`) are cut from their buffer with
the same uniform sampling; their indices count the stored frames, which for hub copies are often
already a subsample of the original clip. They carry no frame rate, so `fps` sampling is refused
when the task spec is loaded.
"""

from __future__ import annotations

import bisect
import io
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.data.media import MediaRef, RawFrames
from mmbench.errors import MediaError, MMBenchError

#: PIL mode of a raw frame by its number of channels (converted to RGB after decoding)
RAW_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True)
class FrameSampling:
    """How to pick frames: `num_frames` uniformly, or `fps` frames per second (capped)."""

    num_frames: int = 8
    fps: float | None = None
    max_frames: int = 32

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.max_frames < 1 or (self.fps is not None and self.fps <= 0):
            raise MMBenchError(
                "frame sampling needs num_frames >= 1, max_frames >= 1 and fps > 0;"
                " fix the task's options"
            )

    def key(self) -> str:
        """A short string identifying the sampling, part of the cache key of video outputs."""
        if self.fps is not None:
            return f"fps{self.fps}-max{self.max_frames}"
        return f"uniform{self.num_frames}"


@dataclass(frozen=True)
class VideoClip:
    """Decoded frames (RGB PIL images) and their indices in the source video."""

    frames: tuple[Any, ...]
    indices: tuple[int, ...]


def uniform_indices(total: int, count: int) -> list[int]:
    """Centres of `count` equal segments of `total` frames (fewer when the clip is shorter)."""
    count = min(count, total)
    return [int((i + 0.5) * total / count) for i in range(count)]


def fps_indices(total: int, native_fps: float, fps: float, max_frames: int) -> list[int]:
    """One index every `native_fps / fps` frames, uniformly thinned to at most `max_frames`."""
    step = max(native_fps / fps, 1.0)
    picked = [int(i * step) for i in range(int(total / step))] or [0]
    if len(picked) > max_frames:
        picked = [picked[i] for i in uniform_indices(len(picked), max_frames)]
    return picked


def load_video(ref: MediaRef, sampling: FrameSampling) -> VideoClip:
    """Decode the sampled frames of a video; a corrupt or empty file raises `MediaError`.

    Frame index i is the i-th frame in presentation order, as sequential decoding from the start
    counts them. The frame count comes from the container's header (`nb_frames`) when it has one,
    else from the packet index. Only the groups of pictures holding wanted frames are decoded: the
    file is demuxed once (packets only, no decoding) to map each index to its timestamp and
    keyframe, then each wanted frame is reached by a seek to the keyframe before it. A file is
    streamed from disk, never read whole into memory.
    """
    if ref.frames is not None:
        return load_raw_frames(ref.frames, ref.row_id, sampling)
    import av

    try:
        with _open(ref) as container:
            stream = container.streams.video[0]
            index = _packet_index(container, stream)
            total = stream.frames or len(index.pts)
            if total <= 0:
                raise MediaError(
                    f"video {ref.describe()} (row {ref.row_id}) has no frames;"
                    " replace or remove it, or pass --on-error skip"
                )
            if sampling.fps is None:
                wanted = uniform_indices(total, sampling.num_frames)
            else:
                native_fps = float(stream.average_rate or 25)
                wanted = fps_indices(total, native_fps, sampling.fps, sampling.max_frames)
            frames = _decode_by_seeking(container, stream, index, wanted)
    except MediaError:
        raise
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as err:
        raise MediaError(
            f"video {ref.describe()} (row {ref.row_id}) is corrupt or unreadable ({err});"
            " replace or remove it, or pass --on-error skip"
        ) from err
    # A truncated file can report more frames than it holds: keep what decodes, fail if none.
    kept = [i for i in wanted if i in frames]
    if not kept:
        raise MediaError(
            f"video {ref.describe()} (row {ref.row_id}) decoded no frames (truncated?);"
            " replace or remove it, or pass --on-error skip"
        )
    return VideoClip(frames=tuple(frames[i] for i in kept), indices=tuple(kept))


def _open(ref: MediaRef) -> Any:
    import av

    if ref.data is not None:
        return av.open(io.BytesIO(ref.data))
    if ref.path is None or not Path(ref.path).is_file():
        raise MediaError(
            f"media file {ref.path} (row {ref.row_id}) does not exist;"
            " fix the path or remove the row, or pass --on-error skip"
        )
    return av.open(ref.path)


@dataclass(frozen=True)
class _PacketIndex:
    """Presentation timestamps of a stream's frames in order, and those of its keyframes."""

    pts: list[int]
    keyframes: list[int]


def _packet_index(container: Any, stream: Any) -> _PacketIndex:
    """Demux (no decoding) the video stream: every frame's pts, sorted, and the keyframes'."""
    pts, keyframes = [], []
    for packet in container.demux(stream):
        if packet.size and packet.pts is not None:
            pts.append(packet.pts)
            if packet.is_keyframe:
                keyframes.append(packet.pts)
    return _PacketIndex(sorted(pts), sorted(keyframes))


def _decode_by_seeking(
    container: Any, stream: Any, index: _PacketIndex, wanted: list[int]
) -> dict[int, Any]:
    """Frames `wanted` (indices into `index.pts`), decoding from the keyframe before each.

    Consecutive wanted frames in one group of pictures share one seek and one decoding run.
    """
    by_pts = {index.pts[i]: i for i in sorted(set(wanted)) if i < len(index.pts)}
    frames: dict[int, Any] = {}
    position: int | None = None  # pts of the last frame decoded in the current run
    decoder = None
    for target in sorted(by_pts):
        keyframe = _last_at_or_before(index.keyframes, target)
        if decoder is None or position is None or keyframe is None or keyframe > position:
            container.seek(keyframe if keyframe is not None else target, stream=stream)
            decoder = container.decode(stream)
            position = None
        for frame in decoder:
            if frame.pts is None:
                continue
            position = frame.pts
            if frame.pts in by_pts and by_pts[frame.pts] not in frames:
                frames[by_pts[frame.pts]] = frame.to_image().convert("RGB")
            if frame.pts >= target:
                break
    return frames


def _last_at_or_before(sorted_values: list[int], value: int) -> int | None:
    at = bisect.bisect_right(sorted_values, value)
    return sorted_values[at - 1] if at else None


def load_raw_frames(video: RawFrames, row_id: str, sampling: FrameSampling) -> VideoClip:
    """Cut `num_frames` uniformly sampled frames out of a raw buffer (layout: see `RawFrames`).

    A buffer whose length is not frames * height * width * channels (truncated, or shape columns
    that do not match it) is a `MediaError` naming the row, like a corrupt video file.
    """
    from PIL import Image

    count, height, width, channels = _raw_shape(video, row_id)
    data = video.read_bytes(row_id)
    frame_size = height * width * channels
    if len(data) != count * frame_size:
        raise MediaError(
            f"raw frames of row {row_id} (column {video.column!r}) hold {len(data)} bytes, not"
            f" frames*height*width*channels = {count}*{height}*{width}*{channels} ="
            f" {count * frame_size} (truncated buffer or wrong shape columns); re-export the"
            " video or remove the row, or pass --on-error skip"
        )
    indices = uniform_indices(count, sampling.num_frames)
    view = memoryview(data)
    frames = tuple(
        Image.frombytes(
            RAW_MODES[channels], (width, height), view[i * frame_size : (i + 1) * frame_size]
        ).convert("RGB")
        for i in indices
    )
    return VideoClip(frames=frames, indices=tuple(indices))


def _raw_shape(video: RawFrames, row_id: str) -> tuple[int, int, int, int]:
    """The (frames, height, width, channels) of a raw video as positive ints, or a `MediaError`."""
    shape = video.shape
    valid = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in shape)
    if not valid or min(shape) < 1 or shape[3] not in RAW_MODES:
        raise MediaError(
            f"raw frames of row {row_id} (column {video.column!r}) have shape {shape} (frames,"
            " height, width, channels); each must be a positive integer and channels 1, 3 or 4:"
            " fix the row's shape columns or remove the row, or pass --on-error skip"
        )
    count, height, width, channels = (int(v) for v in shape)
    return count, height, width, channels
