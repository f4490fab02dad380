"""The Latent page's view of one image for a 2-D model: the true posterior p(z|x) under q(z|x)'s ellipses, and
log p(x) = ELBO + KL(q(z|x) || p(z|x)) checked live (numbers from explorer.compute.posterior_view)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.compute.posterior_view import IWAE_KS, IWAE_REPEATS
from vae_core.evaluation.quadrature import LATENT_DIM
from vae_core.model.vae import VAE
from vae_core.zoo.checkpoints import Checkpoint

from . import cache, charts, links, render

INDEX_KEY = "post_idx"   # the image, bound to the URL
K_KEY = "iwae_k"         # IWAE's k, bound to the URL
DEFAULT_K = 1000


def check_links(num_images: int) -> None:
    """Drop bad values of this view's URL parameters (every model: a link may name a 2-D model later)."""
    links.integer(INDEX_KEY, 0, num_images - 1)
    links.choice(K_KEY, list(IWAE_KS))


def pick(index: int) -> None:
    """A click on the latent chart chooses the image shown here (before the widget is drawn)."""
    st.session_state[INDEX_KEY] = int(index)


def show(ckpt: Checkpoint, model: VAE, key: tuple, dataset: str, seed: int, images: np.ndarray,
         labels: np.ndarray, classes: list[str]) -> None:
    st.subheader("The true posterior p(z|x) and the encoder's q(z|x)")
    if ckpt.config.latent_dim != LATENT_DIM:
        render.not_applicable(st, f"Not for this model: the exact posterior integrates p(x|z) p(z) over the latent "
                                  f"plane, which is done for 2-D latents only, and {ckpt.name} has "
                                  f"{ckpt.config.latent_dim} latent dimensions (its best estimate of log p(x), by "
                                  f"AIS where computed, is on the Overview page).")
        return
    c1, c2, c3 = st.columns([1, 2, 3], vertical_alignment="bottom")
    index = int(c1.number_input(f"Test image # (0-{len(images) - 1})", 0, len(images) - 1, key=INDEX_KEY,
                                bind="query-params", help="Or click a point of the chart above."))
    k = int(c2.select_slider("IWAE samples k", list(IWAE_KS), value=DEFAULT_K, key=K_KEY, bind="query-params",
                             help=f"The mean of {IWAE_REPEATS} independent IWAE_k runs on this image; k = 10,000 "
                                  f"takes a few seconds the first time."))
    view = cache.posterior(model, key, dataset, index, seed)
    c3.image(render.picture(images[index], 2), caption=f"#{index}: {classes[labels[index]]}")
    if "problem" in view:
        st.warning(f"No exact posterior for test image #{index}: {view['problem']}.", icon=":material/warning:")
        return
    iwae, iwae_se = cache.image_iwae(model, key, dataset, index, seed, k)
    left, right = st.columns([3, 2])
    left.vega_lite_chart(charts.posterior(view, (key, index, seed)), width="stretch")
    left.caption(f"Colour: log p(z|x) relative to its peak, on a grid where the adaptive quadrature found the mass "
                 f"({view['mass_on_grid']:.3f} of it on the grid); cells more than 20 nats below the peak are left "
                 f"blank. Red: q(z|x) at 1 and 2 standard deviations. The posterior's peak lies "
                 f"{view['mode_in_q_sd']:.1f} encoder standard deviations from q's mean.")
    with right:
        render.show_html_table(st, [
            ("log p(x), exact (quadrature)", f"{view['log_px']:.2f} ± {view['log_px_error']:.2g}"),
            (f"IWAE, k = {k:,} (a lower bound)", f"{iwae:.2f} ± {iwae_se:.2g}"),
            ("ELBO (a lower bound)", f"{view['elbo']:.2f} ± {view['elbo_error']:.2g}"),
            ("KL(q || p(z|x)) = log p(x) - ELBO", f"{view['kl_difference']:.3f} ± "
                                                  f"{view['kl_difference_error']:.2g}"),
            ("KL(q || p(z|x)), q log(q/p) on a grid", f"{view['kl_grid']:.3f} ± {view['kl_grid_error']:.2g}"),
        ])
        holds = view["identity_gap"] <= view["tolerance"]
        verdict = "holds" if holds else "does NOT hold"
        (st.success if holds else st.error)(
            f"log p(x) = ELBO + KL {verdict} here: the two KL values differ by {view['identity_gap']:.1e} nats, "
            f"against a numerical error of {view['tolerance']:.1e} (log p(x) and its error cancel in that "
            f"difference).", icon=":material/check_circle:" if holds else ":material/error:")
        st.caption(f"Nats for this one image. log p(x) is the integral of p(x|z) p(z) over the plane (± the change on "
                   f"halving the spacing); the ELBO is E_q[log p(x,z) - log q(z|x)] by Gauss-Hermite quadrature; "
                   f"IWAE is the mean ± standard error of {IWAE_REPEATS} runs. Only log p(x) is the quantity: "
                   f"ELBO <= IWAE_k <= log p(x), and the KL is what the ELBO misses.")
