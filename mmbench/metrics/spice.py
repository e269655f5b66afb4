"""SPICE through pycocoevalcap's spice-1.0.jar, failing fast and clearly when it cannot run.

SPICE (Anderson et al., 2016, "SPICE: Semantic Propositional Image Caption Evaluation") parses
candidate and references into scene graphs with Stanford CoreNLP and reports the F-score of
their tuples. It is run exactly as pycocoevalcap's `Spice` class runs it (`java -jar -Xmx8G
spice-1.0.jar input.json -cache DIR -out output.json -subset -silent`); the corpus score is the
mean of the per-image "All" F-scores.

The jar needs Stanford CoreNLP 3.6.0 (stanford-corenlp-3.6.0.jar and
stanford-corenlp-3.6.0-models.jar). pycocoevalcap downloads them into its package on first use
and hangs or crashes with a traceback when that is impossible; here they are looked for in
pycocoevalcap's spice/lib and in `$MMBENCH_CACHE/spice/lib`, downloaded into the latter if
missing (every network wait bounded by a timeout), and any failure becomes a one-line
MMBenchError naming the fix.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import tempfile
import urllib.request
import zipfile
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np

from mmbench.errors import MMBenchError

__all__ = ["spice"]

CORENLP = "stanford-corenlp-full-2015-12-09"
CORENLP_URL = f"http://nlp.stanford.edu/software/{CORENLP}.zip"
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
DEFAULT_TIMEOUT = 1800.0  # seconds for the SPICE run itself (parsing is slow: ~1-2 s per image)
DEFAULT_DOWNLOAD_TIMEOUT = 30.0  # seconds without progress while downloading CoreNLP


def spice(
    predictions: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    timeout: float = DEFAULT_TIMEOUT,
    download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
) -> tuple[float, dict[Hashable, float]]:
    """SPICE of caption strings, as pycocoevalcap's `Spice().compute_score`.

    Returns the mean of the per-image "All" F-scores and the per-id scores (NaN where SPICE gives
    none). Raises a one-line MMBenchError when Java or the CoreNLP models are missing and cannot
    be downloaded within `download_timeout` seconds of silence, or when the run fails or takes
    longer than `timeout` seconds.
    """
    java = shutil.which("java")
    if java is None:
        raise MMBenchError(
            "SPICE needs Java 8+ on PATH (java not found); install a JRE, e.g. "
            "apt-get install default-jre, or drop spice from metrics"
        )
    spice_dir = _spice_dir()
    classpath = [spice_dir / "spice-1.0.jar", *_corenlp_jars(spice_dir, download_timeout)]
    ids = list(predictions)
    # SPICE keys its output by image_id; use positions so any hashable id works.
    data = [
        {"image_id": i, "test": predictions[k], "refs": list(references[k])}
        for i, k in enumerate(ids)
    ]
    cache = _cache_dir() / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mmbench-spice-") as tmp:
        in_file, out_file = Path(tmp) / "input.json", Path(tmp) / "output.json"
        in_file.write_text(json.dumps(data), encoding="utf-8")
        command = [
            java,
            "-Xmx8G",
            "-cp",
            os.pathsep.join(str(p) for p in classpath),
            "edu.anu.spice.SpiceScorer",
            str(in_file),
            "-cache",
            str(cache),
            "-out",
            str(out_file),
            "-subset",
            "-silent",
        ]
        try:
            run = subprocess.run(
                command, cwd=spice_dir, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise MMBenchError(
                f"SPICE did not finish within {timeout:.0f} s; raise the timeout or drop spice "
                "from metrics"
            ) from None
        if run.returncode != 0 or not out_file.is_file():
            raise MMBenchError(f"SPICE failed (java exit code {run.returncode}): {_last_line(run)}")
        results = json.loads(out_file.read_text(encoding="utf-8"))
    scores = {ids[int(item["image_id"])]: _float(item["scores"]["All"]["f"]) for item in results}
    per_id = {k: scores.get(k, math.nan) for k in ids}
    return float(np.mean(np.array(list(per_id.values())))), per_id


def _spice_dir() -> Path:
    spec = importlib.util.find_spec("pycocoevalcap")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        directory = Path(location) / "spice"
        if (directory / "spice-1.0.jar").is_file():
            return directory
    raise MMBenchError(
        "SPICE needs pycocoevalcap's spice/spice-1.0.jar; install it with "
        "`pip install pycocoevalcap>=1.2`, or drop spice from metrics"
    )


def _cache_dir() -> Path:
    from mmbench.cache import default_cache_dir

    return default_cache_dir() / "spice"


def _corenlp_jars(spice_dir: Path, download_timeout: float) -> list[Path]:
    """The two CoreNLP 3.6.0 jars, downloading them into the mmbench cache if needed."""
    for directory in (spice_dir / "lib", _cache_dir() / "lib"):
        jars = [directory / name for name in CORENLP_JARS]
        if all(j.is_file() for j in jars):
            return jars
    target = _cache_dir() / "lib"
    fix = (
        f"run once with internet access, or put {' and '.join(CORENLP_JARS)} (from {CORENLP_URL}) "
        f"into {target} or {spice_dir / 'lib'}, or drop spice from metrics"
    )
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target) as tmp:
            archive = Path(tmp) / f"{CORENLP}.zip"
            with (
                urllib.request.urlopen(CORENLP_URL, timeout=download_timeout) as response,
                archive.open("wb") as out,
            ):
                shutil.copyfileobj(response, out, 1 << 20)
            with zipfile.ZipFile(archive) as zf:
                for name in CORENLP_JARS:
                    extracted = Path(zf.extract(f"{CORENLP}/{name}", tmp))
                    extracted.replace(target / name)
    except Exception as exc:  # any failure (network, disk, archive) has the same fix
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise MMBenchError(
            f"SPICE needs Stanford CoreNLP 3.6.0 models and downloading them failed ({reason}); "
            + fix
        ) from None
    return [target / name for name in CORENLP_JARS]


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _last_line(run: subprocess.CompletedProcess) -> str:
    text = (run.stderr or b"").decode("utf-8", "replace") + (run.stdout or b"").decode(
        "utf-8", "replace"
    )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "no error output")[:300]
