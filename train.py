"""Train VAE checkpoints: one decoder variant per call, or the whole zoo from its spec file.

Examples:
    # one variant (data from $VAE_ZOO_DATA, --data-dir, or --download)
    python train.py --dataset mnist --decoder gaussian-pixel --epochs 20 --out checkpoints/mnist-gaussian-pixel
    python train.py --dataset mnist --decoder gaussian-fixed --setting sigma=0.1 --out runs/fixed
    python train.py --dataset fashion-mnist --decoder gaussian-pixel-floor --setting sigma_min=0.01 \\
        --snapshots 1,3,10 --out runs/floor
    python train.py --dataset mnist --decoder bernoulli --latent-dim 2 --out runs/bern2d
    python train.py --resume --dataset mnist --decoder bernoulli --epochs 40 --out runs/bern2d   # continue

    # the zoo (zoo.toml), all or a glob of names; trained and then evaluated into eval.json
    python train.py --zoo zoo.toml --only 'mnist-*' --checkpoints checkpoints
"""
from __future__ import annotations

import argparse
import json
import sys

from vae_core.data import DATASETS, DataError, load_split
from vae_core.likelihoods import LIKELIHOODS
from vae_core.model import ACTIVATIONS, VAEConfig
from vae_core.training import TrainConfig, train


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _setting(text: str) -> tuple[str, bool | float | str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, float(value)
    except ValueError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    zoo = p.add_argument_group("zoo")
    zoo.add_argument("--zoo", help="a zoo spec (TOML); trains every entry (or those matching --only)")
    zoo.add_argument("--only", default="*", help="comma-separated globs over zoo entry names, e.g. 'mnist-*'")
    zoo.add_argument("--checkpoints", default="checkpoints", help="where zoo entries are written")
    zoo.add_argument("--skip-eval", action="store_true", help="train the zoo entries without evaluating them")
    one = p.add_argument_group("one model")
    one.add_argument("--dataset", choices=sorted(DATASETS))
    one.add_argument("--decoder", choices=list(LIKELIHOODS))
    one.add_argument("--setting", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="a decoder setting, e.g. sigma=0.1 (gaussian-fixed) or sigma_min=0.01 (floor)")
    one.add_argument("--out", help="the checkpoint folder to write")
    one.add_argument("--latent-dim", type=int, default=VAEConfig.latent_dim)
    one.add_argument("--hidden", type=_int_list, default=None, help="MLP widths, e.g. 512,256")
    one.add_argument("--architecture", choices=("mlp", "conv"), default="mlp")
    one.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    t.add_argument("--lr", type=float, default=TrainConfig.lr)
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--snapshots", type=_int_list, default=[], help="epochs to keep, e.g. 1,3,10")
    t.add_argument("--snapshot-dtype", choices=("float32", "float16"), default="float32")
    t.add_argument("--max-train-images", type=int, default=None, help="train on the first N images only")
    t.add_argument("--val-size", type=int, default=TrainConfig.val_size,
                   help="last training images held out for the validation ELBO")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--no-progress", action="store_true")
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", help="folder holding <dataset>/ IDX files (default $VAE_ZOO_DATA or ./data)")
    d.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.zoo:
            from vae_core.zoo_spec import train_zoo

            train_zoo(args.zoo, args.only, args.checkpoints, data_dir=args.data_dir, download=args.download,
                      evaluate=not args.skip_eval, progress=not args.no_progress)
            return 0
        missing = [f"--{n}" for n in ("dataset", "decoder", "out") if getattr(args, n) is None]
        if missing:
            parser.error(f"the following arguments are required without --zoo: {', '.join(missing)}")
        model_config = VAEConfig(dataset=args.dataset, decoder=args.decoder, decoder_settings=dict(args.setting),
                                 latent_dim=args.latent_dim, architecture=args.architecture,
                                 activation=args.activation,
                                 **({"hidden": args.hidden} if args.hidden else {}))
        train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                   snapshots=args.snapshots, snapshot_dtype=args.snapshot_dtype,
                                   max_train_images=args.max_train_images, val_size=args.val_size,
                                   progress=not args.no_progress)
        images, _ = load_split(args.dataset, "train", args.data_dir, download=args.download)
        _, state = train(model_config, train_config, images, args.out, resume=args.resume)
        print(json.dumps({"out": args.out, **state}))
        return 0
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
