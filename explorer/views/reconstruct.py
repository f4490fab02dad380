"""The Reconstruct page's sections (app_pages/reconstruct.py): the image to reconstruct (an embedded test image, an
upload or a drawing) and, for each chosen model, the input, the decoder mean, a sample, the sigma map, the
per-pixel log-likelihood map and the ELBO terms on shared colour scales."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import cache, canvas, links, render
from explorer.compute.images import centered_scale, log_scale
from explorer.compute.uploads import UPLOAD_LIMITS, UploadError, prepare_upload
from explorer.context import Context
from vae_core.base.data import UNBOUNDED_REASON, dataset_info
from vae_core.model.vae import VAE
from vae_core.zoo.checkpoints import Checkpoint

IMAGE_SOURCES = ["Test sample", "Upload", "Draw"]
COLUMN_WIDTHS = [1, 1, 1, 1.1, 1.1, 1.3]  # input, mean, sample, sigma, log-likelihood map, ELBO table
MAPS_NOTE = ("The log-likelihood map uses one colour scale for all models: blue pixels are improbable, white is "
             "log p = 0, red pixels have a density above 1, which only a decoder with a small sigma can give. "
             "Pixel values below the 1st percentile are clipped to the darkest blue. Bernoulli log-probabilities "
             "are of binarized pixels and never exceed 0. The ELBO is a lower bound on log p(x), so the bits/dim "
             "computed from it are an upper bound; raw-pixel models get none: " + UNBOUNDED_REASON + ".")


def image_source() -> str:
    """Where the image comes from (?image_source=)."""
    links.choice("image_source", IMAGE_SOURCES)
    return st.segmented_control("Image", IMAGE_SOURCES, default="Test sample", key="image_source",
                                bind="query-params") or "Test sample"


def image_input(ctx: Context, source: str) -> tuple[np.ndarray, str]:
    """The chosen source's controls; the uint8 (28, 28) image and its caption, or a plain message and a stop."""
    if source == "Test sample":
        return test_image(ctx)
    if source == "Upload":
        return uploaded_image()
    return canvas.draw_input()


def _pick_class(labels: np.ndarray, classes: list[str]) -> None:
    wanted = classes.index(st.session_state["pick_class"])
    st.session_state["idx"] = int(np.flatnonzero(labels == wanted)[0])


def _next_of_class(labels: np.ndarray) -> None:
    same = np.flatnonzero(labels == labels[st.session_state["idx"]])
    st.session_state["idx"] = int(same[(np.searchsorted(same, st.session_state["idx"], side="right")) % len(same)])


def _random(seed: int, num_images: int) -> None:
    draws = st.session_state.get("random_draws", 0) + 1
    st.session_state["random_draws"] = draws
    st.session_state["idx"] = int(np.random.default_rng([seed, draws]).integers(num_images))


def test_image(ctx: Context) -> tuple[np.ndarray, str]:
    """An image of the embedded test sample by index (?idx=), by class, the next of its class, or at random."""
    images, labels = cache.sample_set(ctx.dataset)
    classes = dataset_info(ctx.dataset).classes
    links.integer("idx", 0, len(images) - 1)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
    idx = c1.number_input(f"Index in the embedded test sample (0-{len(images) - 1})", 0, len(images) - 1,
                          key="idx", bind="query-params")  # starts at the minimum, 0; buttons below set it
    c2.selectbox("Class", classes, index=int(labels[idx]), key="pick_class", on_change=_pick_class,
                 args=(labels, classes))
    c3.button("Next of this class", key="next_of_class", on_click=_next_of_class, args=(labels,),
              icon=":material/skip_next:")
    c4.button("Random", key="random_image", on_click=_random, args=(ctx.seed, len(images)), icon=":material/shuffle:")
    return images[idx], f"test image #{idx}: {classes[labels[idx]]}"


