"""Caption metrics: mmbench vs pycocoevalcap 1.2, speed and exactness, in one run.

For the first N images of a `{image: [captions]}` JSON file (default: the 8,092 Flickr8k images
in ../shared/data/flickr8k/captions.json), caption 0 is the prediction and the other captions the
references (`--refs 5`: all five, the prediction included). The reference pipeline is what
COCOEvalCap runs: pycocoevalcap's Java PTBTokenizer on references and on predictions, then
Bleu(4), Rouge(), Cider() (and Meteor() with --meteor). mmbench runs `caption_scores` on the raw
captions.

Totals are what a user pays, each the median of --repeats rounds; every round also runs the
reference, so that a busy machine slows both sides alike:

* cold: the first `caption_scores` call in a fresh Python process (numpy and `caption_scores`
  imported beforehand; the call includes the tokenizer's imports, loading its lexer tables and
  tokenising every caption from scratch): what one `mmbench run` pays. Bytecode is cached as
  after any first import (an untimed process compiles it), even where PYTHONDONTWRITEBYTECODE
  is set;
* first run on a machine: the same with an empty cache directory, so that the lexer tables are
  decoded from pycocoevalcap's jar rather than read from the user cache (once per machine);
* warm: another call in a process that has scored the same captions before.

The per-stage rows time mmbench's stages one by one in this process, after clearing the
tokenizer's caches. Also checks that `tokenize_ptb` equals the Java tokenizer on every caption of
the file.

    python benchmarks/caption_metrics.py [--captions PATH] [--n 5000] [--refs 4|5] [--meteor]
                                         [--repeats 3]

`rows(n, captions_path)` returns the table rows for other scripts to combine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CAPTIONS = ROOT / ".." / "shared" / "data" / "flickr8k" / "captions.json"
FAMILIES = ("bleu", "rouge_l", "cider_d")


def load_captions(path: Path | str | None, n: int) -> tuple[dict[str, list[str]], str]:
    """The first n images' captions, and where they came from (generated text as a fallback)."""
    path = Path(path) if path else DEFAULT_CAPTIONS
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return dict(list(data.items())[:n]), str(path)
    rng = random.Random(0)
    words = "a the man woman dog cat child runs jumps sits on in with red blue grass ball"
    words = words.split()
    data = {
        f"gen{i}": [
            " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + " ."
            for _ in range(5)
        ]
        for i in range(n)
    }
    return data, f"generated text ({path} not found)"


