"""Synthetic real-world uploads of a digit for tests/test_uploads.py: photos as people take them. Each scene takes
a (28, 28) uint8 MNIST digit, light on dark, and returns a PIL image; noise is seeded, so a scene is the same
picture on every run."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def _noisy(base: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    return np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255)


def _ink_layer(digit: np.ndarray, size: int) -> np.ndarray:
    """The digit enlarged to ``size`` x ``size`` as ink coverage in [0, 1]."""
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.BILINEAR), np.float64) / 255.0


def paper_on_desk(digit: np.ndarray, seed: int = 0) -> Image.Image:
    """A phone photo of dark ink on a tilted sheet of paper lying on a dark desk: the border is dark, the paper
    light with a shading gradient, grain everywhere (RGB)."""
    rng = np.random.default_rng(seed)
    h, w = 300, 400
    yy, xx = np.mgrid[0:h, 0:w]
    desk = 40 + 25 * xx / w
    paper = 228 - 30 * yy / h
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon([(95, 40), (310, 55), (300, 270), (85, 255)], fill=255)
    grey = np.where(np.asarray(mask) > 0, paper, desk)
    ink = _ink_layer(digit, 140)
    grey[80:220, 125:265] *= 1 - 0.8 * ink
    tint = np.stack([grey * 1.0, grey * 0.97, grey * 0.9], -1)  # warm light
    return Image.fromarray(_noisy(tint, rng).astype(np.uint8))


def chalk_on_board(digit: np.ndarray, seed: int = 0) -> Image.Image:
    """Light chalk on a dark board hanging on a light wall: the border is light, the ink light too (L)."""
    rng = np.random.default_rng(seed)
    h, w = 260, 360
    yy, xx = np.mgrid[0:h, 0:w]
    grey = 190 + 20 * yy / h
    grey[30:230, 60:300] = 45 + 10 * xx[30:230, 60:300] / w
    ink = _ink_layer(digit, 150)
    board = grey[55:205, 105:255]
    grey[55:205, 105:255] = board + (215 - board) * ink
    return Image.fromarray(_noisy(grey, rng).astype(np.uint8))


def light_ink_on_transparent(digit: np.ndarray, colour=(255, 255, 255)) -> Image.Image:
    """A drawing exported from a paint program: the stroke is opaque ink of one colour, the rest transparent."""
    alpha = np.asarray(Image.fromarray(digit).resize((200, 200), Image.BILINEAR))
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    return Image.fromarray(rgba)


def two_digit_strip(big: np.ndarray, small: np.ndarray, gap: int = 30) -> Image.Image:
    """Dark ink on white: ``big`` drawn at 150 px, then ``small`` at 100 px to its right (L)."""
    a = Image.fromarray(255 - big).resize((150, 150), Image.BILINEAR)
    b = Image.fromarray(255 - small).resize((100, 100), Image.BILINEAR)
    canvas = Image.new("L", (20 + 150 + gap + 100 + 20, 190), 255)
    canvas.paste(a, (20, 20))
    canvas.paste(b, (20 + 150 + gap, 60))
    return canvas


def dim_photo(digit: np.ndarray, seed: int = 0) -> Image.Image:
    """An underexposed photo of paper: the paper is grey (~100), the ink darker (~30), nothing near white (L)."""
    rng = np.random.default_rng(seed)
    grey = np.full((240, 240), 100.0)
    grey[40:200, 40:200] *= 1 - 0.7 * _ink_layer(digit, 160)
    return Image.fromarray(_noisy(grey, rng, 2.0).astype(np.uint8))


SCENES = {
    "paper on a dark desk": paper_on_desk,
    "chalk on a board on a light wall": chalk_on_board,
    "white ink on transparent": light_ink_on_transparent,
    "black ink on transparent": lambda d: light_ink_on_transparent(d, (0, 0, 0)),
    "dim photo of paper": dim_photo,
}