def uploaded_image() -> tuple[np.ndarray, str]:
    """Any picture, with how it was turned into a 28x28 input step by step."""
    c1, c2, c3 = st.columns([2, 1, 1])
    upload = c1.file_uploader(f"Upload any image: PNG, JPEG, GIF, BMP, TIFF or WebP, {UPLOAD_LIMITS}", key="upload",
                              help="It is converted to 28x28 grey, light ink on a dark ground, like the datasets.")
    invert = c2.radio("Invert", ["auto", "yes", "no"], horizontal=True, key="upload_invert",
                      help="auto: the ink is whichever side of the background's tone stands out more; yes: dark ink "
                           "on a light ground; no: light ink on a dark ground (MNIST is light on dark)")
    fit = c3.radio("Fit", ["mnist", "stretch"], horizontal=True, key="upload_fit",
                   help="mnist: find the sheet and the mark with the most ink, crop to it, scale into 20x20 and "
                        "centre by mass; stretch: resize everything")
    if upload is None:
        st.info("Upload a picture to see it through the models: a digit on paper, a clothing photo, anything.")
        st.stop()
    try:
        prepared = prepare_upload(upload.getvalue(), invert=invert, fit=fit)
    except UploadError as e:
        st.error(f"`{upload.name}` cannot be used: {e}", icon=":material/broken_image:")
        st.stop()
    st.markdown(f"**Preprocessing** `{upload.name}` ({prepared.source})" +
                (": " + "; ".join(prepared.notes) if prepared.notes else ""))
    step_cols = st.columns(len(prepared.steps))
    for col, (label, pic) in zip(step_cols, prepared.steps, strict=True):
        col.image(pic if pic.shape[0] >= 112 else render.picture(pic, max(1, 140 // pic.shape[0])), caption=label,
                  width=140)
    return prepared.image, f"upload {upload.name}"


def reconstructions(ctx: Context, loaded: list[tuple[Checkpoint, VAE]], image: np.ndarray) -> list[dict]:
    """Each model's outputs for ``image`` (explorer.cache.reconstruction), in the order of ``loaded``."""
    return [cache.reconstruction(model, ctx.key(c), np.asarray(image)[None], ctx.seed) for c, model in loaded]


def table(models: list[Checkpoint], outputs: list[dict]) -> None:
    """A header with the shared colour bars, then one row per model: input, mean, sample, sigma, log p map, ELBO."""
    sigmas = [o["sigma"][0] for o in outputs if o["sigma"] is not None]
    sigma_scale = log_scale(sigmas) if sigmas else None
    ll_scale = centered_scale([o["pixel_log_prob"][0] for o in outputs])
    head = st.columns(COLUMN_WIDTHS)
    for col, text in zip(head[:3], ["**input** (as the model sees it)", "**reconstruction**: decoder mean",
                                    "**one sample** x ~ p(x|z)"], strict=True):
        col.markdown(text)
    head[3].markdown("**decoder sigma** (log scale, shared)")
    if sigma_scale is not None:
        render.show_colorbar(head[3], sigma_scale, "sigma")
    head[4].markdown("**log p(x_ij | z)** per pixel, nats")
    render.show_colorbar(head[4], ll_scale, "white: 0; red: density > 1")
    head[5].markdown("**ELBO terms** (nats; 16 draws of z)")

    for ckpt, out in zip(models, outputs, strict=True):
        st.markdown(render.title(ckpt))
        cols = st.columns(COLUMN_WIDTHS)
        cols[0].image(render.picture(out["input"][0]), caption=render.DATA_KIND_NAMES.get(out["data_kind"], "?"))
        cols[1].image(render.picture(out["mean"][0]), caption="E[x | z]")
        cols[2].image(render.picture(out["sample"][0]), caption=render.sample_note(out["sample"][0]) or "sample")
        if out["sigma"] is None:
            render.not_applicable(cols[3], render.no_sigma_text(ckpt))
        else:
            s = out["sigma"][0]
            cols[3].image(render.colored(s, sigma_scale), caption=f"min {s.min():.1e}, mean {s.mean():.3f}")
        lp = out["pixel_log_prob"][0]
        cols[4].image(render.colored(lp, ll_scale), caption=f"sum {lp.sum():.1f}, max {lp.max():.2f}")
        render.show_html_table(cols[5], [
            ("ELBO", render.fmt(out["elbo"][0], ".1f")),
            ("E log p(x|z)", render.fmt(out["rec"][0], ".1f")),
            ("KL(q || p)", render.fmt(out["kl"][0], ".2f")),
            render.elbo_bits_row(out["data_kind"], out["bits_per_dim"][0]),
        ])
