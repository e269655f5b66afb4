"""First-run cost of the media-covering data fingerprint on a generated video dataset.

A JSONL copy of `--videos` rows, each naming its own video file of `--mb` MB (random bytes:
hashing cost does not depend on the codec), is fingerprinted three ways:

* table only: the JSONL file's hash (what the fingerprint covered before);
* first run: table + every referenced video hashed (a fresh cache: nothing remembered);
* rerun: the same with the hashes remembered in the cache by (path, size, mtime): one stat per file.

The first-run cost is the time to read and SHA-256 every video once; it is printed as seconds,
MB/s and a ratio to the table-only time, next to the rerun's cost.

    python benchmarks/media_fingerprint.py [--videos 200] [--mb 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--mb", type=float, default=8.0, help="size of each video file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mmbench.cache import OutputCache
    from mmbench.data.media_fingerprint import media_fingerprint
    from mmbench.data.sources import SourceSpec, open_source

    columns = {"id": "id", "video": "video", "texts": "caption"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "videos").mkdir()
        size = int(args.mb * 2**20)
        rows = []
        for index in range(args.videos):
            (root / "videos" / f"v{index:05d}.mp4").write_bytes(os.urandom(size))
            rows.append({"id": str(index), "video": f"videos/v{index:05d}.mp4", "caption": "x"})
        data = root / "test.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        total_mb = args.videos * size / 2**20

        table_s, first_s, rerun_s = [], [], []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            table = open_source(SourceSpec(local=str(data)))
            table_s.append(time.perf_counter() - start)
            memo = OutputCache(root / f"cache{repeat}")
            start = time.perf_counter()
            first = media_fingerprint(table, columns, memo)
            first_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            again = media_fingerprint(table, columns, memo)
            rerun_s.append(time.perf_counter() - start)
            memo.close()
            assert first == again

    t, f, r = (statistics.median(x) for x in (table_s, first_s, rerun_s))
    print(f"{args.videos} videos x {args.mb:g} MB = {total_mb:.0f} MB (page cache warm)")
    print(f"table only (JSONL hash + parse):  {t * 1e3:8.1f} ms")
    print(
        f"first run (hash every video):     {f * 1e3:8.1f} ms  ({total_mb / f:.0f} MB/s,"
        f" {f / t:.0f}x the table-only time)"
    )
    print(
        f"rerun (hashes remembered):        {r * 1e3:8.1f} ms  ({r / args.videos * 1e6:.0f} us"
        f" per file, {f / r:.0f}x faster than the first run)"
    )


if __name__ == "__main__":
    main()
