"""The app's layering: page files in app_pages/ describe the UI and define nothing, every chart is built in
explorer/charts.py, and the lab's chart builders draw what their tab computed. Cheap: source scans and chart specs,
plus one AppTest run of a callback that moved from a page file into its view."""
from __future__ import annotations

import ast
import base64
import re
import struct

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer import charts, pages, presenter, svg_worker, tables
from vae_core.base.data import load_sample
from vae_core.zoo.checkpoints import scan

APP_FILES = [pages.APP, *pages.PAGES_DIR.glob("*.py"), *(pages.ROOT / "explorer").rglob("*.py")]
CHARTS = pages.ROOT / "explorer" / "charts.py"


def _rel(path) -> str:
    return str(path.relative_to(pages.ROOT))


# ------------------------------------------------------------------------------------------------ the layering
@pytest.mark.parametrize("page", pages.PAGES, ids=lambda p: p.file)
def test_a_page_file_defines_no_functions_or_classes(page):
    """Test that each page script reads as a description of its UI: callbacks, helpers and classes live in a view
    module of explorer/, where they can be imported, cached and tested."""
    tree = ast.parse(page.path.read_text())
    defined = [f"{type(n).__name__} at line {n.lineno}" for n in ast.walk(tree)
               if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)]
    assert defined == [], f"{page.file}: move these into explorer/views/"


def _runtime_altair_imports(path) -> list[int]:
    """Lines importing altair outside an ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    return [n.lineno for n in ast.walk(tree) if id(n) not in typing_only and (
        isinstance(n, ast.Import) and any(a.name.split(".")[0] == "altair" for a in n.names)
        or isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "altair")]


@pytest.mark.parametrize("path", [p for p in APP_FILES if p != CHARTS], ids=_rel)
def test_only_explorer_charts_builds_charts(path):
    """Test that no module of the app but explorer/charts.py imports Altair or shows an Altair chart itself: every
    chart is built one way, in one place."""
    assert _runtime_altair_imports(path) == [], f"{_rel(path)}: build the chart in explorer/charts.py"
    assert "altair_chart(" not in path.read_text(), f"{_rel(path)}: show lab charts with charts.show_panel"


def test_the_scan_finds_an_altair_import():
    """Test that the scan above can fail: explorer/charts.py itself imports Altair."""
    assert _runtime_altair_imports(CHARTS)


# ------------------------------------------------------------------------------------------------ lab charts
def _layers(chart) -> list[list[dict]]:
    """The rows each layer of ``chart`` draws, in layer order (Altair inlines them as named datasets)."""
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    return [spec["datasets"][layer["data"]["name"]] for layer in spec.get("layer", [spec])]


def _values(rows: list[dict], field: str) -> list:
    return list(dict.fromkeys(r[field] for r in rows))


RNG = np.random.default_rng(0)
GRID = np.linspace(-3.0, 3.0, 50)
PARTS = np.abs(RNG.normal(size=(50, 3)))  # (G, K) weighted component densities


def test_a_pinned_component_is_a_rule_not_a_curve():
    """Test that in 1-D the spike's component is drawn as a rule at its point, left out of the curves and of the
    mixture's sum, and that the other components and the mixture are drawn."""
    x = RNG.normal(size=200)
    bars, lines, rule = _layers(charts.mixture_1d(x, GRID, PARTS, spike=(1, 0.25)))
    assert _values(lines, "curve") == ["component 0", "component 2", "mixture"]
    mixture = [r["density"] for r in lines if r["curve"] == "mixture"]
    np.testing.assert_allclose(mixture, PARTS[:, [0, 2]].sum(1))
    assert rule == [{"x": 0.25}] and len(bars) == 40
    assert PARTS[:, 1].min() > 0, "the caller's array is left as it was"


def test_an_unpinned_mixture_draws_every_component():
    _, lines = _layers(charts.mixture_1d(RNG.normal(size=200), GRID, PARTS))
    assert _values(lines, "curve") == ["component 0", "component 1", "component 2", "mixture"]


@pytest.mark.parametrize("ellipses,spike,layers", [
    ({0: np.zeros((5, 2)), 2: np.ones((5, 2))}, np.array([0.5, -0.5]), 3),
    ({}, None, 1),  # every component collapsed: the points alone
])
def test_2d_mixture_draws_the_ellipses_it_is_given(ellipses, spike, layers):
    drawn = _layers(charts.mixture_2d(RNG.normal(size=(30, 2)), ellipses, spike))
    assert len(drawn) == layers and len(drawn[0]) == 30
    if ellipses:
        assert _values(drawn[1], "curve") == [f"component {k}" for k in ellipses]
        assert drawn[2] == [{"x1": 0.5, "x2": -0.5}]


