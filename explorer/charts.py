"""Every chart of the explorer is built here, with Altair; pages and views pass the numbers and show the result. The
zoo's pages show charts whose inputs repeat from run to run: those are turned into a Vega-Lite spec with its data as
Arrow (``spec``) once per distinct input and cached, because building and validating an Altair chart and turning its
data into Arrow costs tens of milliseconds that a warm rerun should not pay again. The specs are shared read-only
(``st.cache_resource``: ``st.vega_lite_chart`` copies the top level before it changes anything); a view shows one
with ``st.vega_lite_chart``. The lab's charts (the last section) follow its sliders and are shown as they are built
(``show_panel``, through ``st.altair_chart``, which hands the data frames to Arrow without the JSON round trip
``spec`` makes). The Overview's chart, the Story's, presenter mode's and the Reconstruct page's sigma-floor chart are
drawn on the server instead (``show_static``): a picture of the same spec, which a fresh tab shows without loading
Vega's code."""
from __future__ import annotations

import html
import json
import re

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit import dataframe_util
from streamlit.runtime.caching.cache_errors import CacheError
from streamlit.runtime.caching.storage import CacheStorageError

from vae_core.model.config import NETWORK_NAMES

from . import svg_worker
from .tables import GROUPS

# Vega-Embed's options in a spec's usermeta: its marks drawn on one canvas instead of an SVG element each, which a
# fresh tab draws faster where a page has many charts (Decoder sigma: docs/bench_presenter.md, sixth pass); the same
# lines, axes and tooltips. Charts whose SVG text or points tests measure or click stay SVG.
CANVAS = {"embedOptions": {"renderer": "canvas"}}


def spec(chart, validate: bool = True, canvas: bool = False) -> dict:
    """The chart's Vega-Lite dict with its inline datasets already as Arrow bytes (what Streamlit sends).
    ``validate``: Altair checks the dict against the Vega-Lite schema, which does not change it; the Overview's
    chart, on the first page after a server start, leaves that check to the tests (a third of its cost).
    ``canvas``: drawn on a canvas (``CANVAS``)."""
    out = chart.to_dict(validate=validate)
    if canvas:
        out["usermeta"] = CANVAS
    out["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(pd.DataFrame(rows))
                       for name, rows in out.get("datasets", {}).items()}
    return out


def rows(data) -> list[dict]:
    """A chart's inline dataset as rows: Arrow bytes (what ``spec`` makes for Streamlit) or rows already."""
    import pyarrow as pa  # not with this module: the first page after a server start does without it (0.4 s)

    if isinstance(data, (bytes, bytearray)):
        return pa.ipc.open_stream(bytes(data)).read_all().to_pylist()
    return list(data)


def plain_spec(spec: dict) -> dict:
    """A Vega-Lite spec as Streamlit receives it, with every named dataset as a list of rows (JSON-ready)."""
    out = dict(spec)
    if "datasets" in out:
        out["datasets"] = {name: rows(data) for name, data in out["datasets"].items()}
    return out


# Vega's SVG gives each mark its description (the tooltip's fields) as aria-label; a <title> beside it is what a
# browser shows on hover, so the static picture keeps the chart's tooltips. A chart of more marks than MAX_TITLES
# (the Story's posterior heat map: 2,500 cells) is sent as a PNG instead: its titles doubled a fresh tab's elements,
# and its SVG alone was 2,900 of them.
_DESCRIBED = re.compile(r'(<(path|rect|text|line|circle)\b[^>]*?aria-label="([^"]*)"[^>]*?)(/>|>)')
MAX_TITLES = 500
PNG_SCALE = 2  # a PNG chart's pixels per pixel drawn: sharp on a display of device pixel ratio 2


def _picture(spec_json: str) -> str:
    """A Vega-Lite spec (JSON text, data inline) drawn by Vega's own renderer on the server (vl-convert, in a process
    of its own: ``svg_worker``), as HTML: its SVG with every described mark's description as its hover title, or for a
    chart of more than ``MAX_TITLES`` marks a PNG of it (``PNG_SCALE``) in an <img> of the SVG's size."""
    def titled(m: re.Match) -> str:
        body = f"<title>{m.group(3)}</title>"
        return f"{m.group(1)}>{body}</{m.group(2)}>" if m.group(4) == "/>" else f"{m.group(1)}>{body}"

    drawn = svg_worker.draw(spec_json)
    if len(_DESCRIBED.findall(drawn)) <= MAX_TITLES:
        return _DESCRIBED.sub(titled, drawn)
    root = re.search(r"<svg [^>]*>", drawn).group(0)
    width, height = (re.search(rf' {side}="([\d.]+)"', root).group(1) for side in ("width", "height"))
    return (f'<img width="{width}" height="{height}" alt="" '
            f'src="data:image/png;base64,{svg_worker.draw(spec_json, png_scale=PNG_SCALE)}">')


