"""The presenter's board: three or four models side by side on one 1280x720 screen. Each column is headed by the
model's best log-likelihood (as the Overview's leaderboard reads it from eval.json: exact, AIS or an IWAE bound,
named as what it is) and the Frechet distance of its samples, in large type; under it four rows of pictures:
reconstructions of test images, decoder means of prior samples, full samples, and the decoder sigma of those
samples. The argument in one view: the column with the largest likelihood need not have the best samples."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from explorer.compute.images import ColorScale, image_grid, log_scale, to_uint8
from vae_core.zoo.checkpoints import Checkpoint

from . import cache, links, presenter, render, tables

if TYPE_CHECKING:  # the sidebar reads the named sets here on every page, the Overview's included, without torch
    from vae_core.model.vae import VAE

MAX_COLUMNS = 4   # models shown at once: four columns still fit 1280x720 with readable pictures
TILES = 3         # pictures per cell: three test images, three prior samples
BLOCK = 30        # test images reconstructed per cached call: "next images" computes once in ten presses
RECON_SEED = 0    # the input's binarization / dequantization: "new samples" draws new z, the reconstructions stay
IMAGE_KEY = "board_image"  # the first test image of the reconstruction row, bound to the URL
SEED_KEY = "seed"          # the sidebar's seed: "new samples" moves it on, as the Sample page does
MODELS_KEY = "models"      # the sidebar's selection: "next model set" replaces it, so a link carries the set
SHORTCUTS = {"previous": "P", "next": "N", "samples": "S", "set": "M"}

# The sets "next model set" steps through, as checkpoint names without "<dataset>-", in the order a talk takes them;
# each shows one step of the argument (see model_sets for when one is offered). The first is every page's default
# selection (explorer.context.STORY): the collapsed per-pixel sigma beside the calibrated sigma = 0.1 first.
MODEL_SETS: dict[str, tuple[str, ...]] = {
    "likelihood against samples": ("gaussian-pixel", "gaussian-fixed", "bernoulli"),
    "a calibrated sigma": ("gaussian-pixel", "gaussian-fixed", "gaussian-shared", "gaussian-optimal"),
    "bounding the likelihood": ("gaussian-pixel", "gaussian-pixel-floor", "discretized-gaussian",
                                "continuous-bernoulli"),
    "raw pixels": ("gaussian-pixel-raw", "gaussian-pixel", "gaussian-fixed-raw", "gaussian-fixed"),
    "MLP against conv": ("gaussian-pixel", "gaussian-pixel-conv", "gaussian-fixed", "gaussian-fixed-conv"),
    "MLP against residual conv": ("gaussian-pixel", "gaussian-pixel-resconv", "gaussian-shared",
                                  "gaussian-shared-resconv"),
}
SET_KEY = "set"  # the named set in the URL (/board?set=raw-pixels): explorer.context applies it to the selection
APPLIED_KEY = "set_applied"  # session_state: the set last applied, so a rerun does not undo a change since


def set_slug(title: str) -> str:
    """A set's name in the URL: its title in lower case, words joined by "-"."""
    return "-".join(title.lower().split())


SET_BY_SLUG = {set_slug(t): t for t in MODEL_SETS}
ROWS = (  # (label, what the pictures are)
    ("reconstruction", "E[x|z] at z = E[z|x] of test images"),
    ("decoder mean", "E[x|z], z ~ N(0, I)"),
    ("full sample", "x ~ p(x|z), the same z"),
    ("decoder sigma", "of those samples, log scale"),
)


# ------------------------------------------------------------------------------------------------ logic
def model_sets(names: list[str], dataset: str) -> list[tuple[str, list[str]]]:
    """(title, checkpoint names) of each set with at least two of its models among ``names`` and at least one model
    no set before it shows (a "raw pixels" set without raw runs would repeat the first set)."""
    found, seen = [], set()
    for title, suffixes in MODEL_SETS.items():
        members = [f"{dataset}-{s}" for s in suffixes if f"{dataset}-{s}" in names]
        if len(members) >= 2 and set(members) - seen:
            found.append((title, members))
            seen |= set(members)
    return found


def missing_from_set(title: str, names: list[str], dataset: str) -> list[str]:
    """The checkpoints of the set ``title`` that ``names`` (the zoo's, for ``dataset``) lacks."""
    return [f"{dataset}-{s}" for s in MODEL_SETS[title] if f"{dataset}-{s}" not in names]


def next_set(current: list[str], sets: list[tuple[str, list[str]]]) -> tuple[str, list[str]] | None:
    """The set after the one shown (the first when the selection is not one of them); None without sets."""
    if not sets:
        return None
    shown = [members for _, members in sets]
    at = shown.index(current) if current in shown else -1
    return sets[(at + 1) % len(sets)]


def set_title(current: list[str], sets: list[tuple[str, list[str]]]) -> str | None:
    return next((title for title, members in sets if members == current), None)


