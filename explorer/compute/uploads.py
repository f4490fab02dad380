"""Uploaded pictures to the 28x28 grey format of the datasets: light ink on a dark ground, the ink scaled into
20x20 and centred by its centre of mass, as LeCun et al. prepared MNIST. numpy and Pillow only.

Uploads are untrusted: ``prepare_upload`` caps the bytes and the pixel count (decompression bombs), decodes
inside a guard, and raises ``UploadError`` with one sentence for anything it cannot use. Whatever it assumes
about a picture (which side is ink, what lies behind transparent pixels, which of several marks is the digit)
it says in ``PreparedImage.notes``, one sentence each, so a digit is never lost without a word.

How the ink is found (``fit="mnist"``):
1. grey: any mode to luminance 0..255; transparent pixels get a ground that contrasts with the ink; high-depth
   and float pixels are rescaled from their finite range (NaN and infinities are named and replaced).
2. sheet: a photo of paper on a dark desk (or of a dark board on a light wall) has a border of one tone, a large
   solid region of the other, and thin strokes inside it; only the sheet is kept (Otsu's threshold separates the
   two tones; a region is a sheet when it survives an erosion that removes strokes, and its marks do not). A bold
   "8" with slit-thin holes on a black canvas has the same shapes; a surround of flat pure black or white is
   therefore taken for a canvas (a drawing, a dataset image), never for a desk.
3. polarity: the ground is the median of the border; the ink is on the side (darker or lighter) that reaches
   farther from it. MNIST is light on dark, so dark ink is inverted.
4. marks: the ink is split at empty bands of columns and rows (two digits side by side, a speck beside the
   digit); the mark with the most ink is kept.
"""
from __future__ import annotations

import io
import math
import struct
import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 4096 * 4096            # larger images are refused before they are decoded
UPLOAD_LIMITS = (f"up to {MAX_UPLOAD_BYTES // 2**20} MB and {MAX_PIXELS / 1e6:.1f} megapixels "
                 f"({math.isqrt(MAX_PIXELS)} x {math.isqrt(MAX_PIXELS)})")  # as the page states them
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard: a warning above this, DecompressionBombError above 2x

WORK_PIXELS = 1024**2  # pictures are area-reduced below this many pixels before analysis: the result has 400
GRID_SIDE = 160        # the sheet is looked for on a grid of about this side squared: flood fills stay ~10 ms
FLAT_CONTRAST = 8.0    # grey levels: less contrast than this between ink and ground is "one flat colour"
INK_THRESHOLD = 0.2    # a pixel is ink above this fraction of the strongest ink (the old crop rule)
CANVAS_SPREAD = 8.0   # grey levels: a surround this close to pure black or white is a canvas, not a photo
MIN_GAP = (0.1, 0.25)  # empty columns, rows this wide (fraction of the ink's height, width) separate two marks;
#                        rows need more: a "5" may have its bar detached above, and strips run sideways
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
DISPLAY_SIDE = 256     # step pictures are at most this long and at most DISPLAY_ASPECT times wider than tall
DISPLAY_ASPECT = 8


class UploadError(ValueError):
    """An upload that cannot be used as an image; the message is one sentence for the page."""


@dataclass
class PreparedImage:
    image: np.ndarray                                   # (28, 28) uint8, light ink on dark like MNIST
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, picture) in order
    notes: list[str] = field(default_factory=list)      # one sentence each: what was done or assumed
    source: str = ""                                    # e.g. "PNG, 640 x 480, RGBA"

    @property
    def pixels(self) -> np.ndarray:
        """The image as float32 (28, 28) in [0, 1], the scale of ``x / 255`` in ``vae_core.base.data``."""
        return self.image.astype(np.float32) / 255.0