@st.cache_data(max_entries=64, show_spinner=False)
def picture(spec_json: str) -> str:
    """``_picture``, kept in memory."""
    return _picture(spec_json)


def _drawing_version() -> str:
    """What a kept picture depends on besides its spec: vl-convert's version, the picture's settings and the code
    that draws it (this module's ``_picture`` and the renderer's worker)."""
    import hashlib
    import importlib.metadata
    import inspect

    parts = [importlib.metadata.version("vl-convert-python"), str(MAX_TITLES), str(PNG_SCALE),
             inspect.getsource(_picture), inspect.getsource(svg_worker)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


DRAWING_VERSION = _drawing_version()


# The first page after a server start (the Overview) keeps its picture on disk too (~/.streamlit/cache): a restarted
# server then shows it without starting the renderer, whose V8 takes a core for a second while the browser draws
# that page (docs/bench_presenter.md, tenth pass). Its own function, so its cache is not the one ``picture`` keeps
# (Streamlit names a cache by its function's code), and keyed by ``DRAWING_VERSION`` as well as the spec. One file
# per dataset and kind of FD, and one more whenever the zoo or the drawing changes: nothing evicts them but
# ``kept_picture.clear()``.
_keeping = True  # False once the disk cache failed in this process


@st.cache_data(persist="disk", max_entries=16, show_spinner=False)
def kept_picture(spec_json: str, version: str) -> str:
    """``_picture``, kept in memory and on disk; ``version``: ``DRAWING_VERSION``."""
    return _picture(spec_json)


STATIC_CLASS = "static-chart"  # the element that holds a chart drawn on the server


def show_static(spec: dict, width: int | None = None, height: int | None = None, where=st, kept: bool = False
                ) -> None:
    """``spec`` drawn on the server as a picture (``static_markup``: SVG, or PNG past ``MAX_TITLES`` marks),
    ``width`` x ``height`` px in all (its own size where None; a concatenated chart keeps its panels' sizes), never
    wider than its column: the same marks, axes, legend and hover descriptions as ``st.vega_lite_chart``, without the
    Vega code a fresh tab otherwise loads and runs for its first chart (docs/bench_presenter.md, eighth pass). No
    selections: a chart that is clicked stays a Vega chart. Where the renderer fails, the browser draws it after all."""
    try:
        markup = static_markup(spec, width, height, kept)
    except svg_worker.RenderError as error:  # the chart is still shown: drawn in the browser, as on a desk page
        where.caption(f"Drawn in the browser: {error}.")
        where.vega_lite_chart(spec, width="stretch" if width else "content", **({"height": height} if height else {}))
        return
    # st.html's sanitizer keeps no SVG; Markdown's raw HTML does. One line: Markdown ends an HTML block at a blank one.
    where.markdown(markup, unsafe_allow_html=True)


def static_markup(spec: dict, width: int | None = None, height: int | None = None, kept: bool = False) -> str:
    """The one line of HTML ``show_static`` shows: the picture (cached per spec and size: ``picture``, or on disk
    too where ``kept``: ``kept_picture``) in a figure."""
    fixed = plain_spec(spec)
    fixed.pop("usermeta", None)
    sizes = {k: v for k, v in (("width", width), ("height", height)) if v is not None}
    if sizes:
        fixed |= sizes | {"autosize": {"type": "fit", "contains": "padding"}}
    text = json.dumps(fixed, sort_keys=True, default=str)
    global _keeping
    try:
        drawn = kept_picture(text, DRAWING_VERSION) if kept and _keeping else picture(text)
    except (CacheError, CacheStorageError, OSError):  # a cache folder it cannot read or write: kept in memory only,
        _keeping = False                               # from then on (each try would draw the chart again)
        drawn = picture(text)
    drawn = re.sub(r"<(svg|img) ", r'<\1 style="max-width:100%;height:auto" ', drawn, count=1)
    return (f'<div class="{STATIC_CLASS}" role="figure" aria-label="{html.escape(_title(spec))}">'
            f'{drawn}</div>')


def _title(spec: dict) -> str:
    title = spec.get("title")
    return (title.get("text") if isinstance(title, dict) else title) or "chart"


def show_panel(chart, height: int = 340, where=st) -> None:
    """A chart of the lab at full width in ``where`` (the page, a column), with the lab's legend below it, drawn on a
    canvas (``CANVAS``)."""
    where.altair_chart(chart.properties(height=height, usermeta=CANVAS).configure_legend(
        orient="bottom", columns=2, labelLimit=260), width="stretch")


LABEL_FONT = 13                 # px: the point labels of the quality chart
LABEL_CHAR = 0.62 * LABEL_FONT  # px: the width of a label's character, an upper estimate for a sans-serif font
POINT_HALF = 8                  # px: half the side of the box a point (size 160) covers
LABEL_GAP = 10                  # px: between a point and its label
LINE = LABEL_FONT + 3           # px: a label's height with its spacing


def _places() -> dict[str, dict]:
    """Where a label may go, by preference: beside its point, then above or below it, then beside it half a line or more
    up or down (for a cluster of points); each the mark properties of the text layer that draws it there."""
    out = {"right": {"align": "left", "baseline": "middle", "dx": LABEL_GAP, "dy": 0},
           "left": {"align": "right", "baseline": "middle", "dx": -LABEL_GAP, "dy": 0},
           "above": {"align": "center", "baseline": "bottom", "dx": 0, "dy": -LABEL_GAP},
           "below": {"align": "center", "baseline": "top", "dx": 0, "dy": LABEL_GAP}}
    for half_lines in range(1, 9):
        for sign, way in ((-1, "up"), (1, "down")):
            for side, align, dx in (("right", "left", LABEL_GAP), ("left", "right", -LABEL_GAP)):
                out[f"{side} {half_lines / 2:g} {way}"] = {"align": align, "baseline": "middle", "dx": dx,
                                                           "dy": sign * half_lines * LINE / 2}
    return out


PLACES = _places()


def quality_domains(points: pd.DataFrame) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (FD, bits/dim) domains of one panel: the points' range padded, FD on a log scale."""
    fd, bits = points["FD"].to_numpy(float), points["bits/dim"].to_numpy(float)
    span = float(bits.max() - bits.min()) or 1.0
    return (float(fd.min()) / 1.3, float(fd.max()) * 1.3), (float(bits.min()) - 0.15 * span,
                                                            float(bits.max()) + 0.15 * span)


def label_box(x: float, y: float, text: str, place: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in px of a label of ``text`` at ``place`` (PLACES) beside a point at (x, y)."""
    marks, w, h = PLACES[place], LABEL_CHAR * len(text), LABEL_FONT + 2
    left = {"left": 0.0, "right": -w, "center": -w / 2}[marks["align"]] + x + marks["dx"]
    top = {"top": 0.0, "bottom": -h, "middle": -h / 2}[marks["baseline"]] + y + marks["dy"]
    return left, top, left + w, top + h


def overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The area two boxes share, in px²."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def pixels(points: pd.DataFrame, width: int, height: int) -> np.ndarray:
    """(n, 2) positions in px of the points in a panel of ``width`` x ``height`` (the domains of quality_domains)."""
    (x0, x1), (y0, y1) = quality_domains(points)
    x = (np.log(points["FD"].to_numpy(float)) - np.log(x0)) / (np.log(x1) - np.log(x0)) * width
    y = (1 - (points["bits/dim"].to_numpy(float) - y0) / (y1 - y0)) * height
    return np.stack([x, y], axis=1)


def label_places(points: pd.DataFrame, width: int, height: int, passes: int = 6) -> list[str]:
    """A place (PLACES) for each point's label such that labels overlap neither each other, nor the points, nor the
    panel's edge, where the places allow: chosen greedily, then each label moved to its least-overlapping place
    given all the others, ``passes`` times or until nothing moves (ties: the earlier place in PLACES). Greedy
    placement can settle where two labels still touch, so it starts from four orders (the most crowded points top
    to bottom, then bottom to top, left to right, right to left) and keeps the first where no two labels
    touch, else the one that overlaps least."""
    xy = pixels(points, width, height)
    texts = list(points["label"])
    dots = [(x - POINT_HALF, y - POINT_HALF, x + POINT_HALF, y + POINT_HALF) for x, y in xy]
    panel = (0.0, 0.0, float(width), float(height))
    order = list(PLACES)

    def cost(i: int, place: str, boxes: list) -> float:
        box = label_box(*xy[i], texts[i], place)
        outside = (box[2] - box[0]) * (box[3] - box[1]) - overlap(box, panel)
        return (outside + sum(overlap(box, b) for j, b in enumerate(boxes) if j != i and b is not None)
                + sum(overlap(box, d) for j, d in enumerate(dots) if j != i))

    def settle(first: list[int]) -> tuple[float, list[str], list]:
        places, boxes = [""] * len(texts), [None] * len(texts)
        for _ in range(passes + 1):
            moved = False
            for i in first:
                best = min(order, key=lambda p, i=i: (cost(i, p, boxes), order.index(p)))
                moved |= best != places[i]
                places[i], boxes[i] = best, label_box(*xy[i], texts[i], best)
            if not moved:
                break
        return sum(cost(i, places[i], boxes) for i in range(len(texts))), places, boxes

    crowd = [sum(abs(xy[j] - xy[i]).max() < 4 * LINE for j in range(len(texts))) for i in range(len(texts))]
    starts = [sorted(range(len(texts)), key=key) for key in (
        lambda i: (-crowd[i], xy[i][1]), lambda i: (-crowd[i], -xy[i][1]), lambda i: xy[i][0], lambda i: -xy[i][0])]
    tried = []
    for first in starts:
        total, places, boxes = settle(first)
        if not any(overlap(a, b) > 0 for i, a in enumerate(boxes) for b in boxes[i + 1:]):
            return places
        tried.append((total, places))
    return min(tried, key=lambda found: found[0])[1]


@st.cache_resource(max_entries=32, show_spinner=False)
def quality(points: pd.DataFrame, height: int = 340, width: int = 460) -> dict:
    """The spec of ``quality_chart``, unvalidated: tests/test_views.py validates the same chart on the shipped zoo."""
    return spec(quality_chart(points, height, width), validate=False)


def quality_chart(points: pd.DataFrame, height: int = 340, width: int = 460) -> alt.HConcatChart:
    """Bits/dim against the Frechet distance of samples, one panel per comparable group (binarized vs 8-bit, never
    on one axis); hollow points stand at an IWAE bound where a model has no best estimate yet. Each point is
    labelled by its short name, placed where it overlaps no other label (``label_places``). ``height``, ``width``:
    the 8-bit panel's, in px (the binarized one, with few models, is half as wide)."""
    panels = []
    for group, members in points.groupby("group", sort=True):
        panel_width = (width // 2) if group == GROUPS["binary"] else width
        members = members.assign(place=label_places(members, panel_width, height))
        (x0, x1), (y0, y1) = quality_domains(members)
        # the encoding is the panel's, inherited by its layers: each layer holds its filter and mark alone, so
        # Altair copies little when it combines them (a third of the first page's chart time was those copies)
        labels = [alt.Chart().transform_filter(alt.datum.place == place)
                  .mark_text(fontSize=LABEL_FONT, **marks).encode(text=alt.Text(field="label", type="nominal"))
                  for place, marks in PLACES.items() if (members["place"] == place).any()]
        # filled: the best estimate; hollow: only the IWAE bound (explorer.tables.quality_points)
        best = alt.datum.estimate == "best estimate"
        dots = [alt.Chart().transform_filter(best).mark_point(size=160, filled=True, opacity=0.9),
                alt.Chart().transform_filter(~best).mark_point(size=160, filled=False, strokeWidth=2, opacity=0.9)]
        panels.append(alt.layer(*dots, *labels, data=members).encode(
            x=alt.X("FD:Q", scale=alt.Scale(type="log", domain=[x0, x1], nice=False),
                    title="Frechet distance of samples (lower: closer to the data)"),
            y=alt.Y("bits/dim:Q", scale=alt.Scale(domain=[y0, y1], nice=False), axis=alt.Axis(format=".3~f"),
                    title="bits/dim (lower: higher likelihood)"),
            color=alt.Color("decoder:N", legend=alt.Legend(orient="bottom", columns=4)),
            shape=alt.Shape("architecture:N", scale=alt.Scale(domain=list(NETWORK_NAMES.values()),
                                                             range=["circle", "square", "triangle"]),
                            legend=alt.Legend(orient="bottom", title="architecture")),
            tooltip=["model", "decoder", "architecture", "estimate", alt.Tooltip("bits/dim:Q", format=".3f"),
                     alt.Tooltip("FD:Q", format=".1f")],
        ).properties(width=panel_width, height=height, title=str(group)))
    return alt.hconcat(*panels).configure_title(fontSize=14, fontWeight="normal")


@st.cache_resource(max_entries=64, show_spinner=False)
def latent_plane(_xy: np.ndarray, _labels: np.ndarray, _rings: dict, plane_key: tuple, axes: tuple[str, str],
                 classes: tuple[str, ...], path: tuple[tuple[float, float], ...], current: tuple[float, float]
                 ) -> dict:
    """Posterior means ``_xy`` coloured by class (click to pick: selection "pick"), the prior's circles, the
    interpolation path and the decoded point. ``plane_key`` identifies the underscored arrays (model, data, seed).
    """
    ax, ay = axes
    points = pd.DataFrame({ax: _xy[:, 0], ay: _xy[:, 1], "class": np.asarray(classes, dtype=object)[_labels],
                           "index": np.arange(len(_xy))})
    rings = pd.DataFrame(_rings).rename(columns={"x": ax, "y": ay})
    path = pd.DataFrame(path, columns=[ax, ay]).assign(step=range(len(path)))
    current = pd.DataFrame([current], columns=[ax, ay])
    pick = alt.selection_point(name="pick", fields=["index"], on="click")
    enc = {"x": alt.X(f"{ax}:Q", scale=alt.Scale(zero=False)), "y": alt.Y(f"{ay}:Q", scale=alt.Scale(zero=False))}
    chart = alt.layer(
        alt.Chart(rings).mark_line(strokeDash=[5, 4], color="#888").encode(**enc, detail="radius:N", order="order:Q"),
        alt.Chart(points).mark_circle(size=45).encode(
            **enc, color=alt.Color("class:N", sort=list(classes), scale=alt.Scale(scheme="tableau10"),
                                   legend=alt.Legend(orient="right")),
            opacity=alt.condition(pick, alt.value(0.85), alt.value(0.25)),
            tooltip=["index:Q", "class:N", alt.Tooltip(f"{ax}:Q", format=".2f"), alt.Tooltip(f"{ay}:Q", format=".2f")],
        ).add_params(pick),
        alt.Chart(path).mark_line(color="black", strokeWidth=2, point=True).encode(**enc, order="step:Q"),
        alt.Chart(current).mark_point(shape="cross", size=400, color="red", strokeWidth=3, filled=True).encode(**enc),
    ).properties(height=520)
    return spec(chart)


def _models(domain: tuple[str, ...]) -> alt.Color:
    """The same colour for a model in every chart of a page, whichever models a chart leaves out."""
    return alt.Color("model:N", scale=alt.Scale(domain=list(domain), scheme="tableau10"),
                     legend=alt.Legend(orient="bottom", columns=2, labelLimit=400))


@st.cache_resource(max_entries=64, show_spinner=False)
def curve(frame: pd.DataFrame, field: str, title: str, domain: tuple[str, ...], log: bool = False,
          dash: str | None = None, height: int = 280) -> dict:
    """One training curve per model against epoch (``dash``: a column told apart by line style)."""
    enc = {
        "x": alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        "y": alt.Y(f"{field}:Q", title=title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
        "color": _models(domain),
        "tooltip": ["model", "epoch", alt.Tooltip(f"{field}:Q", format=".3g")] + ([dash] if dash else []),
    }
    if dash:
        enc["strokeDash"] = alt.StrokeDash(f"{dash}:N", legend=None)
    return spec(alt.Chart(frame).mark_line(point=True).encode(**enc).properties(height=height), canvas=True)


@st.cache_resource(max_entries=64, show_spinner=False)
def histogram(bars: pd.DataFrame, num_images: int, domain: tuple[str, ...]) -> dict:
    """Fractions of pixels per log10 sigma bin, one step outline per model."""
    return spec(alt.Chart(bars).mark_area(opacity=0.45, interpolate="step-after", line=True).encode(
        x=alt.X("log10 sigma:Q", title="log10 sigma (the decoder's standard deviation per pixel)"),
        y=alt.Y("fraction:Q", stack=None, title=f"fraction of pixels ({num_images} test images)"),
        color=_models(domain),
        tooltip=["model", "log10 sigma", alt.Tooltip("fraction:Q", format=".3f")]).properties(height=300),
        canvas=True)


@st.cache_resource(max_entries=64, show_spinner=False)
def posterior(_view: dict, view_key: tuple, floor: float = 20.0, radii: tuple[float, ...] = (1.0, 2.0)) -> dict:
    """The true posterior p(z|x) as a heat map (log density relative to its peak, cells within ``floor`` nats of
    it) under the ellipses of q(z|x) at ``radii`` standard deviations, q's mean and the posterior's peak.
    ``view_key`` identifies the underscored view (model, image, seed)."""
    z1, z2, log_density = _view["z1"], _view["z2"], _view["log_density"]  # (n1,), (n2,), (n1, n2)
    rel = log_density - log_density.max()
    d1, d2 = (z1[1] - z1[0]) / 2, (z2[1] - z2[0]) / 2
    i, j = np.nonzero(rel >= -floor)
    cells = pd.DataFrame({"z1": z1[i] - d1, "z1 end": z1[i] + d1, "z2": z2[j] - d2, "z2 end": z2[j] + d2,
                          "log p(z|x) - peak": rel[i, j]})
    mu, sd = _view["q_mean"], _view["q_std"]
    t = np.linspace(0, 2 * np.pi, 121)
    rings = pd.concat([pd.DataFrame({"z1": mu[0] + r * sd[0] * np.cos(t), "z2": mu[1] + r * sd[1] * np.sin(t),
                                     "order": np.arange(len(t)), "q(z|x)": f"{r:g} sd"}) for r in radii])
    marks = pd.DataFrame({"z1": [mu[0], _view["mode"][0]], "z2": [mu[1], _view["mode"][1]],
                          "point": ["q's mean", "p(z|x)'s peak"]})
    lo1 = min(cells["z1"].min(), rings["z1"].min())
    hi1 = max(cells["z1 end"].max(), rings["z1"].max())
    lo2 = min(cells["z2"].min(), rings["z2"].min())
    hi2 = max(cells["z2 end"].max(), rings["z2"].max())
    pad1, pad2 = 0.05 * (hi1 - lo1), 0.05 * (hi2 - lo2)
    x = alt.X("z1:Q", title="z1", scale=alt.Scale(domain=[lo1 - pad1, hi1 + pad1], nice=False, zero=False))
    y = alt.Y("z2:Q", title="z2", scale=alt.Scale(domain=[lo2 - pad2, hi2 + pad2], nice=False, zero=False))
    chart = alt.layer(
        alt.Chart(cells).mark_rect().encode(
            x=x, x2="z1 end:Q", y=y, y2="z2 end:Q",
            color=alt.Color("log p(z|x) - peak:Q", scale=alt.Scale(scheme="viridis", domain=[-floor, 0]),
                            legend=alt.Legend(title="log p(z|x) - peak", orient="right")),
            tooltip=[alt.Tooltip("z1:Q", format=".3f"), alt.Tooltip("z2:Q", format=".3f"),
                     alt.Tooltip("log p(z|x) - peak:Q", format=".2f")]),
        alt.Chart(rings).mark_line(color="#e4572e", strokeWidth=2).encode(
            x=x, y=y, order="order:Q", strokeDash=alt.StrokeDash("q(z|x):N", legend=alt.Legend(orient="bottom"))),
        alt.Chart(marks).mark_point(filled=True, size=160, strokeWidth=2).encode(
            x=x, y=y, shape=alt.Shape("point:N", legend=alt.Legend(orient="bottom", title=None)),
            color=alt.value("#e4572e")),
    ).properties(height=460)
    return spec(chart)


@st.cache_resource(max_entries=64, show_spinner=False)
def run_curve(frame: pd.DataFrame, x: str, field: str, title: str, domain: tuple[str, ...], scale: str = "linear",
              height: int = 260, canvas: bool = False) -> dict:
    """One line per model of ``field`` against ``x`` (epoch or step); ``scale``: linear, log, or symlog (a loss
    or ELBO that swings across orders of magnitude and signs); ``canvas``: drawn on a canvas (the Story's stay SVG:
    the presenter tests measure their axes' type)."""
    y_scale = alt.Scale(type=scale) if scale != "linear" else alt.Scale(zero=False)
    return spec(alt.Chart(frame).mark_line(point=x == "epoch").encode(
        x=alt.X(f"{x}:Q", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y(f"{field}:Q", title=title, scale=y_scale),
        color=_models(domain),
        tooltip=["model", "epoch", *(["step"] if x == "step" else []), alt.Tooltip(f"{field}:Q", format=".3g")],
    ).properties(height=height), canvas=canvas)


@st.cache_resource(max_entries=64, show_spinner=False)
def floor_curves(frame: pd.DataFrame, order: tuple[str, ...], current: str) -> dict:
    """log p(x|z) against the sigma floor (the Reconstruct page's instrument), one line per model; ``order``: the
    floors' labels from left to right, ``current``: the slider's, marked by a rule."""
    x = alt.X("floor:O", sort=list(order), title="sigma floor", axis=alt.Axis(labelAngle=0))
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=x, y=alt.Y("log p(x|z):Q", title="log p(x|z), nats"),
        color=alt.Color("model:N", legend=alt.Legend(orient="bottom", labelLimit=400)),
        tooltip=["model", "floor", alt.Tooltip("log p(x|z):Q", format=",.1f"), alt.Tooltip("ELBO:Q", format=",.1f")])
    rule = alt.Chart(pd.DataFrame({"floor": [current]})).mark_rule(strokeDash=[4, 3], color="#555").encode(x=x)
    return spec(alt.layer(lines, rule).properties(height=240))


# The Likelihood lab (explorer/lab/): charts over the lab's exact maths, rebuilt as its sliders move and shown with
# ``show_panel``. Each takes the numbers its tab computed and only lays them out.


def mixture_1d(x: np.ndarray, grid: np.ndarray, parts: np.ndarray, spike: tuple[int, float] | None = None
               ) -> alt.Chart:
    """A histogram of 1-D data ``x`` (N,) under each component's weighted density ``parts`` (G, K) on ``grid`` (G,)
    and their sum, the mixture. ``spike`` = (component, point): that component is a spike on the point, drawn as a
    red rule, since no grid resolves it, and left out of the curves and their sum."""
    comp = [f"component {k}" for k in range(parts.shape[1])]
    hist, edges = np.histogram(x, bins=40, density=True)
    bins = pd.DataFrame({"left": edges[:-1], "right": edges[1:], "density": hist, "zero": 0.0})
    bars = alt.Chart(bins).mark_rect(color="#cccccc").encode(
        x=alt.X("left:Q", title="x"), x2=alt.X2("right:Q"), y=alt.Y("density:Q", title="density"),
        y2=alt.Y2("zero:Q"))
    if spike is not None:
        parts = parts.copy()
        parts[:, spike[0]] = 0.0
    df = pd.DataFrame({"x": np.tile(grid, len(comp) + 1),
                       "density": np.concatenate([parts.T.ravel(), parts.sum(1)]),
                       "curve": np.repeat(comp + ["mixture"], len(grid))})
    if spike is not None:
        df = df[df["curve"] != comp[spike[0]]]
    ymax = 1.3 * float(max(hist.max(), parts.sum(1).max()))
    lines = alt.Chart(df).mark_line().encode(
        x=alt.X("x:Q"), y=alt.Y("density:Q", scale=alt.Scale(domain=[0, ymax], clamp=True)),
        color=alt.Color("curve:N"))
    chart = bars + lines
    if spike is not None:
        chart += alt.Chart(pd.DataFrame({"x": [spike[1]]})).mark_rule(color="red", size=2).encode(x=alt.X("x:Q"))
    return chart


def mixture_2d(x: np.ndarray, ellipses: dict[int, np.ndarray], spike: np.ndarray | None = None) -> alt.Chart:
    """2-D data ``x`` (N, 2) as grey points under each component's 2-sigma ellipse (component -> (n, 2) outline);
    ``spike`` (2,): the point a collapsed component sits on, a red cross."""
    pts = alt.Chart(pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})).mark_circle(
        size=12, color="#999999").encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"))
    rows = [pd.DataFrame({"x1": e[:, 0], "x2": e[:, 1], "order": np.arange(len(e)), "curve": f"component {k}"})
            for k, e in ellipses.items()]
    chart = pts
    if rows:
        chart += alt.Chart(pd.concat(rows)).mark_line().encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"),
                                                               order=alt.Order("order:Q"),
                                                               color=alt.Color("curve:N"))
    if spike is not None:
        chart += alt.Chart(pd.DataFrame({"x1": [spike[0]], "x2": [spike[1]]})).mark_point(
            shape="cross", size=300, color="red", filled=True).encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"))
    return chart


def em_log_likelihood(lls: np.ndarray) -> alt.Chart:
    """The log-likelihood per point after each EM step ``lls`` (steps + 1,); points while they can be told apart."""
    df = pd.DataFrame({"EM step": np.arange(len(lls)), "log-likelihood": lls})
    return alt.Chart(df).mark_line(point=len(lls) < 60).encode(
        x=alt.X("EM step:Q"), y=alt.Y("log-likelihood:Q", scale=alt.Scale(zero=False)))


def singularity_path(sigmas: np.ndarray, path: np.ndarray, at: int, fitted: float) -> alt.Chart:
    """The log-likelihood ``path`` (S,) as the pinned component's sigma shrinks through ``sigmas`` (S,), the slider's
    sigma (index ``at``) in red and EM's fit ``fitted`` as a dashed level."""
    df = pd.DataFrame({"log10 sigma": np.log10(sigmas), "log-likelihood": path})
    base = alt.Chart(df).mark_line().encode(
        x=alt.X("log10 sigma:Q", scale=alt.Scale(reverse=True), title="log10 sigma (shrinking ->)"),
        y=alt.Y("log-likelihood:Q", scale=alt.Scale(zero=False), title="log-likelihood (sum, nats)"))
    here = alt.Chart(df.iloc[[at]]).mark_point(color="red", size=120, filled=True).encode(
        x=alt.X("log10 sigma:Q"), y=alt.Y("log-likelihood:Q"))
    level = alt.Chart(pd.DataFrame({"y": [fitted]})).mark_rule(
        strokeDash=[4, 4], color="gray").encode(y=alt.Y("y:Q"))
    return base + here + level


def eigenvalues(eigvals: np.ndarray, q: int, sigma2: float, top: int = 120) -> alt.Chart:
    """The first ``top`` of the descending ``eigvals`` on a log scale, coloured by what pPCA with ``q`` latents and
    decoder variance ``sigma2`` makes of each direction; ``sigma2`` dashed."""
    top = min(top, len(eigvals))
    kind = np.where(eigvals[:top] <= sigma2, "collapsed: lambda <= sigma^2",
                    np.where(np.arange(top) < q, "survives", "beyond q latents"))
    df = pd.DataFrame({"index": np.arange(1, top + 1), "eigenvalue": eigvals[:top], "direction": kind})
    colours = alt.Scale(domain=["survives", "beyond q latents", "collapsed: lambda <= sigma^2"],
                        range=["#1f77b4", "#ff7f0e", "#bbbbbb"])
    return (alt.Chart(df).mark_circle(size=30).encode(
        x=alt.X("index:Q"), y=alt.Y("eigenvalue:Q", scale=alt.Scale(type="log")),
        color=alt.Color("direction:N", scale=colours))
        + alt.Chart(pd.DataFrame({"y": [sigma2]})).mark_rule(strokeDash=[4, 4]).encode(y=alt.Y("y:Q")))


def gaps_to_maximum(steps: np.ndarray, gaps: dict[str, np.ndarray]) -> alt.Chart:
    """Distances to the exact maximum log-likelihood (name -> (T,) over the iterations ``steps``), log scale; a gap
    below 1e-12 is drawn at 1e-12."""
    gap = pd.DataFrame({
        "L-BFGS iteration": np.tile(steps, len(gaps)),
        "gap": np.concatenate(list(gaps.values())).clip(1e-12, None),
        "curve": np.repeat(list(gaps), len(steps))})
    return alt.Chart(gap).mark_line().encode(
        x=alt.X("L-BFGS iteration:Q"), y=alt.Y("gap:Q", scale=alt.Scale(type="log")), color=alt.Color("curve:N"))


def kl_per_latent(kls: dict[str, np.ndarray]) -> alt.Chart:
    """Each latent's KL to the prior, one line per source (name -> (q,) values, largest first)."""
    q = len(next(iter(kls.values())))
    df = pd.DataFrame({"latent (sorted)": np.tile(np.arange(1, q + 1), len(kls)),
                       "KL (nats)": np.concatenate(list(kls.values())),
                       "source": np.repeat(list(kls), q)})
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("latent (sorted):Q"), y=alt.Y("KL (nats):Q"), color=alt.Color("source:N"),
        strokeDash=alt.StrokeDash("source:N"))


