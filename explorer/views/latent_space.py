"""The Latent space page's sections (app_pages/latent.py) over one model's latent space: the plane of posterior
means with the prior's circles, the decoded point, one slider per dimension, and an interpolation between two test
images. The decoded z lives in session_state (``Z``), so a click, a typed point and the sliders all move it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.compute import latent
from explorer.compute.images import log_scale
from vae_core.base.data import dataset_info
from vae_core.model.vae import VAE
from vae_core.zoo.checkpoints import Checkpoint

from .. import cache, charts, context, links, posterior, render

Z, ORIGIN, FOR, PICKED = "lat_z", "lat_origin", "lat_for", "lat_pick"  # session_state: the decoded z and its story
SLIDER = "zd{}"  # the slider of dimension j
CHART = "latent_chart"  # the plane's chart: its selection holds the last clicked point


@dataclass
class Space:
    """One model's latent space on its dataset's embedded test sample."""
    ckpt: Checkpoint
    model: VAE
    key: tuple
    dataset: str
    seed: int
    images: np.ndarray               # (N, 28, 28) uint8
    labels: np.ndarray               # (N,)
    classes: list[str]
    means: np.ndarray                # (N, L) posterior means
    proj: latent.Projection          # the plane shown: exact for L = 2, principal axes otherwise
    xy: np.ndarray                   # (N, 2) the means in that plane

    @property
    def dim(self) -> int:
        return self.ckpt.config.latent_dim


@dataclass
class Path:
    """An interpolation between test images ``a`` and ``b``."""
    a: int
    b: int
    z: np.ndarray                    # (steps, L)
    xy: np.ndarray                   # (steps, 2) in the plane


def open_space(ctx: context.Context, models: list[Checkpoint]) -> Space:
    """The model chooser, then that model's space; the decoded z starts at the current test image's mean."""
    by_name = {c.name: c for c in models}
    links.choice("latent_model", list(by_name))
    name = st.selectbox("Model", list(by_name), key="latent_model", bind="query-params")
    [(ckpt, model)] = context.load_models(ctx, [by_name.get(name, models[0])])
    key = ctx.key(ckpt)
    images, labels = cache.sample_set(ctx.dataset)
    posterior.check_links(len(images))
    proj, xy = cache.plane(model, key, ctx.dataset, ctx.seed)
    space = Space(ckpt, model, key, ctx.dataset, ctx.seed, images, labels, dataset_info(ctx.dataset).classes,
                  cache.encode_means(model, key, ctx.dataset, ctx.seed), proj, xy)
    if st.session_state.get(FOR) != key or len(st.session_state.get(Z, [])) != space.dim:
        st.session_state[FOR] = key
        st.session_state.pop(PICKED, None)
        start = _current_image(space)
        set_z(space.means[start], f"test image #{start}")
    return space


def _current_image(space: Space) -> int:
    """The Reconstruct page's test image, where the visitor has been."""
    return int(st.session_state.get("idx", 0)) % len(space.images)


def set_z(z: np.ndarray, origin: str) -> None:
    """Make z the decoded point and move the sliders to it (only before the sliders are drawn)."""
    st.session_state[Z] = np.asarray(z, np.float64)
    st.session_state[ORIGIN] = origin
    for j in range(len(z)):
        st.session_state[SLIDER.format(j)] = float(np.clip(z[j], -4.0, 4.0))


def _from_sliders(dim: int) -> None:
    st.session_state[Z] = np.array([st.session_state[SLIDER.format(j)] for j in range(dim)])
    st.session_state[ORIGIN] = "the sliders"


def _from_typed_point(proj: latent.Projection) -> None:
    x, y = st.session_state["plane_x"], st.session_state["plane_y"]
    set_z(latent.lift(proj, [x, y]), f"the typed point ({x:.2f}, {y:.2f})")


def interpolation_controls(space: Space) -> Path:
    """From and to which test images, how many steps, linear or slerp."""
    st.subheader("Interpolation")
    start = _current_image(space)
    other = int(np.flatnonzero(space.labels != space.labels[start])[0])
    last = len(space.images) - 1
    c1, c2, c3, c4 = st.columns(4)
    a = c1.number_input("From test image #", 0, last, start, key="interp_a")
    b = c2.number_input("To test image #", 0, last, other, key="interp_b")
    steps = c3.slider("Steps", 3, 16, 10, key="interp_steps")
    method = c4.radio("Path", ["linear", "slerp"], horizontal=True, key="interp_method",
                      help="slerp follows a great circle, keeping |z| typical of the prior (White 2016)")
    path_z = latent.interpolate(space.means[a], space.means[b], steps, method)  # (steps, L)
    return Path(a, b, path_z, latent.project(space.proj, path_z))