def split_captions(
    data: dict[str, list[str]], n_refs: int
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Caption 0 is the prediction; the references are the others (all five with n_refs=5)."""
    first = 0 if n_refs == 5 else 1
    return {k: v[0] for k, v in data.items()}, {k: v[first:] for k, v in data.items()}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _reference(preds, refs, meteor: bool) -> tuple[dict, dict]:
    """pycocoevalcap as COCOEvalCap runs it; returns (scores, seconds) keyed by row name."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    seconds, scores = {}, {}
    tokenizer = PTBTokenizer()

    def tokenize():
        gts = tokenizer.tokenize({k: [{"caption": c} for c in refs[k]] for k in preds})
        res = tokenizer.tokenize({k: [{"caption": preds[k]}] for k in preds})
        return gts, res

    (gts, res), seconds["PTB tokenizer"] = _timed(tokenize)
    scores["PTB tokenizer"] = (gts, res)
    (b, bs), seconds["BLEU-1..4"] = _timed(lambda: Bleu(4).compute_score(gts, res, verbose=0))
    scores["BLEU-1..4"] = (b, np.array(bs).T)
    scores["ROUGE-L"], seconds["ROUGE-L"] = _timed(lambda: Rouge().compute_score(gts, res))
    scores["CIDEr-D"], seconds["CIDEr-D"] = _timed(lambda: Cider().compute_score(gts, res))
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scores["METEOR"], seconds["METEOR"] = _timed(lambda: Meteor().compute_score(gts, res))
    return scores, seconds


def _stages(preds, refs, meteor: bool) -> dict[str, Any]:
    """mmbench stage by stage in this process, the tokenizer's caches cleared first."""
    from mmbench.metrics import _ptb_lexer, ptb_tokenizer
    from mmbench.metrics._ngrams import encode_ids, ngram_tables
    from mmbench.metrics.bleu_score import bleu_arrays
    from mmbench.metrics.captioning import caption_scores
    from mmbench.metrics.cider import cider_arrays
    from mmbench.metrics.rouge import rouge_arrays

    ids = list(preds)
    n_refs = np.array([len(refs[k]) for k in ids])
    seconds: dict[str, float] = {}
    ptb_tokenizer.clear_cache()
    _ptb_lexer.load_tables.cache_clear()

    def tokenize():
        calls = [[r for k in ids for r in refs[k]], [preds[k] for k in ids]]
        ref_tokens, pred_tokens = ptb_tokenizer.tokenize_calls(calls)
        return pred_tokens, ref_tokens, pred_tokens.lines(), ref_tokens.lines()

    (pred_tokens, ref_tokens, lines, flat), seconds["PTB tokenizer"] = _timed(tokenize)
    ends = np.cumsum(n_refs).tolist()
    ref_lines = [flat[e - n : e] for e, n in zip(ends, n_refs.tolist(), strict=True)]
    corpus, seconds["token ids"] = _timed(
        lambda: encode_ids(pred_tokens.ids(), ref_tokens.ids(), n_refs, ref_tokens.vocab_size)
    )
    tables, seconds["n-gram tables"] = _timed(lambda: list(ngram_tables(corpus, 4)))
    _, seconds["BLEU-1..4"] = _timed(lambda: bleu_arrays(corpus, tables))
    _, seconds["ROUGE-L"] = _timed(lambda: rouge_arrays(corpus))
    _, seconds["CIDEr-D"] = _timed(lambda: cider_arrays(corpus, tables))
    out = caption_scores(preds, refs, metrics=FAMILIES)
    if meteor:
        _, seconds["METEOR"] = _timed(lambda: caption_scores(preds, refs, metrics=("meteor",)))
    return {"scores": out, "seconds": seconds, "lines": (lines, ref_lines)}


def _cold_call(
    captions_path: Path | str | None, n: int, n_refs: int, pycache: str, cache_dir: str | None
) -> float:
    """Seconds of the first `caption_scores` call in a fresh process (see the module docstring).

    Python's bytecode is cached in `pycache`, as it is for a user after the first import.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    if cache_dir:
        env["MMBENCH_CACHE"] = cache_dir
    command = [sys.executable, __file__, "--cold-child", "--n", str(n), "--refs", str(n_refs)]
    command += ["--captions", str(captions_path)] if captions_path else []
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])["seconds"]


def _cold_child(captions_path: Path | str | None, n: int, n_refs: int) -> None:
    preds, refs = split_captions(load_captions(captions_path, n)[0], n_refs)
    from mmbench.metrics import caption_scores

    _, seconds = _timed(lambda: caption_scores(preds, refs, metrics=FAMILIES))
    print(json.dumps({"seconds": seconds}))


def _totals(preds, refs, captions_path, n: int, n_refs: int, meteor: bool, repeats: int) -> dict:
    """Reference and mmbench totals, round by round (interleaved), as lists of seconds."""
    from mmbench.metrics.captioning import caption_scores

    caption_scores(preds, refs, metrics=FAMILIES)  # this process is now warm
    rounds: dict[str, list[float]] = {"reference": [], "cold": [], "first": [], "warm": []}
    ref_scores: dict = {}
    with tempfile.TemporaryDirectory() as pycache:
        _cold_call(captions_path, n, n_refs, pycache, None)  # compiles the bytecode, untimed
        for _ in range(repeats):
            ref_scores, seconds = _reference(preds, refs, meteor)
            rounds["reference"].append(sum(s for k, s in seconds.items() if k != "METEOR"))
            rounds.setdefault("reference stages", []).append(seconds)
            rounds["cold"].append(_cold_call(captions_path, n, n_refs, pycache, None))
            with tempfile.TemporaryDirectory() as empty_cache:
                rounds["first"].append(_cold_call(captions_path, n, n_refs, pycache, empty_cache))
            rounds["warm"].append(_timed(lambda: caption_scores(preds, refs, metrics=FAMILIES))[1])
    rounds["reference scores"] = ref_scores
    return rounds


def _diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def rows(
    n: int = 5000,
    captions_path: Path | str | None = None,
    n_refs: int = 4,
    meteor: bool = False,
    repeats: int = 3,
) -> list[dict]:
    """Benchmark rows: metric, n, mmbench_s, reference_s, ratio, diff_corpus, diff_per_id."""
    data, source = load_captions(captions_path, n)
    preds, refs = split_captions(data, n_refs)
    ids = list(preds)
    totals = _totals(preds, refs, captions_path, n, n_refs, meteor, repeats)
    ref_scores = totals["reference scores"]
    ref_seconds = {
        k: statistics.median(r[k] for r in totals["reference stages"])
        for k in totals["reference stages"][0]
    }
    stages = _stages(preds, refs, meteor)
    out, seconds = stages["scores"], stages["seconds"]
    gts, res = ref_scores["PTB tokenizer"]
    lines, ref_lines = stages["lines"]
    mismatches = sum(res[k][0] != line for k, line in zip(ids, lines, strict=True))
    mismatches += sum(gts[k] != rl for k, rl in zip(ids, ref_lines, strict=True))

    def per_id(name):
        return [out["per_id"][k][name] for k in ids]

    names = {
        "BLEU-1..4": [f"Bleu_{i}" for i in range(1, 5)],
        "ROUGE-L": ["ROUGE_L"],
        "CIDEr-D": ["CIDEr"],
        "METEOR": ["METEOR"],
    }
    table = [
        {
            "metric": "PTB tokenizer",
            "n": len(ids) + sum(map(len, refs.values())),
            "mmbench_s": seconds["PTB tokenizer"],
            "reference_s": ref_seconds["PTB tokenizer"],
            "diff_corpus": float(mismatches),
            "diff_per_id": float(mismatches),
            "note": "diff = captions tokenised differently",
        },
    ]
    for stage in ("token ids", "n-gram tables"):
        table.append(
            {"metric": stage, "n": len(ids), "mmbench_s": seconds[stage], "reference_s": np.nan}
        )
    for metric in ("BLEU-1..4", "ROUGE-L", "CIDEr-D", "METEOR"):
        if metric not in ref_seconds:
            continue
        score, per = ref_scores[metric]
        keys = names[metric]
        table.append(
            {
                "metric": metric,
                "n": len(ids),
                "mmbench_s": seconds[metric],
                "reference_s": ref_seconds[metric],
                "diff_corpus": _diff([out["corpus"][k] for k in keys], np.atleast_1d(score)),
                "diff_per_id": _diff(
                    np.column_stack([per_id(k) for k in keys]), np.reshape(per, (len(ids), -1))
                ),
            }
        )
    reference_total = statistics.median(totals["reference"])
    for label, key in (
        ("total, cold (fresh process)", "cold"),
        ("total, first run on a machine", "first"),
        ("total, warm", "warm"),
    ):
        table.append(
            {
                "metric": label,
                "n": len(ids),
                "mmbench_s": statistics.median(totals[key]),
                "reference_s": reference_total,
                "rounds": totals[key],
                "reference_rounds": totals["reference"],
            }
        )
    for row in table:
        row["ratio"] = row["reference_s"] / row["mmbench_s"] if row["mmbench_s"] else np.nan
        row["source"] = source
        row["refs_per_image"] = n_refs
    return table


def tokenizer_check(captions_path: Path | str | None = None, n: int = 5000) -> tuple[int, int]:
    """(mismatches, captions): tokenize_ptb vs the Java tokenizer on every caption of the file.

    Without the file, on the n images of generated text instead.
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from mmbench.metrics.ptb_tokenizer import tokenized_lines

    path = Path(captions_path) if captions_path else DEFAULT_CAPTIONS
    data, _ = load_captions(captions_path, 10**9 if path.is_file() else n)
    java = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in data.items()})
    ours = tokenized_lines([c for v in data.values() for c in v])
    expected = [line for k in data for line in java[k]]
    return sum(a != b for a, b in zip(ours, expected, strict=True)), len(expected)


