"""Upload preprocessing on real files of every common format and every way a file can be bad; colour maps,
colour bars and grids."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vae_core.data import load_sample
from vae_core.images import (
    MAX_PIXELS,
    ColorScale,
    UploadError,
    centered_scale,
    colorbar,
    colormap_table,
    image_grid,
    log_scale,
    prepare_upload,
    upscale,
)


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` 1-bit pixels in a few dozen bytes: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    images, labels = load_sample("mnist")
    return images[int(np.flatnonzero(labels == 7)[0])]  # (28, 28) uint8, light on dark


def paper(digit: np.ndarray, size=(300, 240)) -> Image.Image:
    """The digit as a photo of ink on paper would be: dark on light, larger, not square."""
    return Image.fromarray(255 - digit).resize(size, Image.BILINEAR)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(float), b.ravel().astype(float)
    return 0.0 if a.std() == 0 or b.std() == 0 else float(np.corrcoef(a, b)[0, 1])


# ------------------------------------------------------------------------------------------------ good files
@pytest.mark.parametrize("fmt,mode,kw", [
    ("PNG", "L", {}), ("PNG", "RGB", {}), ("JPEG", "RGB", {"quality": 90}), ("JPEG", "CMYK", {}),
    ("BMP", "RGB", {}), ("GIF", "P", {}), ("TIFF", "RGB", {}), ("WEBP", "RGB", {}), ("PNG", "I;16", {}),
    ("TIFF", "F", {}), ("PNG", "LA", {}), ("PNG", "1", {}),
])
def test_every_common_format_and_mode_becomes_the_digit(digit, fmt, mode, kw):
    img = paper(digit)
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img, np.uint16) * 257).astype(np.uint16))
    elif mode == "F":
        img = Image.fromarray(np.asarray(img, np.float32) / 255.0)
    elif mode == "1":
        img = img.point(lambda v: 255 if v > 128 else 0).convert("1")
    else:
        img = img.convert(mode)
    out = prepare_upload(encode(img, fmt, **kw))
    assert out.image.shape == (28, 28) and out.image.dtype == np.uint8
    assert similarity(out.image, digit) > 0.75, (fmt, mode)
    assert out.steps[-1][1] is out.image and "inverted" in " ".join(out.notes)


def test_transparent_png_is_composited_on_white(digit):
    ink = np.asarray(paper(digit), np.uint8)
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = 255 - ink  # black ink whose opacity is the stroke, on a fully transparent ground
    out = prepare_upload(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert similarity(out.image, digit) > 0.75 and any("transparent" in n for n in out.notes)


def test_animated_gif_uses_the_first_frame(digit):
    frames = [paper(digit).convert("P"), Image.new("P", (300, 240), 0)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert similarity(prepare_upload(data).image, digit) > 0.75


def test_light_on_dark_is_not_inverted_and_options_are_honoured(digit):
    big = Image.fromarray(digit).resize((112, 112))
    auto = prepare_upload(encode(big, "PNG"))
    assert not auto.notes and similarity(auto.image, digit) > 0.8
    forced = prepare_upload(encode(big, "PNG"), invert="yes")
    assert "inverted" in forced.notes[0] and not similarity(forced.image, digit) > 0.5
    stretched = prepare_upload(encode(big, "PNG"), fit="stretch")
    assert [c for c, _ in stretched.steps] == ["uploaded", "grey", "28 x 28"]
    with pytest.raises(ValueError):
        prepare_upload(encode(big, "PNG"), fit="sideways")


def test_blank_tiny_and_extreme_aspect_images_still_work():
    blank = prepare_upload(encode(Image.new("RGB", (50, 50), "white"), "PNG"))
    assert blank.image.max() == 0 and "flat colour" in blank.notes[-1]
    one = prepare_upload(encode(Image.new("L", (1, 1), 200), "PNG"))
    assert one.image.shape == (28, 28)
    line = np.zeros((8, 2000), np.uint8)
    line[3:5, 100:1900] = 255
    assert prepare_upload(encode(Image.fromarray(line), "PNG")).image.max() > 0


# ------------------------------------------------------------------------------------------------ bad files
@pytest.mark.parametrize("name,data,message", [
    ("empty", b"", "empty"),
    ("text", b"just some notes, not an image\n" * 10, "not an image"),
    ("html", b"<html><body>hello</body></html>", "not an image"),
    ("pdf header", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not an image"),
    ("bomb 50k x 50k", png_header(50_000, 50_000), "too large"),
    ("bomb above the limit", png_header(4200, 4200), "limit"),
    ("over the byte cap", b"\x89PNG" + b"\x00" * (5 * 2**20 + 1), "limit is 5 MB"),
])
def test_bad_uploads_raise_one_sentence(name, data, message):
    with pytest.raises(UploadError, match=message) as err:
        prepare_upload(data)
    text = str(err.value)
    assert text.endswith(".") and ". " not in text and "\n" not in text  # one sentence


def test_truncated_and_corrupt_images_are_refused(digit):
    png = encode(paper(digit), "PNG")
    jpeg = encode(paper(digit).convert("RGB"), "JPEG")
    corrupt = bytearray(png)
    corrupt[60:200] = b"\xff" * 140
    for data in (png[: len(png) // 2], png[:40], bytes(corrupt)):
        with pytest.raises(UploadError, match="corrupt or truncated"):
            prepare_upload(data)
    # a JPEG cut short decodes partially in some decoders; ours refuses it
    with pytest.raises(UploadError):
        prepare_upload(jpeg[: len(jpeg) // 3])


def test_pixel_limit_is_below_pillows_own_guard():
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS
    with pytest.raises(UploadError, match="megapixels"):
        prepare_upload(png_header(3000, 3000), max_pixels=1_000_000)


# ------------------------------------------------------------------------------------------------ colours
def test_colormaps_and_scales():
    for name in ("viridis", "magma", "rdbu"):
        table = colormap_table(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8
    with pytest.raises(ValueError):
        colormap_table("jet")
    scale = centered_scale([np.array([-10.0, -1.0, 0.0, 2.0])], low_percentile=0)
    assert (scale.vmin, scale.center, scale.vmax) == (-10.0, 0.0, 2.0)
    assert scale.normalize([-10, 0, 2]).tolist() == [0.0, 0.5, 1.0]
    white = scale([0.0])[0]
    assert white.min() > 240  # log p = 0 is white on the diverging map
    negative_only = centered_scale([np.array([-5.0, -1.0])], low_percentile=0)
    assert negative_only.vmax == 0.0 and negative_only.normalize([-5.0]).item() == 0.0
    logs = log_scale([np.array([1e-3, 0.5])])
    assert logs.log and logs.ticks() == [1e-3, 1e-2, 1e-1]
    assert logs.normalize([1e-3, 0.5]).tolist() == pytest.approx([0.0, 1.0])
    flat = log_scale([np.full(10, 0.1)])
    assert flat.vmin < 0.1 < flat.vmax  # a constant sigma still gets a readable bar
    rgb = ColorScale(0, 1)(np.zeros((28, 28)))
    assert rgb.shape == (28, 28, 3)


def test_colorbar_grid_and_upscale():
    bar = colorbar(centered_scale([np.array([-3.0, 1.0])]), label="log p")
    assert bar.ndim == 3 and bar.shape[2] == 3 and bar.dtype == np.uint8
    assert (bar < 100).any()  # tick labels are drawn
    g = image_grid(np.full((5, 28, 28), 200, np.uint8), ncols=3, pad=2, pad_value=0)
    assert g.shape == (2 * 30 + 2, 3 * 30 + 2) and g[2, 2] == 200 and g[0, 0] == 0
    assert upscale(np.eye(2, dtype=np.uint8), 3).shape == (6, 6)
