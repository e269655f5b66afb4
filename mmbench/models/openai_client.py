"""HTTP for `openai:` models: one JSON request with retries, and the `/models` probe.

Standard library only (`http.client`): each request thread keeps its own keep-alive connection.
Retry policy (what the OpenAI and vLLM clients do): 408, 409, 429, every 5xx, timeouts, dropped
connections and unreadable JSON are retried up to `max_retries` times; the wait is the server's
`Retry-After` (seconds or an HTTP date; `retry-after-ms` too) when it sends one, else exponential
backoff with equal jitter, `backoff * 2**attempt` halved plus a random half, capped at
`MAX_BACKOFF_S`. 401/403 stop the run; any other 4xx fails that request at once.

The API key travels only in the Authorization header; it is never part of an error message,
and a base URL is always shown through `redact_url`.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.models.args import redact_url

MAX_BACKOFF_S = 30.0
#: a longer Retry-After is cut to this (as the OpenAI Python client does), so that one odd
#: header cannot park a request for an hour
MAX_RETRY_AFTER_S = 60.0
RETRY_STATUSES = frozenset({408, 409, 429})
_ERROR_TEXT = 200  # characters of a server's error body kept in a message


class FatalServerError(MMBenchError):
    """The server refused the credentials mid-run: stop (answers so far stay cached)."""


class RequestFailed(Exception):
    """A request that failed for good (after its retries, or at once for a 4xx)."""


@dataclass
class Reply:
    """A successful JSON answer and what it took to get it."""

    body: Any
    attempts: int
    latency_s: float


@dataclass
class Totals:
    """Run totals, updated by every request thread under one lock."""

    requests: int = 0
    retries: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "failed": self.failed,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
                "wall_s": round(self.wall_s, 3),
            }


def retry_delay(
    attempt: int, retry_after: float | None, backoff: float, rng: random.Random
) -> float:
    """Seconds to wait before retry number `attempt + 1` (attempt counts from 0).

    A server's Retry-After wins (at most MAX_RETRY_AFTER_S, plus up to 10% jitter so that threads
    told the same time do not return together); otherwise equal jitter over
    `backoff * 2**attempt`, capped at MAX_BACKOFF_S.
    """
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER_S) * (1.0 + 0.1 * rng.random())
    ceiling = min(MAX_BACKOFF_S, backoff * 2**attempt)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (delta seconds or an HTTP date), else None."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Server:
    """An OpenAI-compatible server: its base URL, credentials and retry settings."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MMBenchError(
                f"base URL {redact_url(base_url)!r} is not an http(s) URL; set OPENAI_BASE_URL or"
                " --model-args base_url= to e.g. http://localhost:8000/v1"
            )
        self.shown = redact_url(base_url.rstrip("/"))
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.totals = Totals()
        self._headers = {"Content-Type": "application/json", "User-Agent": "mmbench"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        elif parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            secret = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._local = threading.local()

    @property
    def address(self) -> str:
        """host:port, the part of the URL that names the server in fingerprints."""
        return f"{self.host.lower()}:{self.port}"

    # ------------------------------------------------------------------ one exchange
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = kind(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def exchange(self, method: str, path: str, body: Any = None) -> tuple[int, Any, bytes]:
        """One HTTP exchange: (status, headers, body bytes). Network failures raise OSError or
        http.client.HTTPException; the connection is dropped then, so the next try reconnects."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        conn = self._connection()
        try:
            conn.request(method, self.prefix + path, body=data, headers=self._headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self._drop_connection()
            raise
        if response.will_close:
            self._drop_connection()
        return response.status, response.headers, payload

    # ------------------------------------------------------------------ with retries
    def post(self, path: str, body: Any, rng: random.Random) -> Reply:
        """POST JSON and return the parsed answer, retrying per the module's policy."""
        started = time.perf_counter()
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.totals.add(retries=1)
            self.totals.add(requests=1)
            retry_after = None
            try:
                status, headers, payload = self.exchange("POST", path, body)
            except (OSError, http.client.HTTPException) as err:
                problem = _network_problem(err, self.timeout)
            else:
                if status == 200:
                    try:
                        answer = json.loads(payload)
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        problem = "the server answered with text that is not JSON"
                    else:
                        return Reply(answer, attempt + 1, time.perf_counter() - started)
                elif status in (401, 403):
                    raise FatalServerError(self.auth_error(status))
                elif status in RETRY_STATUSES or status >= 500:
                    problem = f"HTTP {status}{_server_message(payload)}"
                    retry_after = parse_retry_after(headers)
                else:
                    self.totals.add(failed=1)
                    raise RequestFailed(f"HTTP {status}{_server_message(payload)}")
            if attempt < self.max_retries:
                time.sleep(retry_delay(attempt, retry_after, self.backoff, rng))
        self.totals.add(failed=1)
        raise RequestFailed(f"{problem} (gave up after {self.max_retries + 1} attempts)")

    def auth_error(self, status: int) -> str:
        return (
            f"the server at {self.shown} refused the credentials (HTTP {status}); set"
            " OPENAI_API_KEY to a key this server accepts"
        )

    def get_models(self) -> list[dict[str, Any]] | None:
        """The `/models` list, or None when the server has no such endpoint (404).

        Raises a one-line `MMBenchError` when no server answers, the credentials are refused, or
        the answer is unusable, so a run stops before its first sample request.
        """
        rng = random.Random(0)
        problem = ""
        for attempt in range(self.max_retries + 1):
            try:
                status, headers, payload = self.exchange("GET", "/models")
            except ConnectionRefusedError:
                raise MMBenchError(self.no_server("connection refused")) from None
            except socket.gaierror:
                raise MMBenchError(self.no_server(f"unknown host {self.host!r}")) from None
            except (OSError, http.client.HTTPException) as err:
                problem, retry_after = _network_problem(err, self.timeout), None
            else:
                if status == 200:
                    return _model_list(payload, self.shown)
                if status in (401, 403):
                    raise MMBenchError(self.auth_error(status))
                if status == 404:
                    return None
                if status not in RETRY_STATUSES and status < 500:
                    raise MMBenchError(
                        f"the server at {self.shown} answered GET /models with HTTP {status}"
                        f"{_server_message(payload)}; check the base URL (it usually ends in /v1)"
                    )
                problem, retry_after = f"HTTP {status}", parse_retry_after(headers)
            if attempt < self.max_retries:
                time.sleep(retry_delay(attempt, retry_after, self.backoff, rng))
        raise MMBenchError(self.no_server(problem))

    def no_server(self, why: str) -> str:
        return (
            f"no OpenAI-compatible server answers at {self.shown} ({why}); start one (e.g."
            " `vllm serve MODEL`) or point OPENAI_BASE_URL / --model-args base_url= at it"
        )


def _network_problem(err: BaseException, timeout: float) -> str:
    if isinstance(err, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(err, http.client.RemoteDisconnected | ConnectionError):
        return "the connection was dropped"
    return f"network error ({type(err).__name__})"


def _server_message(payload: bytes) -> str:
    """': <the server's error message>' (OpenAI's {"error": {"message"}} shape, else the text)."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        text = str(error.get("message", error) if isinstance(error, dict) else error)
    except json.JSONDecodeError:
        pass
    text = " ".join(text.split())[:_ERROR_TEXT]
    return f": {text}" if text else ""


def _model_list(payload: bytes, shown: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(payload)
        models = data["data"]
        if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
            raise TypeError
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise MMBenchError(
            f"the server at {shown} answered GET /models with something other than an"
            ' OpenAI model list ({"data": [...]}); check the base URL (it usually ends in /v1)'
        ) from None
    return models