def prepare_upload(data: bytes, invert: str = "auto", fit: str = "mnist", max_bytes: int = MAX_UPLOAD_BYTES,
                   max_pixels: int = MAX_PIXELS) -> PreparedImage:
    """Decode any common image and turn it into a 28x28 grey digit-style image, keeping every step to show.

    ``invert``: "auto" (the ink is whichever side of the ground's tone reaches farther), "yes" (the ink is
    darker than its ground), "no" (it is lighter). ``fit``: "mnist" (find the sheet and the mark, crop to the
    ink, scale into 20x20, centre by centre of mass) or "stretch" (resize the whole picture to 28x28).
    """
    if invert not in ("auto", "yes", "no") or fit not in ("mnist", "stretch"):
        raise ValueError(f"invert must be auto|yes|no and fit mnist|stretch, got {invert!r}, {fit!r}")
    if not data:
        raise UploadError("The file is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes "
                          f"({max_bytes / 2**20:.3g} MB).")
    img, fmt, frames = _decode(data, max_pixels)
    source = f"{fmt}, {img.width} x {img.height}, {img.mode}"
    notes: list[str] = []
    if frames > 1:
        notes.append(f"the first of its {frames} frames is used")
    grey = _to_grey(img, notes)  # (H, W) float32 in 0..255, at most WORK_PIXELS
    steps: list[tuple[str, np.ndarray]] = [("uploaded", _thumbnail(img, grey)), ("grey", _display(grey))]
    if fit == "stretch":
        return _stretch(grey, invert, steps, notes, source)
    if float(grey.max() - grey.min()) < FLAT_CONTRAST:
        return _blank("the picture is one flat colour: nothing to centre, shown as a blank 28 x 28 image",
                      steps, notes, source)
    grey = _light_ink(_keep_sheet(grey, invert, notes, steps), invert, notes, steps)
    ink = np.clip(grey - float(np.median(_border(grey))), 0, None)  # (H, W): above the ground's tone
    strongest = float(_smooth(ink).max())
    if strongest < FLAT_CONTRAST:
        return _blank("no ink stands out from the ground: shown as a blank 28 x 28 image", steps, notes, source)
    rows, cols, marks, share = _main_mark(ink > INK_THRESHOLD * strongest, ink)
    if marks > 1:
        notes.append(f"of {marks} separate marks, kept the one with the most ink ({share:.0%} of it); "
                     "Fit: stretch keeps the whole picture")
    crop = ink[rows, cols]
    crop = crop * (255.0 / max(float(crop.max()), 1e-9))  # stretch the contrast
    steps.append(("cropped to the ink", _display(crop)))
    image = _center_in_28(crop)
    steps.append(("28 x 28, centred", image))
    return PreparedImage(image, steps, notes, source)


def _light_ink(grey: np.ndarray, invert: str, notes: list[str], steps: list) -> np.ndarray:
    """The picture with its ink lighter than its ground, as in MNIST."""
    if not _ink_is_dark(grey, float(np.median(_border(grey))), invert):
        return grey
    grey = 255.0 - grey
    notes.append("inverted, as asked" if invert == "yes" else
                 "inverted: the ink is darker than its ground, and MNIST digits are light on dark")
    steps.append(("inverted", _display(grey)))
    return grey


def _stretch(grey: np.ndarray, invert: str, steps: list, notes: list, source: str) -> PreparedImage:
    grey = _light_ink(grey, invert, notes, steps)
    small = np.asarray(Image.fromarray(_u8(grey)).resize((28, 28), Image.LANCZOS))
    steps.append(("28 x 28", small))
    return PreparedImage(small, steps, notes, source)


def _blank(note: str, steps: list, notes: list, source: str) -> PreparedImage:
    notes.append(note)
    blank = np.zeros((28, 28), np.uint8)
    steps.append(("28 x 28", blank))
    return PreparedImage(blank, steps, notes, source)


# ------------------------------------------------------------------------------------------------ decoding
_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")


