"""`openai:MODEL`: a model behind an OpenAI-compatible chat-completions server.

Works with vLLM, SGLang, LMDeploy, TGI and OpenAI itself, for the ``generate`` capability
(captioning, QA, multiple choice). Every sample is one ``POST {base}/chat/completions`` whose user
turn holds the images as ``image_url`` parts with base64 data URLs (PNG, or JPEG with
``image_format=jpeg``) in order, then one ``text`` part with the prompt; a video is its sampled
frames, one image part each; an interleaved multi-image prompt (MMMU) puts each image part where
its marker stands in the text. Decoding is greedy (``temperature: 0``) with ``seed`` = ``--seed``
unless ``--gen-kwargs`` says otherwise (``max_new_tokens`` is sent as ``max_tokens``; every other
key goes into the body as written). The prediction is ``choices[0].message.content``.

Server from ``--model-args base_url=`` or ``OPENAI_BASE_URL``; key from ``OPENAI_API_KEY`` (sent
as a Bearer token, recorded nowhere). Loading the model probes ``GET {base}/models`` once, so a
refused key, an unknown model or a missing server is a one-line error before any sample request;
a server without ``/models`` (404) is used with the model name alone and a warning.

Caching: the fingerprint is the server's host:port, the model name, what ``/models`` reports
about it (stable fields only: vLLM re-stamps ``created`` on every call) or ``fingerprint=``, and
the settings that change answers. A cached rerun uses the model memo (`identify`) and sends
nothing, not even the probe, so new weights served under the same name are not noticed then;
pass ``fingerprint=`` (e.g. the checkpoint's commit) to key the cache on the weights.

Answers are streamed (`stream`): ``concurrency`` request threads, each answer handed back as it
arrives so that the engine commits it to the cache at once (one SQLite transaction per item
instead of per batch: a fraction of a millisecond each, small next to a server round trip, and a
killed run loses only the requests in flight).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import mimetypes
import os
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mmbench.data.items import IMAGE_MARKER
from mmbench.errors import MMBenchError, did_you_mean
from mmbench.models.args import ModelArg, output_args, redact_url
from mmbench.models.base import (
    GENERATE,
    GENERATE_MULTI_IMAGE,
    GenerationInput,
    ModelAdapter,
    ModelOptions,
    StreamedOutput,
)
from mmbench.models.openai_client import RequestFailed, Server

log = logging.getLogger(__name__)

ADAPTER_VERSION = 1
DEFAULT_GENERATION: dict[str, Any] = {"temperature": 0}
#: fields of a /models entry that identify the served weights; vLLM's `created` and `permission`
#: change on every call, so they are left out.
STABLE_MODEL_FIELDS = ("id", "object", "owned_by", "root", "parent", "max_model_len")
_POLL_S = 0.5  # how often a waiting stream wakes up, so Ctrl-C is noticed

#: how a video goes to the server: its sampled frames as image parts, or the file itself as one
#: `video_url` part (vLLM, SGLang; the server then samples frames its own way)
VIDEO_MODES = ("frames", "video_url")

MODEL_ARGS: dict[str, ModelArg] = {
    "base_url": ModelArg((str,), "server URL ending in /v1 (default $OPENAI_BASE_URL)", False),
    "concurrency": ModelArg((int,), "requests in flight (default 8)", False),
    "timeout": ModelArg((float,), "seconds to wait for one answer (default 60)", False),
    "max_retries": ModelArg((int,), "retries per request on 429/5xx/timeouts (default 5)", False),
    "backoff": ModelArg((float,), "first backoff in seconds, doubled per retry (default 1)", False),
    "image_format": ModelArg((str,), "png (default, lossless) or jpeg", True, ("png", "jpeg")),
    "jpeg_quality": ModelArg((int,), "JPEG quality with image_format=jpeg (default 95)", True),
    "fingerprint": ModelArg(
        (str,), "what identifies the served weights in the cache (default: /models' facts)", True
    ),
    "video": ModelArg(
        (str,), "frames (default: sampled frames as images) or video_url", True, VIDEO_MODES
    ),
}
DEFAULTS: dict[str, Any] = {
    "concurrency": 8,
    "timeout": 60.0,
    "max_retries": 5,
    "backoff": 1.0,
    "image_format": "png",
    "jpeg_quality": 95,
    "video": "frames",
}


def base_url(options: ModelOptions) -> str:
    """The server URL: `base_url=` model arg, else $OPENAI_BASE_URL; a one-line error without."""
    url = options.model_args.get("base_url") or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise MMBenchError(
            "openai: models need a server: set OPENAI_BASE_URL (e.g. http://localhost:8000/v1)"
            " or pass --model-args base_url=URL"
        )
    return str(url)


def settings(options: ModelOptions) -> dict[str, Any]:
    """Model args with their defaults filled in, checked for sane ranges."""
    merged = {**DEFAULTS, **options.model_args}
    for name in ("concurrency", "timeout"):
        if merged[name] <= 0:
            raise MMBenchError(f"--model-args: {name} must be positive, got {merged[name]}")
    if merged["max_retries"] < 0 or merged["backoff"] < 0:
        raise MMBenchError("--model-args: max_retries and backoff must be 0 or more")
    return merged


def request_settings(options: ModelOptions) -> dict[str, Any]:
    """Body fields besides model and messages: temperature 0, seed = --seed, then --gen-kwargs."""
    body: dict[str, Any] = {**DEFAULT_GENERATION, "seed": options.seed}
    for key, value in (options.generation or {}).items():
        body["max_tokens" if key == "max_new_tokens" else key] = value
    return body


def identify(name: str, options: ModelOptions) -> dict[str, Any] | None:
    """The memo identity, read without any request: server address and path, model name."""
    url = options.model_args.get("base_url") or os.environ.get("OPENAI_BASE_URL")
    if not url:
        return None
    return {"server": redact_url(str(url).rstrip("/")), "model": name}


@dataclass(frozen=True)
class ChatPreprocessor:
    """Passes requests through; images are encoded to data URLs in the request threads, which
    overlap the encoding with network waits without needing DataLoader workers."""

    def __call__(self, request: GenerationInput) -> GenerationInput:
        if not isinstance(request, GenerationInput):
            raise TypeError(f"generate expects GenerationInput items, got {type(request).__name__}")
        return request

    def collate(self, features: list[GenerationInput]) -> list[GenerationInput]:
        return list(features)


def data_url(image: Any, image_format: str, jpeg_quality: int) -> str:
    """An RGB image as a base64 data URL (PNG: exact pixels; JPEG: `jpeg_quality`)."""
    buffer = io.BytesIO()
    rgb = image if getattr(image, "mode", "RGB") == "RGB" else image.convert("RGB")
    if image_format == "jpeg":
        rgb.save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        # zlib level 1: the same pixels (PNG is lossless) for a few times less CPU than the
        # default level 6, at a slightly larger request.
        rgb.save(buffer, format="PNG", compress_level=1)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format};base64,{encoded}"


def video_part(request: GenerationInput) -> dict[str, Any]:
    """The request's video file as one `video_url` part with a base64 data URL."""
    ref = request.video
    if ref is None or (ref.path is None and ref.data is None):
        raise MMBenchError(
            "--model-args video=video_url sends video files, but this dataset holds decoded"
            " frames; drop video=video_url to send the sampled frames"
        )
    mime = mimetypes.guess_type(ref.path)[0] if ref.path else None
    encoded = base64.b64encode(ref.read_bytes()).decode("ascii")
    url = f"data:{mime or 'video/mp4'};base64,{encoded}"
    return {"type": "video_url", "video_url": {"url": url}}


