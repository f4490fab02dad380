"""Every chart of the explorer as a Vega-Lite spec, built with Altair once per distinct input and cached: building
and validating an Altair chart, and turning its data into Arrow, costs tens of milliseconds that a warm rerun
should not pay again. The specs are shared read-only (``st.cache_resource``: ``st.vega_lite_chart`` copies the
top level before it changes anything); pages show them with ``st.vega_lite_chart``."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit import dataframe_util


def _spec(chart) -> dict:
    """The chart's Vega-Lite dict with its inline datasets already as Arrow bytes (what Streamlit sends)."""
    spec = chart.to_dict()
    spec["datasets"] = {name: dataframe_util.convert_anything_to_arrow_bytes(pd.DataFrame(rows))
                        for name, rows in spec.get("datasets", {}).items()}
    return spec


@st.cache_resource(max_entries=32, show_spinner=False)
def quality(points: pd.DataFrame) -> dict:
    """Bits/dim against the Frechet distance of samples, one panel per comparable group (binarized vs 8-bit)."""
    base = alt.Chart(points).encode(
        x=alt.X("FD:Q", scale=alt.Scale(type="log", zero=False),
                title="Frechet distance of samples (lower: closer to the data)"),
        y=alt.Y("bits/dim:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~f"),
                title="bits/dim (lower: higher likelihood)"),
        color=alt.Color("decoder:N", legend=alt.Legend(orient="bottom", columns=4)),
        tooltip=["model", "decoder", alt.Tooltip("bits/dim:Q", format=".3f"), alt.Tooltip("FD:Q", format=".1f")],
    )
    layered = alt.layer(base.mark_circle(size=160, opacity=0.9),
                        base.mark_text(align="left", dx=9, fontSize=13).encode(text="decoder:N"))
    return _spec(layered.properties(width=460, height=340)
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
    return _spec(chart)


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
    return _spec(alt.Chart(frame).mark_line(point=True).encode(**enc).properties(height=height))


@st.cache_resource(max_entries=64, show_spinner=False)
def histogram(bars: pd.DataFrame, num_images: int, domain: tuple[str, ...]) -> dict:
    """Fractions of pixels per log10 sigma bin, one step outline per model."""
    return _spec(alt.Chart(bars).mark_area(opacity=0.45, interpolate="step-after", line=True).encode(
        x=alt.X("log10 sigma:Q", title="log10 sigma (the decoder's standard deviation per pixel)"),
        y=alt.Y("fraction:Q", stack=None, title=f"fraction of pixels ({num_images} test images)"),
        color=_models(domain),
        tooltip=["model", "log10 sigma", alt.Tooltip("fraction:Q", format=".3f")]).properties(height=300))
