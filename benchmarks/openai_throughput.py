"""`openai:` throughput: requests per second end to end against a server that takes 100 ms.

A stand-in OpenAI-compatible server runs in its own process on 127.0.0.1 (stdlib
ThreadingHTTPServer): it reads each chat request, checks it carries the image and the text,
sleeps `--latency-ms` and answers. `mmbench.runner.run` then captions `--items` distinct small
PNG images (a local captioning task written to a temp dir) with `openai:bench` at
`concurrency=--concurrency`, through the output cache (a fresh temp cache: every answer is
computed and committed one by one). The ideal rate is concurrency / latency (16 / 0.1 s = 160
requests/s); the ratio printed is measured / ideal over the whole `run()` (task loading, the
/models probe, image loading and PNG encoding, the requests, the per-item cache commits,
metrics and result writing), after one warm-up run on a few items that pays the imports.
Target: ratio >= 0.9. It also prints the CPU time per request of the mmbench process (all its
threads) and of the stand-in server: the ratio falls below 1 when the machine cannot give the
client 160 x that CPU time per second.

    python benchmarks/openai_throughput.py [--items 1920] [--concurrency 16] [--latency-ms 100]
        [--repeats 3] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(port_out: multiprocessing.Queue, latency_s: float) -> None:
    """The stand-in server (runs in a child process until terminated)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's
        # delayed ACK (up to 40 ms on Linux), which real servers (uvicorn, ...) never do.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, data: object) -> None:
            payload = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._json({"object": "list", "data": [{"id": "bench", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            parts = body["messages"][0]["content"]
            assert parts[0]["type"] == "image_url" and parts[-1]["type"] == "text"
            time.sleep(latency_s)
            size = len(parts[0]["image_url"]["url"])
            self._json(
                {
                    "choices": [{"index": 0, "message": {"content": f"an image of {size} bytes"}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            )

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    # 16 handler threads share one GIL; the default 5 ms switch interval would add up to 5 ms
    # to a request whenever another handler is busy (a real server does not have this cost).
    sys.setswitchinterval(0.0005)
    httpd = Server(("127.0.0.1", 0), Handler)
    port_out.put(httpd.server_address[1])
    httpd.serve_forever()


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_task(folder: Path, n: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            folder / "img" / f"{k}.png"
        )
        rows.append({"id": f"s{k}", "image": f"img/{k}.png", "captions": [f"image {k}"]})
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = folder / "bench-captions.yaml"
    task.write_text(
        "name: bench-captions\ntype: captioning\nversion: 1\nsource: {local: rows.jsonl}\n"
        "columns: {id: id, image: image, references: captions}\nmetrics: [Bleu_1]\n"
    )
    return task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1920)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()

    from mmbench.runner import RunRequest, run

    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(ports, args.latency_ms / 1000), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    ideal = args.concurrency / (args.latency_ms / 1000)
    rates = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            task = write_task(Path(tmp) / "data", args.items, args.image_size)
            for repeat in range(-1, args.repeats):
                cpu_client, cpu_server = time.process_time(), process_cpu_s(server.pid)
                outcome = run(
                    RunRequest(
                        model="openai:bench",
                        task=str(task),
                        output_dir=Path(tmp) / f"out{repeat}",
                        cache_dir=Path(tmp) / f"cache{repeat}",
                        progress=False,
                        model_args={"base_url": url, "concurrency": args.concurrency},
                        # the warm-up (repeat -1) imports everything on a few items
                        limit=2 * args.concurrency if repeat < 0 else None,
                    )
                )
                if repeat < 0:
                    continue
                timing = outcome.result.timing
                requests = timing["server"]["requests"]
                rate = requests / timing["total_s"]
                rates.append(rate)
                client_ms = (time.process_time() - cpu_client) / requests * 1000
                after = process_cpu_s(server.pid)
                server_ms = (
                    (after - cpu_server) / requests * 1000 if after and cpu_server else float("nan")
                )
                print(
                    f"run {repeat + 1}: {requests} requests in {timing['total_s']:.2f} s"
                    f" (requests phase {timing['server']['wall_s']:.2f} s):"
                    f" {rate:.1f} requests/s, ratio {rate / ideal:.3f}; CPU per request:"
                    f" mmbench {client_ms:.2f} ms, stand-in server {server_ms:.2f} ms"
                )
    finally:
        server.terminate()
        server.join(timeout=10)
    best, median = max(rates), statistics.median(rates)
    print(
        f"ideal {ideal:.0f} requests/s (concurrency {args.concurrency} / {args.latency_ms:g} ms);"
        f" median {median:.1f} requests/s = ratio {median / ideal:.3f} (best {best / ideal:.3f});"
        " target >= 0.9"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
