"""uint8 pixels through the DataLoader workers, turned into the model's float pixels on the device.

Image preprocessing that ends in elementwise per-channel steps (rescale to [0, 1], then subtract
the mean and divide by the std) computes each output value from one uint8 value of one channel.
So a worker can stop before those steps and send uint8 pixels (4x fewer bytes than float32
through shared memory, and no float work in the worker), and the device call maps every value
through a [C, 256] table that the preprocessing itself computed on a probe image holding all 256
values (`ramp_image`). The table holds exactly the float32 values the preprocessing would have
produced, so the model's inputs, hence its outputs, are bitwise unchanged: the device does a
gather, not a recomputation, which is why no float64-vs-float32 or kernel rounding question
arises. Whether an adapter's preprocessing qualifies is its own question (`hf/pixels.py`,
`open_clip.py`); each checks its split on `random_image` before using it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image


def ramp_image() -> Image.Image:
    """A 16 x 16 RGB image whose pixel i (row-major) is (i, i, i) for i in 0..255."""
    import numpy as np
    from PIL import Image

    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return Image.fromarray(np.stack([ramp] * 3, axis=-1), mode="RGB")


def table_from_ramp(pixels: torch.Tensor) -> torch.Tensor:
    """[C, 16, 16] pixels the float steps made of `ramp_image()` -> the [C, 256] float32 table."""
    return pixels.reshape(pixels.shape[0], 256).float().contiguous()


def random_image() -> Image.Image:
    """A fixed random 37 x 53 RGB image: odd sizes, every value likely, for checking a split."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), mode="RGB")


def normalise(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """uint8 [B, C, H, W] -> float32 [B, C, H, W] on `pixels`' device, each value looked up in
    its channel's row of `table` ([C, 256])."""
    if pixels.device.type == "cpu":
        return gather_numpy(pixels, table)
    return gather_torch(pixels, table)


def gather_numpy(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`normalise` for CPU tensors: numpy's take is ~5x faster than torch's advanced indexing on
    a CPU (where that costs a few ms per 224 px image, more than the uint8 transfer saves)."""
    import numpy as np
    import torch

    source, rows = pixels.numpy(), table.cpu().numpy()
    out = np.empty(source.shape, dtype=rows.dtype)
    for c in range(rows.shape[0]):
        np.take(rows[c], source[:, c], out=out[:, c], mode="clip")
    return torch.from_numpy(out)


def gather_torch(pixels: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """`normalise` on any device (used on accelerators): one gather from the flattened table."""
    import torch

    channels = table.shape[0]
    offsets = torch.arange(channels, device=pixels.device, dtype=torch.int32) * 256
    index = pixels.to(torch.int32) + offsets.view(1, channels, 1, 1)
    return table.to(pixels.device).view(-1)[index]


@dataclass
class DeviceTable:
    """Moves a uint8 pixel batch to a device and looks it up in the table there; keeps one copy
    of the table per device. Any other tensor (the float path) passes through unchanged."""

    table: Any
    _on: dict[str, Any] = field(default_factory=dict)

    def __call__(self, pixels: torch.Tensor, device: str) -> torch.Tensor:
        import torch

        if pixels.dtype != torch.uint8:
            return pixels
        if device not in self._on:
            self._on[device] = self.table.to(device)
        # From pinned memory the copy overlaps with host work; the stream orders it before use.
        moved = pixels.to(device, non_blocking=True)
        return normalise(moved, self._on[device])