def tile_indices(first: int, count: int) -> list[int]:
    """The ``TILES`` test images from ``first`` on, wrapping at the end of the sample."""
    return [(first + i) % count for i in range(min(TILES, count))]


def blocks(indices: list[int]) -> dict[int, list[tuple[int, int]]]:
    """block number -> [(position among ``indices``, position in the block)] for the blocks that hold them."""
    out: dict[int, list[tuple[int, int]]] = {}
    for at, i in enumerate(indices):
        out.setdefault(i // BLOCK, []).append((at, i % BLOCK))
    return out


def reconstructed_means(model: VAE, key: tuple, images: np.ndarray, indices: list[int]) -> np.ndarray:
    """Decoder means E[x|z], z = E[z|x], of the test images at ``indices`` (n, 28, 28), from cached blocks of
    BLOCK images: one call of the model's encoder and decoder serves ten presses of "next images"."""
    means = np.empty((len(indices), 28, 28), np.float32)
    for block, places in blocks(indices).items():
        rec = cache.reconstruction(model, key, images[block * BLOCK:(block + 1) * BLOCK], RECON_SEED)
        for at, within in places:
            means[at] = rec["mean"][within]
    return means


def column_pictures(model: VAE, key: tuple, images: np.ndarray, first: int, seed: int) -> tuple[np.ndarray, dict]:
    """What a model's column shows, from the caches: the decoder means of the test images from ``first`` on
    (TILES, 28, 28) and TILES prior samples at ``seed`` (cache.prior_samples). The server's warm-up computes them for
    the named sets' models at the first image and seed, so that "next set" finds them."""
    means = reconstructed_means(model, key, images, tile_indices(first, len(images)))
    return means, cache.prior_samples(model, key, TILES, 1.0, seed)


@dataclass(frozen=True)
class Headline:
    loglik: float   # nats per image (higher is better); nan when the checkpoint has no number
    stderr: float   # over the test images; nan when unknown
    method: str     # as the leaderboard names it: "exact (quadrature)", "AIS (stochastic lower bound)", "IWAE ..."
    images: float   # test images the estimate averages
    fd: float       # Frechet distance of prior samples to the test set (lower is better); nan when not computed
    raw: bool       # a density on raw pixels: unbounded, not comparable with the others
    binary: bool = False  # a probability of binarized pixels: not comparable with the 8-bit models


def headline(ckpt: Checkpoint) -> Headline:
    """The column head from the leaderboard's row, so the board and the Overview never disagree."""
    row = tables.leaderboard([ckpt]).iloc[0]
    return Headline(float(row["log-lik"]), float(row["± se"]), str(row["estimate"]), float(row["images"]),
                    float(row["FD samples"]), row["group"] == tables.RAW_GROUP, row["group"] == tables.GROUPS["binary"])


NOT_COMPARABLE = {"raw": "raw pixels: unbounded, not comparable", "binary": tables.BINARY_NOTE}
FD_SHOWN = "FD of full samples"  # which Frechet distance the board shows: of x ~ p(x|z), not of the decoder means


def _number(value: float, stderr: float) -> str:
    digits = 0 if abs(value) >= 100 else 1
    text = f"{value:,.{digits}f}".replace("-", "\u2212")
    return text + (f"<span class='small'> ± {stderr:,.{digits}f}</span>" if math.isfinite(stderr) else "")


def headline_html(name: str, h: Headline) -> str:
    """The column head: the model's name, log p(x) and FD in large type, and what the number is in small type."""
    if math.isfinite(h.loglik):
        images = f", {h.images:.0f} images" if math.isfinite(h.images) else ""
        loglik = _number(h.loglik, h.stderr)
        what = f"{h.method}{images}" + "".join(f"; {NOT_COMPARABLE[k]}" for k in ("raw", "binary")
                                                  if getattr(h, k))
    else:
        loglik, what = "n/a", "not evaluated yet"
    fd = f"{h.fd:,.0f}" if math.isfinite(h.fd) else "n/a"
    return (f"<div class='board-head'><div class='name' title='{html.escape(name)}'>{html.escape(name)}</div>"
            f"<div class='big'>{loglik}</div><div class='small'>{html.escape(what)}</div>"
            f"<div class='big'>FD {fd}</div><div class='small'>{FD_SHOWN}</div></div>")


HEAD_STYLE = """<style>
.board-head{line-height:1.15;margin-bottom:0.2rem}
.board-head .name{font-weight:600;font-size:0.85rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.board-head .big{font-size:1.55rem;font-weight:600;white-space:nowrap}
.board-head .small,.board-label .small{font-size:0.7rem;font-weight:400;color:#666}
.board-label{font-size:0.85rem;line-height:1.15}
</style>"""
# Presenter mode (explorer/presenter.py): type a room reads, the names wrapped rather than cut, the colour bar as
# HTML so that its ticks keep their size in a narrow column.
PRESENTER_STYLE = f"""<style>
.board-head{{line-height:1.1;margin-bottom:0}}
.board-head .name{{font-size:{presenter.TEXT_PX}px;white-space:normal;overflow-wrap:anywhere}}
.board-head .big{{font-size:{presenter.NUMBER_PX}px;line-height:1.05}}
.board-head .small,.board-label .small{{font-size:{presenter.TEXT_PX}px;color:#3d3f4a}}
.board-label{{font-size:{presenter.TEXT_PX}px;line-height:1.1}}
.colorbar{{font-size:{presenter.TEXT_PX}px;line-height:1.1;padding:0 2px}}
.colorbar .bar{{height:14px;border:1px solid #444}}
.colorbar .ticks{{position:relative;height:1.3em}}
.colorbar .tick{{position:absolute;top:2px;white-space:nowrap}}
</style>"""


def label_html(title: str, what: str) -> str:
    return (f"<div class='board-label'><b>{html.escape(title)}</b><br>"
            f"<span class='small'>{html.escape(what)}</span></div>")


def strip(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) values in [0, 1] (clipped) or uint8 -> one row of tiles, white between them."""
    pictures = images if images.dtype == np.uint8 else to_uint8(images)
    return image_grid(pictures, ncols=len(pictures), pad=1, pad_value=255)


def sigma_strip(sigma: np.ndarray, scale: ColorScale) -> np.ndarray:
    return image_grid(scale(sigma), ncols=len(sigma), pad=1, pad_value=255)


# ------------------------------------------------------------------------------------------------ view
def check_links(num_images: int) -> None:
    links.integer(IMAGE_KEY, 0, num_images - 1)


def step_image(step: int, num_images: int) -> None:
    st.session_state[IMAGE_KEY] = (int(st.session_state.get(IMAGE_KEY, 0)) + step) % num_images


def new_samples(seed: int, max_seed: int) -> None:
    st.session_state[SEED_KEY] = (seed + 1) % (max_seed + 1)


def choose_set(members: list[str], title: str | None = None) -> None:
    """The "next set" button: the set's models become the selection and its name goes into the URL."""
    st.session_state[MODELS_KEY] = list(members)
    if title is not None:
        st.query_params[SET_KEY] = set_slug(title)
        st.session_state[APPLIED_KEY] = set_slug(title)


def show(loaded: list[tuple[Checkpoint, VAE]], keys: list[tuple], images: np.ndarray, first: int, seed: int,
         presenting: bool = False) -> None:
    """The board itself: a head per model, then the four rows, one st.columns per row so the rows line up
    (``presenting``: in presenter mode's type, see explorer/presenter.py)."""
    indices = tile_indices(first, len(images))
    tiles = images[indices]  # (3, 28, 28) uint8
    drawn = [column_pictures(model, key, images, first, seed) for (_, model), key in zip(loaded, keys, strict=True)]
    recs, samples = [rec for rec, _ in drawn], [smp for _, smp in drawn]
    sigmas = [s["sigma"] for s in samples if s["sigma"] is not None]
    scale = log_scale(sigmas) if sigmas else None
    rows = [  # per row of ROWS, a picture per model (None: the model has no sigma)
        [strip(rec) for rec in recs],
        [strip(smp["mean"]) for smp in samples],
        [strip(smp["sample"]) for smp in samples],
        [None if smp["sigma"] is None else sigma_strip(smp["sigma"], scale) for smp in samples],
    ]
    # Presenter mode lays out MAX_COLUMNS model columns whatever the set's size: fewer models would widen the columns,
    # and their pictures with them, past the height of a 720 px screen.
    slots = max(len(loaded), MAX_COLUMNS) if presenting else len(loaded)
    widths = [0.75] + [1] * slots
    st.html(HEAD_STYLE + (PRESENTER_STYLE if presenting else ""))
    board = st.container(gap="xsmall")
    head = board.columns(widths, gap="small", vertical_alignment="bottom")
    head[0].html(label_html("log p(x)", "nats per image, higher is better; the method under it") +
                 label_html("FD", "Frechet distance of full samples x ~ p(x|z) to the test set, lower is "
                                  "better"))
    for col, (ckpt, _) in zip(head[1:1 + len(loaded)], loaded, strict=True):
        col.html(headline_html(ckpt.name, headline(ckpt)))
    for r, ((title, what), pictures) in enumerate(zip(ROWS, rows, strict=True)):
        cols = board.columns(widths, gap="small", vertical_alignment="center")
        cols[0].html(label_html(title, f"{what} #{indices[0]}-{indices[-1]}" if r == 0 else what))
        if r == 0:  # the test images themselves, under the row's label
            cols[0].image(strip(tiles), width="stretch")
        if r == len(ROWS) - 1 and scale is not None:
            if presenting:
                cols[0].html(render.colorbar_html(scale, "sigma"))
            else:
                render.show_colorbar(cols[0], scale, "sigma")
        for col, (ckpt, _), picture in zip(cols[1:1 + len(loaded)], loaded, pictures, strict=True):
            if picture is None:
                col.html(label_html("no sigma", f"{ckpt.decoder} has no scale parameter"))
            else:
                col.image(picture, width="stretch")
