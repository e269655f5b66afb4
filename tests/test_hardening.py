"""Hostile and careless inputs: each is one line on stderr and a documented exit code, never a
traceback (docs/architecture.md, "Failure modes")."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from helpers.files import write_jsonl
from helpers.hardening import expected_stem, photo_rows, retrieval_yaml

from mmbench.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MMBENCH_TASKS_PATH", raising=False)


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mmbench: error: "), err
    assert "Traceback" not in err
    return lines[0]


def run_args(task: Path, out: Path, *extra: str) -> list[str]:
    common = ["--quiet", "--output-dir", str(out)]
    return ["run", "--model", "builtin:random", "--task", str(task), *common, *extra]


@pytest.fixture
def good_task(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "good.jsonl", photo_rows(tmp_path))
    return retrieval_yaml(tmp_path, "good", tmp_path / "good.jsonl")


# ------------------------------------------------------------------ verbosity and exit code 4


@pytest.mark.parametrize(
    ("given", "level"),
    [("quiet", "quiet"), ("INFO", "info"), ("Debug", "debug"), ("WARNING", "quiet")],
)
def test_verbosity_accepts_lm_eval_spellings(given: str, level: str) -> None:
    from mmbench.cli import build_parser

    assert build_parser().parse_args(["--verbosity", given, "cache", "info"]).verbosity == level
    assert build_parser().parse_args(["cache", "info", "--verbosity", given]).verbosity == level


def test_internal_error_is_one_line_exit_4_with_a_log(capsys, monkeypatch, tmp_path) -> None:
    from mmbench.cli import catalog

    def broken(args):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(catalog, "_cmd_cache", broken)
    code, _, err = cli(capsys, "cache", "info")
    assert code == 4
    (line,) = err.strip().splitlines()
    assert "internal error (RuntimeError: simulated bug)" in line and "Traceback" not in err
    log = Path(line.split("the traceback is in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "simulated bug" in log.read_text()
    code, _, err = cli(capsys, "cache", "info", "--verbosity", "debug")
    assert code == 4 and "Traceback" in err and "raise RuntimeError" in err


# ------------------------------------------------------------------------- bad inputs, exit 2


def test_non_utf8_jsonl_and_yaml(capsys, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b'{"id": "\xff"}\n')
    task = retrieval_yaml(tmp_path, "t", tmp_path / "bad.jsonl")
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o"))
    assert code == 2 and "is not UTF-8 text" in one_error_line(err)
    (tmp_path / "latin.yaml").write_bytes(b"name: latin\ndescription: caf\xe9\n")
    code, _, err = cli(capsys, *run_args(tmp_path / "latin.yaml", tmp_path / "o"))
    assert code == 2 and "latin.yaml is not UTF-8 text" in one_error_line(err)


def test_zero_rows_and_row_missing_a_key(capsys, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "empty.jsonl", [])
    code, _, err = cli(
        capsys, *run_args(retrieval_yaml(tmp_path, "e", tmp_path / "empty.jsonl"), tmp_path / "o")
    )
    assert code == 2 and "has no rows" in one_error_line(err)
    rows = photo_rows(tmp_path)
    del rows[2]["captions"]
    write_jsonl(tmp_path / "holes.jsonl", rows)
    code, _, err = cli(
        capsys, *run_args(retrieval_yaml(tmp_path, "h", tmp_path / "holes.jsonl"), tmp_path / "o")
    )
    assert code == 2 and "row 3 of dataset" in one_error_line(err) and "'captions'" in err


def test_truncated_state_json_and_corrupt_parquet(capsys, tmp_path: Path) -> None:
    import datasets

    rows = photo_rows(tmp_path)
    saved = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(saved))
    capsys.readouterr()  # the progress bar of save_to_disk
    state = saved / "state.json"
    state.write_text(state.read_text()[:20])
    task = retrieval_yaml(tmp_path, "s", saved)
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o"))
    assert code == 2 and "could not be read as save_to_disk" in one_error_line(err)
    (tmp_path / "pq" / "data").mkdir(parents=True)
    (tmp_path / "pq" / "data" / "test-00000-of-00001.parquet").write_bytes(b"PAR1 not parquet")
    code, _, err = cli(
        capsys, *run_args(retrieval_yaml(tmp_path, "p", tmp_path / "pq"), tmp_path / "o")
    )
    assert code == 2 and "could not be read as parquet" in one_error_line(err)


def test_yaml_option_of_the_wrong_type_and_syntax_error(capsys, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", photo_rows(tmp_path))
    task = retrieval_yaml(tmp_path, "f", tmp_path / "d.jsonl", "options: {num_frames: abc}\n")
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o"))
    line = one_error_line(err)
    assert code == 2 and "option num_frames: 'abc' is not a whole number" in line
    (tmp_path / "syn.yaml").write_text("name: syn\ntype: retrieval\n  version: [1\n")
    code, _, err = cli(capsys, *run_args(tmp_path / "syn.yaml", tmp_path / "o"))
    # line 3, column 10 is where "version:" makes a mapping inside a scalar (1-based, as editors)
    assert code == 2 and "at line 3, column 10" in one_error_line(err)


def test_classification_templates_and_class_file(capsys, tmp_path: Path) -> None:
    rows = [dict(r, label=r["id"]) for r in photo_rows(tmp_path)]
    write_jsonl(tmp_path / "c.jsonl", rows)
    head = (
        "type: classification\nversion: 1\nsource: {local: c.jsonl}\n"
        "columns: {image: image, label: label}\nmetrics: [top1]\n"
    )
    (tmp_path / "tmpl.yaml").write_text(
        "name: tmpl\n" + head + "options: {classes: [p0, p1, p2], templates: ['a photo']}\n"
    )
    code, _, err = cli(capsys, *run_args(tmp_path / "tmpl.yaml", tmp_path / "o"))
    assert code == 2 and "has no {c} placeholder" in one_error_line(err)
    (tmp_path / "names.txt").write_text("p0\np1\np2\n")
    (tmp_path / "cls.yaml").write_text("name: cls\n" + head + "options: {classes: names.txt}\n")
    code, _, err = cli(capsys, *run_args(tmp_path / "cls.yaml", tmp_path / "o"))
    assert code == 2 and "names.txt is not UTF-8 JSON" in one_error_line(err)


def test_metric_of_the_other_modality_is_refused_before_the_model(capsys, tmp_path) -> None:
    write_jsonl(tmp_path / "d.jsonl", photo_rows(tmp_path))
    task = retrieval_yaml(tmp_path, "m", tmp_path / "d.jsonl")
    text = task.read_text().replace("[i2t_R@1, t2i_R@1]", "[t2v_R@1]")
    task.write_text(text.replace("headline: t2i_R@1", "headline: t2v_R@1"))
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o"))
    assert code == 2 and "metric 't2v_R@1' needs a video column" in one_error_line(err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "-5"], "--bootstrap -5 is negative"),
        (["--device", "tpu"], "unknown --device 'tpu'"),
        (["--gen-kwargs", "max_new_tokens=8"], "builtin models ignore generation settings"),
    ],
)
def test_refused_run_settings(capsys, good_task: Path, tmp_path: Path, extra, message) -> None:
    code, _, err = cli(capsys, *run_args(good_task, tmp_path / "o", *extra))
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.json"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_new_token": 8}, "did you mean 'max_new_tokens'"),
        ({"max_new_tokens": "abc"}, "must be a whole number of at least 1"),
        ({"num_beams": 0}, "must be a whole number of at least 1"),
        ({"top_p": 0.5}, "rejected by transformers"),  # ignored without do_sample=true
    ],
)
def test_hf_generation_settings_are_checked_without_a_model(settings, message) -> None:
    from mmbench.errors import MMBenchError
    from mmbench.run_checks import check_generation

    with pytest.raises(MMBenchError, match=message.replace("(", r"\(")):
        check_generation(settings, "hf:/nowhere/model")
    check_generation({"max_new_tokens": 8, "num_beams": 2}, "hf:/nowhere/model")


def test_result_path_that_is_a_directory(capsys, good_task: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    (out / f"{expected_stem('good', 'builtin:random')}.json").mkdir(parents=True)
    code, _, err = cli(capsys, *run_args(good_task, out))
    assert code == 2 and "is a directory" in one_error_line(err)


def test_full_disk_while_writing_the_result_keeps_the_old_one(
    capsys, good_task: Path, tmp_path: Path, monkeypatch
) -> None:
    from mmbench import results

    out = tmp_path / "o"
    assert cli(capsys, *run_args(good_task, out))[0] == 0
    path = out / f"{expected_stem('good', 'builtin:random')}.json"
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results.os, "fsync", full)
    code, _, err = cli(capsys, *run_args(good_task, out))
    assert code == 2 and "no space left on the device" in one_error_line(err)
    assert path.read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_full_disk_while_growing_the_cache(capsys, good_task: Path, tmp_path, monkeypatch) -> None:
    import sqlite3

    from mmbench import cache

    class FullConnection:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def __enter__(self):
            return self.real.__enter__()

        def __exit__(self, *exc):
            return self.real.__exit__(*exc)

        def executemany(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

    real_connect = sqlite3.connect
    monkeypatch.setattr(
        cache.sqlite3, "connect", lambda *a, **k: FullConnection(real_connect(*a, **k))
    )
    code, _, err = cli(capsys, *run_args(good_task, tmp_path / "o"))
    assert code == 2 and "the disk is full" in one_error_line(err)


def test_compare_given_json_that_is_not_an_object(capsys, tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    code, _, err = cli(capsys, "compare", str(tmp_path / "list.json"), str(tmp_path / "list.json"))
    assert code == 2 and "is not an mmbench result" in one_error_line(err)


ADAPTERS = """
import torch
from mmbench.models.base import ModelAdapter, ENCODE_IMAGES, ENCODE_TEXTS
class Pre:
    def __call__(self, x): return 0
    def collate(self, xs): return list(xs)