def elbo_map(grid: pd.DataFrame, ridge: tuple[np.ndarray, np.ndarray], here: tuple[float, float]) -> alt.Chart:
    """The one-datapoint ELBO over (log10 s, log10 tau) as cells (``grid``: s0, s1, t0, t1, ELBO - max), the best s
    at each tau (``ridge``: log10 s, log10 tau arrays) in white and the sliders' point ``here`` in red."""
    heat = alt.Chart(grid).mark_rect().encode(
        x=alt.X("s0:Q", title="log10 s", scale=alt.Scale(domain=[-3, 1], nice=False)), x2=alt.X2("s1:Q"),
        y=alt.Y("t0:Q", title="log10 tau", scale=alt.Scale(domain=[-2, 6], nice=False)), y2=alt.Y2("t1:Q"),
        color=alt.Color("ELBO - max:Q", scale=alt.Scale(scheme="viridis")))
    line = pd.DataFrame({"log10 s": ridge[0], "log10 tau": ridge[1]})
    line = line[line["log10 s"] >= -3.0]  # the map's left edge
    point = pd.DataFrame({"log10 s": [here[0]], "log10 tau": [here[1]]})
    return (heat + alt.Chart(line).mark_line(color="white").encode(x=alt.X("log10 s:Q"), y=alt.Y("log10 tau:Q"))
            + alt.Chart(point).mark_point(color="red", size=100, filled=True).encode(x=alt.X("log10 s:Q"),
                                                                                    y=alt.Y("log10 tau:Q")))


