"""Draw your own input: the canvas's picture through the upload pipeline (compute.drawing), strokes past the edge
named in a sentence, what the canvas may send refused with one, the Reconstruct page's Draw input under AppTest (app.py
on the tiny zoo), and the real component in Debian's Chromium."""
from __future__ import annotations

import base64
import importlib.util
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer import canvas, pages
from explorer.compute.drawing import MAX_OBJECTS, prepare_drawing, stroke_notes
from explorer.compute.uploads import UploadError

SIDE = canvas.SIDE
MODELS = ["mnist-gaussian-pixel", "mnist-gaussian-fixed", "mnist-bernoulli-2d", "mnist-discretized-gaussian"]


def png(draw=None, size: int = SIDE) -> bytes:
    """A black canvas with white ink drawn by ``draw(ImageDraw)``, as PNG bytes."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    if draw:
        draw(ImageDraw.Draw(img))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def dot(d):
    d.ellipse((131, 131, 149, 149), fill="white")


def bar_past_the_edge(d):
    d.line((150, 100, 280, 100), fill="white", width=18)


def stroke(left, top, width=0.0, height=60.0, **extra) -> dict:
    """A freedraw path as Fabric.js reports it: centred on (left, top)."""
    return {"type": "Path", "left": left, "top": top, "width": width, "height": height, "originX": "center",
            "originY": "center", "scaleX": 1, "scaleY": 1, "angle": 0, "strokeWidth": 18, **extra}


# ------------------------------------------------------------------------------------------------ strokes
BAD_STROKES = [  # (case, objects, what the notes must say; "" = nothing)
    ("inside", [stroke(140, 140)], ""),
    ("a dot", [stroke(20, 250, width=0.04, height=0)], ""),
    ("past the right edge", [stroke(300, 100, width=200, height=0)], "1 stroke runs past the edge"),
    ("past the left edge", [stroke(5, 100, width=40, height=0)], "1 stroke runs past the edge"),
    ("past the top edge", [stroke(140, 10)], "1 stroke runs past the edge"),
    ("past the bottom edge", [stroke(140, 275)], "1 stroke runs past the edge"),
    ("long, out only unrotated", [stroke(140, 140, width=300, height=0)], "past the edge"),
    ("long, inside when rotated", [stroke(140, 140, width=200, height=0, angle=45)], ""),
    ("wholly outside", [stroke(1000, 1000)], "1 stroke lies wholly outside"),
    ("two wholly outside", [stroke(-500, 140), stroke(140, -500)], "2 strokes lie wholly outside"),
    ("left corner origin", [stroke(270, 10, width=40, height=40, originX="left", originY="top")], "past the edge"),
    ("NaN position", [stroke(math.nan, 140)], "1 object on the canvas could not be read"),
    ("infinite width", [stroke(140, 140, width=math.inf)], "could not be read"),
    ("text position", [stroke("abc", 140)], "could not be read"),
    ("no position", [{"type": "Path", "width": 3}], "could not be read"),
    ("not an object", [42], "could not be read"),
    ("huge scale", [stroke(140, 140, scaleX=1e308, width=1e308)], "could not be read"),
]


@pytest.mark.parametrize(("case", "objects", "says"), BAD_STROKES, ids=[c[0] for c in BAD_STROKES])
def test_a_stroke_past_the_edge_is_named_never_raised(case, objects, says):
    notes = stroke_notes({"objects": objects}, SIDE, SIDE)
    assert (says in " ".join(notes)) if says else notes == []


def test_a_flood_of_strokes_is_checked_up_to_a_limit():
    notes = stroke_notes({"objects": [stroke(1000, 1000)] * (MAX_OBJECTS + 5)}, SIDE, SIDE)
    assert notes == [f"{MAX_OBJECTS} strokes lie wholly outside the canvas and not in the picture",
                     f"only the first {MAX_OBJECTS:,} of {MAX_OBJECTS + 5:,} strokes were checked"]


@pytest.mark.parametrize("drawing", [None, {}, {"objects": []}, {"background": "#000"}])
def test_an_empty_drawing_has_no_notes(drawing):
    assert stroke_notes(drawing, SIDE, SIDE) == []


@pytest.mark.parametrize("drawing", [{"objects": "many"}, [1, 2], "objects"])
def test_an_unreadable_list_of_strokes_is_one_sentence(drawing):
    assert stroke_notes(drawing, SIDE, SIDE) == ["the canvas's list of strokes cannot be read"]


# ------------------------------------------------------------------------------------------------ the picture
def test_a_canvas_nobody_drew_on_is_a_blank_input():
    prepared = prepare_drawing(None, None, SIDE, SIDE)
    assert prepared.image.shape == (28, 28) and prepared.image.dtype == np.uint8 and not prepared.image.any()
    assert any("flat colour" in n for n in prepared.notes)


def test_stretch_keeps_a_dot_a_dot():
    image = prepare_drawing(png(dot), None, SIDE, SIDE, fit="stretch").image
    assert 1 <= (image > 127).sum() <= 4 and image[13:16, 13:16].max() > 127


def test_mnist_fit_scales_a_dot_into_the_digit_box():
    image = prepare_drawing(png(dot), None, SIDE, SIDE, fit="mnist").image
    assert (image > 127).sum() > 100  # a blob of about 20 x 20 pixels, centred
    rows, cols = np.nonzero(image > 127)
    assert abs(rows.mean() - 13.5) < 1.5 and abs(cols.mean() - 13.5) < 1.5


def test_a_stroke_past_the_edge_is_clipped_and_said():
    prepared = prepare_drawing(png(bar_past_the_edge), {"objects": [stroke(300, 100, width=200, height=0)]}, SIDE,
                               SIDE, fit="stretch")
    assert prepared.image[:, 27].max() > 0 and "past the edge" in prepared.notes[0]


def _too_many_pixels() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(("data", "says"), [
    (b"", "empty"),
    (b"not a picture at all", "not"),
    (png(dot)[:60], "truncated"),
    (_too_many_pixels(), "pixels"),
])
def test_what_is_not_a_picture_is_refused_with_a_sentence(data, says):
    with pytest.raises(UploadError, match=says) as e:
        prepare_drawing(data, None, SIDE, SIDE)
    assert str(e.value).endswith(".") and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------ the view
def _component_installed() -> None:
    # found, not imported: the package registers its component when imported, which needs a Streamlit runtime
    if importlib.util.find_spec("streamlit_drawable_canvas") is None:
        pytest.skip("the canvas component is not installed: pip install -r requirements.txt")


@pytest.fixture
def zoo(zoo: Path) -> Path:
    """The tiny zoo as the app's source (conftest), where the canvas component is installed."""
    _component_installed()
    return zoo


