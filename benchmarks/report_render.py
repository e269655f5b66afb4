"""The report's sample view at scale: a 25,000-sample run opened in headless Chromium.

Target (issue 15): the page of a task with 25k samples loads at most 2 MB up front and renders in
at most 2 s. The script writes a report of one synthetic 25k-sample run (a VQA-like record: id,
prompt, prediction, five references, scores), opens its sample view from file:// in Debian's
chromium through Playwright (the browser tests' launch settings) and measures, over `--repeats`
fresh pages: the time from navigation to the first 50 rows in the DOM, the bytes of every file
the page loaded, and the time to reach page 2 and to find one id by search. It prints medians and
their ratios to the targets (below 1.0 meets them).

    python benchmarks/report_render.py [--samples 25000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BUDGET_BYTES = 2_000_000
BUDGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.browser import LAUNCH_ARGS, PageWatch, chromium_path
    from playwright.sync_api import sync_playwright

    from mmbench.report import build_report

    executable = chromium_path()
    if executable is None:
        sys.exit("no Chromium found: apt-get install chromium (or set MMBENCH_CHROMIUM)")
    root = Path(tempfile.mkdtemp(prefix="mmbench-report-bench-"))
    try:
        results = root / "results"
        results.mkdir()
        refs = [f"reference answer number {k} for this question" for k in range(5)]
        lines = (
            json.dumps(
                {
                    "id": f"q{i:06d}",
                    "prompt": f"Question {i}: what is shown in the picture? Answer briefly.",
                    "prediction": f"a predicted answer for question {i}",
                    "references": refs,
                    "scores": {"accuracy": float(i % 3 != 0)},
                }
            )
            + "\n"
            for i in range(args.samples)
        )
        (results / "big.samples.jsonl").write_text("".join(lines))
        (results / "big.json").write_text(
            json.dumps(
                {
                    "task": {"name": "big-task", "n": args.samples, "headline": "accuracy"},
                    "model": {"uri": "py:bench"},
                    "metrics": {"accuracy": 0.667},
                }
            )
        )
        started = time.perf_counter()
        build_report([results], root / "site", images=False)
        build_s = time.perf_counter() - started
        run_dir = next((root / "site" / "runs").iterdir())
        total_bytes = sum(p.stat().st_size for p in run_dir.iterdir())
        first, bytes_loaded, next_page, search = [], [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
            for _ in range(args.repeats):
                context = browser.new_context(bypass_csp=True)
                page = context.new_page()
                watch = PageWatch(page)
                t0 = time.perf_counter()
                page.goto((run_dir / "index.html").as_uri())
                page.wait_for_function(
                    "document.querySelectorAll('#samples tbody tr').length === 50"
                )
                first.append(time.perf_counter() - t0)
                bytes_loaded.append(watch.file_bytes())
                t0 = time.perf_counter()
                page.click("#next")
                page.wait_for_function(
                    "document.querySelector('#samples tbody tr').dataset.sampleId === 'q000050'"
                )
                next_page.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                page.fill("#search", f"q{args.samples - 1:06d}")
                page.wait_for_function(
                    "document.querySelectorAll('#samples tbody tr').length === 1"
                )
                search.append(time.perf_counter() - t0)
                assert not watch.errors and not watch.network(), (watch.errors, watch.network())
                context.close()
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    render = statistics.median(first)
    loaded = statistics.median(bytes_loaded)
    print(
        f"samples {args.samples}; the run's report data {total_bytes / 1e6:.1f} MB;"
        f" build {build_s:.1f} s"
    )
    print(
        f"first page rendered   {render:.3f} s  (ratio to the 2 s target {render / BUDGET_S:.2f})"
    )
    print(
        f"loaded up front       {loaded / 1e6:.3f} MB"
        f" (ratio to the 2 MB budget {loaded / BUDGET_BYTES:.2f})"
    )
    print(f"next page             {statistics.median(next_page):.3f} s")
    print(f"search one id         {statistics.median(search):.3f} s (loads the id index once)")


if __name__ == "__main__":
    main()