def test_the_singularity_path_marks_the_sliders_sigma():
    sigmas, path = np.logspace(0, -10, 11), np.arange(11.0)
    line, here, level = _layers(charts.singularity_path(sigmas, path, at=4, fitted=2.5))
    assert len(line) == 11 and level == [{"y": 2.5}]
    assert here == [{"log10 sigma": pytest.approx(-4.0), "log-likelihood": 4.0}]


@pytest.mark.parametrize("eigvals,q,sigma2,expected", [
    (np.array([4.0, 3.0, 2.0, 0.5]), 2, 1.0, ["survives", "survives", "beyond q latents",
                                              "collapsed: lambda <= sigma^2"]),
    (np.array([0.9, 0.1]), 2, 1.0, ["collapsed: lambda <= sigma^2"] * 2),
])
def test_eigenvalues_are_told_apart_by_what_ppca_makes_of_them(eigvals, q, sigma2, expected):
    points, level = _layers(charts.eigenvalues(eigvals, q, sigma2))
    assert [r["direction"] for r in points] == expected and level == [{"y": sigma2}]


def test_a_gap_below_1e_12_is_drawn_at_1e_12():
    (rows,) = _layers(charts.gaps_to_maximum(np.arange(3), {"a": np.array([1.0, 0.0, -1.0]), "b": np.ones(3)}))
    assert [r["gap"] for r in rows if r["curve"] == "a"] == [1.0, 1e-12, 1e-12]


def test_the_elbo_is_drawn_within_its_window_of_the_maximum():
    log_s = np.linspace(-3, 1, 9)
    line, rule, point = _layers(charts.elbo_against_s(log_s, -np.abs(log_s) * 10, best=(0.0, 0.0), window=15.0))
    assert [r["log10 s"] for r in line] == [-1.0, -0.5, 0.0, 0.5, 1.0]  # the ELBO is -10 |log s|: above -15 here
    assert rule == point == [{"log10 s": 0.0, "ELBO": 0.0}]


def test_a_case_named_twice_is_drawn_once():
    ts = np.linspace(0, 1, 5)
    (rows,) = _layers(charts.max_elbo_curves(ts, {"D = 1": ts, "D = 2": 2 * ts}))
    assert len(rows) == 10 and _values(rows, "case") == ["D = 1", "D = 2"]


def test_the_pixel_curves_keep_their_colours_in_order():
    sigma = np.logspace(0, -8, 9)
    curves = {name: np.zeros(9) for name in ["a", "b", "c", "d"]}
    spec = charts.pixel_curves(sigma, curves, ceiling=3.0).to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domain"] == ["a", "b", "c", "d"] and len(scale["range"]) == 4


# ------------------------------------------------------------------------------------------------ a moved callback
def _random_images(seed: str, clicks: int) -> list[int]:
    at = AppTest.from_file(str(pages.APP), default_timeout=90)
    for name, value in {"dataset": "mnist", "models": "mnist-bernoulli-2d", "seed": seed}.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(pages.page("reconstruct").script).run()
    shown = []
    for _ in range(clicks):
        at.button(key="random_image").click().run()
        assert not at.exception
        shown.append(at.number_input(key="idx").value)
    return shown


def test_random_draws_test_images_from_the_seed(zoo):
    """Test that Reconstruct's Random button (a callback of explorer/views/reconstruct.py) picks test images from
    the sidebar's seed: the same seed repeats the same images in a new session, another seed picks others."""
    images, _ = load_sample("mnist")
    first = _random_images("5", 3)
    assert first == _random_images("5", 3)
    assert all(0 <= i < len(images) for i in first) and first != _random_images("6", 3)


@pytest.mark.parametrize("means", [False, True], ids=["full samples", "decoder means"])
def test_the_overview_chart_sent_unvalidated_is_the_valid_spec(means):
    """charts.quality skips Altair's schema check on the first page: the chart it sends for each dataset of the
    shipped zoo passes the check, and checking changes nothing in it."""
    frame = tables.leaderboard(scan(pages.ROOT / "checkpoints")[0])
    for dataset in sorted(set(frame["dataset"])):
        points = tables.quality_points(frame[frame["dataset"] == dataset], means=means)
        chart = charts.quality_chart(points, height=260, width=470)
        checked = chart.to_dict()  # raises where the spec breaks the Vega-Lite schema
        assert len(points) >= 4 and chart.to_dict(validate=False) == checked
        sent = charts.quality(points, height=260, width=470)
        assert {k: v for k, v in sent.items() if k != "datasets"} == {k: v for k, v in checked.items()
                                                                       if k != "datasets"}
        assert sent["datasets"].keys() == checked["datasets"].keys()



# ------------------------------------------------------------------------------------ charts drawn on the server
def _static_markup(spec: dict, **sizes) -> str:
    """What charts.show_static hands to Streamlit for ``spec``."""
    sent: list[str] = []

    class Where:
        @staticmethod
        def markdown(body: str, unsafe_allow_html: bool = False) -> None:
            assert unsafe_allow_html
            sent.append(body)

    charts.show_static(spec, where=Where, **sizes)
    (body,) = sent
    return body


