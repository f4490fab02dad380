"""Prior samples of several checkpoints as one picture, a row of decoder means per model, the same z draws for
models of the same latent size: how the conv setting of the zoo was chosen (docs/conv_choice.md).

    python -m scripts.sample_grid --out docs/conv_choice.png mnist-gaussian-shared-conv mnist-gaussian-fixed-conv \\
        mnist-bernoulli-conv mnist-gaussian-shared mnist-gaussian-fixed
    python -m scripts.sample_grid --out /tmp/grid.png runs/my-run checkpoints/mnist-bernoulli --count 10

A name is a folder of the zoo (``--zoo``, default checkpoints/) or a path (with a "/") to a checkpoint folder;
each row is labelled with the name as given.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import load_model

SIDE, SCALE, LABEL_WIDTH = 28, 2, 330


def decoder_means(folder: Path, count: int, seed: int) -> np.ndarray:
    """``count`` decoder means E[x|z] at z ~ N(0, I), as (28, 28 * count) pixels in [0, 1]."""
    model = load_model(folder)
    model.eval()
    _, px = model.sample(count, generator=torch.Generator().manual_seed(seed))
    means = px.mean.reshape(count, SIDE, SIDE).clamp(0, 1).numpy()  # (count, 28, 28)
    return np.concatenate(list(means), axis=1)


def grid(folders: list[Path], labels: list[str], count: int, seed: int) -> Image.Image:
    rows = [decoder_means(f, count, seed) for f in folders]
    pixels = (np.concatenate(rows, axis=0) * 255).astype(np.uint8)
    image = Image.fromarray(pixels).resize((pixels.shape[1] * SCALE, pixels.shape[0] * SCALE), Image.NEAREST)
    out = Image.new("L", (LABEL_WIDTH + image.width, image.height), color=255)
    out.paste(image, (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(out)
    for i, label in enumerate(labels):
        draw.text((6, i * SIDE * SCALE + SIDE * SCALE // 2 - 6), label, fill=0)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", help="zoo names or checkpoint folders, one row each")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--zoo", default=str(DEFAULT_ZOO))
    p.add_argument("--count", type=int, default=16, help="samples per model")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be at least 1")
    folders = [Path(n) if Path(n).is_dir() and "/" in n else Path(args.zoo) / n for n in args.names]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        p.error(f"no checkpoint folder {', '.join(missing)}")
    grid(folders, args.names, args.count, args.seed).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
