"""Where a raw-pixel model's sigma collapsed: of the test pixels whose decoder sigma (at the posterior mean) is below
0.01, how many are exactly 0 in the image, and the squared error of the decoder mean on zero and non-zero pixels.

    python -m scripts.raw_sigma_pixels [names ...]     # default: every raw-pixel model of checkpoints/
"""
from __future__ import annotations

import sys

import numpy as np

from explorer.compute import latent
from vae_core.base.data import load_sample
from vae_core.files.names import DEFAULT_ZOO
from vae_core.model.likelihoods import unvalidated
from vae_core.zoo.checkpoints import load_model, scan

SMALL = 0.01
IMAGES = 1000  # the embedded test sample


def main(names: list[str]) -> None:
    checkpoints = [c for c in scan(DEFAULT_ZOO)[0] if c.config.data_kind == "raw" and (not names or c.name in names)]
    print("| model | pixels with sigma < 0.01 | of them exactly 0 | MSE on 0 pixels | MSE on other pixels |")
    print("|---|---|---|---|---|")
    for ckpt in checkpoints:
        model = load_model(ckpt.path).eval()
        images = load_sample(ckpt.dataset)[0][:IMAGES]
        with unvalidated():  # a collapsed sigma underflows to 0 on some pixels
            sigma = latent.sigma_at_means(model, images)  # (N, 28, 28)
            mean = latent.decode(model, latent.encode_means(model, images))["mean"]  # (N, 28, 28)
        if sigma is None:
            continue
        x = latent.model_input(model, images).numpy().reshape(mean.shape)  # what the model was scored on
        zero, small = x == 0, sigma < SMALL
        of_small = f"{(zero & small).sum() / small.sum():.4f}" if small.any() else "–"
        print(f"| {ckpt.name} | {small.mean():.3f} | {of_small} | {np.mean((mean - x)[zero] ** 2):.4f} | "
              f"{np.mean((mean - x)[~zero] ** 2):.4f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
