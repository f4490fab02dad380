"""Pictures for the explorer: colour maps from small tables, colour bars with tick labels and image grids. numpy
and Pillow only (no matplotlib). The preprocessing of uploads lives in ``explorer.compute.uploads`` and is re-exported
here, where the pages have always imported it from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from explorer.compute.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, PreparedImage, UploadError, prepare_upload

__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "PreparedImage", "UploadError", "prepare_upload"]  # re-exported

# ------------------------------------------------------------------------------------------------ colour maps
# Control points sampled from matplotlib's viridis and magma and ColorBrewer's RdBu (reversed); interpolated
# linearly to 256 entries, which is indistinguishable from the full tables at the sizes shown here.
_CONTROL_POINTS = {
    "viridis": [(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129),
                (92, 200, 99), (170, 220, 50), (253, 231, 37)],
    "magma": [(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122), (229, 80, 100),
              (251, 135, 97), (254, 194, 135), (252, 253, 191)],
    "rdbu": [(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (247, 247, 247), (244, 165, 130),
             (214, 96, 77), (178, 24, 43), (103, 0, 31)],
}


def colormap_table(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a named colour map (viridis, magma, rdbu: blue-white-red)."""
    if name not in _CONTROL_POINTS:
        raise ValueError(f"unknown colour map {name!r}; choose one of: {', '.join(_CONTROL_POINTS)}")
    pts = np.asarray(_CONTROL_POINTS[name], np.float64)  # (K, 3)
    at = np.linspace(0, 1, len(pts))
    grid = np.linspace(0, 1, 256)
    return np.stack([np.interp(grid, at, pts[:, c]) for c in range(3)], -1).round().astype(np.uint8)


@dataclass(frozen=True)
class ColorScale:
    """A mapping of values to [0, 1]: linear, log10, or two-slope around ``center`` (centre -> 0.5)."""

    vmin: float
    vmax: float
    cmap: str = "viridis"
    center: float | None = None  # e.g. 0 for log-likelihoods: white at log p = 0 with "rdbu"
    log: bool = False

    def normalize(self, values) -> np.ndarray:
        v = np.asarray(values, np.float64)
        lo, hi, c = self.vmin, self.vmax, self.center
        if self.log:
            v = np.log10(np.clip(v, 1e-30, None))
            lo, hi = math.log10(max(lo, 1e-30)), math.log10(max(hi, 1e-30))
        if c is not None:
            lower = 0.5 * (v - lo) / max(c - lo, 1e-12)
            upper = 0.5 + 0.5 * (v - c) / max(hi - c, 1e-12)
            out = np.where(v < c, lower, upper)
        else:
            out = (v - lo) / max(hi - lo, 1e-12)
        return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)

    def __call__(self, values) -> np.ndarray:
        """RGB uint8 (..., 3) for an array of values."""
        return colormap_table(self.cmap)[(self.normalize(values) * 255).round().astype(np.int64)]

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            lo, hi = math.floor(math.log10(max(self.vmin, 1e-30))), math.ceil(math.log10(max(self.vmax, 1e-30)))
            decades = [10.0**e for e in range(lo, hi + 1) if self.vmin * 0.999 <= 10.0**e <= self.vmax * 1.001]
            if len(decades) > count:  # every decade of a collapsed sigma (1e-9 .. 1) would overlap: keep both ends
                decades = [decades[i] for i in sorted({round(k) for k in np.linspace(0, len(decades) - 1, count)})]
            return decades if len(decades) >= 2 else [self.vmin, self.vmax]
        if self.center is not None and self.vmin < self.center < self.vmax:
            return [self.vmin, self.center, self.vmax]
        return list(np.linspace(self.vmin, self.vmax, count))


def centered_scale(values: list[np.ndarray] | np.ndarray, center: float = 0.0, low_percentile: float = 1.0,
                   cmap: str = "rdbu") -> ColorScale:
    """A two-slope scale from the ``low_percentile`` to the maximum of all values, always including ``center``."""
    flat = np.concatenate([np.asarray(v, np.float64).ravel() for v in _as_list(values)])
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return ColorScale(center - 1, center + 1, cmap, center)
    lo, hi = min(float(np.percentile(flat, low_percentile)), center), max(float(flat.max()), center)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    return ColorScale(lo, hi, cmap, center)


def log_scale(values: list[np.ndarray] | np.ndarray, cmap: str = "viridis") -> ColorScale:
    """A log10 scale over the positive values of all arrays (min to max)."""
    flat = np.concatenate([np.asarray(v, np.float64).ravel() for v in _as_list(values)])
    flat = flat[np.isfinite(flat) & (flat > 0)]
    if flat.size == 0:
        return ColorScale(1e-3, 1.0, cmap, log=True)
    lo, hi = float(flat.min()), float(flat.max())
    if hi / lo < 1.5:  # a constant sigma: widen so that the bar still reads
        lo, hi = lo / 1.5, hi * 1.5
    return ColorScale(lo, hi, cmap, log=True)


def _as_list(values) -> list:
    return list(values) if isinstance(values, list | tuple) else [values]


def format_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.3g}"


def colorbar(scale: ColorScale, label: str = "", width: int = 240, height: int = 62, ticks: int = 3) -> np.ndarray:
    """A horizontal colour bar with tick labels under it, as an RGB uint8 image (height, width, 3)."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = _font(15)
    margin, bar_top, bar_h = 18, 21 if label else 4, 16
    inner = width - 2 * margin
    if scale.log:
        lo, hi = math.log10(max(scale.vmin, 1e-30)), math.log10(max(scale.vmax, 1e-30))
        values = 10.0 ** np.linspace(lo, hi, inner)
    else:
        values = np.linspace(scale.vmin, scale.vmax, inner)
    strip = np.repeat(scale(values)[None], bar_h, 0)  # (bar_h, inner, 3)
    img.paste(Image.fromarray(strip), (margin, bar_top))
    draw.rectangle([margin - 1, bar_top - 1, margin + inner, bar_top + bar_h], outline=(60, 60, 60))
    if label:
        draw.text((margin, 1), label, fill=(20, 20, 20), font=font)
    for t in scale.ticks(ticks):
        x = margin + float(scale.normalize([t])[0]) * (inner - 1)
        draw.line([x, bar_top + bar_h, x, bar_top + bar_h + 4], fill=(20, 20, 20))
        text = format_tick(t)
        w = draw.textlength(text, font=font)
        draw.text((min(max(x - w / 2, 0), width - w), bar_top + bar_h + 4), text, fill=(20, 20, 20), font=font)
    return np.asarray(img)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


# ------------------------------------------------------------------------------------------------ grids
def to_uint8(x) -> np.ndarray:
    """Values in [0, 1] (clipped) to uint8 0..255."""
    return (np.clip(np.nan_to_num(np.asarray(x, np.float64)), 0, 1) * 255).round().astype(np.uint8)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (H, W[, C]) -> (H*f, W*f[, C]), so 28x28 pixels stay crisp on a projector."""
    return np.repeat(np.repeat(img, factor, 0), factor, 1)


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2, pad_value: int = 128) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) uint8 images into one grid image with ``pad`` pixels between tiles."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    ncols = min(ncols or math.ceil(math.sqrt(n)), n) if n else 1
    nrows = max(math.ceil(n / ncols), 1)
    shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad, *images.shape[3:])
    grid = np.full(shape, pad_value, dtype=images.dtype if n else np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = images[i]
    return grid
