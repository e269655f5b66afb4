"""Seek-based frame sampling equals sequential decoding from the first frame."""

from __future__ import annotations

import hashlib
from contextlib import closing

import pytest
from helpers.videos import decode_sequentially, write_h264

from mmbench.data.media import MediaRef
from mmbench.data.video import FrameSampling, load_video, uniform_indices
from mmbench.errors import MediaError


@pytest.mark.parametrize(
    ("frames", "keyframe_interval", "b_frames"),
    [(90, 12, 2), (61, 25, 0), (40, 40, 3)],
)
def test_sampled_frames_equal_sequential_decoding(tmp_path, frames, keyframe_interval, b_frames):
    path = write_h264(
        tmp_path / "clip.mp4", frames, keyframe_interval=keyframe_interval, b_frames=b_frames
    )
    reference = decode_sequentially(path)
    assert len(reference) == frames
    for count in (1, 4, 16, 200):
        clip = load_video(MediaRef("r", path=str(path)), FrameSampling(num_frames=count))
        assert list(clip.indices) == uniform_indices(frames, count)
        assert [f.tobytes() for f in clip.frames] == [reference[i] for i in clip.indices]


def test_fps_sampling_and_embedded_bytes(tmp_path):
    path = write_h264(tmp_path / "clip.mp4", 75, fps=25, keyframe_interval=10)
    reference = decode_sequentially(path)
    ref = MediaRef("r", data=path.read_bytes())
    clip = load_video(ref, FrameSampling(fps=2.0, max_frames=32))
    assert list(clip.indices) == [0, 12, 25, 37, 50, 62]  # one frame every 12.5 frames
    assert [f.tobytes() for f in clip.frames] == [reference[i] for i in clip.indices]


def test_missing_and_corrupt_files_are_media_errors(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        load_video(MediaRef("r", path=str(tmp_path / "absent.mp4")), FrameSampling())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 200)
    with pytest.raises(MediaError, match="row r"):
        load_video(MediaRef("r", path=str(broken)), FrameSampling())


def test_content_hash_streams_the_file(tmp_path):
    import hashlib

    path = tmp_path / "clip.bin"
    path.write_bytes(bytes(range(256)) * 9000)  # several read blocks
    assert (
        MediaRef("r", path=str(path)).content_hash()
        == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def test_engine_hashes_each_video_once_and_not_again_on_a_cached_rerun(
    tmp_path, monkeypatch, counting_adapter
):
    from mmbench.cache import OutputCache
    from mmbench.data import media, media_fingerprint
    from mmbench.data.items import GenerationItem
    from mmbench.engine import Engine, EngineConfig
    from mmbench.models.base import GENERATE

    path = write_h264(tmp_path / "clip.mp4", 30)
    reads = []

    def counted(handle):
        reads.append(handle.name)
        return hashlib.sha256(handle.read()).hexdigest()

    monkeypatch.setattr(media, "stream_sha256", counted)
    monkeypatch.setattr(media_fingerprint, "stream_sha256", counted)
    ref = MediaRef("r", path=str(path))
    items = [GenerationItem(ref, f"question {k}", FrameSampling(num_frames=2)) for k in range(3)]
    config = EngineConfig(batch_size=2, progress=False)
    with closing(OutputCache(tmp_path / "cache")) as cache:
        first = Engine(counting_adapter, config, cache=cache).run(GENERATE, items)
        assert reads == [str(path)]  # three questions on one video: one hash
        again = Engine(counting_adapter, config, cache=cache).run(GENERATE, items)
    assert reads == [str(path)]  # the rerun reads the hash from the cache's memo
    assert again.outputs == first.outputs and again.computed == 0
    assert counting_adapter.calls[GENERATE] == 3
