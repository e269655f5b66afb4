"""Caption metrics: mmbench vs pycocoevalcap 1.2, speed and exactness, in one run.

For the first N images of a `{image: [captions]}` JSON file (default: the 8,092 Flickr8k images
in ../shared/data/flickr8k/captions.json), caption 0 is the prediction and the other captions the
references (`--refs 5`: all five, the prediction included). The reference pipeline is what
COCOEvalCap runs: pycocoevalcap's Java PTBTokenizer on references and on predictions, then
Bleu(4), Rouge(), Cider() (and Meteor() with --meteor). mmbench runs `caption_scores` on the raw
captions, first from a cold start (tokenizer tables and caches cleared) and then warm.

Also checks that `tokenize_ptb` equals the Java tokenizer on every caption of the file.

    python benchmarks/caption_metrics.py [--captions PATH] [--n 5000] [--refs 4|5] [--meteor]

`rows(n, captions_path)` returns the table rows for other scripts to combine.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CAPTIONS = ROOT / ".." / "shared" / "data" / "flickr8k" / "captions.json"


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


def _mmbench(preds, refs, meteor: bool) -> tuple[dict, dict, dict]:
    """mmbench stage by stage (cold), then caption_scores end to end cold and warm."""
    from mmbench.metrics import _ptb_lexer, ptb_tokenizer
    from mmbench.metrics._ngrams import encode, encode_strings, ngram_tables, regular_spacing
    from mmbench.metrics.bleu_score import bleu_arrays
    from mmbench.metrics.captioning import caption_scores
    from mmbench.metrics.cider import cider_arrays
    from mmbench.metrics.rouge import rouge_arrays

    def cold() -> None:
        ptb_tokenizer.clear_cache()
        _ptb_lexer.load_tables.cache_clear()

    ids = list(preds)
    seconds: dict[str, float] = {}
    cold()

    def tokenize():
        flat = ptb_tokenizer.tokenized_lines([r for k in ids for r in refs[k]])
        lines = ptb_tokenizer.tokenized_lines([preds[k] for k in ids])
        return flat, lines

    (flat, lines), seconds["PTB tokenizer"] = _timed(tokenize)
    ref_lines, at = [], 0
    for k in ids:
        ref_lines.append(flat[at : at + len(refs[k])])
        at += len(refs[k])

    def shared():
        if regular_spacing([*lines, *flat]):  # what caption_scores does for ordinary text
            corpus = encode_strings(lines, ref_lines)
        else:
            corpus = encode(
                [p.split() for p in lines], [[r.split() for r in rs] for rs in ref_lines]
            )
        return corpus, ngram_tables(corpus, 4)

    (corpus, tables), seconds["encode + n-gram tables (shared)"] = _timed(shared)
    _, seconds["BLEU-1..4"] = _timed(lambda: bleu_arrays(corpus, tables))
    _, seconds["ROUGE-L"] = _timed(lambda: rouge_arrays(corpus))
    _, seconds["CIDEr-D"] = _timed(lambda: cider_arrays(corpus, tables))
    families = ("bleu", "rouge_l", "cider_d") + (("meteor",) if meteor else ())
    cold()
    out, total_cold = _timed(lambda: caption_scores(preds, refs, metrics=families))
    again, total_warm = _timed(lambda: caption_scores(preds, refs, metrics=families))
    assert again == out
    if meteor:
        _, seconds["METEOR"] = _timed(lambda: caption_scores(preds, refs, metrics=("meteor",)))
    return out, seconds, {"cold": total_cold, "warm": total_warm, "lines": (lines, ref_lines)}


def _diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))


def rows(
    n: int = 5000, captions_path: Path | str | None = None, n_refs: int = 4, meteor: bool = False
) -> list[dict]:
    """Benchmark rows: metric, n, mmbench_s, reference_s, ratio, max_abs_diff_corpus/per_id."""
    data, source = load_captions(captions_path, n)
    first = 0 if n_refs == 5 else 1
    preds = {k: v[0] for k, v in data.items()}
    refs = {k: v[first:] for k, v in data.items()}
    ref_scores, ref_seconds = _reference(preds, refs, meteor)
    out, seconds, totals = _mmbench(preds, refs, meteor)
    ids = list(preds)
    gts, res = ref_scores["PTB tokenizer"]
    lines, ref_lines = totals["lines"]
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
            "n": len(ids) * (1 + n_refs),
            "mmbench_s": seconds["PTB tokenizer"],
            "reference_s": ref_seconds["PTB tokenizer"],
            "diff_corpus": float(mismatches),
            "diff_per_id": float(mismatches),
            "note": "diff = captions tokenised differently",
        },
        {
            "metric": "encode + n-gram tables (shared)",
            "n": len(ids),
            "mmbench_s": seconds["encode + n-gram tables (shared)"],
            "reference_s": float("nan"),
        },
    ]
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
    reference_total = sum(ref_seconds.values())
    for label, key in (("total, cold start", "cold"), ("total, warm", "warm")):
        table.append(
            {
                "metric": f"{label} (caption_scores)",
                "n": len(ids),
                "mmbench_s": totals[key],
                "reference_s": reference_total,
            }
        )
    for row in table:
        row["ratio"] = row["reference_s"] / row["mmbench_s"] if row["mmbench_s"] else float("nan")
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
    header = ["metric", "N", "mmbench s", "reference s", "ratio", "max|diff| corpus", "per id"]
    lines = [header]
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
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in lines
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--captions", default=None, help=f"JSON {{image: [captions]}} (default {DEFAULT_CAPTIONS})"
    )
    parser.add_argument("--n", type=int, default=5000, help="number of images (default 5000)")
    parser.add_argument("--refs", type=int, choices=(4, 5), default=4, help="references per image")
    parser.add_argument("--meteor", action="store_true", help="also time METEOR (Java)")
    args = parser.parse_args()
    table = rows(args.n, args.captions, args.refs, args.meteor)
    print(f"captions: {table[0]['source']}; {args.refs} references per image")
    print(_format(table))
    mismatches, total = tokenizer_check(args.captions, args.n)
    print(f"tokenize_ptb vs Java PTBTokenizer on all {total} captions: {mismatches} mismatches")


if __name__ == "__main__":
    main()
