"""Train VAE checkpoints: one decoder variant per call, or the whole zoo from its spec file.

Examples:
    # one variant (data from $VAE_ZOO_DATA, --data-dir, or --download)
    python train.py --dataset mnist --decoder gaussian-pixel --epochs 20 --out checkpoints/mnist-gaussian-pixel
    python train.py --dataset mnist --decoder gaussian-fixed --setting sigma=0.1 --out runs/fixed
    python train.py --dataset fashion-mnist --decoder gaussian-pixel-floor --setting sigma_min=0.01 \\
        --snapshots 1,3,10 --out runs/floor
    python train.py --dataset mnist --decoder bernoulli --latent-dim 2 --out runs/bern2d
    python train.py --dataset mnist --decoder gaussian-pixel --data-kind raw --out runs/raw  # x / 255, no noise
    # ... kept alive for 15 epochs by a practitioner's recipe that leaves the model as it is (no sigma floor)
    python train.py --dataset mnist --decoder gaussian-pixel --data-kind raw --epochs 15 --grad-clip 100 \
        --skip-nonfinite 10 --out runs/raw-kept
    python train.py --resume --dataset mnist --decoder bernoulli --epochs 40 --out runs/bern2d   # continue
    # a smoke test with no dataset at all: the test images embedded in the package (not a real model; the
    # folder is labelled TRAINED_ON_SAMPLE.txt, and the app's tests build their tiny zoo this way)
    python train.py --train-on-sample --val-size 200 --dataset mnist --decoder bernoulli --epochs 1 --out runs/smoke
    # the shipped burda-third run continued to the paper's 3,280 passes (its optimizer state was not shipped)
    cp -r checkpoints/mnist-bernoulli-burda-third runs/burda-extended
    python train.py --resume --restart-optimizer --dataset mnist --decoder bernoulli --latent-dim 50 \
        --hidden 200,200 --activation tanh --batch-size 20 --adam-eps 1e-4 --lr-schedule burda-extended \
        --epochs 3280 --val-size 1 --out runs/burda-extended
    # Burda et al. 2016's recipe (3^i epochs at 1e-3 * 10^(-i/7); its first 7 stages are 1,093 epochs), on a GPU
    python train.py --dataset mnist --decoder bernoulli --latent-dim 50 --hidden 200,200 --activation tanh \
        --batch-size 20 --adam-eps 1e-4 --lr-schedule burda --epochs 1093 --val-size 1 --device cuda --out runs/burda

    # --out must be new or empty (a folder holding anything but a run's own files, such as ".", is refused);
    # --resume needs a committed epoch there and the same model, seed, batch size, --val-size and
    # --max-train-images (it then ends bit-identical to a run that never stopped, on the same machine and thread
    # count). Every flag is checked before any data is read or anything is written.

    # the zoo (zoo.toml), all or a glob of names; trained and then evaluated into eval.json
    python train.py --zoo zoo.toml --only 'mnist-*' --checkpoints checkpoints
    # ... trained and evaluated on a GPU (without --device, each entry's spec `device`, the CPU by default)
    python train.py --zoo zoo.toml --only 'mnist-bernoulli*' --device cuda
    # an entry with `continues = "<name>"` starts as a copy of that entry's checkpoint (the recipe above, by spec)
    python train.py --zoo zoo.toml --only mnist-bernoulli-burda-extended
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from vae_core.base.data import DATA_KINDS, DATASETS, DataError, load_sample, load_split, sample_path
from vae_core.base.devices import DEVICES
from vae_core.base.limits import LIMITS
from vae_core.files.names import SAMPLE_MARKER
from vae_core.model.likelihoods import LIKELIHOODS, make_likelihood
from vae_core.model.vae import ACTIVATIONS, ARCHITECTURES, VAEConfig
from vae_core.training.config import SNAPSHOT_DTYPES, TrainConfig, check_snapshots
from vae_core.training.loop import train
from vae_core.training.run_folder import check_not_foreign, check_output_folder
from vae_core.training.schedules import SCHEDULES

# flag -> the setting whose range (vae_core.base.limits) it must lie in
NUMERIC_FLAGS = {"--epochs": "epochs", "--batch-size": "batch_size", "--lr": "lr", "--seed": "seed",
                 "--val-size": "val_size", "--max-train-images": "max_train_images", "--latent-dim": "latent_dim",
                 "--adam-eps": "adam_eps", "--grad-clip": "grad_clip", "--skip-nonfinite": "skip_nonfinite",
                 "--kl-warmup-epochs": "kl_warmup_epochs"}
# flags that set one model's training; with --zoo the spec sets them for each entry (--device is not one: with --zoo
# it says where every entry is trained and evaluated)
ONE_MODEL_FLAGS = ("dataset", "decoder", "data_kind", "setting", "out", "latent_dim", "hidden", "architecture",
                   "activation",
                   "epochs", "batch_size", "lr", "seed", "snapshots", "snapshot_dtype", "max_train_images",
                   "val_size", "lr_schedule", "adam_eps", "grad_clip", "skip_nonfinite", "kl_warmup_epochs", "resume",
                   "restart_optimizer")


def _number(flag: str):
    limit = LIMITS[NUMERIC_FLAGS[flag]]

    def parse(text: str):
        try:
            return limit.parse("", text)  # argparse's message names the flag: "argument --epochs: must be ..."
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _widths(text: str) -> list[int]:
    limit = LIMITS["hidden"]
    try:
        return [limit.parse("", v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths such as 512,256, each "
                                         f"{limit.describe()}, got {text!r}") from None


def _setting(text: str) -> tuple[str, bool | float | str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        number = float(value)
    except ValueError:
        return key, value
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{key} must be a finite number, got {value!r}")
    return key, number


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
    one.add_argument("--data-kind", choices=DATA_KINDS, default=None,
                     help="what the pixels are modelled as (vae_core/base/data.py); default: the decoder's own, e.g. "
                          "continuous (dequantized) for the Gaussians; raw = x / 255 as a density, unbounded")
    one.add_argument("--setting", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="a decoder setting, e.g. sigma=0.1 (gaussian-fixed) or sigma_min=0.01 (floor)")
    one.add_argument("--out", help="the checkpoint folder to write (new or empty; with --resume, the run's); a "
                                   "folder of other files, such as the current one, is refused")
    one.add_argument("--latent-dim", type=_number("--latent-dim"), default=VAEConfig.latent_dim)
    one.add_argument("--hidden", type=_widths, default=None, help="MLP widths, e.g. 512,256")
    one.add_argument("--architecture", choices=ARCHITECTURES, default=ARCHITECTURES[0])
    one.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=_number("--epochs"), default=TrainConfig.epochs)
    t.add_argument("--batch-size", type=_number("--batch-size"), default=TrainConfig.batch_size)
    t.add_argument("--lr", type=_number("--lr"), default=TrainConfig.lr)
    t.add_argument("--lr-schedule", choices=list(SCHEDULES), default=TrainConfig.lr_schedule,
                   help="learning rate per epoch from --lr: " + "; ".join(f"{k}: {v.description}"
                                                                          for k, v in SCHEDULES.items()))
    t.add_argument("--adam-eps", type=_number("--adam-eps"), default=TrainConfig.adam_eps, help="Adam's epsilon")
    t.add_argument("--grad-clip", type=_number("--grad-clip"), default=TrainConfig.grad_clip,
                   help="rescale the total gradient norm to at most this (keeps an unbounded likelihood's run alive; "
                        "the model is unchanged)")
    t.add_argument("--skip-nonfinite", type=_number("--skip-nonfinite"), default=TrainConfig.skip_nonfinite,
                   help="steps per epoch with a non-finite loss or gradient to skip before stopping (default 0)")
    t.add_argument("--kl-warmup-epochs", type=_number("--kl-warmup-epochs"), default=TrainConfig.kl_warmup_epochs,
                   help="raise the KL term's weight from 0 to 1 over this many epochs (KL annealing against posterior "
                        "collapse; the model is unchanged; default 0)")
    t.add_argument("--seed", type=_number("--seed"), default=TrainConfig.seed)
    # default None: with --zoo, "not given" leaves each entry's spec device; one model gets TrainConfig.device
    t.add_argument("--device", choices=DEVICES, default=None,
                   help=f"where to train (default {TrainConfig.device}); with --zoo, where to train and evaluate every "
                        "entry (default: each entry's device in the spec); auto takes a CUDA or MPS GPU when there is "
                        "one; the data moves there once")
    t.add_argument("--snapshots", type=_int_list, default=[], help="epochs to keep, e.g. 1,3,10")
    t.add_argument("--snapshot-dtype", choices=SNAPSHOT_DTYPES, default="float32")
    t.add_argument("--max-train-images", type=_number("--max-train-images"), default=None,
                   help="train on the first N images only")
    t.add_argument("--val-size", type=_number("--val-size"), default=TrainConfig.val_size,
                   help="last training images held out for the validation ELBO")
    t.add_argument("--resume", action="store_true", help="continue the run in --out (it must hold one)")
    t.add_argument("--restart-optimizer", action="store_true",
                   help="with --resume: start Adam afresh instead of from the run's saved state (which a shipped "
                        "checkpoint does not have); the history line of the next epoch says so")
    t.add_argument("--no-progress", action="store_true")
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", help="folder holding <dataset>/ IDX files (default $VAE_ZOO_DATA or ./data)")
    d.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    d.add_argument("--train-on-sample", action="store_true",
                   help="train on the test-set sample embedded in the package (vae_core/samples/) instead of the "
                        "training split: for smoke tests and the app tests' tiny zoo only, since the model then sees "
                        "the images the app evaluates it on; needs a --val-size smaller than the sample (e.g. 200); "
                        "refused with --zoo")
    return p


def _check_sample_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--train-on-sample is for one smoke-test model, never for the zoo, and reads no data folder."""
    if not args.train_on_sample:
        return
    if args.zoo:
        parser.error("--train-on-sample trains on the embedded test sample, for smoke tests only; the zoo is "
                     "trained on the full training splits, so drop --train-on-sample with --zoo")
    clash = [flag for flag, given in (("--data-dir", args.data_dir), ("--download", args.download)) if given]
    if clash:
        parser.error(f"--train-on-sample reads the sample inside the package, so {' and '.join(clash)} would be "
                     f"ignored; drop one of them")


