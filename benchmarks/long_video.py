"""Frame sampling from a long video: seek-based decoding against decoding only the wanted GOPs.

    python benchmarks/long_video.py [--minutes 60] [--frames 16] [--video PATH]

Generates (once; kept at --video) a 1280x720 30 fps H.264 video with a keyframe every 250
frames, then times `mmbench.data.video.load_video` sampling `--frames` frames uniformly (segment
centres) against the reference: decoding only the groups of pictures that hold the wanted frames,
each from its keyframe to the next one, with the keyframe positions known in advance. mmbench
must stay within 2x of the reference (it also demuxes the whole file once to index the frames,
and decodes each GOP only up to the wanted frame; both convert only the wanted frames to images).
A sequential decode from frame 0 (without image conversion) is timed over the first minute and
extrapolated, for scale. Prints one table; the numbers are in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mmbench.data.media import MediaRef
from mmbench.data.video import FrameSampling, load_video, uniform_indices
from mmbench.table import format_rows

FPS = 30
KEYFRAME_INTERVAL = 250
SIZE = (1280, 720)


def generate(path: Path, minutes: float) -> None:
    """A moving-bar video; a few distinct frames cycled so generation costs only the encoding."""
    import av

    width, height = SIZE
    frames = []
    for k in range(FPS):
        image = np.full((height, width, 3), 20, dtype=np.uint8)
        image[:, (k * 40) % width : (k * 40) % width + 40] = 230
        image[(k * 23) % height : (k * 23) % height + 8, :, 1] = 180
        frames.append(av.VideoFrame.from_ndarray(image, format="rgb24"))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={KEYFRAME_INTERVAL}:min-keyint={KEYFRAME_INTERVAL}:scenecut=0",
        }
        for k in range(int(minutes * 60 * FPS)):
            frame = frames[k % FPS]
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_wanted_gops(path: Path, wanted: list[int]) -> float:
    """Reference: decode each GOP holding a wanted frame, keyframe to keyframe; convert only the
    wanted frames to images (as load_video does)."""
    import av

    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        step = 1 / (FPS * stream.time_base)  # pts per frame
        for gop in sorted({i // KEYFRAME_INTERVAL for i in wanted}):
            first = gop * KEYFRAME_INTERVAL
            container.seek(int(first * step), stream=stream)
            for frame in container.decode(stream):
                if frame.pts >= (first + KEYFRAME_INTERVAL) * step:
                    break
                if round(frame.pts / step) in wanted:
                    frame.to_image()
    return time.perf_counter() - start


def decode_first_minute(path: Path) -> float:
    import av

    start = time.perf_counter()
    with av.open(str(path)) as container:
        for n, _frame in enumerate(container.decode(video=0)):
            if n + 1 >= 60 * FPS:
                break
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = args.video or Path(tempfile.gettempdir()) / f"mmbench-long-{args.minutes:g}min.mp4"
    if not path.exists():
        start = time.perf_counter()
        generate(path, args.minutes)
        print(f"generated {path} in {time.perf_counter() - start:.0f} s")
    total = int(args.minutes * 60 * FPS)
    wanted = uniform_indices(total, args.frames)
    ref = MediaRef("bench", path=str(path))
    seek, gops = [], []
    for _ in range(args.repeats):  # interleaved, minimum of each: the machine may be shared
        start = time.perf_counter()
        clip = load_video(ref, FrameSampling(num_frames=args.frames))
        seek.append(time.perf_counter() - start)
        assert list(clip.indices) == wanted
        gops.append(decode_wanted_gops(path, wanted))
    minute = decode_first_minute(path)
    rows = [
        [
            "load_video, seek to each wanted frame",
            f"{min(seek):.2f}",
            f"{min(seek) / min(gops):.2f}",
        ],
        ["reference: decode only the wanted GOPs", f"{min(gops):.2f}", "1.00"],
        [
            "sequential decode from frame 0 (extrapolated)",
            f"{minute * args.minutes:.0f}",
            f"{minute * args.minutes / min(gops):.0f}",
        ],
    ]
    size_mb = path.stat().st_size / 2**20
    print(
        f"{args.minutes:g} min, {SIZE[0]}x{SIZE[1]} {FPS} fps H.264, keyframe every "
        f"{KEYFRAME_INTERVAL} frames, {size_mb:.0f} MB; {args.frames} frames; target ratio <= 2"
    )
    print(format_rows(["measurement", "seconds", "ratio to reference"], rows))


if __name__ == "__main__":
    main()