CURVES = {"epoch": [1, 2, 3, 1, 2, 3], "sigma": [1.0, 0.5, 0.2, 1.0, 0.6, 0.3], "model": list("aaabbb"),
          "statistic": ["mean"] * 6}
STATIC_SIZES = [  # sizes asked -> the SVG's width and height attributes (None: the chart's own)
    ({"width": 700}, (700, None)),
    ({"width": 900, "height": 300}, (900, 300)),
    ({}, (None, None)),
]


@pytest.mark.parametrize(("sizes", "expected"), STATIC_SIZES, ids=[str(s) for s, _ in STATIC_SIZES])
def test_a_static_chart_is_one_line_of_svg_of_the_size_asked_with_its_tooltips_as_titles(sizes, expected):
    """Presenter mode's charts: Vega's own SVG, sent as one line of Markdown (a blank line would end its HTML block),
    at the size asked in all, never wider than its column, each point's tooltip fields as a hover title."""
    spec = charts.curve(pd.DataFrame(CURVES), "sigma", "sigma", ("a", "b"), log=True)
    body = _static_markup(spec, **sizes)
    assert "\n" not in body and body.startswith(f'<div class="{charts.STATIC_CLASS}"')
    svg = re.search(r"<svg [^>]*>", body).group(0)
    assert 'style="max-width:100%;height:auto"' in svg
    for attribute, size in zip(("width", "height"), expected, strict=True):
        if size is not None:
            assert f' {attribute}="{size}"' in svg
    points = {f"epoch: {e}; sigma: {v:g}; model: {m}" for e, v, m in zip(*map(CURVES.get, ("epoch", "sigma", "model")),
                                                                       strict=True)}
    assert set(re.findall(r"<title>([^<]*)</title>", body)) == points  # the lines repeat their first point


def test_a_static_chart_keeps_presenter_type():
    """presenter.chart raises the axes' type, and the picture drawn from it carries those sizes."""
    spec = presenter.chart(charts.curve(pd.DataFrame(CURVES), "sigma", "sigma", ("a", "b")), True)
    sizes = {float(s) for s in re.findall(r'font-size="([\d.]+)px"', _static_markup(spec, width=600))}
    assert sizes and min(sizes) >= presenter.TEXT_PX


@pytest.mark.parametrize("command", ["/bin/false", "/no/such/python"], ids=["exits at once", "cannot be started"])
def test_a_static_chart_falls_back_to_a_vega_chart_when_its_renderer_cannot_start(monkeypatch, command):
    """A renderer that cannot start (a worker command that exits at once, or one that does not exist) leaves the chart
    to the browser, at the height asked, with one sentence saying so: the chart is still shown."""
    shown: list[tuple[str, object]] = []

    class Where:
        @staticmethod
        def caption(body: str) -> None:
            shown.append(("caption", body))

        @staticmethod
        def vega_lite_chart(spec: dict, width: str, height: int) -> None:
            shown.append(("vega", spec))
            assert width == "stretch" and height == 300

    spec = charts.curve(pd.DataFrame(CURVES | {"sigma": [0.9, 0.5, 0.2, 1.0, 0.6, 0.31]}), "sigma", "sigma", ("a", "b"))
    svg_worker.stop()
    monkeypatch.setattr(svg_worker.sys, "executable", command)
    try:
        charts.show_static(spec, width=640, height=300, where=Where)
    finally:
        svg_worker.stop()
    assert [kind for kind, _ in shown] == ["caption", "vega"] and shown[1][1] is spec
    assert shown[0][1].startswith("Drawn in the browser: the chart renderer's process (vl-convert) could not start")


def test_a_static_chart_of_more_marks_than_max_titles_is_a_png_of_its_size():
    """Thousands of SVG elements cost a fresh tab more than one picture: past MAX_TITLES described marks the chart is a
    PNG, PNG_SCALE times the pixels of the SVG it replaces, shown at the SVG's size, without titles."""
    n = charts.MAX_TITLES + 1
    frame = pd.DataFrame({"epoch": np.arange(n), "sigma": np.linspace(1, 2, n), "model": "a", "statistic": "mean"})
    body = _static_markup(charts.curve(frame, "sigma", "sigma", ("a",)), width=600)
    img = re.search(r"<img [^>]*>", body).group(0)
    assert "<svg" not in body and "<title>" not in body and 'style="max-width:100%;height:auto"' in img
    width, height = (float(re.search(rf' {side}="([\d.]+)"', img).group(1)) for side in ("width", "height"))
    png = base64.b64decode(re.search(r'base64,([^"]+)"', img).group(1))
    pixels = struct.unpack(">II", png[16:24])  # the IHDR chunk: width, height
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == 600
    assert all(abs(p - charts.PNG_SCALE * s) <= 1 for p, s in zip(pixels, (width, height), strict=True)), pixels