def _decode(data: bytes, max_pixels: int) -> tuple[Image.Image, str, int]:
    """The first frame, loaded and turned upright by its EXIF orientation; its format name; its frame count."""
    fmt = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's chatter about odd but readable files
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or ""
            if img.width * img.height > max_pixels:
                raise UploadError(f"The image is {img.width} x {img.height} pixels; the limit is "
                                  f"{max_pixels / 1e6:.0f} megapixels.")
            if img.width < 1 or img.height < 1:
                raise UploadError("The image has no pixels.")
            frames = int(getattr(img, "n_frames", 1) or 1)
            img.seek(0)
            img.load()
            try:
                img = ImageOps.exif_transpose(img)
            except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the picture
                pass
            return img, fmt or "image", frames
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(f"The image is too large to decode safely (limit {max_pixels / 1e6:.0f} megapixels)."
                          ) from None
    except UnidentifiedImageError:
        if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
            raise UploadError("HEIC/HEIF photos cannot be read here; export the photo as JPEG or PNG.") from None
        if data.startswith(_SIGNATURES):
            raise UploadError("The image data is corrupt or truncated (its header cannot be read).") from None
        raise UploadError("This file is not an image Pillow can read (it reads PNG, JPEG, GIF, BMP, TIFF, WebP "
                          "and more).") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, struct.error, ZeroDivisionError) as e:
        what = f"{fmt} image" if fmt else "image"
        if "truncated" in str(e) or isinstance(e, EOFError):
            raise UploadError(f"The {what} data is truncated or corrupt.") from None
        raise UploadError(f"The {what} cannot be decoded ({type(e).__name__}): the file is damaged or a variant "
                          "Pillow cannot read; saving it again as PNG or JPEG usually helps.") from None


