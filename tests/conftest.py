"""Shared fixtures. Shared builders and helpers live in `tests/helpers/` (import them as
`helpers.MODULE`; this folder is on sys.path because it holds this conftest.py)."""

from __future__ import annotations

import pytest

# rewrite the helpers' asserts like the tests' own, so their failures show the values compared
pytest.register_assert_rewrite("helpers")

from helpers.adapters import CountingAdapter  # noqa: E402


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny models gain nothing from threads, and on a busy
    machine threads cost seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def photos() -> list:
    """Real photos of different sizes and aspect ratios (`helpers.media.PHOTO_NAMES`), RGB."""
    from helpers.media import PHOTO_NAMES, photo

    return [photo(name) for name in PHOTO_NAMES]


@pytest.fixture(scope="session")
def clips(photos) -> list[tuple]:
    """Two 4-frame videos; a video's frames share one size, as decoded frames do."""
    frames = [im.resize((64, 48)) for im in photos]
    return [tuple(frames[:4]), tuple(frames[1:5])]


@pytest.fixture(scope="session")
def local_copy(tmp_path_factory):
    """name -> (data_dir, rows): each public task's tiny copy in its hub schema, built on first
    use (`helpers.hub_copies`)."""
    from helpers.hub_copies import local_copies

    return local_copies(tmp_path_factory)


@pytest.fixture
def counting_adapter() -> CountingAdapter:
    return CountingAdapter()
