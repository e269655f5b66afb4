"""A local copy's data fingerprint covers the media files its rows name, hashed once per file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from helpers.files import write_jsonl
from helpers.hardening import photo_rows

from mmbench.cache import OutputCache
from mmbench.data import media_fingerprint as mf
from mmbench.data.sources import SourceSpec, open_source

COLUMNS = {"id": "id", "image": "image", "texts": "captions"}


def expected(table_fp: str, files: list[Path]) -> str:
    """The documented formula, computed here from the file bytes."""
    digest = hashlib.sha256(table_fp.encode() + b"\0")
    for path in sorted(str(f) for f in files):
        digest.update(f"{path}\0{hashlib.sha256(Path(path).read_bytes()).hexdigest()}\0".encode())
    return "sha256:" + digest.hexdigest()[:16]


def test_replacing_a_referenced_image_moves_the_fingerprint(tmp_path: Path) -> None:
    from PIL import Image

    write_jsonl(tmp_path / "d.jsonl", photo_rows(tmp_path))
    table = open_source(SourceSpec(local=str(tmp_path / "d.jsonl")))
    files = sorted((tmp_path / "img").glob("*.png"))
    before = mf.media_fingerprint(table, COLUMNS)
    assert before == expected(table.fingerprint, files) and before != table.fingerprint
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "img" / "p1.png")
    after = mf.media_fingerprint(open_source(SourceSpec(local=str(tmp_path / "d.jsonl"))), COLUMNS)
    assert after == expected(table.fingerprint, files) and after != before
    # the evaluated rows only: a --limit subset has a fingerprint of its own
    assert mf.media_fingerprint(table.head(2), COLUMNS) == expected(table.fingerprint, files[:2])


def test_content_hashes_are_remembered_by_path_size_and_mtime(tmp_path, monkeypatch) -> None:
    write_jsonl(tmp_path / "d.jsonl", photo_rows(tmp_path))
    table = open_source(SourceSpec(local=str(tmp_path / "d.jsonl")))
    hashed: list[str] = []
    real = mf._sha256_file
    monkeypatch.setattr(mf, "_sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    memo = OutputCache(tmp_path / "cache")
    first = mf.media_fingerprint(table, COLUMNS, memo)
    assert sorted(hashed) == ["p0.png", "p1.png", "p2.png"]
    hashed.clear()
    assert mf.media_fingerprint(table, COLUMNS, memo) == first and hashed == []
    path = tmp_path / "img" / "p2.png"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert mf.media_fingerprint(table, COLUMNS, memo) == first and hashed == ["p2.png"]
    memo.close()


def test_hub_and_embedded_media_keep_the_table_fingerprint(tmp_path: Path) -> None:
    from mmbench.data.sources import Table

    hub = Table([{"image": "x.png"}], "hub:org/ds@abc:test", None, ("image",), "hub")
    assert mf.media_fingerprint(hub, {"image": "image"}) == "hub:org/ds@abc:test"
    embedded = Table(
        [{"image": {"bytes": b"png", "path": None}}], "sha256:1", None, ("image",), "x"
    )
    assert mf.media_fingerprint(embedded, {"image": "image"}) == "sha256:1"


def test_report_finds_the_media_of_a_limited_local_run(tmp_path: Path) -> None:
    from helpers.hardening import retrieval_yaml

    from mmbench.report.media import task_media
    from mmbench.runner import RunRequest, run

    write_jsonl(tmp_path / "d.jsonl", photo_rows(tmp_path))
    task = retrieval_yaml(tmp_path, "lim", tmp_path / "d.jsonl")
    request = RunRequest(
        model="builtin:random",
        task=str(task),
        output_dir=tmp_path / "o",
        limit=2,
        use_cache=False,
        progress=False,
    )
    recorded = run(request).result.task.data_fingerprint
    media = task_media(str(task), recorded, None, tmp_path / "site", {"p0"}, limit=2)
    assert "not the one evaluated" not in media.note
    other = task_media(str(task), recorded, None, tmp_path / "site", {"p0"})
    assert "not the one evaluated" in other.note  # without the limit: another fingerprint
