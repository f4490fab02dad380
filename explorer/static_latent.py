"""The exact posteriors of the static site's latent plane: for each model with a 2-D latent and each of the first
``POSTERIOR_IMAGES`` test images of its dataset's embedded sample, what the app's Latent page computes
(explorer.compute.posterior_view.posterior_view, seed 0: the adaptive quadrature's log p(x), the ELBO, the KL both ways)
and the sentence the Story writes from it (explorer.story.identity_sentence), so the site shows the app's numbers
rather than computing its own. The heat map is the posterior's log density relative to its peak on the
quadrature's 101 x 101 grid, in steps of ``STEP`` nats down to ``FLOOR`` (a byte per cell, base64): the app's
chart shows the cells within 20 nats of the peak (explorer.charts.posterior).

File per model, data/posteriors/<name>.json:
    {"model", "dataset", "seed", "floor", "step",
     "views": [{"index", "sentence", "problem" (only when the quadrature flagged the image),
                "log_px", "log_px_error", "elbo", "elbo_error", "kl_difference", "kl_grid", "identity_gap",
                "q_mean": [2], "q_std": [2], "mode": [2], "extent": [z1 lo, z1 hi, z2 lo, z2 hi], "points",
                "relative": base64 of points*points bytes, [i, j] at (z1[i], z2[j]), byte b = -b * step nats}]}

Every other test image's posterior is computed in the browser (site/decoder.js posteriorBox / jointGrid) from the
decoder and two small files written here for every 2-D model, so a visitor can choose any image of the sample:
    data/posteriors/input-noise.bin   the 784 float32 uniforms of torch.Generator().manual_seed(SEED), which
                                      vae_core.data.to_model_input draws to binarize or dequantize one image
                                      (the same for every image: the Latent page prepares one image at a time)
    data/posteriors/<name>-q.bin      float32 (N, 4): q(z|x)'s mean (2) and standard deviation (2) of each test
                                      image so prepared: where the browser starts looking for the posterior
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import torch

from explorer.compute.latent import model_input
from explorer.compute.posterior_view import posterior_view
from vae_core.base.data import load_sample
from vae_core.evaluation.quadrature import LATENT_DIM
from vae_core.zoo.checkpoints import load_model

from . import story

POSTERIOR_IMAGES = 6   # test images per 2-D model: the first ones of the sample, as the Story's image (#0)
STEP = 0.1             # nats per byte of the heat map
FLOOR = 25.5           # nats below the peak that the heat map keeps (255 steps)
SEED = 0               # the input's binarization / dequantization, as the app's default seed
POSTERIOR_DIR = "posteriors"
NOISE_FILE = f"{POSTERIOR_DIR}/input-noise.bin"


def quantize(log_density: np.ndarray) -> str:
    """(points, points) log p(z|x) -> base64 of bytes round((peak - value) / STEP), capped at FLOOR."""
    rel = np.nan_to_num(log_density.max() - np.asarray(log_density, np.float64), nan=FLOOR, posinf=FLOOR)
    return base64.b64encode(np.clip(np.round(rel / STEP), 0, 255).astype(np.uint8).tobytes()).decode("ascii")


def view_record(view: dict, name: str, index: int) -> dict:
    """One image's entry of the file (module docstring) from posterior_view's output."""
    if "problem" in view:
        return {"index": index, "problem": view["problem"], "q_mean": view["q_mean"].tolist(),
                "q_std": view["q_std"].tolist()}
    z1, z2 = view["z1"], view["z2"]
    return {
        "index": index, "sentence": story.identity_sentence(view, name, index),
        **{k: float(view[k]) for k in ("log_px", "log_px_error", "elbo", "elbo_error", "kl_difference", "kl_grid",
                                       "identity_gap")},
        "q_mean": view["q_mean"].tolist(), "q_std": view["q_std"].tolist(), "mode": view["mode"].tolist(),
        "extent": [float(z1[0]), float(z1[-1]), float(z2[0]), float(z2[-1])], "points": len(z1),
        "relative": quantize(view["log_density"]),
    }


def posterior_export(model, images: np.ndarray, name: str, dataset: str, count: int = POSTERIOR_IMAGES) -> dict:
    """The file's content (module docstring) for a 2-D ``model`` and its dataset's sample ``images`` (N, 28, 28)."""
    views = [view_record(posterior_view(model, images[i], SEED), name, i) for i in range(min(count, len(images)))]
    return {"model": name, "dataset": dataset, "seed": SEED, "floor": FLOOR, "step": STEP, "views": views}


def export_posteriors(data: Path, checkpoints: list, count: int = POSTERIOR_IMAGES) -> dict[str, dict]:
    """Write data/posteriors/<name>.json for every 2-D model; {name: {"file": relative to ``data``, "count"}}."""
    folder = data / POSTERIOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for ckpt in checkpoints:
        if ckpt.config.latent_dim != LATENT_DIM:
            continue
        record = posterior_export(load_model(ckpt.path), load_sample(ckpt.dataset)[0], ckpt.name, ckpt.dataset, count)
        (folder / f"{ckpt.name}.json").write_text(json.dumps(record, allow_nan=False, separators=(",", ":")))
        files[ckpt.name] = {"file": f"{POSTERIOR_DIR}/{ckpt.name}.json", "count": len(record["views"])}
    return files


def input_noise(seed: int = SEED) -> np.ndarray:
    """(784,) float32: the uniforms to_model_input draws for one image from a fresh generator of ``seed``."""
    return torch.rand((1, 1, 28, 28), generator=torch.Generator().manual_seed(seed)).numpy().ravel()


@torch.no_grad()
def encoder_q(model, images: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(N, 4) float32: q(z|x)'s mean and standard deviation for each image prepared alone, as the Latent page does."""
    model.eval()
    rows = []
    for image in images:
        qz = model.encode(model_input(model, image[None], seed).to(model.device))
        rows.append(torch.cat([qz.mean[0], qz.stddev[0]]).float().cpu().numpy())
    return np.stack(rows).astype("<f4")


def export_plane_inputs(data: Path, checkpoints: list) -> dict[str, dict]:
    """Write the input noise and each 2-D model's q statistics (module docstring); {name: {"file", "count"}}."""
    flat = [c for c in checkpoints if c.config.latent_dim == LATENT_DIM]
    if not flat:
        return {}
    (data / POSTERIOR_DIR).mkdir(parents=True, exist_ok=True)
    (data / NOISE_FILE).write_bytes(input_noise().astype("<f4").tobytes())
    files = {}
    for ckpt in flat:
        q = encoder_q(load_model(ckpt.path), load_sample(ckpt.dataset)[0])
        file = f"{POSTERIOR_DIR}/{ckpt.name}-q.bin"
        (data / file).write_bytes(q.tobytes())
        files[ckpt.name] = {"file": file, "count": len(q), "noise": NOISE_FILE, "seed": SEED}
    return files