# ------------------------------------------------------------------------------------------------ grey
def _to_grey(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Any mode -> (H, W) float32 luminance in 0..255, area-reduced to at most WORK_PIXELS."""
    if img.mode in HIGH_DEPTH_MODES:
        return _reduce(_high_depth_to_grey(img, notes))
    img = _shrink(img)
    if _has_alpha(img):
        return _composite_alpha(img, notes)
    if img.mode == "LAB":
        return np.asarray(img.getchannel(0), np.float32)  # L*, 0..100 stored as 0..255
    try:
        return np.asarray(img.convert("L"), np.float32)
    except ValueError:
        try:
            return np.asarray(img.convert("RGB").convert("L"), np.float32)
        except ValueError:
            raise UploadError(f"Pixels of mode {img.mode} cannot be turned into grey here; "
                              "save the picture as PNG or JPEG.") from None


def _high_depth_to_grey(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Integer and float pixels rescaled from their finite range to 0..255; NaN becomes the ground (the border's
    median), +inf and -inf the largest and smallest finite values."""
    a = np.asarray(img).astype(np.float32)  # (H, W); I;16B arrives big-endian, astype makes it native
    finite = np.isfinite(a)
    if not finite.any():
        raise UploadError(f"The image has no finite pixel values (all {a.size} are NaN or infinite).")
    lo, hi = float(a[finite].min()), float(a[finite].max())
    bad = int((~finite).sum())
    if bad:
        border = _border(a)
        border = border[np.isfinite(border)]
        ground = float(np.median(border)) if border.size else lo
        a = np.where(np.isnan(a), np.float32(ground), np.clip(a, lo, hi))
        notes.append(f"{bad} NaN or infinite pixels were set to the ground (NaN) or the nearest finite extreme")
    if hi - lo <= 0:
        return np.zeros(a.shape, np.float32)
    notes.append(f"{img.mode} pixels rescaled from their range {lo:.6g}..{hi:.6g} to 0..255")
    a = a.astype(np.float64) if hi - lo < 1e-30 or hi - lo > 1e30 else a  # float32 cannot hold the scale
    return ((a - lo) * (255.0 / (hi - lo))).astype(np.float32)


def _composite_alpha(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Transparent pixels take a ground that contrasts with what is drawn: black behind light ink, white behind
    dark ink; when most of the picture is opaque, the picture's own median tone."""
    rgba = np.asarray(img.convert("RGBA"), np.float32)  # (H, W, 4)
    alpha = rgba[..., 3] / 255.0
    lum = np.asarray(Image.fromarray(rgba[..., :3].astype(np.uint8)).convert("L"), np.float32)
    if alpha.min() >= 1.0:
        return lum
    coverage = float(alpha.mean())
    if coverage == 0.0:
        notes.append("the picture is fully transparent")
        return np.zeros(lum.shape, np.float32)
    if coverage < 0.5:  # opaque marks on a transparent sheet: the marks are the ink
        ink_tone = float((alpha * lum).sum() / alpha.sum())
        ground = 0.0 if ink_tone > 127.5 else 255.0
        notes.append("transparent areas filled with " + ("black, as the ink is light" if ground == 0.0 else
                                                         "white, as the ink is dark"))
    else:
        ground = float(np.median(lum[alpha > 0.5]))
        notes.append(f"transparent areas filled with the picture's median grey ({ground:.0f})")
    return alpha * lum + (1.0 - alpha) * ground


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ALPHA_MODES or "transparency" in img.info


def _shrink(img: Image.Image) -> Image.Image:
    """Area-reduce a large 8-bit picture inside Pillow before any array is made (a 16-megapixel RGBA picture
    would be 256 MB as float32); palettes and single bits become grey or RGBA first, as averaging them is
    meaningless."""
    factor = math.ceil(math.sqrt(img.width * img.height / WORK_PIXELS))
    if factor <= 1:
        return img
    if img.mode in ("1", "P", "PA") or "transparency" in img.info:
        img = img.convert("RGBA" if _has_alpha(img) else "L")
    try:
        return img.reduce(factor)
    except (ValueError, NotImplementedError):
        return img.convert("RGBA" if _has_alpha(img) else "RGB").reduce(factor)


def _reduce(grey: np.ndarray, pixels: int = WORK_PIXELS) -> np.ndarray:
    """Area-average a picture by a whole factor to at most ``pixels`` pixels (the result has 400 anyway); a long
    strip keeps its short side."""
    h, w = grey.shape
    factor = math.ceil(math.sqrt(h * w / pixels))
    if factor <= 1:
        return grey.astype(np.float32)
    return np.asarray(Image.fromarray(grey.astype(np.float32)).reduce(factor), np.float32)


# ------------------------------------------------------------------------------------------------ sheet
def _keep_sheet(grey: np.ndarray, invert: str, notes: list[str], steps: list) -> np.ndarray:
    """Grey with everything outside a sheet of paper (or board) set to the sheet's tone; unchanged if none."""
    if _is_canvas(_border(grey)):
        return grey  # a flat black or white border: a drawing or a dataset image, no photo of a sheet
    threshold = _otsu(grey)
    h, w = grey.shape
    small = _reduce(grey, GRID_SIDE**2)
    light = small > threshold                              # (h', w') Otsu's two tones
    surround_light = _border(light).mean() >= 0.5
    sheet_light = not surround_light
    if (invert == "yes" and not sheet_light) or (invert == "no" and sheet_light):
        return grey  # the user says which side the ink is; a sheet of the other tone cannot hold it
    surround = light if surround_light else ~light
    outside = _flood_from_border(surround)                  # the surround, reached through its own tone
    inside = ~outside                                       # the sheet and all it encloses
    sheet = inside & ~surround
    marks = inside & surround
    n = light.size
    if inside.sum() < 0.1 * n or outside.sum() < 0.05 * n or sheet.sum() < 0.6 * inside.sum() or not marks.any():
        return grey
    if _survives(inside, _extent(inside), 0.08) < 0.5 or _survives(marks, _extent(marks), 0.1) > 0.2:
        return grey  # the "sheet" is strokes (a bold digit), or its marks are blobs (a bag's handle)
    if _is_canvas(small[_erode(outside, 2)]):  # away from the soft edge of the shapes
        return grey  # a drawing on a black or white canvas (MNIST itself, a product shot): its shapes are the ink
    keep = _erode(inside, 1)
    mask = np.asarray(Image.fromarray(keep.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)) > 0
    tone = float(np.median(grey[mask & ((grey > threshold) == sheet_light)]))
    out = np.where(mask, grey, tone).astype(np.float32)
    notes.append(f"only the {'light' if sheet_light else 'dark'} sheet inside the "
                 f"{'dark' if sheet_light else 'light'} surround is used, as in a photo of paper on a desk")
    steps.append(("sheet only", _display(out)))
    return out


def _is_canvas(values: np.ndarray) -> bool:
    """Whether a surround is a flat black or white canvas, as in a drawing or a dataset image, not a photographed
    desk (which has grain and uneven light): 3/4 of it within CANVAS_SPREAD of a median at either extreme."""
    if values.size == 0:
        return True
    middle = float(np.median(values))
    at_extreme = middle <= CANVAS_SPREAD or middle >= 255 - CANVAS_SPREAD
    return at_extreme and float(np.mean(np.abs(values - middle) <= CANVAS_SPREAD)) >= 0.75


def _otsu(grey: np.ndarray) -> float:
    """Otsu's threshold (1979): the grey level that maximises the variance between the two classes."""
    hist, edges = np.histogram(grey, bins=256, range=(0.0, 256.0))
    p = hist / max(hist.sum(), 1)
    levels = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * levels)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def _flood_from_border(mask: np.ndarray) -> np.ndarray:
    """The cells of ``mask`` 4-connected to the picture's edge (a breadth-first flood fill)."""
    h, w = mask.shape
    reached = np.zeros_like(mask)
    flat_mask, flat_reached = mask.ravel(), reached.ravel()
    edge = [i for i in range(w)] + [(h - 1) * w + i for i in range(w)] + [r * w for r in range(h)] + \
           [r * w + w - 1 for r in range(h)]
    queue = deque(i for i in edge if flat_mask[i])
    for i in queue:
        flat_reached[i] = True
    while queue:
        i = queue.popleft()
        r, c = divmod(i, w)
        for j, ok in ((i - w, r > 0), (i + w, r < h - 1), (i - 1, c > 0), (i + 1, c < w - 1)):
            if ok and flat_mask[j] and not flat_reached[j]:
                flat_reached[j] = True
                queue.append(j)
    return reached


def _extent(mask: np.ndarray) -> int:
    rows, cols = np.nonzero(mask)
    return int(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1) if rows.size else 0


def _survives(mask: np.ndarray, extent: int, fraction: float) -> float:
    """The share of ``mask`` left after an erosion by ``fraction`` of ``extent``: ~0 for strokes, ~1 for blobs."""
    total = mask.sum()
    return float(_erode(mask, max(1, round(fraction * extent))).sum() / total) if total else 0.0


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erosion by a (2 radius + 1)^2 square; the picture's edge counts as outside."""
    out = mask.copy()
    for _ in range(radius):
        padded = np.pad(out, 1, constant_values=False)
        out = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
               & padded[1:-1, :-2] & padded[1:-1, 2:])
        out &= padded[:-2, :-2] & padded[:-2, 2:] & padded[2:, :-2] & padded[2:, 2:]
    return out


