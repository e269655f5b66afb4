"""A real OpenAI-compatible chat-completions server for tests, on 127.0.0.1 (stdlib only).

The server rebuilds every sample from the HTTP body alone: it decodes the data URLs of the
`image_url` parts (which must all come before the one `text` part), records how many images came
in which order (as pixel digests), and answers through `answer(images, prompt)`: an echo of the
request (`echo_answer`) or a tiny transformers generator (`hf_answerer`). Faults are scripted per
chat request (`faults`), and it counts requests, probes and the most requests in flight.
Every wait is bounded, so a broken client cannot hang the suite.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from helpers.hf_models import build_llava

MAX_WAIT_S = 10.0  # the longest any handler ever blocks (hangs, concurrency holds)


def pixel_digest(image: Any) -> str:
    """sha256 (12 hex digits) of an RGB image's size and pixels: what "the same image" means;
    for a video file sent whole (bytes), "video:" and the sha256 of its bytes."""
    if isinstance(image, bytes):
        return "video:" + hashlib.sha256(image).hexdigest()[:12]
    rgb = image.convert("RGB")
    return hashlib.sha256(repr(rgb.size).encode() + rgb.tobytes()).hexdigest()[:12]


def echo_answer(images: list[Any], prompt: str) -> str:
    """The answer an echo server gives: image count, pixel digests in order, then the prompt."""
    return f"{len(images)} image(s) {' '.join(pixel_digest(im) for im in images)} | {prompt}"


def hf_answerer(model_dir: Path) -> Callable[[list[Any], str], str]:
    """Answer with the `hf:` adapter of `model_dir`, one request at a time (the model is not
    thread-safe), exactly as `hf:` would answer the same GenerationInput."""
    from mmbench.models import load_model
    from mmbench.models.base import GENERATE, GenerationInput, ModelOptions

    adapter = load_model(f"hf:{model_dir}", ModelOptions(device="cpu"))
    pre = adapter.preprocessor(GENERATE)
    lock = threading.Lock()

    def answer(images: list[Any], prompt: str) -> str:
        import torch

        with lock, torch.inference_mode():
            batch = pre.collate([pre(GenerationInput(tuple(images), prompt))])
            return adapter.generate(batch)[0]

    return answer


class OpenAIServer:
    """Context manager running the server in a thread; `url` is its /v1 base URL.

    `hold_for=N` holds each of the first N chat requests until N are in flight at once (at most
    MAX_WAIT_S; `held_timeouts` counts the ones that waited in vain).
    `faults` is a list of actions taken by the next chat requests, in arrival order:
    "429:S" (429 with Retry-After: S), "500", "hang" (no answer until the client gives up),
    "drop" (close the connection without an answer), "badjson" (200 with a body that is not
    JSON), "401" (the key refused mid-run); None takes no action. `fail_if(images, prompt)`
    makes matching requests fail with 500 every time.
    """

    def __init__(
        self,
        answer: Callable[[list[Any], str], str] = echo_answer,
        models: tuple[str, ...] = ("tiny",),
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        delay_s: float = 0.0,
        models_status: int = 200,
        faults: list[str] | None = None,
        fail_if: Callable[[list[Any], str], bool] | None = None,
        hold_for: int = 0,
        image_format: str = "png",
    ) -> None:
        self.answer = answer
        self.models = models
        self.api_key = api_key
        self.basic_auth = basic_auth
        self.delay_s = delay_s
        self.models_status = models_status
        self.faults = collections.deque(faults or [])
        self.fail_if = fail_if
        self.hold_for = hold_for
        self.image_format = image_format
        self.lock = threading.Condition()
        self.stop = threading.Event()
        self.chat_requests = 0
        self.model_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.held_timeouts = 0
        self.released = False
        self.answered = 0
        self.arrivals: list[float] = []
        self.received: list[tuple[list[str], str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.errors: list[str] = []

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> OpenAIServer:
        server = self

        class Handler(_Handler):
            owner = server

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        with self.lock:
            self.lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=MAX_WAIT_S)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    # ---------------------------------------------------------------- request parsing
    def decode(self, body: dict[str, Any]) -> tuple[list[Any], str]:
        """Images and prompt from a chat body; raises ValueError when it breaks the contract."""
        from PIL import Image

        (message,) = body["messages"]
        if message["role"] != "user":
            raise ValueError("the one message must be the user's")
        parts = message["content"]
        if not parts or parts[-1]["type"] != "text":
            raise ValueError("the last content part must be the text")
        if any(p["type"] not in ("image_url", "video_url") for p in parts[:-1]):
            raise ValueError("every part before the text must be an image_url or video_url")
        prefix = f"data:image/{self.image_format};base64,"
        images: list[Any] = []
        for part in parts[:-1]:
            if part["type"] == "video_url":
                kind, _, encoded = part["video_url"]["url"].partition(";base64,")
                if not kind.startswith("data:video/"):
                    raise ValueError("a video URL must be a data:video/... base64 URL")
                images.append(base64.b64decode(encoded))
                continue
            url = part["image_url"]["url"]
            if not url.startswith(prefix):
                raise ValueError(f"an image URL does not start with {prefix}")
            images.append(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))).copy())
        return images, parts[-1]["text"]

    def authorised(self, header: str | None) -> bool:
        if self.api_key is not None:
            return header == f"Bearer {self.api_key}"
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            return header == f"Basic {token}"
        return True


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) leaves a broken pipe behind: expected here."""


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def do_GET(self) -> None:
        server = self.owner
        with server.lock:
            server.model_requests += 1
        if not server.authorised(self.headers.get("Authorization")):
            self._json(401, {"error": {"message": "Incorrect API key provided"}})
        elif self.path != "/v1/models" or server.models_status != 200:
            status = server.models_status if self.path == "/v1/models" else 404
            self._json(status, {"error": {"message": "not here"}})
        else:
            data = [
                {"id": m, "object": "model", "created": int(time.time()), "owned_by": "tests"}
                for m in server.models
            ]
            self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        server = self.owner
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "no such route"}})
            return
        with server.lock:
            server.chat_requests += 1
            held = server.chat_requests <= server.hold_for
            server.arrivals.append(time.monotonic())
            server.bodies.append(body)
            fault = server.faults.popleft() if server.faults else None
        if not server.authorised(self.headers.get("Authorization")):
            self._json(401, {"error": {"message": "Incorrect API key provided"}})
            return
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.released |= 0 < server.hold_for <= server.in_flight
            server.lock.notify_all()
        try:
            self._chat(server, body, fault, held)
        finally:
            with server.lock:
                server.in_flight -= 1

    def _chat(
        self, server: OpenAIServer, body: dict[str, Any], fault: str | None, held: bool
    ) -> None:
        if held:
            with server.lock:
                # Released for good once N were in flight together: a held request that wakes
                # after another one finished must not wait again.
                server.released |= server.in_flight >= server.hold_for
                if not server.lock.wait_for(
                    lambda: server.released or server.stop.is_set(), timeout=MAX_WAIT_S
                ):
                    server.held_timeouts += 1
        if fault == "hang":
            server.stop.wait(MAX_WAIT_S)
            self.close_connection = True
            return
        if fault == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.startswith("429"):
            seconds = fault.partition(":")[2] or "0"
            self._json(429, {"error": {"message": "rate limited"}}, {"Retry-After": seconds})
            return
        if fault == "500":
            self._json(500, {"error": {"message": "internal error"}})
            return
        if fault == "401":
            self._json(401, {"error": {"message": "key revoked"}})
            return
        if fault == "badjson":
            self._send(200, b'{"choices": [')
            return
        try:
            images, prompt = server.decode(body)
        except (ValueError, KeyError, TypeError, OSError) as err:
            server.errors.append(str(err))
            self._json(400, {"error": {"message": f"bad request: {err}"}})
            return
        with server.lock:
            server.received.append(([pixel_digest(im) for im in images], prompt))
        if server.fail_if is not None and server.fail_if(images, prompt):
            self._json(500, {"error": {"message": "this one always fails"}})
            return
        if server.delay_s:
            server.stop.wait(min(server.delay_s, MAX_WAIT_S))
        text = server.answer(images, prompt)
        prompt_tokens = len(prompt.split()) + len(images)
        completion_tokens = len(text.split())
        answer = {
            "id": f"chatcmpl-{server.chat_requests}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._json(200, answer)
        with server.lock:
            server.answered += 1


def build_tiny_llava(path: Path) -> Path:
    """A tiny random LLaVA (chat template, one <image> token per image) saved offline: one layer
    per tower and a vocabulary of caption words."""
    words = "a the photo of cat dog man coffee cup rocket sky red is on in with image caption"
    return build_llava(path, seed=7, layers=1, words=words.split(), punctuation="?.,!")


def write_caption_task(folder: Path, n: int, size: int = 12, metrics: str = "[Bleu_1]") -> Path:
    """A local captioning task over `n` distinct small PNG images (fast to encode and decode);
    returns the task YAML's path."""
    import numpy as np
    from PIL import Image

    (folder / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "img" / f"{k}.png")
        rows.append({"id": f"s{k}", "image": f"img/{k}.png", "captions": [f"picture number {k}"]})
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = folder / "small-captions.yaml"
    task.write_text(
        "name: small-captions\ntype: captioning\nversion: 1\nsource: {local: rows.jsonl}\n"
        f"columns: {{id: id, image: image, references: captions}}\nmetrics: {metrics}\n"
        'options: {prompt: "caption this"}\n'
    )
    return task
