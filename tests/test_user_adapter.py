"""`py:package.module:factory` adapters: loading, validation and the one-line errors."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

import pytest

from mmbench.errors import CapabilityError, MMBenchError
from mmbench.models import load_model
from mmbench.models.base import (
    ENCODE_IMAGES,
    ENCODE_TEXTS,
    ENCODE_VIDEOS,
    GENERATE,
    ModelAdapter,
    ModelOptions,
)
from mmbench.models.user import DuckAdapter

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

OPTIONS = ModelOptions(device="cpu", seed=3)
_names = itertools.count()

ADAPTER_MODULE = """
import torch
from mmbench.models.base import ENCODE_IMAGES, ENCODE_TEXTS, ModelAdapter


class MeanColour:
    def __call__(self, image):
        pixel = image.convert("RGB").resize((1, 1)).getpixel((0, 0))
        return torch.tensor(pixel, dtype=torch.float32)

    def collate(self, features):
        return torch.stack(features)


class TextLength:
    def __call__(self, text):
        return torch.tensor([len(text), text.count(" "), 1.0, 0.0])

    def collate(self, features):
        return torch.stack(features)


class ColourModel(ModelAdapter):
    capabilities = frozenset({ENCODE_IMAGES, ENCODE_TEXTS})

    def __init__(self, options=None):
        self.options = options

    def fingerprint(self):
        return "colour-model-v1"

    def preprocessor(self, capability):
        return {ENCODE_IMAGES: MeanColour(), ENCODE_TEXTS: TextLength()}[capability]

    def encode_images(self, batch):
        return torch.cat([batch, torch.ones(len(batch), 1)], dim=1)

    def encode_texts(self, batch):
        return batch


def make_model(options):
    return ColourModel(options)


def make_without_options():
    return ColourModel()


class Duck:
    capabilities = {"encode_images"}

    def fingerprint(self):
        return "duck-v1"

    def preprocessor(self, capability):
        return MeanColour()

    def encode_images(self, batch):
        return batch * 2

    def describe(self):
        return {"kind": "duck"}


def make_duck():
    return Duck()
"""


def with_code(fingerprint: str, *files) -> str:
    """The fingerprint mmbench reports: the adapter's own plus the sha256 (16 hex digits) of its
    code; for a module outside a package, that is the module file's bytes."""
    import hashlib

    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    return f"{fingerprint}|code:{digest}"


def write_module(tmp_path, monkeypatch, body, *, on_path=True):
    """Write `body` as a fresh module and return its (unique) name."""
    name = f"mmbench_user_adapter_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    if on_path:
        monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


@pytest.fixture
def adapters_module(tmp_path, monkeypatch):
    return write_module(tmp_path, monkeypatch, ADAPTER_MODULE)


def photo(colour=(200, 100, 50)):
    return Image.new("RGB", (16, 12), colour)


def run(adapter, capability, raws):
    pre = adapter.preprocessor(capability)
    return adapter.call(capability, pre.collate([pre(r) for r in raws]))


def test_factory_receives_options(adapters_module):
    adapter = load_model(f"py:{adapters_module}:make_model", OPTIONS)
    assert isinstance(adapter, ModelAdapter)
    assert adapter.options is OPTIONS
    assert adapter.uri == f"py:{adapters_module}:make_model"
    assert adapter.fingerprint() == with_code(
        "colour-model-v1", Path(sys.modules[adapters_module].__file__)
    )
    out = run(adapter, ENCODE_IMAGES, [photo(), photo((0, 0, 0))])
    assert out.tolist() == [[200.0, 100.0, 50.0, 1.0], [0.0, 0.0, 0.0, 1.0]]
    with pytest.raises(CapabilityError, match="cannot generate"):
        adapter.require(GENERATE, "captions")


def test_factory_without_arguments_and_class_factory(adapters_module):
    assert load_model(f"py:{adapters_module}:make_without_options", OPTIONS).options is None
    adapter = load_model(f"py:{adapters_module}:ColourModel", OPTIONS)  # a class is a factory
    assert adapter.options is OPTIONS


def test_duck_typed_adapter_is_wrapped(adapters_module):
    adapter = load_model(f"py:{adapters_module}:make_duck", OPTIONS)
    assert isinstance(adapter, DuckAdapter)
    assert adapter.capabilities == {ENCODE_IMAGES}
    assert adapter.fingerprint().startswith("duck-v1|code:")
    assert adapter.describe() == {"kind": "duck"}
    assert run(adapter, ENCODE_IMAGES, [photo()]).tolist() == [[400.0, 200.0, 100.0]]
    with pytest.raises(CapabilityError, match="cannot encode texts"):
        adapter.require(ENCODE_TEXTS, "retrieval")


def test_video_default_for_adapter_declaring_it(tmp_path, monkeypatch):
    name = write_module(
        tmp_path,
        monkeypatch,
        ADAPTER_MODULE
        + """
from mmbench.models.base import FramesPreprocessor

class VideoModel(ColourModel):
    capabilities = frozenset({ENCODE_IMAGES, "encode_videos"})

    def preprocessor(self, capability):
        if capability == "encode_videos":
            return FramesPreprocessor(MeanColour())
        return super().preprocessor(capability)

def make_video():
    return VideoModel()
""",
    )
    adapter = load_model(f"py:{name}:make_video", OPTIONS)
    clips = [[photo((10, 20, 30)), photo((30, 40, 50))]]
    assert run(adapter, ENCODE_VIDEOS, clips).tolist() == [[20.0, 30.0, 40.0, 1.0]]


