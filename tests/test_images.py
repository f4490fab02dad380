"""Colour maps, colour bars and grids (uploads: tests/test_uploads.py)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from explorer import render
from explorer.compute import images, uploads
from explorer.compute.images import ColorScale, centered_scale, colorbar, colormap_table, image_grid, log_scale, upscale


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


@pytest.mark.parametrize("shape", [(2, 28, 28), (3, 28, 28, 3)])  # grey grids (samples), coloured ones (sigma maps)
def test_a_picture_sent_as_png_keeps_every_pixel(shape):
    """The sigma page caches its grids as PNG bytes (render.png): lossless, so the browser shows the model's pixels,
    where a picture handed to st.image as an array without alpha goes out as JPEG."""
    values = np.random.default_rng(0).random(shape)
    grid = render.grid(values, ncols=2) if len(shape) == 3 else upscale(images.to_uint8(values[0]), 3)
    shown = Image.open(io.BytesIO(render.png(grid)))
    assert shown.format == "PNG"
    assert np.array_equal(np.asarray(shown), grid)


def test_uploads_are_still_importable_from_images():
    """The pages import the upload API from ``compute.images``; it is the one in ``compute.uploads``."""
    for name in images.__all__:
        assert getattr(images, name) is getattr(uploads, name)
