"""Every chart of the explorer goes through here, built with Altair. The zoo's pages show charts whose inputs repeat
from run to run: those are turned into a Vega-Lite spec with its data as Arrow (``spec``) once per distinct input
and cached, because building and validating an Altair chart and turning its data into Arrow costs tens of
milliseconds that a warm rerun should not pay again. The specs are shared read-only (``st.cache_resource``:
``st.vega_lite_chart`` copies the top level before it changes anything). The lab's charts follow its sliders and
are shown as they are built (``show_panel``, through ``st.altair_chart``, which hands the data frames to Arrow
without the JSON round trip ``spec`` makes)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit import dataframe_util


def spec(chart) -> dict:
    """The chart's Vega-Lite dict with its inline datasets already as Arrow bytes (what Streamlit sends)."""
    out = chart.to_dict()
    out["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(pd.DataFrame(rows))
                       for name, rows in out.get("datasets", {}).items()}
    return out


def show_panel(chart, height: int = 340, where=st) -> None:
    """A chart of the lab at full width in ``where`` (the page, a column), with the lab's legend below it."""
    where.altair_chart(chart.properties(height=height).configure_legend(orient="bottom", columns=2, labelLimit=260),
                       width="stretch")


@st.cache_resource(max_entries=32, show_spinner=False)
def quality(points: pd.DataFrame, height: int = 340, width: int = 460) -> dict:
    """Bits/dim against the Frechet distance of samples, one panel per comparable group (binarized vs 8-bit);
    hollow points stand at an IWAE bound where a model has no best estimate yet. ``height``, ``width``: one panel's,
    in px."""
    base = alt.Chart(points).encode(
        x=alt.X("FD:Q", scale=alt.Scale(type="log", zero=False),
                title="Frechet distance of samples (lower: closer to the data)"),
        y=alt.Y("bits/dim:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~f"),
                title="bits/dim (lower: higher likelihood)"),
        color=alt.Color("decoder:N", legend=alt.Legend(orient="bottom", columns=4)),
        shape=alt.Shape("architecture:N", scale=alt.Scale(domain=["mlp", "conv"], range=["circle", "square"]),
                        legend=alt.Legend(orient="bottom", title="architecture")),
        tooltip=["model", "decoder", "architecture", "estimate", alt.Tooltip("bits/dim:Q", format=".3f"),
                 alt.Tooltip("FD:Q", format=".1f")],
    )
    # filled: the best estimate; hollow: only the IWAE bound (explorer.tables.quality_points)
    fill = alt.condition(alt.datum.estimate == "best estimate", alt.value(0.9), alt.value(0.0))
    layered = alt.layer(base.mark_point(size=160, filled=True, strokeWidth=2, opacity=0.9).encode(fillOpacity=fill),
                        base.mark_text(align="left", dx=9, fontSize=13).encode(text="decoder:N"))
    return spec(layered.properties(width=width, height=height)
                 .facet(column=alt.Column("group:N", title=None, header=alt.Header(labelFontSize=14)))
                 .resolve_scale(x="independent", y="independent"))


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
    return spec(alt.Chart(frame).mark_line(point=True).encode(**enc).properties(height=height))


@st.cache_resource(max_entries=64, show_spinner=False)
def histogram(bars: pd.DataFrame, num_images: int, domain: tuple[str, ...]) -> dict:
    """Fractions of pixels per log10 sigma bin, one step outline per model."""
    return spec(alt.Chart(bars).mark_area(opacity=0.45, interpolate="step-after", line=True).encode(
        x=alt.X("log10 sigma:Q", title="log10 sigma (the decoder's standard deviation per pixel)"),
        y=alt.Y("fraction:Q", stack=None, title=f"fraction of pixels ({num_images} test images)"),
        color=_models(domain),
        tooltip=["model", "log10 sigma", alt.Tooltip("fraction:Q", format=".3f")]).properties(height=300))


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
              height: int = 260) -> dict:
    """One line per model of ``field`` against ``x`` (epoch or step); ``scale``: linear, log, or symlog (a loss
    or ELBO that swings across orders of magnitude and signs)."""
    y_scale = alt.Scale(type=scale) if scale != "linear" else alt.Scale(zero=False)
    return spec(alt.Chart(frame).mark_line(point=x == "epoch").encode(
        x=alt.X(f"{x}:Q", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y(f"{field}:Q", title=title, scale=y_scale),
        color=_models(domain),
        tooltip=["model", "epoch", *(["step"] if x == "step" else []), alt.Tooltip(f"{field}:Q", format=".3g")],
    ).properties(height=height))


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
