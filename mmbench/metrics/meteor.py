"""METEOR 1.5 through pycocoevalcap's jar, with one long-lived, well-behaved JVM per process.

METEOR (Banerjee and Lavie, 2005; version 1.5: Denkowski and Lavie, 2014) aligns candidate and
reference words by exact match, stem, synonym and paraphrase; its English resources are inside
pycocoevalcap's meteor-1.5.jar and data/paraphrase-en.gz, so it is not reimplemented: this module
runs that jar exactly as pycocoevalcap's `Meteor` class does (`java -jar -Xmx2G meteor-1.5.jar - -
-stdio -l en -norm`, the same SCORE / EVAL line protocol), hence the same scores. The corpus score
is the jar's aggregate over all segments, not the mean of the per-image scores.

What differs from pycocoevalcap is robustness: the JVM is started lazily once per process and
reused (loading the paraphrase table takes ~10 s), access is serialised with a lock, stdout and
stderr are drained by background threads so the JVM can never block on a full pipe, every wait
has a timeout (a stuck JVM is killed instead of hanging the caller), a JVM that died is reported
with its last error output, and the process is closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import collections
import importlib.util
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

from mmbench.errors import MMBenchError

__all__ = ["close", "meteor"]

DEFAULT_TIMEOUT = 120.0  # seconds without any answer from the JVM (startup takes ~10 s)

_LOCK = threading.Lock()
_PROCESS: _MeteorProcess | None = None


def meteor(
    predictions: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[float, dict[Hashable, float]]:
    """METEOR 1.5 of tokenised caption strings, as pycocoevalcap's `Meteor().compute_score`.

    `predictions` maps each id to one candidate string, `references` each id to its reference
    strings; pass PTB-tokenised, lower-cased text (as `caption_scores` does) to match the COCO
    evaluation. Returns the jar's corpus score and the per-id scores. Raises a one-line
    MMBenchError when Java is missing, the JVM dies, or it gives no answer within `timeout`
    seconds.
    """
    ids = list(predictions)
    score_lines = [_score_line(predictions[k], references[k]) for k in ids]
    with _LOCK:
        process = _process(timeout)
        try:
            stats = process.request(score_lines, len(ids), timeout)
            eval_line = "EVAL ||| " + " ||| ".join(s.strip() for s in stats)
            answers = process.request([eval_line], len(ids) + 1, timeout)
        except MMBenchError:
            close()  # start afresh next time
            raise
    try:
        values = [float(a) for a in answers]
    except ValueError as exc:
        close()
        raise MMBenchError(
            f"METEOR returned an unreadable score ({exc}); please report this"
        ) from exc
    return values[-1], dict(zip(ids, values[:-1], strict=True))


def _score_line(hypothesis: str, references: Sequence[str]) -> str:
    """pycocoevalcap's SCORE line.

    The hypothesis is cleaned as pycocoevalcap cleans it. pycocoevalcap sends references as they
    are, so a "|||" or a line break in one (impossible in tokenised captions) desynchronises its
    protocol; here they are removed too.
    """
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    references = [r.replace("|||", "") for r in references]
    line = " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))
    return _BREAKS.sub(" ", line)


_BREAKS = re.compile("[\n\r]")  # Java's readLine() line terminators


def meteor_jar() -> Path:
    """Path of pycocoevalcap's meteor-1.5.jar, or a one-line MMBenchError."""
    spec = importlib.util.find_spec("pycocoevalcap")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        jar = Path(location) / "meteor" / "meteor-1.5.jar"
        if jar.is_file():
            return jar
    raise MMBenchError(
        "METEOR needs pycocoevalcap's meteor/meteor-1.5.jar; install it with "
        "`pip install pycocoevalcap>=1.2`, or drop meteor from metrics"
    )


def _process(timeout: float) -> _MeteorProcess:
    global _PROCESS
    if _PROCESS is None or not _PROCESS.alive():
        _PROCESS = _MeteorProcess(timeout)
    return _PROCESS


def close() -> None:
    """Stop the METEOR JVM if one is running (also registered to run at interpreter exit)."""
    global _PROCESS
    process, _PROCESS = _PROCESS, None
    if process is not None:
        process.close()


atexit.register(close)


class _MeteorProcess:
    """One `java -jar meteor-1.5.jar ... -stdio` child with non-blocking, timed line I/O."""

    def __init__(self, timeout: float) -> None:
        java = shutil.which("java")
        if java is None:
            raise MMBenchError(
                "METEOR needs Java 8+ on PATH (java not found); install a JRE, e.g. "
                "apt-get install default-jre, or drop meteor from metrics"
            )
        jar = meteor_jar()
        command = [java, "-jar", "-Xmx2G", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"]
        try:
            self._popen = subprocess.Popen(
                command,
                cwd=jar.parent,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise MMBenchError(f"METEOR could not start Java ({exc}); check your JRE") from exc
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: collections.deque[str] = collections.deque(maxlen=20)
        self._to_write: queue.Queue[bytes | None] = queue.Queue()
        self._write_error: BaseException | None = None
        self._threads = [
            threading.Thread(target=target, daemon=True, name=f"meteor-{target.__name__}")
            for target in (self._read_stdout, self._read_stderr, self._write_stdin)
        ]
        for thread in self._threads:
            thread.start()

    def alive(self) -> bool:
        return self._popen.poll() is None

    def request(self, lines: list[str], n_answers: int, timeout: float) -> list[str]:
        """Send lines, then collect n_answers output lines, each within `timeout` seconds."""
        self._to_write.put("".join(line + "\n" for line in lines).encode("utf-8"))
        answers = []
        for _ in range(n_answers):
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                self.close(kill=True)
                raise MMBenchError(
                    f"METEOR gave no answer within {timeout:.0f} s (stuck JVM killed); retry with "
                    "a larger timeout or drop meteor from metrics"
                ) from None
            if line is None:
                raise MMBenchError(f"METEOR's Java process exited unexpectedly ({self._why()})")
            answers.append(line)
        return answers

    def _why(self) -> str:
        deadline = time.monotonic() + 2
        while self._popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._threads[1].join(timeout=1)  # let the stderr reader catch the last words
        last = next((e for e in reversed(self._errors) if e.strip()), "no error output")
        detail = f"exit code {self._popen.returncode}: {last.strip()}"
        if self._write_error is not None:
            detail += f"; writing failed: {self._write_error}"
        return detail[:300]

    def _read_stdout(self) -> None:
        assert self._popen.stdout is not None
        for raw in self._popen.stdout:
            self._lines.put(raw.decode("utf-8", "replace").strip())
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self._popen.stderr is not None
        for raw in self._popen.stderr:
            self._errors.append(raw.decode("utf-8", "replace"))

    def _write_stdin(self) -> None:
        assert self._popen.stdin is not None
        while (data := self._to_write.get()) is not None:
            try:
                self._popen.stdin.write(data)
                self._popen.stdin.flush()
            except (OSError, ValueError) as exc:  # JVM gone: the reader reports it
                self._write_error = exc
                return

    def close(self, kill: bool = False) -> None:
        if kill:
            self._popen.kill()
        self._to_write.put(None)
        try:
            if self._popen.stdin is not None:
                self._popen.stdin.close()
        except OSError:
            pass
        try:
            self._popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