def run(canvas_value: dict | None = None, models=MODELS) -> AppTest:
    """app.py on Reconstruct for ``models``, its image source switched to Draw, the canvas holding ``canvas_value``
    (what the component sent; None: nothing drawn yet)."""
    at = AppTest.from_file(str(pages.APP), default_timeout=90)
    at.query_params["dataset"] = "mnist"
    at.query_params["models"] = models
    at.run()
    at.switch_page(pages.page("reconstruct").script).run()
    if canvas_value is not None:
        at.session_state[canvas.CANVAS_KEY] = canvas_value
    return at.segmented_control(key="image_source").set_value("Draw").run()


def sent(data, objects=()) -> dict:
    """What the component hands back after a stroke: the drawing's objects and its PNG as a data URL."""
    url = data if not isinstance(data, bytes) else "data:image/png;base64," + base64.b64encode(data).decode()
    return {"drawing": {"raw": {"objects": list(objects), "background": "#000000"}, "data": url},
            "backgroundFit": None}


def verdict(at: AppTest):
    """The table of bounds per model (the page's only table with an IWAE column)."""
    return next(d.value for d in at.dataframe if f"IWAE k={canvas.IWAE_K} (<= log p(x))" in d.value.columns)


def test_a_blank_canvas_is_scored_by_every_model(zoo):
    at = run()
    assert not at.exception
    assert "your drawing (blank)" in [s.value for s in at.subheader]
    table = verdict(at)
    assert list(table["model"]) == MODELS and np.isfinite(table["ELBO (<= log p(x))"]).all()


def test_the_verdict_says_under_which_shown_models_the_drawing_beats_the_test_mean(zoo):
    """The sentence under the table is what its numbers say, model by model (never "a blank canvas often does")."""
    at = run()
    table = verdict(at)
    above = set(table[table["ELBO (<= log p(x))"] > table["test-set mean ELBO"]]["model"])
    (said,) = [c.value.split("This image scores ")[1] for c in at.caption if "This image scores " in c.value]
    head, _, tail = said.partition(", and below it under ")

    def names(text: str) -> set[str]:
        return set(re.split(r", | and |[().]| ", text)) & set(table["model"])
    if tail:
        assert names(head) == above and names(tail) == set(table["model"]) - above
    else:
        assert said.startswith("above" if above else "below") and names(said) == set(table["model"])


def test_a_single_dot_is_scored_by_every_model(zoo):
    at = run(sent(png(dot)))
    assert not at.exception
    assert any(s.value.startswith("your drawing (") and "inked" in s.value for s in at.subheader)
    assert len(verdict(at)) == len(MODELS)


