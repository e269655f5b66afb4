"""Real photos (scikit-image's sample images) for tests that need pictures of things, and an
engine item that holds its medium in memory."""

from __future__ import annotations

#: the photos of the shared `photos` fixture, in its order: different sizes and aspect ratios,
#: one grayscale (camera)
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def photo(name: str):
    """scikit-image's sample image `name` as an RGB PIL image."""
    import skimage.data
    from PIL import Image

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


class MemoryItem:
    """An engine item held in memory (`key` defaults to its identity); a `None` value stands for
    an unreadable medium."""

    def __init__(self, value, key: str | None = None):
        self.value, self.key = value, key if key is not None else str(id(self))

    def load(self):
        from mmbench.errors import MediaError

        if self.value is None:
            raise MediaError(f"cannot decode {self.key}")
        return self.value, None

    def content_key(self):
        return self.key