def chat_messages(
    request: GenerationInput, image_format: str, jpeg_quality: int, video: str = "frames"
) -> list[dict[str, Any]]:
    """One user turn: the images (or video frames) in order, then the prompt; an interleaved
    prompt (MMMU) becomes its text pieces with each image part where its IMAGE_MARKER stands.
    With video="video_url" a video is its file as one `video_url` part instead of its frames."""
    if video == "video_url" and request.is_video:
        part = video_part(request)
        return [{"role": "user", "content": [part, {"type": "text", "text": request.prompt}]}]
    parts = [
        {"type": "image_url", "image_url": {"url": data_url(im, image_format, jpeg_quality)}}
        for im in request.images
    ]
    if not request.interleaved:
        return [{"role": "user", "content": [*parts, {"type": "text", "text": request.prompt}]}]
    content: list[dict[str, Any]] = []
    for index, piece in enumerate(request.prompt.split(IMAGE_MARKER)):
        if index:
            content.append(parts[index - 1])
        if piece:
            content.append({"type": "text", "text": piece})
    return [{"role": "user", "content": content}]


def prediction_of(answer: Any) -> tuple[str, dict[str, Any]]:
    """`choices[0].message.content` (None reads as "") and the token usage, or RequestFailed."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise RequestFailed("the answer has no choices[0].message.content") from None
    usage = answer.get("usage") if isinstance(answer, dict) else None
    usage = {k: v for k, v in (usage or {}).items() if isinstance(v, int)}
    return ("" if content is None else str(content)), usage


class OpenAIAdapter(ModelAdapter):
    """Client of one model on an OpenAI-compatible server (see the module docstring)."""

    capabilities = frozenset({GENERATE, GENERATE_MULTI_IMAGE})
    streams = True

    def __init__(self, name: str, options: ModelOptions, server: Server) -> None:
        self.name = name
        self.options = options
        self.settings = settings(options)
        self.server = server
        self.body = request_settings(options)
        self.server_facts = self._probe()

    def _probe(self) -> dict[str, Any] | None:
        models = self.server.get_models()
        if models is None:
            log.warning(
                "the server at %s has no /models endpoint (404); using the model name %r alone"
                " to identify its outputs in the cache",
                self.server.shown,
                self.name,
            )
            return None
        ids = [str(m.get("id")) for m in models]
        if self.name not in ids:
            raise MMBenchError(
                f"the server at {self.server.shown} does not serve model {self.name!r}"
                f"{did_you_mean(self.name, ids)}; it serves: {', '.join(ids) or 'nothing'}"
            )
        entry = models[ids.index(self.name)]
        return {k: entry[k] for k in STABLE_MODEL_FIELDS if k in entry}

    def fingerprint(self) -> str:
        identity = {
            "adapter": f"openai-v{ADAPTER_VERSION}",
            "server": self.server.address,
            "model": self.name,
            "weights": self.options.model_args.get("fingerprint", self.server_facts),
            "args": output_args(MODEL_ARGS, self.settings),
            "body": self.body,
        }
        material = json.dumps(identity, sort_keys=True, default=str)
        return f"openai:{self.name}:" + hashlib.sha256(material.encode()).hexdigest()[:16]

    @property
    def device(self) -> str:
        return "server"

    def describe(self) -> dict[str, Any]:
        return {
            "server": self.server.shown,
            "model": self.name,
            "served_model": self.server_facts,
            "request": self.body,
            "image_format": self.settings["image_format"],
            "concurrency": self.settings["concurrency"],
        }

    def preprocessor(self, capability: str) -> ChatPreprocessor:
        self.require(capability, "?")
        return ChatPreprocessor()

    def generate(self, batch: list[GenerationInput], **generation_kwargs: Any) -> list[str]:
        """All answers of one batch, in order; a request that fails for good raises."""
        answers: dict[int, str] = {}
        for arrived in self.stream(GENERATE, [(list(range(len(batch))), batch)]):
            for out in arrived:
                if out.error is not None:
                    raise MMBenchError(f"request {out.index} failed: {out.error}")
                answers[out.index] = out.output
        return [answers[i] for i in range(len(batch))]

    def call_totals(self) -> dict[str, Any]:
        return self.server.totals.as_dict()

    # ------------------------------------------------------------------ streaming
    def _answer(self, request: GenerationInput, rng: random.Random) -> tuple[str, dict[str, Any]]:
        body = {
            "model": self.name,
            "messages": chat_messages(
                request,
                self.settings["image_format"],
                self.settings["jpeg_quality"],
                self.settings["video"],
            ),
            **self.body,
        }
        reply = self.server.post("/chat/completions", body, rng)
        text, usage = prediction_of(reply.body)
        self.server.totals.add(
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            total_tokens=usage.get("total_tokens", 0),
        )
        info: dict[str, Any] = {"latency_s": round(reply.latency_s, 4), "attempts": reply.attempts}
        if usage:
            info["usage"] = usage
        return text, info

    def _worker(
        self, jobs: queue.Queue, done: queue.Queue, stop: threading.Event, seed: int
    ) -> None:
        rng = random.Random(seed)
        while True:
            job = jobs.get()
            if job is None or stop.is_set():
                return
            index, request = job
            try:
                text, info = self._answer(request, rng)
                done.put(StreamedOutput(index, output=text, info=info))
            except RequestFailed as err:
                done.put(StreamedOutput(index, error=f"openai:{self.name}: {err}"))
            except BaseException as err:  # handed to the consumer, which re-raises it
                done.put(err)

    def stream(
        self, capability: str, batches: Iterable[tuple[list[int], Any]]
    ) -> Iterator[list[StreamedOutput]]:
        """Answers in completion order, `concurrency` requests in flight, pulling items lazily;
        each yield is every answer that has arrived since the last one.

        The request threads are daemons: when the consumer stops early (a failure with
        --on-error fail, Ctrl-C) they are told to stop and any request still in flight is
        abandoned, which is what "a killed run loses the requests in flight" means.
        """
        self.require(capability, "?")
        workers = self.settings["concurrency"]
        jobs: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        stop = threading.Event()
        threads = [
            threading.Thread(target=self._worker, args=(jobs, done, stop, n), daemon=True)
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        pending = (
            (i, r) for indices, batch in batches for i, r in zip(indices, batch, strict=True)
        )
        started = time.perf_counter()
        in_flight = 0

        def refill() -> None:
            nonlocal in_flight
            while in_flight < workers:
                job = next(pending, None)
                if job is None:
                    return
                jobs.put(job)
                in_flight += 1

        try:
            while True:
                refill()
                if in_flight == 0:
                    return
                try:
                    ready = [done.get(timeout=_POLL_S)]
                except queue.Empty:
                    continue
                while True:
                    try:
                        ready.append(done.get_nowait())
                    except queue.Empty:
                        break
                in_flight -= len(ready)
                # Free slots get new requests before the answers are handed on (and committed),
                # so the server never waits on the cache.
                refill()
                for out in ready:
                    if isinstance(out, BaseException):
                        raise out
                yield ready
        finally:
            stop.set()
            for _ in threads:
                jobs.put(None)
            self.server.totals.add(wall_s=time.perf_counter() - started)


def load(name: str, options: ModelOptions) -> OpenAIAdapter:
    """`openai:MODEL`: connect to the server, probe /models and build the adapter."""
    if not name.strip():
        raise MMBenchError("openai: needs a model name, e.g. openai:Qwen/Qwen2-VL-7B-Instruct")
    merged = settings(options)
    server = Server(
        base_url(options),
        os.environ.get("OPENAI_API_KEY") or None,
        timeout=float(merged["timeout"]),
        max_retries=int(merged["max_retries"]),
        backoff=float(merged["backoff"]),
    )
    return OpenAIAdapter(name, options, server)