def elbo_against_s(log_s: np.ndarray, elbo: np.ndarray, best: tuple[float, float], window: float = 15.0
                   ) -> alt.Chart:
    """The ELBO (S,) against ``log_s`` (S,) within ``window`` nats of its maximum ``best`` = (log10 s*, ELBO*),
    which is marked in red."""
    df = pd.DataFrame({"log10 s": log_s, "ELBO": elbo})
    top = pd.DataFrame({"log10 s": [best[0]], "ELBO": [best[1]]})
    df = df[df["ELBO"] > top["ELBO"][0] - window]
    line = alt.Chart(df).mark_line().encode(x=alt.X("log10 s:Q"), y=alt.Y("ELBO:Q", scale=alt.Scale(zero=False)))
    return (line + alt.Chart(top).mark_rule(color="red").encode(x=alt.X("log10 s:Q"))
            + alt.Chart(top).mark_point(color="red", size=100, filled=True).encode(x=alt.X("log10 s:Q"),
                                                                                  y=alt.Y("ELBO:Q")))


def max_elbo_curves(log_tau: np.ndarray, curves: dict[str, np.ndarray]) -> alt.Chart:
    """The ELBO's maximum over s against ``log_tau`` (T,), one line per case (name -> (T,); a repeated case once)."""
    df = pd.concat([pd.DataFrame({"log10 tau": log_tau, "max ELBO": v, "case": k}) for k, v in curves.items()])
    return alt.Chart(df.drop_duplicates(["case", "log10 tau"])).mark_line().encode(
        x=alt.X("log10 tau:Q"), y=alt.Y("max ELBO:Q"), color=alt.Color("case:N"))


