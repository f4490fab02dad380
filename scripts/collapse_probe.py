"""Does a residual conv VAE ignore z in its first steps (posterior collapse)? A few hundred Adam steps on MNIST's
training images, printing the batch loss (the negative ELBO) and the mean KL every 50 steps, for variants of the
decoder: with or without the residual blocks' group normalization, or with the plain conv decoder.

    python -m scripts.collapse_probe --data-dir ../shared/datasets                     # the shipped block (normalized)
    python -m scripts.collapse_probe --data-dir ../shared/datasets --variants plain-decoder unnormalized
    python -m scripts.collapse_probe --data-dir ../shared/datasets --decoder gaussian-pixel --variants unnormalized

A KL that falls to about 0 and stays there is the collapse: the decoder draws the mean image whatever z is.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from vae_core.base.data import load_split, to_model_input
from vae_core.model.vae import VAE, ResidualBlock, VAEConfig

VARIANTS = ("normalized", "unnormalized", "plain-decoder")


def model_for(variant: str, decoder: str) -> VAE:
    config = dict(decoder=decoder, architecture="conv", latent_dim=16, conv_channels=[32, 64])
    model = VAE(VAEConfig(**config, res_blocks=1))
    if variant == "plain-decoder":  # residual encoder, the plain conv decoder
        model.decoder = VAE(VAEConfig(**config, res_blocks=0)).decoder
    if variant == "unnormalized":  # the block as first trained: act, conv, act, conv
        for block in model.modules():
            if isinstance(block, ResidualBlock):
                block.body = nn.Sequential(*(m for m in block.body if not isinstance(m, nn.GroupNorm)))
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ IDX files ($VAE_ZOO_DATA)")
    parser.add_argument("--decoder", default="gaussian-shared")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["normalized"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images, _ = load_split("mnist", "train", args.data_dir)
    pool = torch.tensor(images[:20000])  # (20000, 28, 28) uint8
    for variant in args.variants:
        torch.manual_seed(0)
        model = model_for(variant, args.decoder)
        opt = torch.optim.Adam(model.parameters(), args.lr)
        gen, rows = torch.Generator().manual_seed(0), []
        for step in range(1, args.steps + 1):
            x = to_model_input(pool[torch.randint(len(pool), (128,), generator=gen)], model.data_kind, gen)
            rec, kl = model.elbo_terms(x)  # (128,) each
            loss = (kl - rec).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0:
                rows.append(f"step {step}: loss {loss.item():.0f}, KL {kl.mean().item():.2f}")
        print(f"{args.decoder}, {variant}: " + "; ".join(rows), flush=True)


if __name__ == "__main__":
    main()
