"""A drawing from the explorer's canvas as a 28x28 input: the canvas's PNG goes through the upload pipeline
(``uploads.prepare_upload``), so a drawing is prepared exactly as an uploaded picture is.

What the browser sends is untrusted like an upload: a PNG of the canvas as drawn, and the canvas's objects
(Fabric.js JSON: each stroke's centre ``left``/``top``, ``width``/``height``, ``scaleX``/``scaleY``, ``angle``,
``strokeWidth``). The picture is what counts: a stroke that runs past the edge is
clipped by the canvas itself. The objects are only read to say so in a sentence; anything malformed in them is
named and skipped, never raised.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from explorer.compute.uploads import PreparedImage, prepare_upload

MAX_OBJECTS = 10_000  # more strokes than this are not inspected one by one


def blank_png(width: int, height: int) -> bytes:
    """A black canvas as PNG bytes: what a canvas nobody has drawn on shows."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def stroke_notes(drawing, width: int, height: int) -> list[str]:
    """One sentence each: strokes that run past the canvas edge (clipped), strokes wholly outside it (not part of
    the picture), and objects that cannot be read. Never raises."""
    if drawing is None:
        return []
    objects = drawing.get("objects", []) if isinstance(drawing, dict) else None
    if not isinstance(objects, list):
        return ["the canvas's list of strokes cannot be read"]
    clipped, outside, unreadable = 0, 0, 0
    for obj in objects[:MAX_OBJECTS]:
        box = _extent(obj)
        if box is None:
            unreadable += 1
        elif box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
            outside += 1
        elif box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            clipped += 1
    notes = []
    if clipped:
        notes.append(f"{_count(clipped, 'stroke runs', 'strokes run')} past the edge of the canvas: only the part "
                     "inside is used")
    if outside:
        notes.append(f"{_count(outside, 'stroke lies', 'strokes lie')} wholly outside the canvas and not in the "
                     "picture")
    if unreadable:
        notes.append(f"{_count(unreadable, 'object', 'objects')} on the canvas could not be read, so "
                     f"{'it was' if unreadable == 1 else 'they were'} not checked against the edge")
    if len(objects) > MAX_OBJECTS:
        notes.append(f"only the first {MAX_OBJECTS:,} of {len(objects):,} strokes were checked")
    return notes


def prepare_drawing(png: bytes | None, drawing, width: int, height: int, fit: str = "mnist") -> PreparedImage:
    """The canvas's picture (light ink on a black ground) as a 28x28 input, with notes on strokes past its edge;
    ``png`` None is a canvas nobody has drawn on. Raises UploadError with one sentence (from the upload pipeline,
    with its size limits) for anything that is not a picture."""
    prepared = prepare_upload(blank_png(width, height) if png is None else png, invert="no", fit=fit)
    prepared.notes[:0] = stroke_notes(drawing, width, height)
    return prepared


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _extent(obj) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of a Fabric object with its stroke, its rotation about the centre included; None
    where a field is missing, not a number, or not finite."""
    if not isinstance(obj, dict):
        return None
    try:
        cx, cy = float(obj["left"]), float(obj["top"])
        w = float(obj.get("width", 0)) * float(obj.get("scaleX", 1))
        h = float(obj.get("height", 0)) * float(obj.get("scaleY", 1))
        pad = float(obj.get("strokeWidth", 0) or 0) / 2
        angle = math.radians(float(obj.get("angle", 0) or 0))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if obj.get("originX", "center") != "center" or obj.get("originY", "center") != "center":
        # Fabric's other origins put left/top at the corner: move to the centre
        cx += {"left": 0.5, "right": -0.5}.get(obj.get("originX"), 0.0) * w
        cy += {"top": 0.5, "bottom": -0.5}.get(obj.get("originY"), 0.0) * h
    half_w = (abs(w) * abs(math.cos(angle)) + abs(h) * abs(math.sin(angle))) / 2 + pad
    half_h = (abs(w) * abs(math.sin(angle)) + abs(h) * abs(math.cos(angle))) / 2 + pad
    box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    return box if all(math.isfinite(v) for v in box) else None