def _follow_pick(space: Space) -> None:
    """A point clicked in the last run becomes the decoded z before anything is drawn, so the red cross, the decoded
    panel and the sliders all show it in this run."""
    event = st.session_state.get(CHART) or {}
    picked = (event.get("selection") or {}).get("pick") or []
    if picked and "index" in picked[0] and picked[0]["index"] != st.session_state.get(PICKED):
        i = int(picked[0]["index"])
        st.session_state[PICKED] = i
        set_z(space.means[i], f"test image #{i} ({space.classes[space.labels[i]]})")
        if space.proj.exact:
            posterior.pick(i)


def plane(space: Space, path: Path) -> None:
    """The posterior means in the plane, coloured by class; a click decodes that image's mean."""
    proj, dim = space.proj, space.dim
    _follow_pick(space)
    current = tuple(latent.project(proj, st.session_state[Z][None])[0].round(6))
    spec = charts.latent_plane(space.xy, space.labels, latent.prior_contours(proj),
                               (space.key, space.dataset, space.seed), proj.axis_names, tuple(space.classes),
                               tuple(map(tuple, path.xy.round(6))), current)
    st.vega_lite_chart(spec, on_select="rerun", selection_mode="pick", key=CHART, width="stretch")
    if proj.exact:
        st.caption("The exact latent plane. Dashed circles: the prior N(0, I) at 1, 2 and 3 standard deviations. "
                   "Click a point to decode it; the red cross is the decoded z, the black line the interpolation.")
    else:
        st.caption(f"A {dim}-D latent projected on the top two principal axes of the posterior means "
                   f"({proj.explained[0]:.0%} and {proj.explained[1]:.0%} of their variance). The prior N(0, I) "
                   f"projected on any such plane is again a standard normal, so the dashed circles are its 1, 2 "
                   f"and 3 sd contours in the plane; they say nothing about the other {dim - 2} directions. "
                   f"Click a point to decode that image's full posterior mean.")


def decoded_point(space: Space) -> None:
    """A point typed in the plane, and what the decoder makes of the current z."""
    ax, ay = space.proj.axis_names
    st.markdown("**Or type a point of the plane**")
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    here = latent.project(space.proj, st.session_state[Z][None])[0]
    c1.number_input(ax, value=round(float(here[0]), 2), step=0.1, format="%.2f", key="plane_x")
    c2.number_input(ay, value=round(float(here[1]), 2), step=0.1, format="%.2f", key="plane_y")
    c3.button("Decode", key="plane_decode", on_click=_from_typed_point, args=(space.proj,),
              icon=":material/center_focus_strong:")
    z = st.session_state[Z]
    out = cache.decode(space.model, space.key, z[None], space.seed)
    st.markdown(f"**Decoded z** from {st.session_state[ORIGIN]}")
    d1, d2, d3 = st.columns(3)
    d1.image(render.picture(out["mean"][0]), caption="decoder mean")
    d2.image(render.picture(out["sample"][0]), caption="one sample")
    if out["sigma"] is None:
        render.not_applicable(d3, render.no_sigma_text(space.ckpt))
    else:
        s = out["sigma"][0]
        scale = log_scale([s])
        d3.image(render.colored(s, scale), caption=f"sigma: {s.min():.1e} to {s.max():.2f}")
        render.show_colorbar(d3, scale, "sigma")
    st.caption(f"|z| = {np.linalg.norm(z):.2f} (a prior draw has |z| near {np.sqrt(space.dim):.1f})")
    if space.proj.exact:
        grid = cache.decode(space.model, space.key, latent.plane_grid(3.0, 12), space.seed)["mean"]
        st.image(render.grid(grid, ncols=12, scale=1), width=420,
                 caption="The decoded plane: decoder means on a grid over [-3, 3]² (z2 up)")


def sliders(space: Space) -> None:
    st.subheader(f"One slider per latent dimension ({space.dim})")
    cols = st.columns(min(space.dim, 8))
    for j in range(space.dim):
        cols[j % len(cols)].slider(f"z{j + 1}", -4.0, 4.0, step=0.05, key=SLIDER.format(j), on_change=_from_sliders,
                                   args=(space.dim,))


def interpolation_strip(space: Space, path: Path) -> None:
    """The two ends, and the decoder means and full samples along the path."""
    out = cache.decode(space.model, space.key, path.z, space.seed)
    steps = len(path.z)
    c1, c2 = st.columns([1, 8])
    for i in (path.a, path.b):
        c1.image(render.picture(space.images[i], 3), caption=f"#{i}: {space.classes[space.labels[i]]}")
    c2.image(render.grid(out["mean"], ncols=steps, scale=3), caption="decoder means along the path", width="stretch")
    c2.image(render.grid(out["sample"], ncols=steps, scale=3), width="stretch", caption="full samples along the path")
