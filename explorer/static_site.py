"""The zoo as a static site (issue 21): ``export_site`` writes a folder that any static host serves, with no server
code. It holds the page (the repo's ``site/`` folder, copied as is), each checkpoint's decoder weights as float32
arrays, the posterior means of the embedded test sample under each encoder, the sample itself, and every number
and registry the Streamlit app reads (eval.json, the leaderboard row, board sets, story steps) as one JSON file.
The browser decodes with site/decoder.js, a forward pass over typed arrays that replicates vae_core/model/vae.py and
the parameter maps of vae_core/model/likelihoods.py (the layout and API: docs/static_site.md).

The reference side of the browser's decoder lives here too (``reference_params``, ``reference_sample``, the
seeded generator ``Mulberry32``), so the exactness test compares the page against torch through one definition.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import math
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explorer.compute.latent import encode_means
from vae_core.base.data import dataset_info, load_sample
from vae_core.files.names import CONFIG_NAME, EVAL_NAME, WEIGHTS_NAME
from vae_core.model.likelihoods import DiscretizedNormal, LogitContinuousBernoulli, unvalidated
from vae_core.model.vae import VAE, ResidualBlock
from vae_core.zoo.checkpoints import (
    Checkpoint,
    ZooError,
    load_model,
    read_config,
    read_evaluation,
    resolve_source,
    training_in_progress,
    zoo_folders,
)
from vae_core.zoo.checkpoints import read_checkpoint as zoo_read_checkpoint

from . import board, context, static_latent, static_story, story, tables
from .pages import ROOT

SITE_SOURCE = ROOT / "site"   # the page: HTML, CSS and JS, copied into the export as is
DATA_DIR = "data"             # everything the export computes lives under OUT/data/
ZOO_JSON = "zoo.json"
FORMAT = 1                    # bumped when zoo.json's schema changes
PIXELS = 28 * 28
ACTIVATION_OPS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.GELU: "gelu"}
# The export's README.md: the front matter that makes the folder a free Static Space on the Hugging Face Hub as it
# is (docs/deploy.md); other hosts serve it as one more file.
SPACE_README = """---
title: VAE Decoder Zoo
emoji: 🧮
colorFrom: gray
colorTo: blue
sdk: static
app_file: index.html
pinned: false
---

