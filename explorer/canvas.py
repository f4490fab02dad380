"""Draw your own input: a canvas (streamlit-drawable-canvas, a Streamlit components-v2 component) whose picture
goes through the upload pipeline to a 28x28 image for every chosen model, and what each likelihood says about it.
The preparation is in ``explorer.compute.drawing``; this module only shows it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.compute.drawing import prepare_drawing
from explorer.compute.posterior_view import iwae_for_image
from explorer.compute.uploads import UploadError
from vae_core.base.data import is_bounded
from vae_core.evaluation.metrics import bits_per_dim
from vae_core.model.vae import VAE
from vae_core.zoo.checkpoints import Checkpoint

from . import cache, claims, render

CANVAS_KEY, BRUSH_KEY, FIT_KEY = "draw_canvas", "draw_brush", "draw_fit"
CANVAS_BOX = "draw_canvas_box"  # the container the canvas is drawn in
TOOLBAR_ROOM = "3.2rem"  # above the canvas: the drawing toolbar shows there on hover
SIDE = claims.CANVAS_SIDE  # canvas pixels: ten per pixel of the 28x28 input
FITS = ["mnist", "stretch"]
IWAE_K = 100


def _canvas(brush: int):
    """The canvas's result, or a plain message and a stop when the component is not installed."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.error("Drawing needs the package streamlit-drawable-canvas: `pip install -r requirements.txt`.",
                 icon=":material/extension_off:")
        st.stop()
    return st_canvas(stroke_width=brush, stroke_color="#FFFFFF", background_color="#000000", width=SIDE,
                     height=SIDE, drawing_mode="freedraw", return_image_data=True, key=CANVAS_KEY)


def draw_input() -> tuple[np.ndarray, str]:
    """The canvas and its controls; returns the prepared uint8 (28, 28) image and a caption, or stops the page
    with a plain message when what the canvas sent is not a picture."""
    left, right = st.columns([1, 1])
    brush = right.slider("Brush width (canvas pixels; 10 make one input pixel)", 6, 40, 20, key=BRUSH_KEY)
    fit = right.radio("Fit", FITS, horizontal=True, key=FIT_KEY,
                      help="mnist: crop to the ink, scale it into 20x20 and centre it by mass, as MNIST was made "
                           "(a single dot becomes a blob); stretch: the whole canvas shrunk to 28x28 (a dot stays "
                           "a dot)")
    right.caption("Draw light on dark, as in MNIST. The toolbar above the canvas undoes and clears. A blank canvas "
                  "and a single dot are inputs too.")
    # The component's toolbar floats 2.65rem above the canvas's top edge: room for it, so it never covers the
    # Image switch (Test sample / Upload / Draw) above the canvas.
    st.html(f"<style>.st-key-{CANVAS_BOX}{{padding-top:{TOOLBAR_ROOM}}}</style>")
    with left.container(key=CANVAS_BOX):
        result = _canvas(brush)
    try:
        png = result.image_bytes  # None until something is drawn
        prepared = _prepared(png, result.json_data, fit)
    except (UploadError, ValueError, TypeError, AttributeError) as e:  # what a browser sent: never a traceback
        message = str(e) if isinstance(e, UploadError) else "it is not a picture"
        st.error(f"The drawing cannot be used: {message}", icon=":material/broken_image:")
        st.stop()
    if prepared.notes:
        st.markdown("**Preprocessing** the drawing: " + "; ".join(prepared.notes))
    steps = st.columns(len(prepared.steps))
    for col, (label, pic) in zip(steps, prepared.steps, strict=True):
        col.image(pic if pic.shape[0] >= 112 else render.picture(pic, max(1, 140 // pic.shape[0])), caption=label,
                  width=140)
    ink = int((prepared.image > 0).sum())
    return prepared.image, f"your drawing ({ink} of 784 pixels inked)" if ink else "your drawing (blank)"


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def _prepared(png: bytes | None, drawing, fit: str):
    """The prepared drawing, once per distinct picture (the upload pipeline takes tens of ms)."""
    return prepare_drawing(png, drawing, SIDE, SIDE, fit=fit)


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner="Importance sampling ...")
def _iwae(_model: VAE, key: cache.ModelKey, image: np.ndarray, seed: int) -> tuple[float, float]:
    return iwae_for_image(_model, np.asarray(image), IWAE_K, seed)


def draw_verdict(ctx, loaded: list[tuple[Checkpoint, VAE]], image: np.ndarray) -> None:
    """Per model: the ELBO and IWAE_k of this image (lower bounds on log p(x)), its bits/dim bound, and the
    test set's mean ELBO beside it."""
    st.subheader("What each likelihood says about this image")
    rows = []
    for ckpt, model in loaded:
        out = cache.reconstruction(model, ctx.key(ckpt), np.asarray(image)[None], ctx.seed)
        iwae, se = _iwae(model, ctx.key(ckpt), image, ctx.seed)
        kind = out["data_kind"]
        bits = bits_per_dim(iwae, kind) if is_bounded(kind) and np.isfinite(iwae) else None
        rows.append({"model": ckpt.name, "data": render.DATA_KIND_NAMES.get(kind, kind),
                     "ELBO (<= log p(x))": float(out["elbo"][0]),
                     f"IWAE k={IWAE_K} (<= log p(x))": iwae, "± s.e.": se,
                     "bits/dim (>=; from IWAE)": np.nan if bits is None else bits,
                     "test-set mean ELBO": claims.mean_test_elbo(ckpt)})
    number = st.column_config.NumberColumn(format="%.1f")
    frame = pd.DataFrame(rows)
    st.dataframe(frame, hide_index=True,
                 column_config={**{c: number for c in frame.columns if c not in ("model", "data")},
                                "bits/dim (>=; from IWAE)": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"Nats per image. The ELBO and IWAE_{IWAE_K} (mean of independent runs, with its standard error) are "
               "lower bounds on log p(x), so the bits/dim from them are upper bounds (per binary pixel for "
               "binarized models); raw-pixel models have a density without a maximum and no bits/dim. Compare "
               "with the test set's mean ELBO: an image above it scores higher than real images do on average, "
               "which is the likelihood's verdict, not a judgement of how digit-like the drawing is. "
               + claims.drawing_sentence([(r["model"], r["ELBO (<= log p(x))"], r["test-set mean ELBO"])
                                          for r in rows]))
