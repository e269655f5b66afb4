"""Generated H.264 test videos whose frames are easy to tell apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_h264(
    path: Path,
    frames: int,
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    keyframe_interval: int = 12,
    b_frames: int = 2,
) -> Path:
    """Write an mp4 whose frame k shows a bright bar at a position that moves with k.

    `keyframe_interval` is the GOP length (x264 `keyint`); `b_frames` > 0 makes the decode order
    differ from the presentation order, as in most real H.264 files.
    """
    import av

    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {
            "preset": "ultrafast" if b_frames == 0 else "veryfast",
            "x264-params": f"keyint={keyframe_interval}:min-keyint={keyframe_interval}"
            f":scenecut=0:bframes={b_frames}",
        }
        for k in range(frames):
            image = np.full((height, width, 3), 16, dtype=np.uint8)
            column = (k * 7) % width
            image[:, column : column + 4] = 235
            image[(k * 3) % height, :] = (k * 37) % 256
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_sequentially(path: Path) -> list[bytes]:
    """Every frame of the file in presentation order, decoded from the start (the reference)."""
    import av

    with av.open(str(path)) as container:
        return [f.to_image().convert("RGB").tobytes() for f in container.decode(video=0)]
