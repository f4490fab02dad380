"""Showing arrays: crisp enlarged 28x28 pictures, grids, colour maps with their colour bars, and the plain
"does not apply" notes. Display only: every number shown here was computed in ``vae_core``."""
from __future__ import annotations

import html
import io

import numpy as np
from PIL import Image

from explorer.compute.images import ColorScale, colorbar, format_tick, image_grid, to_uint8, upscale
from vae_core.base.data import DATA_KINDS, is_bounded
from vae_core.model.config import DECODERS
from vae_core.zoo.checkpoints import Checkpoint

SCALE = 5  # 28 px -> 140 px: sharp on a projector
DATA_KIND_NAMES = {"binary": "binarized pixels", "continuous": "dequantized 8-bit pixels",
                   "discrete": "8-bit pixels", "raw": "raw pixels (x / 255, no dequantization)"}


def picture(x: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """(28, 28) values in [0, 1] (clipped) or uint8, or (28, 28, 3) RGB -> an enlarged uint8 picture."""
    img = x if x.dtype == np.uint8 else to_uint8(x)
    return upscale(img, scale)


def grid(images: np.ndarray, ncols: int = 8, scale: int = 3) -> np.ndarray:
    """(N, 28, 28) values in [0, 1] -> one enlarged grid picture."""
    return upscale(image_grid(to_uint8(images), ncols=ncols, pad=1, pad_value=255), scale)


def png(picture: np.ndarray) -> bytes:
    """A (H, W) or (H, W, 3) uint8 picture as PNG bytes, the pixels unchanged: what ``st.image`` would encode from the
    array at every run, made once where the caller caches it."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def colored(values: np.ndarray, scale: ColorScale, factor: int = SCALE) -> np.ndarray:
    return upscale(scale(values), factor)


def show_colorbar(where, scale: ColorScale, label: str) -> None:
    where.image(colorbar(scale, label=label), width="stretch")


def colorbar_html(scale: ColorScale, label: str, ticks: int = 3) -> str:
    """The colour bar as HTML, for type that must stay readable whatever the column's width (presenter mode): a
    gradient with at most ``ticks`` labels under it, the end ones aligned to the ends so that no two overlap."""
    if scale.log:
        lo, hi = np.log10(max(scale.vmin, 1e-30)), np.log10(max(scale.vmax, 1e-30))
        stops = 10.0 ** np.linspace(lo, hi, 17)
    else:
        stops = np.linspace(scale.vmin, scale.vmax, 17)
    gradient = ", ".join(f"rgb({r},{g},{b}) {i / 16:.0%}" for i, (r, g, b) in enumerate(scale(stops).tolist()))
    marks = []
    values = scale.ticks(ticks)
    for i, t in enumerate(values):
        at = float(scale.normalize([t])[0])
        shift = "0" if i == 0 else "-100%" if i == len(values) - 1 else "-50%"
        marks.append(f"<span class='tick' style='left:{at:.1%};transform:translateX({shift})'>"
                     f"{html.escape(format_tick(t))}</span>")
    return (f"<div class='colorbar'><div class='label'>{html.escape(label)}</div>"
            f"<div class='bar' style='background:linear-gradient(to right, {gradient})'></div>"
            f"<div class='ticks'>{''.join(marks)}</div></div>")


def not_applicable(where, text: str) -> None:
    where.markdown(f"<div style='color:#777;font-style:italic;padding:2em 0.2em'>{text}</div>",
                   unsafe_allow_html=True)


def title(ckpt: Checkpoint) -> str:
    cfg = ckpt.config
    settings = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in cfg.decoder_settings.items())
    return (f"**{ckpt.name}** · `{cfg.decoder}`{f' ({settings})' if settings else ''} · "
            f"{DATA_KIND_NAMES.get(data_kind(ckpt), '?')} · latent {cfg.latent_dim}")


def data_kind(ckpt: Checkpoint) -> str | None:
    """The data the model was trained on: its config's choice, else its likelihood's default."""
    spec = DECODERS.get(ckpt.decoder)
    return ckpt.config.data_kind or (spec.data_kinds[0] if spec else None)


def no_sigma_text(ckpt: Checkpoint) -> str:
    return f"No decoder sigma: `{ckpt.decoder}` has no scale parameter, so there is nothing to collapse."


def fmt(value, spec: str = ".2f", missing: str = "n/a") -> str:
    try:
        return missing if value is None or not np.isfinite(value) else format(value, spec)
    except (TypeError, ValueError):
        return missing


def sample_note(samples: np.ndarray) -> str:
    """How much of a Gaussian sample fell outside [0, 1] and was clipped for display."""
    outside = float(((samples < 0) | (samples > 1)).mean())
    return f"{outside:.0%} of the sampled pixels fell outside [0, 1] and are clipped for display" if outside else ""


def elbo_bits_row(kind: str, bits: float) -> tuple[str, str]:
    """The bits/dim row of an image's ELBO table: named as the bound it is, and absent for unbounded data."""
    if kind is not None and kind in DATA_KINDS and not is_bounded(kind):
        return ("bits/dim", "none (raw pixels)")
    unit = "binary" if kind == "binary" else "8-bit"
    return (f"bits/dim of the ELBO ({unit}; an upper bound)", fmt(bits, ".3f"))


def show_html_table(where, rows: list[tuple[str, str]]) -> None:
    body = "".join(f"<tr><td style='padding:2px 8px 2px 0'>{k}</td><td style='text-align:right'>{v}</td></tr>"
                   for k, v in rows)
    where.markdown(f"<table style='font-size:0.95rem;border:none'>{body}</table>", unsafe_allow_html=True)