The VAE Decoder Zoo as a static site: every decoder runs in the visitor's browser (decoder.js), the numbers come
from the checkpoints' files (data/zoo.json). Built by `python -m scripts.export_site`; see docs/static_site.md.
"""


class ExportError(RuntimeError):
    """The export cannot be written; one sentence naming the checkpoint or folder."""


# ------------------------------------------------------------------------------------------------ the network
def network_layers(model: VAE) -> tuple[list[dict], list[np.ndarray]]:
    """The decoder as a list of ops for site/decoder.js and the float32 arrays they point into (offsets in
    elements, in order). Walks the decoder's Sequentials down to Linear, Conv2d (stride 1), ConvTranspose2d,
    GroupNorm, activations and Unflatten; a ResidualBlock becomes {"op": "residual", "layers": [its body's ops]},
    which the page computes as x + body(x)."""
    arrays, offset = [], 0
    size = None  # spatial size of the current feature map (after an Unflatten)

    def put(t: torch.Tensor) -> int:
        nonlocal offset
        arrays.append(t.detach().to("cpu", torch.float32).contiguous().numpy().ravel())
        at, offset = offset, offset + t.numel()
        return at

    def ops(module: nn.Module) -> list[dict]:
        nonlocal size
        if type(module) is nn.Sequential:
            return [op for child in module for op in ops(child)]
        if type(module) is ResidualBlock:
            return [{"op": "residual", "layers": ops(module.body)}]  # the body keeps the shape, so size too
        if isinstance(module, nn.Linear):
            return [{"op": "linear", "in": module.in_features, "out": module.out_features,
                     "weight": put(module.weight), "bias": put(module.bias)}]  # weight (out, in)
        if isinstance(module, nn.Conv2d):
            if (module.kernel_size, module.stride, module.padding, module.dilation, module.groups,
                    module.padding_mode) != ((3, 3), (1, 1), (1, 1), (1, 1), 1, "zeros"):
                raise ExportError(f"site/decoder.js computes 3x3 convolutions of stride 1 and padding 1 only, not "
                                  f"{module}")
            return [{"op": "conv2d", "in": module.in_channels, "out": module.out_channels, "kernel": 3,
                     "padding": 1, "size_in": size,  # the output has the input's size
                     "weight": put(module.weight), "bias": put(module.bias)}]  # weight (out, in, 3, 3)
        if isinstance(module, nn.GroupNorm):
            if not module.affine:
                raise ExportError(f"site/decoder.js computes group normalization with its affine weights only, not "
                                  f"{module}")
            return [{"op": "group_norm", "groups": module.num_groups, "channels": module.num_channels,
                     "eps": module.eps, "size_in": size, "weight": put(module.weight), "bias": put(module.bias)}]
        if isinstance(module, nn.ConvTranspose2d):
            (k, _), (s, _), (p, _) = module.kernel_size, module.stride, module.padding
            if module.output_padding != (0, 0) or module.dilation != (1, 1) or module.groups != 1:
                raise ExportError(f"site/decoder.js has no transposed convolution like {module}")
            layer = {"op": "conv_transpose2d", "in": module.in_channels, "out": module.out_channels,
                     "kernel": k, "stride": s, "padding": p, "size_in": size,
                     "weight": put(module.weight), "bias": put(module.bias)}  # weight (in, out, k, k)
            size = (size - 1) * s - 2 * p + k
            return [layer]
        if isinstance(module, nn.Unflatten):
            shape = list(module.unflattened_size)
            size = shape[-1]
            return [{"op": "unflatten", "shape": shape}]
        if type(module) in ACTIVATION_OPS:
            if isinstance(module, nn.GELU) and module.approximate != "none":
                raise ExportError("site/decoder.js computes the exact GELU only")
            return [{"op": ACTIVATION_OPS[type(module)]}]
        raise ExportError(f"site/decoder.js has no layer like {type(module).__name__}")

    return ops(model.decoder), arrays


def likelihood_constants(model: VAE) -> dict:
    """What the browser needs besides the network to turn its output into p(x|z)'s parameters."""
    lik = model.likelihood
    log_sigma = getattr(lik, "log_sigma", None)  # one sigma for every pixel: fixed, shared, optimal
    return {"key": lik.key, "num_params": lik.num_params,
            "sigma": None if log_sigma is None else float(torch.exp(log_sigma.detach().float())),
            "sigma_min": getattr(lik, "sigma_min", None), "free_mean": getattr(lik, "free_mean", None)}


# ------------------------------------------------------------------------------------------------ the reference
@torch.no_grad()
def reference_params(model: VAE, z: np.ndarray, dtype: torch.dtype = torch.float32) -> dict[str, np.ndarray | None]:
    """Torch's parameters of p(x|z) for codes z (n, L), as site/decoder.js returns them: mean, sigma, logits, loc,
    each (n, 784) float64 or None where the likelihood has no such parameter; ``dtype``: the model's (float64 for
    the exact values of the same weights)."""
    model.eval()
    with unvalidated():
        px = model.decode(torch.as_tensor(np.asarray(z), dtype=dtype))
    base = px.base_dist
    flat = lambda t: t.detach().to(torch.float64).reshape(len(z), PIXELS).numpy()  # noqa: E731
    is_logit = isinstance(base, (torch.distributions.Bernoulli, LogitContinuousBernoulli))
    scale = getattr(base, "scale", None)
    return {"mean": flat(base.mean),
            "sigma": None if scale is None else flat(scale.expand(base.batch_shape)),
            "logits": flat(base.logits) if is_logit else None,
            "loc": None if is_logit else flat(base.loc)}


class Mulberry32:
    """site/decoder.js's seeded generator, draw for draw: mulberry32 uniforms, Box-Muller normals (one normal per
    two uniforms, no caching)."""

    def __init__(self, seed: int):
        self.a = seed & 0xFFFFFFFF

    def uniform(self) -> float:
        self.a = (self.a + 0x6D2B79F5) & 0xFFFFFFFF
        a = self.a
        t = _imul(a ^ (a >> 15), 1 | a)
        t = ((t + _imul(t ^ (t >> 7), 61 | t)) & 0xFFFFFFFF) ^ t
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def normal(self) -> float:
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)

    def normals(self, n: int) -> np.ndarray:
        return np.array([self.normal() for _ in range(n)])

    def uniforms(self, n: int) -> np.ndarray:
        return np.array([self.uniform() for _ in range(n)])


def _imul(a: int, b: int) -> int:
    """JavaScript's Math.imul on uint32 operands, as a uint32."""
    return (a * b) & 0xFFFFFFFF


def prior_codes(rng: Mulberry32, n: int, latent_dim: int, temperature: float = 1.0) -> np.ndarray:
    """site/decoder.js's priorCodes: n x L normals times the temperature, row-major."""
    return (temperature * rng.normals(n * latent_dim)).reshape(n, latent_dim)


def reference_sample(params: dict[str, np.ndarray | None], key: str, rng: Mulberry32) -> np.ndarray:
    """site/decoder.js's drawSample from torch's parameters: one uniform or normal per pixel, in order."""
    if key == "bernoulli":
        return (rng.uniforms(params["mean"].size) < params["mean"].ravel()).astype(np.float64).reshape(
            params["mean"].shape)
    if key == "continuous-bernoulli":
        u = torch.as_tensor(rng.uniforms(params["logits"].size).reshape(params["logits"].shape))
        return LogitContinuousBernoulli(logits=torch.as_tensor(params["logits"]), validate_args=False).icdf(u).numpy()
    e = rng.normals(params["loc"].size).reshape(params["loc"].shape)
    y = params["loc"] + params["sigma"] * e
    if key == "discretized-gaussian":
        bins = DiscretizedNormal.num_bins - 1
        return np.round(np.clip(y, 0, 1) * bins) / bins
    return y


# ------------------------------------------------------------------------------------------------ the export
def _clean(value):
    """JSON-safe: NaN and inf become null, numpy scalars plain numbers, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _eval_json(ckpt: Checkpoint) -> dict | None:
    path = ckpt.path / EVAL_NAME
    return json.loads(path.read_text()) if path.is_file() and ckpt.evaluation is not None else None


def _write(path: Path, data: bytes) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def registries(checkpoints: list[Checkpoint]) -> dict:
    """The app's registries as the site reads them: named board sets per dataset, the default selection, the board's
    rows and keys, the story's steps."""
    datasets = sorted({c.dataset for c in checkpoints}, key=lambda d: (d != "mnist", d))
    names = {d: [c.name for c in checkpoints if c.dataset == d] for d in datasets}
    sets = {d: [{"title": t, "slug": board.set_slug(t), "models": m} for t, m in board.model_sets(names[d], d)]
            for d in datasets}
    first = datasets[0] if datasets else None
    models = context.default_models(checkpoints, first) if first else []
    titled = [(s["title"], s["models"]) for s in sets.get(first, [])]
    return {
        "default": {"dataset": first, "models": models, "set": board.set_title(models, titled)},
        "sets": sets,
        "board": {"rows": [list(r) for r in board.ROWS], "tiles": board.TILES, "max_columns": board.MAX_COLUMNS,
                  "shortcuts": dict(board.SHORTCUTS), "not_comparable": dict(board.NOT_COMPARABLE)},
        "story": [{"slug": s.slug, "title": s.title} for s in story.STEPS],
    }


def read_checkpoint(folder: Path) -> Checkpoint:
    """zoo.checkpoints.read_checkpoint without history.jsonl (the site shows no training curves, and parsing every
    epoch's line is most of a zoo scan's time); an ExportError naming the checkpoint for any damage the app would
    report, eval.json's included: the export never ships a zoo with holes."""
    try:
        config = read_config(folder)
        if not (folder / WEIGHTS_NAME).is_file():
            raise ZooError(f"no {WEIGHTS_NAME}")
        progress = training_in_progress(folder)
        if progress:
            raise ZooError(f"a run still in training ({progress})")
    except ZooError as e:
        raise ExportError(f"Cannot export checkpoint {folder.name}: {_sentence(str(e), folder)}.") from None
    evaluation, notes = read_evaluation(folder / EVAL_NAME)
    if notes:
        raise ExportError(f"Cannot export checkpoint {folder.name}: {_sentence(notes[0], folder)}.")
    return Checkpoint(name=folder.name, path=folder, config=config, evaluation=evaluation)


def read_zoo(root: Path) -> list[Checkpoint]:
    """Every checkpoint of ``root``, or an ExportError naming the first damaged or missing one (fix it, or move it
    out of the folder)."""
    try:
        folders = zoo_folders(root)
    except ZooError as e:
        raise ExportError(_sentence(str(e)) + ".") from None
    if not folders:
        raise ExportError(f"Cannot export {root}: it holds no checkpoint.")
    return [read_checkpoint(f) for f in folders]


def _sentence(message: str, folder: Path | None = None) -> str:
    """A ZooError's message without its trailing period (and the folder's path, which the caller names)."""
    message = message.strip().rstrip(".")
    return message.removeprefix(f"{folder}: ") if folder is not None else message


def export_site(out: str | os.PathLike, zoo: str | os.PathLike | None = None, site: str | os.PathLike = SITE_SOURCE,
                progress: Callable[[str], None] | None = None, figures: bool = True) -> dict:
    """Write the static site to ``out`` and return its zoo.json. Everything goes to a temporary folder beside
    ``out`` first and is renamed into place at the end, so a failure leaves no half-written export (and an earlier
    export at ``out`` untouched). ``out`` may be an earlier export (it is replaced) or absent, nothing else.
    ``figures=False`` leaves out what the app computes for the Story and the latent plane (its recorded steps, the
    2-D models' exact posteriors): the decoder tests need only the models."""
    say = progress or (lambda _: None)
    out = Path(out).resolve()
    site = Path(site)
    try:
        root = resolve_source(str(zoo) if zoo is not None else None)
    except ZooError as e:
        raise ExportError(_sentence(str(e)) + ".") from None
    if out.exists() and not (out / DATA_DIR / ZOO_JSON).is_file():
        raise ExportError(f"{out} exists and is not an earlier export; choose a new folder.")
    if not (site / "index.html").is_file():
        raise ExportError(f"{site} has no index.html: the site's source folder is missing.")
    checkpoints = read_zoo(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(site, tmp)
        (tmp / "README.md").write_text(SPACE_README)
        data = tmp / DATA_DIR
        manifest = {"format": FORMAT, "pixels": PIXELS, "image_shape": [28, 28], **registries(checkpoints),
                    "leaderboard_columns": [], "datasets": {}, "models": {}}
        for dataset in sorted({c.dataset for c in checkpoints}):
            images, labels = load_sample(dataset)
            blob = np.ascontiguousarray(images, np.uint8).tobytes() + np.ascontiguousarray(labels, np.uint8).tobytes()
            manifest["datasets"][dataset] = {"sample": f"samples/{dataset}.bin", "count": len(images),
                                             "classes": list(dataset_info(dataset).classes),
                                             **_write(data / "samples" / f"{dataset}.bin", blob)}
        board_frame = tables.leaderboard(checkpoints)
        manifest["leaderboard_columns"] = list(board_frame.columns)
        for i, ckpt in enumerate(checkpoints):
            say(f"[{i + 1}/{len(checkpoints)}] {ckpt.name}")
            manifest["models"][ckpt.name] = export_model(ckpt, data, board_frame.iloc[i].to_dict())
        for name, entry in static_latent.export_plane_inputs(data, checkpoints).items():
            manifest["models"][name]["encoder_q"] = entry
        if figures:
            say("exact posteriors of the 2-D models (explorer/static_latent.py)")
            for name, entry in static_latent.export_posteriors(data, checkpoints).items():
                manifest["models"][name]["posteriors"] = entry
            say("the Story's steps (explorer/static_story.py)")
            full = [zoo_read_checkpoint(c.path) for c in checkpoints]  # with history.jsonl: the Story draws curves
            manifest["story_files"] = static_story.export_story(data, str(root), full)
        text = json.dumps(_clean(manifest), allow_nan=False, separators=(",", ":"))
        (data / ZOO_JSON).write_text(text)
        if out.exists():  # an earlier export: swap it out, then remove it
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return json.loads(text)


def sample_codes(model: VAE, images: np.ndarray) -> np.ndarray:
    """Posterior means (N, L) float32 of the sample as the app's board reconstructs them: blocks of board.BLOCK
    images, each input binarized or dequantized with board.RECON_SEED afresh, so decode(codes[i]) is the app's
    reconstruction of image i."""
    return np.concatenate([encode_means(model, images[s:s + board.BLOCK], board.RECON_SEED)
                           for s in range(0, len(images), board.BLOCK)]).astype("<f4")


def export_model(ckpt: Checkpoint, data: Path, leaderboard_row: dict) -> dict:
    """One checkpoint's weights and codes under ``data``, and its entry of zoo.json."""
    try:
        model = load_model(ckpt.path, weights=ckpt.path / WEIGHTS_NAME)  # the folder was read by read_checkpoint
    except ZooError as e:
        raise ExportError(f"Cannot export checkpoint {ckpt.name}: {_sentence(str(e), ckpt.path)}.") from None
    layers, arrays = network_layers(model)
    weights = np.concatenate(arrays).astype("<f4").tobytes()
    codes = sample_codes(model, load_sample(ckpt.dataset)[0])
    h = board.headline(ckpt)
    return {
        "name": ckpt.name, "dataset": ckpt.dataset, "decoder": ckpt.decoder, "latent_dim": ckpt.config.latent_dim,
        "architecture": ckpt.config.architecture, "data_kind": model.data_kind,
        "config": json.loads((ckpt.path / CONFIG_NAME).read_text()),
        "headline": {"loglik": h.loglik, "stderr": h.stderr, "method": h.method, "images": h.images, "fd": h.fd,
                     "raw": h.raw, "binary": h.binary},
        "leaderboard": leaderboard_row, "eval": _eval_json(ckpt), "notes": list(ckpt.notes),
        "likelihood": likelihood_constants(model),
        "network": {"file": f"models/{ckpt.name}.bin", "layers": layers,
                    **_write(data / "models" / f"{ckpt.name}.bin", weights)},
        "codes": {"file": f"codes/{ckpt.name}.bin", "count": len(codes),
                  **_write(data / "codes" / f"{ckpt.name}.bin", codes.tobytes())},
    }


# ------------------------------------------------------------------------------------------------ serving
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Python's static file server without a log line per request (what `python -m http.server` serves)."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextmanager
def serve_folder(folder: str | os.PathLike, port: int = 0) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 as `python -m http.server -d folder` does, in a thread of this process; yield
    its base URL (no trailing slash) and stop the server afterwards."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