def test_the_verdict_labels_its_numbers_as_bounds(zoo):
    table = verdict(run())
    assert {"ELBO (<= log p(x))", f"IWAE k={canvas.IWAE_K} (<= log p(x))", "bits/dim (>=; from IWAE)"} <= set(table)


def test_the_stroke_past_the_edge_is_said_on_the_page(zoo):
    at = run(sent(png(bar_past_the_edge), [stroke(300, 100, width=200, height=0)]))
    assert not at.exception
    assert any("past the edge of the canvas" in m.value for m in at.markdown)


BAD_PAYLOADS = [
    ("not a data URL", "hello"),
    ("a number", 5),
    ("damaged base64", "data:image/png;base64,@@@@"),
    ("not an image", b"GIF89a but not really"),
    ("too many pixels", _too_many_pixels()),
]


@pytest.mark.parametrize(("case", "data"), BAD_PAYLOADS, ids=[c for c, _ in BAD_PAYLOADS])
def test_what_the_canvas_sends_that_is_not_a_picture_is_a_plain_message(zoo, case, data):
    at = run(sent(data))
    assert not at.exception
    assert [e.value for e in at.error if e.value.startswith("The drawing cannot be used: ")]


def test_the_brush_and_fit_are_widgets_by_key(zoo):
    at = run(sent(png(dot)))
    at.radio(key=canvas.FIT_KEY).set_value("stretch").run()
    assert not at.exception
    assert at.slider(key=canvas.BRUSH_KEY).value == 20


# ------------------------------------------------------------------------------------------------ in Chromium
def _browser_ready() -> None:
    from explorer.browser import CHROMIUM

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture(scope="module")
def browser_app(tiny_zoo):
    _browser_ready()
    _component_installed()
    from explorer.browser import chromium, streamlit_server

    with streamlit_server(tiny_zoo) as (url, _), chromium() as page:
        yield f"{url}/reconstruct?dataset=mnist&image_source=Draw&" + "&".join(f"models={m}" for m in MODELS), page


def _open(browser_app):
    """A fresh page on the Draw input: the canvas drawn, nothing on it yet."""
    from explorer.browser import visit

    url, page = browser_app
    visit(page, url, check=lambda: _main_text(page).count("your drawing (blank)") == 1)
    return page, page.locator("canvas.upper-canvas").bounding_box()  # Fabric.js takes the pointer on this layer


def _stroke(page, points) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=4)
    page.mouse.up()


def _main_text(page) -> str:
    assert page.locator('[data-testid="stException"]').count() == 0
    return page.locator('[data-testid="stMain"]').inner_text()


def _inked(page) -> int:
    """How many pixels of the model's input the drawing inked, once the page says so (the rerun has run)."""
    found = re.search(r"your drawing \((\d+) of 784 pixels inked\)", _main_text(page))
    assert found, "the page does not show an inked drawing yet"
    return int(found.group(1))


def _dot(box) -> list[tuple[float, float]]:
    return [(box["x"] + 140, box["y"] + 140), (box["x"] + 140.5, box["y"] + 140)]


@pytest.mark.browser
def test_in_chromium_a_stroke_past_the_edge_is_clipped_and_said(browser_app):
    from explorer.browser import wait_for

    page, box = _open(browser_app)
    x, y = box["x"], box["y"]
    _stroke(page, [(x + 150, y + 140), (x + 260, y + 140), (x + box["width"] + 120, y + 140)])

    def says_it_was_clipped():
        assert _inked(page) and "past the edge of the canvas" in _main_text(page)
    wait_for(page, says_it_was_clipped)


@pytest.mark.browser
def test_in_chromium_a_stroke_begun_outside_the_canvas_draws_nothing(browser_app):
    """Test that a stroke begun outside adds no ink: a dot drawn after it inks as many pixels as a dot alone (the
    dot's rerun is the condition waited for, and it comes after whatever the stroke started)."""
    from explorer.browser import wait_for

    page, box = _open(browser_app)
    _stroke(page, _dot(box))
    alone = wait_for(page, _inked, page)
    page, box = _open(browser_app)
    _stroke(page, [(box["x"] - 120, box["y"] + 60), (box["x"] + 140, box["y"] + 60)])
    _stroke(page, _dot(box))
    assert wait_for(page, _inked, page) == alone


@pytest.mark.browser
def test_in_chromium_a_single_dot_is_scored_by_every_model(browser_app):
    from explorer.browser import counts, wait_for

    page, box = _open(browser_app)
    _stroke(page, _dot(box))

    def scores_it():
        text = _main_text(page)
        assert _inked(page) and all(m in text for m in MODELS)
        assert counts(page)["tables"] >= 2  # the bounds (a data grid) and the nats split (HTML)
    wait_for(page, scores_it)
