"""Real photos (scikit-image's sample images) for tests that need pictures of things."""

from __future__ import annotations

#: the photos of the shared `photos` fixture, in its order: different sizes and aspect ratios,
#: one grayscale (camera)
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def photo(name: str):
    """scikit-image's sample image `name` as an RGB PIL image."""
    import skimage.data
    from PIL import Image

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
