"""The numbers behind the Reconstruct page's instruments, on the shipped checkpoints and the embedded test sample:
the sigma floor's effect on log p(x | z = E[z|x]) and the ELBO, the stroke / background split, and what each
likelihood says about a blank canvas and a single dot; last, the findings' sentences on the per-pixel Gaussian's
instruments and on a blank canvas against every checkpoint of the zoo (explorer.claims).

    OMP_NUM_THREADS=1 python -m scripts.instrument_numbers [checkpoints] [--images 100]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from explorer import claims
from explorer.compute import latent
from explorer.compute.drawing import prepare_drawing
from explorer.compute.instruments import FLOORS, FloorNotApplicable, nats_split, rescore
from explorer.compute.posterior_view import iwae_for_image
from vae_core.base.data import load_sample
from vae_core.zoo.checkpoints import ZooError, load_model, scan

MODELS = ("gaussian-pixel", "gaussian-pixel-raw", "gaussian-pixel-floor", "gaussian-fixed", "gaussian-shared",
          "gaussian-optimal", "discretized-gaussian", "continuous-bernoulli", "bernoulli")
SHOWN_FLOORS = (0.0, 1e-3, 1e-2, 0.1, 0.3)


def _dot(fit: str) -> np.ndarray:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (280, 280))
    ImageDraw.Draw(img).ellipse((131, 131, 149, 149), fill=255)  # a click with the canvas's default brush
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return prepare_drawing(buf.getvalue(), None, 280, 280, fit=fit).image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="?", default="checkpoints")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = load_sample(args.dataset)[0][:args.images]
    at = [FLOORS.index(f) for f in SHOWN_FLOORS]
    drawings = {"blank": prepare_drawing(None, None, 280, 280).image, "dot (stretch)": _dot("stretch"),
                "dot (mnist fit)": _dot("mnist")}
    print(f"{len(images)} embedded {args.dataset} test images; floors {SHOWN_FLOORS}")
    print("model | mean log p(x|z) at each floor | mean ELBO at each floor | images whose log p(x|z) rises by "
          "> 0.05 nats at some step | stroke nats/px | background nats/px")
    verdicts = []
    for key in MODELS:
        name = f"{args.dataset}-{key}"
        try:
            model = load_model(Path(args.checkpoints) / name)
        except ZooError as e:
            print(f"{name}: not loaded ({e})")
            continue
        out = latent.reconstruct(model, images, seed=0)
        splits = [nats_split(out["pixel_log_prob"][i], images[i]) for i in range(len(images))]
        stroke = np.nanmean([s.stroke_per_pixel for s in splits])
        background = np.nanmean([s.background_per_pixel for s in splits])
        try:
            s = rescore(model, images, FLOORS, seed=0)
            rises = float((np.diff(s["log_px"], axis=0) > 0.05).any(axis=0).mean())  # more than the shown 0.1
            lp = " ".join(f"{s['log_px'][i].mean():.0f}" for i in at)
            el = " ".join(f"{s['elbo'][i].mean():.0f}" for i in at)
            print(f"{name} | {lp} | {el} | {rises:.0%} | {stroke:.2f} | {background:.2f}")
        except FloorNotApplicable:
            print(f"{name} | not applicable (no sigma) | | | {stroke:.2f} | {background:.2f}")
        test_elbo = float(out["elbo"].mean())
        row = [name, f"{test_elbo:.1f}"]
        for image in drawings.values():
            elbo = float(latent.reconstruct(model, image[None], seed=0)["elbo"][0])
            iwae, se = iwae_for_image(model, image, 100, seed=0)
            row.append(f"{elbo:.1f} / {iwae:.1f} ± {se:.1f}")
        verdicts.append(row)
    print("\nmodel | test-sample mean ELBO | " + " | ".join(f"{k}: ELBO / IWAE_100 ± s.e." for k in drawings))
    for row in verdicts:
        print(" | ".join(row))
    name = f"{args.dataset}-{MODELS[0]}"
    if (Path(args.checkpoints) / name).is_dir():
        print(f"\nThe instruments on {name}, for {claims.CLAIMS_DOC}:")
        ckpt = next(c for c in scan(args.checkpoints)[0] if c.name == name)
        print(claims.instrument_sentence(ckpt, load_model(ckpt.path), images[:claims.INSTRUMENT_IMAGES]))
    print("\nEvery checkpoint of the zoo, a blank canvas against the test set's mean ELBO (eval.json), "
          f"for {claims.CLAIMS_DOC}:")
    checkpoints = scan(args.checkpoints)[0]
    print(claims.blank_canvas_sentence([claims.blank_verdict(c, load_model(c.path)) for c in checkpoints]))


if __name__ == "__main__":
    main()
