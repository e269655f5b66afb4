"""A stand-in `open_clip` module: the public API the adapter uses, a tiny linear "model", and
eval transforms built like open_clip's (torchvision's Compose of Resize, CenterCrop, RGB,
ToTensor, Normalize), with torchvision's documented arithmetic: ToTensor is the uint8 HWC array,
permuted to CHW, as float32 divided by 255; Normalize is `(x - mean) / std` in float32 with
mean and std as float32 [C, 1, 1] tensors."""

from __future__ import annotations

import types

import numpy as np
import torch
from PIL import Image

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class FakeClip(torch.nn.Module):
    """Image embedding: one linear layer over the flattened `side` x `side` pixels."""

    def __init__(self, side: int = 8):
        super().__init__()
        torch.manual_seed(0)
        self.visual = torch.nn.Linear(3 * side * side, 6)
        self.text = torch.nn.Embedding(50, 6)

    def encode_image(self, images, normalize=False):
        return self.visual(images.flatten(1))

    def encode_text(self, tokens, normalize=False):
        return self.text(tokens).mean(1)


class FakeTokenizer:
    context_length = 5

    def __call__(self, texts):
        rows = [[(len(w) * 7) % 50 for w in t.split()][:5] for t in texts]
        return torch.tensor([r + [0] * (5 - len(r)) for r in rows])


def plain_transform(image):
    """A transform that is one function, not a Compose: the adapter cannot split it."""
    small = image.resize((8, 8))
    return (
        torch.tensor(list(small.tobytes()), dtype=torch.float32).view(8, 8, 3).permute(2, 0, 1)
        / 255
    )


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, value):
        for step in self.transforms:
            value = step(value)
        return value


class Resize:
    """Shorter side to `size`, bicubic."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image):
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.size * long / short)
        new_w, new_h = (self.size, new_long) if w <= h else (new_long, self.size)
        return image.resize((new_w, new_h), Image.BICUBIC)


class CenterCrop:
    def __init__(self, size: int):
        self.size = size

    def __call__(self, image):
        w, h = image.size
        top, left = round((h - self.size) / 2), round((w - self.size) / 2)
        return image.crop((left, top, left + self.size, top + self.size))


def convert_to_rgb(image):
    return image.convert("RGB")


class PILToTensor:
    def __call__(self, image):
        array = np.array(image, dtype=np.uint8, copy=True)
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class ToTensor:
    def __call__(self, image):
        return PILToTensor()(image).to(torch.float32).div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return tensor.clone().sub_(mean).div_(std)


def eval_transform(side: int = 8, mean=OPENAI_MEAN, std=OPENAI_STD) -> Compose:
    """open_clip's eval transform for a `side` px model."""
    return Compose(
        [Resize(side), CenterCrop(side), convert_to_rgb, ToTensor(), Normalize(mean, std)]
    )


def fake_open_clip(transform=plain_transform, side: int = 8) -> types.ModuleType:
    """A module standing in for `open_clip`; `module.calls` records create_model_and_transforms."""
    module = types.ModuleType("open_clip")
    module.__version__ = "9.9.9"
    module.calls = []

    def create_model_and_transforms(name, pretrained=None, precision="fp32", device="cpu"):
        module.calls.append((name, pretrained, precision, device))
        return FakeClip(side), None, transform

    module.create_model_and_transforms = create_model_and_transforms
    module.get_tokenizer = lambda name: FakeTokenizer()
    module.list_pretrained = lambda: [("ViT-B-32", "laion2b_s34b_b79k"), ("ViT-B-32", "openai")]
    return module