def _format(table: list[dict]) -> str:
    from mmbench.table import format_rows

    header = ["metric", "N", "mmbench s", "reference s", "ratio", "max|diff| corpus", "per id"]
    lines = []
    for row in table:
        lines.append(
            [
                row["metric"],
                str(row["n"]),
                f"{row['mmbench_s']:.3f}",
                "" if row["reference_s"] != row["reference_s"] else f"{row['reference_s']:.3f}",
                "" if row["ratio"] != row["ratio"] else f"{row['ratio']:.1f}x",
                "" if "diff_corpus" not in row else f"{row['diff_corpus']:.2g}",
                "" if "diff_per_id" not in row else f"{row['diff_per_id']:.2g}",
            ]
        )
    return format_rows(header, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--captions", default=None, help=f"JSON {{image: [captions]}} (default {DEFAULT_CAPTIONS})"
    )
    parser.add_argument("--n", type=int, default=5000, help="number of images (default 5000)")
    parser.add_argument("--refs", type=int, choices=(4, 5), default=4, help="references per image")
    parser.add_argument("--meteor", action="store_true", help="also time METEOR (Java)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for the totals (median)")
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        _cold_child(args.captions, args.n, args.refs)
        return
    table = rows(args.n, args.captions, args.refs, args.meteor, args.repeats)
    print(f"captions: {table[0]['source']}; {args.refs} references per image")
    print(_format(table))
    for row in table:
        if "rounds" in row:
            rounds = ", ".join(
                f"{m:.3f}/{r:.2f}"
                for m, r in zip(row["rounds"], row["reference_rounds"], strict=True)
            )
            print(f"  {row['metric']}: rounds (mmbench s / reference s) {rounds}")
    mismatches, total = tokenizer_check(args.captions, args.n)
    print(f"tokenize_ptb vs Java PTBTokenizer on all {total} captions: {mismatches} mismatches")


if __name__ == "__main__":
    main()
