"""Where a raw-pixel model's sigma collapsed: of the test pixels whose decoder sigma (at the posterior mean) is below
0.01, how many are exactly 0 in the image, and the squared error of the decoder mean on zero and non-zero pixels.

    python -m scripts.raw_sigma_pixels [names ...]     # default: every raw-pixel model of checkpoints/
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from vae_core.base.data import load_sample
from vae_core.files.names import DEFAULT_ZOO
from vae_core.model.likelihoods import decoder_sigma, unvalidated
from vae_core.zoo.checkpoints import load_model, scan

SMALL = 0.01
IMAGES = 1000  # the embedded test sample


def main(names: list[str]) -> None:
    checkpoints = [c for c in scan(DEFAULT_ZOO)[0] if c.config.data_kind == "raw" and (not names or c.name in names)]
    print("| model | pixels with sigma < 0.01 | of them exactly 0 | MSE on 0 pixels | MSE on other pixels |")
    print("|---|---|---|---|---|")
    for ckpt in checkpoints:
        model = load_model(ckpt.path).eval()
        images = np.asarray(load_sample(ckpt.dataset)[0][:IMAGES], dtype=np.float32)
        x = torch.as_tensor(images / 255.0 if images.max() > 1 else images).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
        with torch.no_grad(), unvalidated():
            px = model.decode(model.encode(x).mean)
        sigma, mean = decoder_sigma(px), px.mean
        zero = x == 0
        if sigma is None:
            continue
        small = sigma < SMALL
        of_small = f"{(zero & small).sum() / max(int(small.sum()), 1):.4f}" if small.any() else "–"
        print(f"| {ckpt.name} | {small.float().mean():.3f} | {of_small} | {((mean - x)[zero] ** 2).mean():.4f} | "
              f"{((mean - x)[~zero] ** 2).mean():.4f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