def _check_sample_run(out: Path, sample: bool, resume: bool, dataset: str) -> None:
    """A resume continues on the data the run started on: the sample (marker present) or the training split."""
    if not resume or (out / SAMPLE_MARKER).is_file() == sample:
        return
    if sample:
        raise ValueError(f"cannot resume {out} on the embedded sample: it was trained on the {dataset} training "
                         f"split; drop --train-on-sample")
    raise ValueError(f"cannot resume {out} on the {dataset} training split: it was trained on the embedded test "
                     f"sample ({SAMPLE_MARKER}); resume it with --train-on-sample")


def _sample_images(dataset: str, val_size: int):
    """The embedded sample as training images, if --val-size leaves some of them to train on."""
    images, _ = load_sample(dataset)
    if val_size >= len(images):
        raise ValueError(f"--val-size {val_size} holds out all {len(images)} images of the embedded {dataset} "
                         f"sample; give --val-size below {len(images)} (e.g. 200) with --train-on-sample")
    return images


def _label_sample_run(out: Path, dataset: str, num_images: int) -> None:
    """Write (or, for a new run on the training split, remove a stale) TRAINED_ON_SAMPLE.txt in ``out``."""
    marker = out / SAMPLE_MARKER
    if num_images == 0:
        marker.unlink(missing_ok=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"Trained by `train.py --train-on-sample` on the {num_images} test-set images of {dataset} "
                      f"embedded in the package ({sample_path(dataset).name}), not on its training split: a model "
                      f"for smoke tests, whose scores on that sample are not held-out results.\n")