class Bad(ModelAdapter):
    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS})
    def __init__(self, kind): self.kind = kind
    def fingerprint(self): return "bad-" + self.kind
    def preprocessor(self, capability): return Pre()
    def encode_images(self, batch):
        if self.kind == "short": return torch.ones(len(batch) - 1, 4)
        if self.kind == "strings": return ["x"] * len(batch)
        return torch.ones(len(batch), 4)
    def encode_texts(self, batch): return torch.ones(len(batch), 4)
def short(): return Bad("short")
def strings(): return Bad("strings")
"""


@pytest.mark.parametrize(
    ("factory", "message"),
    [("short", "returned a tensor of shape (2, 4)"), ("strings", "returned a list holding a str")],
)
def test_py_adapter_returning_wrong_outputs(
    capsys, good_task: Path, tmp_path: Path, monkeypatch, factory: str, message: str
) -> None:
    (tmp_path / "bad_outputs.py").write_text(ADAPTERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = run_args(good_task, tmp_path / "o", "--batch-size", "3")
    args[2] = f"py:bad_outputs:{factory}"
    code, _, err = cli(capsys, *args)
    assert code == 2 and message in one_error_line(err) and "for a batch of 3" in err


# ---------------------------------------------------------------------- the output cache


def test_corrupt_cache_names_the_fix_and_clear_always_works(
    capsys, good_task: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    assert cli(capsys, *run_args(good_task, tmp_path / "o"))[0] == 0
    database = cache_dir / "outputs.sqlite"
    data = bytearray(database.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema page: SQLite reports a malformed image
    database.write_bytes(bytes(data))
    for extra in ("outputs.sqlite-wal", "outputs.sqlite-shm"):
        (cache_dir / extra).unlink(missing_ok=True)
    code, _, err = cli(capsys, *run_args(good_task, tmp_path / "o"))
    line = one_error_line(err)
    assert code == 2 and "mmbench cache clear --cache-dir" in line
    code, _, err = cli(capsys, "cache", "info")
    assert code == 2 and "cache clear" in one_error_line(err)
    code, out, _ = cli(capsys, "cache", "clear")
    assert code == 0 and "removed" in out and not database.exists()
    assert cli(capsys, *run_args(good_task, tmp_path / "o"))[0] == 0


def test_flipped_bytes_in_an_entry_are_recomputed(tmp_path: Path) -> None:
    import sqlite3

    import torch

    from mmbench.cache import OutputCache

    cache = OutputCache(tmp_path)
    cache.put_many("x", [("k1", torch.tensor([1.0, 2.0]), None), ("k2", "a caption", None)])
    cache.close()
    db = sqlite3.connect(tmp_path / "outputs.sqlite")
    (blob,) = db.execute("SELECT data FROM outputs WHERE key = 'k1'").fetchone()
    flipped = bytes([blob[0] ^ 0x01]) + blob[1:]
    with db:
        db.execute("UPDATE outputs SET data = ? WHERE key = 'k1'", (flipped,))
    db.close()
    cache = OutputCache(tmp_path)
    found = cache.get_many(["k1", "k2"])
    assert set(found) == {"k2"} and found["k2"][0] == "a caption"
    cache.close()


# ------------------------------------------------------------------------ result naming


def test_result_names_keep_uris_limits_and_configurations_apart(
    capsys, good_task: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    assert cli(capsys, *run_args(good_task, out))[0] == 0
    assert cli(capsys, *run_args(good_task, out, "--limit", "2"))[0] == 0
    full = out / f"{expected_stem('good', 'builtin:random')}.json"
    limited = out / f"{expected_stem('good', 'builtin:random', 2)}.json"
    assert json.loads(full.read_text())["task"]["n"] == 3
    assert json.loads(limited.read_text())["task"]["n"] == 2
    # same configuration: replaced in place
    assert cli(capsys, *run_args(good_task, out))[0] == 0
    assert len(list(out.glob("*.json"))) == 2
    # another seed: written beside, with a warning, the first kept
    code, _, err = cli(capsys, *run_args(good_task, out, "--seed", "7"))
    assert code == 0 and "holds a result of another configuration" in err
    beside = [p for p in out.glob("*__cfg-*.json")]
    assert len(beside) == 1 and json.loads(beside[0].read_text())["config"]["seed"] == 7
    assert beside[0].with_name(beside[0].stem + ".samples.jsonl").is_file()
    assert json.loads(full.read_text())["config"]["seed"] == 0


def test_uris_with_the_same_safe_form_do_not_collide() -> None:
    from mmbench.results import result_stem

    one, two = result_stem("t", "hf:/a/run1/best"), result_stem("t", "hf:/a/run1_best")
    assert one != two
    assert one == expected_stem("t", "hf:/a/run1/best")


def test_results_follow_the_umask(tmp_path: Path) -> None:
    from mmbench.results import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def test_environment_record(capsys, good_task: Path, tmp_path: Path) -> None:
    import importlib.metadata
    import platform

    assert cli(capsys, *run_args(good_task, tmp_path / "o"))[0] == 0
    result = json.loads(
        (tmp_path / "o" / f"{expected_stem('good', 'builtin:random')}.json").read_text()
    )
    env = result["environment"]
    assert env["python"] == platform.python_version() and env["world_size"] == 1
    for key, dist in (("torch", "torch"), ("numpy", "numpy"), ("pillow", "pillow")):
        assert env[key] == importlib.metadata.version(dist)
    assert set(env) >= {
        "platform",
        "cpu",
        "transformers",
        "datasets",
        "av",
        "mmbench",
        "cuda",
        "cudnn",
        "gpus",
        "gpu_driver",
    }


# ------------------------------------------------------------------------ task folders


def test_tasks_path_broken_yaml_builtin_name_and_missing_folder(
    capsys, tmp_path: Path, monkeypatch
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    write_jsonl(mine / "d.jsonl", photo_rows(mine))
    retrieval_yaml(mine, "my-task", mine / "d.jsonl")
    (mine / "broken.yaml").write_text("name: broken\ntype: [\n")
    retrieval_yaml(mine, "mini-retrieval", mine / "d.jsonl")
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("MMBENCH_TASKS_PATH", os.pathsep.join([str(mine), str(missing)]))
    code, out, err = cli(capsys, "list", "tasks")
    assert code == 0 and "my-task" in out and "mini-captioning" in out
    assert "task 'broken' unavailable" in err and f"folder {missing} does not exist" in err
    assert "takes the name of the built-in task 'mini-retrieval'" in err
    code, _, err = cli(capsys, "show", "task", "mini-retrieval")
    # the missing folder's warning, then the one error line
    assert code == 2 and "mini-retrieval-custom" in one_error_line(err.splitlines()[-1])
    code, out, err = cli(capsys, "show", "task", "my-task")
    assert code == 0 and "name: my-task" in out
    assert f"mmbench: warning: MMBENCH_TASKS_PATH folder {missing} does not exist" in err
    code, _, err = cli(capsys, "show", "task", "my-tsk")
    assert code == 2 and f"{missing} does not exist" in one_error_line(err)


# ------------------------------------------------------------------------------ media limits


def test_decompression_bomb_is_a_skippable_sample(capsys, tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    rows = photo_rows(tmp_path)
    Image.new("RGB", (40, 40), (9, 9, 9)).save(tmp_path / "img" / "bomb.png")
    rows.append({"id": "bomb", "image": "img/bomb.png", "captions": ["too big"]})
    write_jsonl(tmp_path / "d.jsonl", rows)
    task = retrieval_yaml(tmp_path, "bomb", tmp_path / "d.jsonl")
    limit = ["--max-image-pixels", "1000"]  # 16x16 = 256 pixels pass, 40x40 = 1600 do not
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o", *limit))
    assert code == 2 and "40x40 = 1600 pixels, over the limit of 1000" in one_error_line(err)
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o", *limit, "--on-error", "skip"))
    assert code == 3 and "skipped row bomb" in err
    result = json.loads(
        (tmp_path / "o" / f"{expected_stem('bomb', 'builtin:random')}.json").read_text()
    )
    assert result["task"]["n"] == 3 and result["failures"]["count"] == 1
    # without the option the limit is Pillow's own
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    code, _, err = cli(capsys, *run_args(task, tmp_path / "o2"))
    assert code == 2 and "over the limit of 1000" in err


def test_high_bit_depth_images_are_scaled_not_saturated() -> None:
    import io

    import numpy as np
    from PIL import Image

    from mmbench.data.media import MediaRef, load_image

    def grey(image: Image.Image, fmt: str) -> list[int]:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        rgb = np.asarray(load_image(MediaRef("r", data=buffer.getvalue())))
        assert (rgb[..., 0] == rgb[..., 2]).all()
        return rgb[0, :, 0].tolist()

    sixteen = np.array([[0, 128, 129, 257, 1000, 65535]], dtype=np.uint16)
    # round(v * 255 / 65535): 128 -> 0.498 -> 0, 129 -> 0.502 -> 1, 1000 -> 3.891 -> 4
    assert grey(Image.fromarray(sixteen), "PNG") == [0, 0, 1, 1, 4, 255]
    floats = np.array([[-0.5, 0.0, 0.1, 0.25, 1.0, 3.0]], dtype=np.float32)
    # clip to [0, 1], then round(x * 255): 0.1 -> 25.5 -> 26 (float32 0.1 is just above 0.1)
    assert grey(Image.fromarray(floats), "TIFF") == [0, 0, 26, 64, 255, 255]


# ---------------------------------------------------------------------------- weight files


def test_truncated_safetensors_is_one_line(tmp_path: Path) -> None:
    from helpers.hf_models import build_clip

    from mmbench.errors import MMBenchError
    from mmbench.models import load_model
    from mmbench.models.base import ModelOptions

    folder = build_clip(tmp_path / "clip")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(MMBenchError, match=r"corrupt or truncated .*SafetensorError"):
        load_model(f"hf:{folder}", ModelOptions(device="cpu"))


def test_hf_fingerprint_follows_transformers_and_torch_minor(monkeypatch) -> None:
    import torch
    import transformers

    from mmbench.models.hf.adapter import HFAdapter

    class Bare(HFAdapter):
        capabilities = frozenset()

        def __init__(self) -> None:
            from mmbench.models.base import ModelOptions

            self._fingerprint = "weights-and-settings"
            self.options = ModelOptions()

        def preprocessor(self, capability):
            raise AssertionError

    adapter = Bare()
    monkeypatch.setattr(transformers, "__version__", "5.0.0")
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    base = adapter.fingerprint()
    monkeypatch.setattr(torch, "__version__", "2.13.1+cu128")  # same major.minor
    assert adapter.fingerprint() == base
    monkeypatch.setattr(torch, "__version__", "2.14.0")
    assert adapter.fingerprint() != base
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    monkeypatch.setattr(transformers, "__version__", "5.0.1")
    assert adapter.fingerprint() != base


def test_failure_codes_for_one_pair_of_a_suite() -> None:
    from mmbench.verbosity import failure

    code, line = failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/full/r.json"))
    assert code == 2 and line.startswith("no space left on the device writing /full/r.json")
    code, line = failure(ValueError("a bug"))
    assert code == 4 and line.startswith("internal error (ValueError: a bug); the traceback is in")


def test_every_sample_skipped_is_one_line(capsys, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"not a png")
    write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "image": "a.png", "label": "a"}])
    (tmp_path / "c.yaml").write_text(
        "name: c\ntype: classification\nversion: 1\nsource: {local: d.jsonl}\n"
        "columns: {image: image, label: label}\nmetrics: [top1]\noptions: {classes: [a, b]}\n"
    )
    code, _, err = cli(capsys, *run_args(tmp_path / "c.yaml", tmp_path / "o", "--on-error", "skip"))
    assert code == 2 and "every one of the 1 items failed" in one_error_line(err)


def test_a_bug_while_building_the_parser_is_exit_4(capsys, monkeypatch) -> None:
    from mmbench import cli as cli_module

    def broken():
        raise TypeError("simulated registry bug")

    monkeypatch.setattr(cli_module, "build_parser", broken)
    code, _, err = cli(capsys, "list", "tasks")
    assert code == 4 and len(err.strip().splitlines()) == 1 and "simulated registry bug" in err
    code, _, err = cli(capsys, "--verbosity=debug", "list", "tasks")
    assert code == 4 and "Traceback" in err
