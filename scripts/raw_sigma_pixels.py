"""Where a raw-pixel model's sigma collapsed: of the test pixels whose decoder sigma (at the posterior mean) is below
0.01, how many are exactly 0 in the image, and the squared error of the decoder mean on zero and non-zero pixels.

    python -m scripts.raw_sigma_pixels [names ...]     # default: every raw-pixel model of checkpoints/
"""
from __future__ import annotations

import sys

import numpy as np

from explorer import claims
from vae_core.base.data import load_sample
from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import load_model, scan

SMALL = claims.SMALL_SIGMA
IMAGES = 1000  # the embedded test sample


def main(names: list[str]) -> None:
    checkpoints = [c for c in scan(DEFAULT_ZOO)[0] if c.config.data_kind == "raw" and (not names or c.name in names)]
    print("| model | pixels with sigma < 0.01 | of them exactly 0 | MSE on 0 pixels | MSE on other pixels |")
    print("|---|---|---|---|---|")
    for ckpt in checkpoints:
        model = load_model(ckpt.path).eval()
        images = load_sample(ckpt.dataset)[0][:IMAGES]
        found = claims.collapsed_pixels(model, images)  # each (N, 28, 28)
        sigma, mean, x = found["sigma"], found["mean"], found["x"]
        if sigma is None:
            continue
        zero, small = x == 0, sigma < SMALL
        of_small = f"{(zero & small).sum() / small.sum():.4f}" if small.any() else "–"
        print(f"| {ckpt.name} | {small.mean():.3f} | {of_small} | {np.mean((mean - x)[zero] ** 2):.4f} | "
              f"{np.mean((mean - x)[~zero] ** 2):.4f} |")
    for ckpt in checkpoints:
        images = load_sample(ckpt.dataset)[0][:IMAGES]
        said = claims.collapsed_pixels_sentence(ckpt, load_model(ckpt.path).eval(), images)
        if said:
            print(said)


if __name__ == "__main__":
    main(sys.argv[1:])