def test_subclass_missing_a_method_fails_when_called(tmp_path, monkeypatch):
    name = write_module(
        tmp_path,
        monkeypatch,
        "from mmbench.models.base import ModelAdapter\n"
        "class A(ModelAdapter):\n    capabilities = frozenset({'encode_texts'})\n"
        "    def fingerprint(self): return 'x'\n    def preprocessor(self, c): return None\n"
        "def make(options=None):\n    return A()\n",
    )
    adapter = load_model(f"py:{name}:make", OPTIONS)
    with pytest.raises(CapabilityError, match="does not implement encode_texts"):
        adapter.encode_texts(["a"])


def test_module_in_current_directory_is_found(tmp_path, monkeypatch):
    name = write_module(tmp_path, monkeypatch, ADAPTER_MODULE, on_path=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    fingerprint = load_model(f"py:{name}:make_model", OPTIONS).fingerprint()
    assert fingerprint == with_code("colour-model-v1", tmp_path / f"{name}.py")


def assert_one_line(err, *needles):
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("my_pkg.adapters", ["py:package.module:factory"]),
        ("my_pkg.adapters:", ["py:package.module:factory"]),
        ("my-pkg:make", ["'my-pkg' is not a Python name"]),
        ("mmbench_no_such_module_xyz:make", ["cannot import module", "PYTHONPATH"]),
    ],
)
def test_spec_and_import_errors(spec, needles):
    with pytest.raises(MMBenchError) as err:
        load_model(f"py:{spec}", OPTIONS)
    assert_one_line(err, *needles)


def test_module_with_missing_dependency(tmp_path, monkeypatch):
    name = write_module(tmp_path, monkeypatch, "import mmbench_absent_dependency_xyz\n")
    with pytest.raises(MMBenchError) as err:
        load_model(f"py:{name}:make", OPTIONS)
    assert_one_line(err, "mmbench_absent_dependency_xyz", "not installed")


def test_missing_attribute_suggests_close_name(adapters_module):
    with pytest.raises(MMBenchError) as err:
        load_model(f"py:{adapters_module}:make_modle", OPTIONS)
    assert_one_line(err, "has no 'make_modle'", "did you mean 'make_model'")


def test_factory_bug_keeps_its_traceback(tmp_path, monkeypatch):
    name = write_module(
        tmp_path, monkeypatch, "def make(options):\n    raise RuntimeError('boom')\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        load_model(f"py:{name}:make", OPTIONS)


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("make = 3\n", ["is a int, not a callable"]),
        ("def make(options):\n    return None\n", ["returned None"]),
        ("def make(options):\n    return {'a': 1}\n", ["not a ModelAdapter", "capabilities"]),
        (
            "class A:\n    capabilities = {'encode_image'}\n    def fingerprint(self): return 'x'\n"
            "    def preprocessor(self, c): return None\n"
            "def make(options):\n    return A()\n",
            ["unknown capability 'encode_image'", "did you mean 'encode_images'"],
        ),
        (
            "class A:\n    capabilities = 'encode_images'\n    def fingerprint(self): return 'x'\n"
            "    def preprocessor(self, c): return None\n"
            "def make(options):\n    return A()\n",
            ["frozenset"],
        ),
        (
            "class A:\n    capabilities = {'generate'}\n    def fingerprint(self): return 'x'\n"
            "    def preprocessor(self, c): return None\n"
            "def make(options):\n    return A()\n",
            ["declares 'generate' but does not implement generate()"],
        ),
        (
            "from mmbench.models.base import ModelAdapter\n"
            "class A(ModelAdapter):\n    def fingerprint(self): return 'x'\n"
            "    def preprocessor(self, c): return None\n"
            "def make(options):\n    return A()\n",
            ["declares no capabilities"],
        ),
        (
            "class A:\n    capabilities = {'encode_images'}\n    def fingerprint(self): return 42\n"
            "    def preprocessor(self, c): return None\n    def encode_images(self, b): return b\n"
            "def make(options):\n    return A()\n",
            ["fingerprint() of model", "returned 42", "non-empty string"],
        ),
    ],
)
def test_invalid_adapters(tmp_path, monkeypatch, body, needles):
    name = write_module(tmp_path, monkeypatch, body)
    with pytest.raises(MMBenchError) as err:
        load_model(f"py:{name}:make", OPTIONS)
    assert_one_line(err, *needles)


def test_code_change_changes_the_fingerprint(tmp_path, monkeypatch):
    """Editing any .py file of the adapter's package moves the fingerprint that keys the cache,
    while the adapter's own fingerprint() stays the same."""
    package = tmp_path / "mmbench_code_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(textwrap.dedent(ADAPTER_MODULE))
    (package / "helpers.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("mmbench_code_pkg", "mmbench_code_pkg.model"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    before = load_model("py:mmbench_code_pkg.model:make_model", OPTIONS).fingerprint()
    assert before.startswith("colour-model-v1|code:")
    (package / "helpers.py").write_text("SCALE = 2\n")
    after = load_model("py:mmbench_code_pkg.model:make_model", OPTIONS).fingerprint()
    assert after.startswith("colour-model-v1|code:") and after != before