def _check_zoo_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from vae_core.zoo.build import check_zoo_root

    defaults = parser.parse_args([])
    ignored = [f"--{n.replace('_', '-')}" for n in ONE_MODEL_FLAGS if getattr(args, n) != getattr(defaults, n)]
    if ignored:
        parser.error(f"{', '.join(ignored)} set one model's training and have no effect with --zoo (the spec sets "
                     f"every entry's); drop them or edit the spec")
    if not Path(args.zoo).is_file():
        parser.error(f"--zoo {args.zoo}: no such file; give the path of a zoo spec such as zoo.toml")
    checkpoints = Path(args.checkpoints)
    if args.checkpoints and checkpoints.exists() and not checkpoints.is_dir():
        parser.error(f"--checkpoints {args.checkpoints} is a file; give a folder for the zoo's checkpoints")
    try:
        check_zoo_root(args.checkpoints, "--checkpoints")
    except ValueError as e:
        parser.error(str(e))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_sample_flags(parser, args)
    try:
        if args.zoo:
            from vae_core.zoo.build import train_zoo

            _check_zoo_paths(parser, args)
            train_zoo(args.zoo, args.only, args.checkpoints, data_dir=args.data_dir, download=args.download,
                      evaluate=not args.skip_eval, progress=not args.no_progress, device=args.device)
            return 0
        missing = [f"--{n}" for n in ("dataset", "decoder", "out") if getattr(args, n) is None]
        if missing:
            parser.error(f"the following arguments are required without --zoo: {', '.join(missing)}")
        try:
            args.snapshots = check_snapshots(args.snapshots, args.epochs, "--snapshots")
        except ValueError as e:
            parser.error(str(e))
        settings = dict(args.setting)
        make_likelihood(args.decoder, **settings)  # a bad setting is an error now, not after the data has loaded
        model_config = VAEConfig(dataset=args.dataset, decoder=args.decoder, decoder_settings=settings,
                                 data_kind=args.data_kind,
                                 latent_dim=args.latent_dim, architecture=args.architecture,
                                 activation=args.activation,
                                 **({"hidden": args.hidden} if args.hidden else {}))
        train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                   snapshots=args.snapshots, snapshot_dtype=args.snapshot_dtype,
                                   max_train_images=args.max_train_images, val_size=args.val_size,
                                   lr_schedule=args.lr_schedule, adam_eps=args.adam_eps,
                                   grad_clip=args.grad_clip, skip_nonfinite=args.skip_nonfinite,
                                   kl_warmup_epochs=args.kl_warmup_epochs,
                                   device=args.device or TrainConfig.device,
                                   progress=not args.no_progress)
        check_not_foreign(args.out, "--out")  # an empty --out named as the flag, not as "the output folder"
        check_output_folder(args.out, model_config, train_config, args.resume,  # before the data is read
                            args.restart_optimizer)
        _check_sample_run(Path(args.out), args.train_on_sample, args.resume, args.dataset)
        if args.train_on_sample:
            images = _sample_images(args.dataset, args.val_size)
            print(f"note: training on the embedded {args.dataset} test sample, for smoke tests only "
                  f"({Path(args.out) / SAMPLE_MARKER})", file=sys.stderr)
        else:
            images, _ = load_split(args.dataset, "train", args.data_dir, download=args.download)
        if not args.resume:
            _label_sample_run(Path(args.out), args.dataset, len(images) if args.train_on_sample else 0)
        _, state = train(model_config, train_config, images, args.out, resume=args.resume,
                         restart_optimizer=args.restart_optimizer)
        print(json.dumps({"out": args.out, **({"trained_on": "embedded test sample"} if args.train_on_sample
                                                else {}), **state}))
        return 0
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