# ------------------------------------------------------------------------------------------------ ink
def _ink_is_dark(grey: np.ndarray, ground: float, invert: str) -> bool:
    """Whether the ink is darker than the ground: as asked, or (auto) the side that reaches farther from it."""
    if invert != "auto":
        return invert == "yes"
    smooth = _smooth(grey)  # a stray pixel does not decide
    return ground - float(smooth.min()) > float(smooth.max()) - ground


def _smooth(a: np.ndarray) -> np.ndarray:
    """3x3 mean (edges repeated)."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _main_mark(mask: np.ndarray, ink: np.ndarray) -> tuple[slice, slice, int, float]:
    """The bounding box of the mark with the most ink, the marks being separated by empty bands of columns or
    rows at least MIN_GAP of the ink's other side wide; with how many marks there were and the kept share."""
    rows = slice(0, mask.shape[0])
    cols = slice(0, mask.shape[1])
    marks, total = 1, float(ink[mask].sum())
    for _ in range(4):  # dropping a mark can open a gap in the other direction
        changed = False
        for axis in (0, 1):
            sub = mask[rows, cols]
            occupied = sub.any(axis=axis)
            if not occupied.any():
                break
            other = np.flatnonzero(sub.any(axis=1 - axis))
            gap = MIN_GAP[axis] * (other[-1] - other[0] + 1)
            groups = _runs(occupied, max(1, math.ceil(gap)))
            lo, hi = groups[0]
            if len(groups) > 1:
                masses = [float((ink[rows, cols] * sub).sum(axis=axis)[a:b].sum()) for a, b in groups]
                lo, hi = groups[int(np.argmax(masses))]
                marks += len(groups) - 1
            start = cols.start if axis == 0 else rows.start
            new = slice(start + lo, start + hi)
            if axis == 0 and new != cols:
                cols, changed = new, True
            elif axis == 1 and new != rows:
                rows, changed = new, True
        if not changed:
            break
    share = float((ink[rows, cols] * mask[rows, cols]).sum()) / max(total, 1e-9)
    return rows, cols, marks, share


