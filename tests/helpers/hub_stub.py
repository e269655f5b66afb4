"""A tiny stand-in for the Hugging Face hub on 127.0.0.1, enough for `snapshot_download` and
`datasets.load_dataset` (pointed at it through HF_ENDPOINT): repo info, file trees, paths-info and
file downloads of in-memory repos. Every request is recorded, so tests can assert what was asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStub:
    """`repos`: {("dataset"|"model", "owner/name"): {path: bytes}}; use as a context manager."""

    def __init__(self, repos: dict[tuple[str, str], dict[str, bytes]]) -> None:
        self.repos = repos
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.timeout = 5
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                stub.requests.append(f"HEAD {self.path}")
                self._serve(head=True)

            def do_GET(self) -> None:
                stub.requests.append(f"GET {self.path}")
                self._serve(head=False)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                stub.requests.append(f"POST {self.path}")
                parts = urlparse(self.path).path.strip("/").split("/")
                # /api/{type}s/{owner}/{name}/paths-info/{rev}
                if len(parts) >= 6 and parts[0] == "api" and parts[4] == "paths-info":
                    repo = stub._repo(parts[1], f"{parts[2]}/{parts[3]}")
                    if repo is None:
                        return self._json({"error": "Repository not found"}, 404)
                    if "json" in (self.headers.get("Content-Type") or ""):
                        paths = json.loads(body or "{}").get("paths", [])
                    else:
                        paths = parse_qs(body).get("paths", [])
                    return self._json(
                        [e for e in stub._entries(repo, "", True) if e["path"] in paths]
                    )
                self._json({"error": "not found"}, 404)

            def _serve(self, head: bool) -> None:
                url = urlparse(self.path)
                parts = [unquote(p) for p in url.path.strip("/").split("/")]
                query = parse_qs(url.query)
                if parts[:1] == ["api"] and len(parts) >= 4:
                    kind = parts[1]
                    repo = stub._repo(kind, f"{parts[2]}/{parts[3]}")
                    if repo is None:
                        return self._json({"error": "Repository not found"}, 404, head)
                    rest = parts[4:]
                    if rest[:1] == ["revision"] or not rest:
                        return self._json(
                            stub._info(kind, f"{parts[2]}/{parts[3]}", repo), 200, head
                        )
                    if rest[:1] == ["tree"]:
                        prefix = "/".join(rest[2:])
                        recursive = query.get("recursive", ["false"])[0].lower() == "true"
                        return self._json(stub._entries(repo, prefix, recursive), 200, head)
                    return self._json({"error": "not found"}, 404, head)
                kind = "dataset" if parts[:1] == ["datasets"] else "model"
                if kind == "dataset":
                    parts = parts[1:]
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo = stub._repo(kind + "s", f"{parts[0]}/{parts[1]}")
                    path = "/".join(parts[4:])
                    if repo is None or path not in repo:
                        self.send_response(404)
                        self.send_header(
                            "X-Error-Code", "EntryNotFound" if repo else "RepoNotFound"
                        )
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    data = repo[path]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
                    self.end_headers()
                    if not head:
                        self.wfile.write(data)
                    return
                self._json({"error": "not found"}, 404, head)

            def _json(self, value: Any, status: int = 200, head: bool = False) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Repo-Commit", COMMIT)
                if status == 404:
                    self.send_header("X-Error-Code", "RepoNotFound")
                self.end_headers()
                if not head:
                    self.wfile.write(data)

        return Handler

    def _repo(self, kind: str, name: str) -> dict[str, bytes] | None:
        return self.repos.get((kind.rstrip("s"), name))

    def _info(self, kind: str, name: str, repo: dict[str, bytes]) -> dict[str, Any]:
        return {
            "id": name,
            "_id": hashlib.sha1(name.encode()).hexdigest()[:24],
            "sha": COMMIT,
            "private": False,
            "disabled": False,
            "gated": False,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "tags": [],
            "cardData": {},
            "siblings": [{"rfilename": p, "size": len(d)} for p, d in sorted(repo.items())],
        }

    def _entries(
        self, repo: dict[str, bytes], prefix: str, recursive: bool
    ) -> list[dict[str, Any]]:
        prefix = prefix.strip("/")
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(repo.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            pieces = rest.split("/")
            for depth in range(1, len(pieces)):
                folder = "/".join(([prefix] if prefix else []) + pieces[:depth])
                if recursive or depth == 1:
                    entries.setdefault(
                        folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder}
                    )
                if not recursive:
                    break
            if recursive or len(pieces) == 1:
                entries[path] = {
                    "type": "file",
                    "oid": hashlib.sha1(data).hexdigest(),
                    "size": len(data),
                    "path": path,
                }
        return list(entries.values())