def pixel_curves(sigma: np.ndarray, curves: dict[str, np.ndarray], ceiling: float) -> alt.Chart:
    """One pixel's log-likelihoods (name -> (S,), at most four, coloured blue, red, green, grey in that order)
    against the decoder's ``sigma`` (S,), shrinking to the right; dashed: 0 and the floor's ``ceiling``."""
    df = pd.concat([pd.DataFrame({"sigma": sigma, "nats": values, "curve": name}) for name, values in curves.items()])
    colours = alt.Scale(domain=list(curves), range=["#1f77b4", "#d62728", "#2ca02c", "#aaaaaa"])
    chart = alt.Chart(df).mark_line().encode(
        x=alt.X("sigma:Q", scale=alt.Scale(type="log", reverse=True), title="decoder sigma (shrinking ->)",
                axis=alt.Axis(grid=False, format=".0e")),
        y=alt.Y("nats:Q", title="log-likelihood of the pixel (nats)"),
        color=alt.Color("curve:N", scale=colours))
    rules = alt.Chart(pd.DataFrame({"y": [0.0, ceiling], "line": ["0 = log 1", "ceiling of the floor"]})).mark_rule(
        strokeDash=[4, 4]).encode(y=alt.Y("y:Q"), color=alt.value("gray"))
    return chart + rules