def _runs(occupied: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Half-open [start, stop) spans of True in ``occupied``, merging spans split by fewer than ``min_gap``
    False."""
    idx = np.flatnonzero(occupied)
    breaks = np.flatnonzero(np.diff(idx) > min_gap)  # a diff of d means d - 1 empty places between
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _center_in_28(crop: np.ndarray) -> np.ndarray:
    """Scale the longer side to 20 pixels (aspect kept) and place it so its centre of mass is at (14, 14)."""
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(_u8(crop)).resize((nw, nh), Image.LANCZOS), np.float64)
    total = max(small.sum(), 1e-9)
    cy, cx = (np.arange(nh) @ small.sum(1)) / total, (np.arange(nw) @ small.sum(0)) / total
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out = np.zeros((28, 28), np.float64)
    out[top:top + nh, left:left + nw] = small
    return np.clip(out, 0, 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------------------ pictures
def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(a, np.float64), 0, 255).round().astype(np.uint8)


def _display(a: np.ndarray) -> np.ndarray:
    """A step picture the page can enlarge without blowing up: at most DISPLAY_SIDE long, at most DISPLAY_ASPECT
    times wider than tall (or taller than wide; padded with black)."""
    img = Image.fromarray(_u8(a))
    if max(img.size) > DISPLAY_SIDE:
        img.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.BOX)
    w, h = img.size
    if w > DISPLAY_ASPECT * h or h > DISPLAY_ASPECT * w:
        side = -(-max(w, h) // DISPLAY_ASPECT)  # ceiling division
        canvas = Image.new("L", (max(w, side), max(h, side)), 0)
        canvas.paste(img, ((canvas.width - w) // 2, (canvas.height - h) // 2))
        img = canvas
    return np.asarray(img)


def _thumbnail(img: Image.Image, grey: np.ndarray, size: int = DISPLAY_SIDE) -> np.ndarray:
    """The upload as RGB for display (its grey version where Pillow has no RGB for the mode); transparency shown
    over a checkerboard, as image editors do."""
    thumb = Image.fromarray(_u8(grey)) if img.mode in HIGH_DEPTH_MODES or img.mode == "LAB" else img.copy()
    thumb.thumbnail((size, size))
    if _has_alpha(thumb):
        rgba = thumb.convert("RGBA")
        yy, xx = np.mgrid[0:rgba.height, 0:rgba.width]
        board = np.where(((yy // 8) + (xx // 8)) % 2 == 0, 110, 150).astype(np.uint8)
        ground = Image.fromarray(np.stack([board] * 3 + [np.full_like(board, 255)], -1))
        thumb = Image.alpha_composite(ground, rgba)
    rgb = np.asarray(thumb.convert("RGB"))
    return _display_rgb(rgb)


def _display_rgb(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= DISPLAY_ASPECT * h and h <= DISPLAY_ASPECT * w:
        return rgb
    side = -(-max(w, h) // DISPLAY_ASPECT)
    out = np.zeros((max(h, side), max(w, side), 3), np.uint8)
    top, left = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
    out[top:top + h, left:left + w] = rgb
    return out
