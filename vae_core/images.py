"""Pictures for the explorer: colour maps from small tables, colour bars with tick labels, image grids, and the
preprocessing of uploaded images to the 28x28 grey format of the datasets. numpy and Pillow only (no matplotlib).

Uploads are untrusted: ``prepare_upload`` caps the bytes and the pixel count (decompression bombs), decodes
inside a guard, and raises ``UploadError`` with one sentence for anything it cannot use.
"""
from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 4096 * 4096            # larger images are refused before they are decoded
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard: a warning above this, DecompressionBombError above 2x

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


# ------------------------------------------------------------------------------------------------ uploads
class UploadError(ValueError):
    """An upload that cannot be used as an image; the message is one sentence for the page."""


@dataclass
class PreparedImage:
    image: np.ndarray                                   # (28, 28) uint8, light ink on dark like MNIST
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, picture) in order
    notes: list[str] = field(default_factory=list)
    source: str = ""                                    # e.g. "PNG, 640 x 480, RGBA"


def prepare_upload(data: bytes, invert: str = "auto", fit: str = "mnist", max_bytes: int = MAX_UPLOAD_BYTES,
                   max_pixels: int = MAX_PIXELS) -> PreparedImage:
    """Decode any common image and turn it into a 28x28 grey digit-style image, keeping every step to show.

    ``invert``: "auto" (invert when the border is light, as MNIST is light ink on a dark ground), "yes", "no".
    ``fit``: "mnist" (crop to the ink, scale into 20x20, centre by centre of mass, as LeCun et al. prepared
    MNIST) or "stretch" (resize the whole picture to 28x28).
    """
    if invert not in ("auto", "yes", "no") or fit not in ("mnist", "stretch"):
        raise ValueError(f"invert must be auto|yes|no and fit mnist|stretch, got {invert!r}, {fit!r}")
    if not data:
        raise UploadError("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    img = _decode(data, max_pixels)
    source = f"{img.format or 'image'}, {img.width} x {img.height}, {img.mode}"
    steps: list[tuple[str, np.ndarray]] = [("uploaded", _thumbnail(img))]
    notes: list[str] = []
    grey = _to_grey(img, notes)  # (H, W) float64 in 0..255
    steps.append(("grey", grey.round().astype(np.uint8)))
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if invert == "yes" or (invert == "auto" and np.median(border) > 127):
        grey = 255.0 - grey
        border = 255.0 - border
        notes.append("inverted: MNIST digits are light on a dark background")
        steps.append(("inverted", grey.round().astype(np.uint8)))
    if fit == "stretch":
        small = np.asarray(Image.fromarray(grey.round().astype(np.uint8)).resize((28, 28), Image.LANCZOS))
        steps.append(("28 x 28", small))
        return PreparedImage(small.astype(np.uint8), steps, notes, source)
    ink = np.clip(grey - np.median(border), 0, None)
    if ink.max() <= 8:
        notes.append("the picture is one flat colour: nothing to centre, shown as a blank 28 x 28 image")
        blank = np.zeros((28, 28), np.uint8)
        steps.append(("28 x 28", blank))
        return PreparedImage(blank, steps, notes, source)
    ink = ink * (255.0 / ink.max())  # stretch the contrast
    rows, cols = np.nonzero(ink > 0.2 * 255)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    steps.append(("cropped to the ink", crop.round().astype(np.uint8)))
    image = _center_in_28(crop)
    steps.append(("28 x 28, centred", image))
    return PreparedImage(image, steps, notes, source)


_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > max_pixels:
                raise UploadError(f"The image is {img.width} x {img.height} pixels; the limit is "
                                  f"{max_pixels / 1e6:.0f} megapixels.")
            if img.width < 1 or img.height < 1:
                raise UploadError("The image has no pixels.")
            img.seek(0)  # the first frame of an animation
            img.load()
            try:
                img = ImageOps.exif_transpose(img)
            except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the picture
                pass
            return img
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(f"The image is too large to decode safely (limit {max_pixels / 1e6:.0f} megapixels)."
                          ) from None
    except UnidentifiedImageError:
        if data.startswith(_SIGNATURES):
            raise UploadError("The image data is corrupt or truncated (its header cannot be read).") from None
        raise UploadError("This file is not an image Pillow can read (it reads PNG, JPEG, GIF, BMP, TIFF, WebP "
                          "and more).") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, struct.error) as e:
        raise UploadError(f"The image data is corrupt or truncated ({type(e).__name__}).") from None


def _thumbnail(img: Image.Image, size: int = 256) -> np.ndarray:
    thumb = img.copy()
    if thumb.mode not in ("RGB", "RGBA", "L", "LA"):
        thumb = _to_grey_image(thumb) if thumb.mode.startswith(("I", "F")) else thumb.convert("RGBA")
    thumb.thumbnail((size, size))
    if thumb.mode in ("RGBA", "LA"):
        thumb = _flatten_alpha(thumb)
    return np.asarray(thumb.convert("RGB"))


def _flatten_alpha(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(ground, rgba).convert("RGB")


def _to_grey_image(img: Image.Image) -> Image.Image:
    return Image.fromarray(_high_depth_to_grey(img).round().astype(np.uint8))


def _high_depth_to_grey(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, np.float64)
    if a.ndim == 3:
        a = a.mean(-1)
    if img.mode.startswith("I;16") or (img.mode == "I" and a.max() > 255):
        return np.clip(a / 257.0, 0, 255) if a.max() <= 65535 else _minmax(a)
    return _minmax(a) if img.mode == "F" or a.max() > 255 or a.min() < 0 else a


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return np.zeros_like(a) if hi - lo < 1e-12 else (a - lo) * (255.0 / (hi - lo))


def _to_grey(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Any mode -> (H, W) float64 luminance 0..255; transparent areas are composited on white."""
    if img.mode.startswith(("I", "F")):
        notes.append(f"{img.mode} pixels rescaled to 8 bits")
        return _high_depth_to_grey(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        notes.append("transparent areas composited on white")
        img = _flatten_alpha(img)
    return np.asarray(img.convert("L"), np.float64)


def _center_in_28(crop: np.ndarray) -> np.ndarray:
    """Scale the longer side to 20 pixels (aspect kept) and place it so its centre of mass is at (14, 14)."""
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(crop.round().astype(np.uint8)).resize((nw, nh), Image.LANCZOS), np.float64)
    total = max(small.sum(), 1e-9)
    cy, cx = (np.arange(nh) @ small.sum(1)) / total, (np.arange(nw) @ small.sum(0)) / total
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out = np.zeros((28, 28), np.float64)
    out[top:top + nh, left:left + nw] = small
    return np.clip(out, 0, 255).round().astype(np.uint8)
