"""Exact log p(x) = log ∫ p(x|z) p(z) dz for models with a 2-D latent, by adaptive quadrature, and the
normalised posterior p(z|x) on a grid.

No fixed box: a coarse scan of the square |z_1|, |z_2| <= ``radius`` finds where each image's mass is, and only
cells there are split, halving the spacing at every level, until the estimate changes by less than ``tol`` nats.
The rule is the midpoint rule on square cells: log p(x) ~ logsumexp_c (log p(x|z_c) + log p(z_c)) + 2 log h.
A cell is split when its log joint comes within ``margin`` of the image's best, or when a neighbour's does; a
cell that is a local maximum of the grid is first raised by half its largest drop to a neighbour, a bound on a
quadratic peak narrower than the spacing hidden inside it (such a peak shows at its nearest node far below its
height, amid steep drops). Cells left unsplit keep their contribution at the spacing they were left at.

Why radius = 32: the posterior peaks of the shipped 2-D models lie within |z| < 14 (the largest, 13.7, for
mnist-gaussian-fixed-2d on the first 100 sample images: scripts/bench_likelihood.py), and at |z| = 32 the prior
alone is e^-512 below its peak, so the decoder would need a likelihood hundreds of nats above its best inside
the square for outside mass to count. That is checked, not assumed: the outer ring of the scan and rays out to
8 radii are evaluated, and an image is flagged when either comes within ``margin`` of its peak.

Devices: the decoder runs where the model is (or on the ``device`` given, the model moved there in place and the
images once); the bookkeeping is float64 on the CPU. Nothing is random, so a GPU gives the CPU's estimates up to
float rounding, and where rounding tips a cell's refinement, up to the tolerance ``tol`` each meets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vae_core.base.devices import check_float64, place
from vae_core.model.likelihoods import unvalidated

LATENT_DIM = 2
RADIUS = 32.0             # half-width of the scanned square (see the module docstring)
COARSE_SPACING = 1.0      # first scan cell size; halved where the mass is (as 0.25 within 0.03 nats, bench --check)
MARGIN = 25.0             # nats below the peak a cell may lie and still be refined: e^-25 ~ 1e-11 per cell
MAX_HALVINGS = 12         # finest spacing COARSE_SPACING / 2^12 ~ 1e-4
MAX_EVALUATIONS = 300_000  # decoder evaluations per image before it is given up as not converged
PROBE_RADII = (1.25, 1.5, 2.0, 3.0, 4.0, 8.0)  # multiples of the radius checked beyond the square
PROBE_DIRECTIONS = 32
CHUNK = 4096              # latent points decoded at a time
SETTLED = 20              # convergence also needs the change before the last under SETTLED * tol (1 nat at 0.05)
NEIGHBOURS = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]


@dataclass
class QuadratureResult:
    """Per-image log p(x) in nats with its numerical error; a flagged image has converged False and a reason."""

    log_px: Tensor       # (N,) float64; NaN where the integrand was not finite
    error: Tensor        # (N,) float64: |change of the estimate on the last halving of the spacing|
    converged: Tensor    # (N,) bool: error < tol (after a previous change < SETTLED * tol), no check failed
    reasons: list[str]   # (N,) '' where converged, else one sentence
    spacing: Tensor      # (N,) float64: the finest cell size used
    evaluations: Tensor  # (N,) int64: points z at which p(x|z) p(z) was evaluated (the shared scan included)
    mode: Tensor         # (N, 2) float64: the evaluated z with the largest p(x|z) p(z)
    extent: Tensor       # (N, 4) float64: z1_min, z1_max, z2_min, z2_max of the cells refined last
    tol: float


@dataclass
class PosteriorGrid:
    """p(z|x) on a regular grid for one image. ``log_density[i, j]`` is at (z1[i], z2[j]) (ij indexing)."""

    z1: Tensor               # (n1,) float64
    z2: Tensor               # (n2,) float64
    log_density: Tensor      # (n1, n2) float64: log p(z|x) = log p(x|z) + log p(z) - log p(x)
    probabilities: Tensor    # (n1, n2) float64: density x cell area, normalised to sum to 1 on this grid
    mass_on_grid: float      # the sum before normalising: ~1 when the grid covers and resolves the posterior
    cell_area: float
    log_px: float            # the exact log p(x) (exact_log_likelihood)
    error: float
    converged: bool
    reason: str


def check_latent_plane(model) -> None:
    dim = model.config.latent_dim
    if dim != LATENT_DIM:
        raise ValueError(f"exact log p(x) integrates over a 2-D latent plane, but this model has latent_dim={dim}; "
                         f"use AIS (vae_core.evaluation.ais) or IWAE (vae_core.evaluation.metrics) for it")


def _check_settings(tol, radius, coarse_spacing, margin) -> None:
    for name, value in (("tol", tol), ("radius", radius), ("coarse_spacing", coarse_spacing), ("margin", margin)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if coarse_spacing > radius:
        raise ValueError(f"coarse_spacing ({coarse_spacing}) must be smaller than the radius ({radius})")


def _log_joint(model, z: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) + log p(z) in float64 for rows of z (C, 2) against x: (C, *event) -> (C,), or (B, 1, *event)
    -> (B, C) when x is one row per image broadcast over all z."""
    dtype = model.prior().mean.dtype
    z = z.to(dtype)
    return model.decode(z).log_prob(x).double() + model.prior().log_prob(z).double()


def _segment_logsumexp(values: Tensor, index: Tensor, n: int) -> Tensor:
    """logsumexp of ``values`` within each group index = 0..n-1 (empty groups give -inf); float64."""
    top = torch.full((n,), -math.inf, dtype=values.dtype, device=values.device)
    top = top.scatter_reduce(0, index, values, "amax")
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    sums = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, index, (values - safe[index]).exp())
    return sums.log() + safe


def _segment_max(values: Tensor, index: Tensor, n: int) -> Tensor:
    return torch.full((n,), -math.inf, dtype=values.dtype, device=values.device).scatter_reduce(
        0, index, values, "amax")


@torch.no_grad()
def exact_log_likelihood(model, x: Tensor, tol: float = 0.05, radius: float = RADIUS,
                         coarse_spacing: float = COARSE_SPACING, margin: float = MARGIN,
                         max_halvings: int = MAX_HALVINGS, max_evaluations: int = MAX_EVALUATIONS,
                         progress: bool = False, device: str | torch.device | None = None) -> QuadratureResult:
    """log p(x) per image of x (N, *event) for a model with a 2-D latent, to ``tol`` nats (module docstring).

    The model needs ``config.latent_dim``, ``prior()``, ``decode(z)`` returning a Distribution whose
    ``log_prob`` broadcasts (as every vae_core likelihood does), and ``device``. ``device``: where the decoder runs
    (None: where the model is); the results are on the CPU.
    """
    check_latent_plane(model)
    _check_settings(tol, radius, coarse_spacing, margin)
    x = place(model, x, device)  # (N, *event) on the model's device, once
    check_float64(model.device, "the exact quadrature")
    with unvalidated():
        return _integrate(model, x, tol, radius, coarse_spacing, margin, max_halvings, max_evaluations, progress)


def _integrate(model, x, tol, radius, coarse_spacing, margin, max_halvings, max_evaluations, progress
               ) -> QuadratureResult:
    model.eval()
    device = model.device
    x = x.to(device)
    n = len(x)
    per_side = max(2, round(2 * radius / coarse_spacing))
    h0 = 2 * radius / per_side

    log_px = torch.full((n,), math.nan, dtype=torch.float64)
    error = torch.full((n,), math.nan, dtype=torch.float64)
    spacing = torch.full((n,), math.nan, dtype=torch.float64)
    evaluations = torch.zeros(n, dtype=torch.int64)
    mode = torch.full((n, 2), math.nan, dtype=torch.float64)
    reasons = [""] * n
    if n == 0:
        return QuadratureResult(log_px, error, torch.zeros(0, dtype=torch.bool), reasons, spacing, evaluations,
                                mode, torch.zeros(0, 4, dtype=torch.float64), tol)
    bar = tqdm(total=n, desc="quadrature", unit="image", disable=not progress, leave=False)

    # ---- level 0: one scan shared by all images (the decoder does not depend on x)
    centres = -radius + (torch.arange(per_side, dtype=torch.float64) + 0.5) * h0
    i0, j0 = torch.meshgrid(torch.arange(per_side), torch.arange(per_side), indexing="ij")
    i0, j0 = i0.flatten(), j0.flatten()  # (M^2,)
    z0 = torch.stack([centres[i0], centres[j0]], 1)  # (M^2, 2)
    f0 = torch.empty(n, len(z0), dtype=torch.float64)
    image_rows = max(1, CHUNK // 256)
    for s in range(0, len(z0), CHUNK // 4):
        zc = z0[s:s + CHUNK // 4].to(device)
        for b in range(0, n, image_rows):
            f0[b:b + image_rows, s:s + len(zc)] = _log_joint(model, zc, x[b:b + image_rows].unsqueeze(1)).cpu()
    evaluations += len(z0)
    probe_peak = _probe_outside(model, x, radius)  # (N,)
    evaluations += PROBE_DIRECTIONS * len(PROBE_RADII)

    img = torch.arange(n).repeat_interleave(len(z0))
    cells_i, cells_j, f = i0.repeat(n), j0.repeat(n), f0.flatten()
    settled = torch.full((n,), -math.inf, dtype=torch.float64)  # log of the mass of cells no longer split
    previous = torch.full((n,), math.nan, dtype=torch.float64)
    change_before = torch.full((n,), math.nan, dtype=torch.float64)
    best = torch.full((n,), -math.inf, dtype=torch.float64)
    extent = torch.full((n, 4), math.nan, dtype=torch.float64)
    open_images = torch.ones(n, dtype=torch.bool)

    def close(mask: Tensor, estimate: Tensor, change: Tensor, h: float, why: str = "") -> None:
        for k in (mask & open_images).nonzero().flatten().tolist():
            log_px[k], error[k], spacing[k] = estimate[k], change[k], h
            reasons[k] = reasons[k] or why.format(change=f"{float(change[k]):.3g}")
            open_images[k] = False
            bar.update(1)

    for level in range(max_halvings + 1):
        h = h0 / 2**level
        centre_i, centre_j = -radius + (cells_i.double() + 0.5) * h, -radius + (cells_j.double() + 0.5) * h
        finite = ~torch.isnan(f) & (f != math.inf)  # -inf is a zero likelihood, not a failure
        level_best = _segment_max(torch.where(finite, f, -math.inf), img, n)
        where_best = _segment_max(torch.where(finite & (f == level_best[img]), torch.arange(len(f)), -1)
                                  .double(), img, n).long()
        improved = (level_best > best).nonzero().flatten()
        mode[improved] = torch.stack([centre_i[where_best[improved]], centre_j[where_best[improved]]], 1)
        best = torch.maximum(best, level_best)
        estimate = torch.logaddexp(settled, _segment_logsumexp(f + 2 * math.log(h), img, n))
        change = (estimate - previous).abs()

        # ---- checks that end an image
        bad = _segment_any(~finite, img, n) & open_images
        for k in bad.nonzero().flatten().tolist():
            c = int((~finite & (img == k)).nonzero()[0, 0])
            reasons[k] = (f"log p(x|z) is not finite (NaN or +inf) at z = ({float(centre_i[c]):.4g}, "
                          f"{float(centre_j[c]):.4g}): the decoder output is unusable there, so no estimate is given")
        close(bad, torch.full((n,), math.nan, dtype=torch.float64), change, h)
        close(best == -math.inf, estimate, change, h,
              "p(x|z) p(z) is zero at every scanned z, so log p(x) cannot be located")
        if level == 0:
            ring = (cells_i == 0) | (cells_i == per_side - 1) | (cells_j == 0) | (cells_j == per_side - 1)
            reach = _segment_any(ring & (f >= (best - margin)[img]), img, n) | (probe_peak >= best - margin)
            for k in (reach & open_images).nonzero().flatten().tolist():
                reasons[k] = (f"posterior mass reaches the edge of the scanned square |z_i| <= {radius}, so "
                              f"log p(x) may miss mass outside it")
        settling = change_before < SETTLED * tol  # two small changes in a row, not one crossing by chance
        close((change < tol) & settling, estimate, change, h)
        if level == max_halvings:
            close(open_images, estimate, change, h,
                  f"not converged to {tol} nats after {max_halvings} halvings of the spacing "
                  f"(last change {{change}} nats)")
        if not open_images.any():
            break
        previous, change_before = estimate, change

        # ---- choose the cells to split: near the best one, widened by how steep the integrand is there
        keep = open_images[img]
        img, cells_i, cells_j, f = img[keep], cells_i[keep], cells_j[keep], f[keep]
        near, active = _cells_to_split(img, cells_i, cells_j, f, best, per_side * 2**level, margin)
        children = 4 * torch.bincount(img[near], minlength=n)
        close(evaluations + children > max_evaluations, estimate, change, h,
              f"not converged to {tol} nats within {max_evaluations} evaluations (last change {{change}} nats)")
        edges = [-radius + cells_i[active].double() * h, -radius + (cells_i[active].double() + 1) * h,
                 -radius + cells_j[active].double() * h, -radius + (cells_j[active].double() + 1) * h]
        for col, (values, reduce) in enumerate(zip(edges, ("amin", "amax", "amin", "amax"), strict=True)):
            fill = math.inf if reduce == "amin" else -math.inf
            bound = torch.full((n,), fill, dtype=torch.float64).scatter_reduce(0, img[active], values, reduce)
            extent[:, col] = torch.where(open_images, bound, extent[:, col])
        near &= open_images[img]
        settled = torch.logaddexp(settled, _segment_logsumexp(f[~near] + 2 * math.log(h), img[~near], n))

        # ---- split: four children per chosen cell, at half the spacing
        pi, pj = cells_i[near], cells_j[near]
        img = img[near].repeat_interleave(4)
        cells_i = 2 * pi.repeat_interleave(4) + torch.tensor([0, 0, 1, 1]).repeat(len(pi))
        cells_j = 2 * pj.repeat_interleave(4) + torch.tensor([0, 1, 0, 1]).repeat(len(pj))
        z = torch.stack([-radius + (cells_i.double() + 0.5) * h / 2,
                         -radius + (cells_j.double() + 0.5) * h / 2], 1)  # (C, 2)
        f = torch.cat([_log_joint(model, z[s:s + CHUNK].to(device), x[img[s:s + CHUNK]]).cpu()
                       for s in range(0, len(z), CHUNK)] or [torch.zeros(0, dtype=torch.float64)])
        evaluations += torch.bincount(img, minlength=n)
    bar.close()
    converged = torch.tensor([not r for r in reasons]) & (error < tol)
    return QuadratureResult(log_px, error, converged, reasons, spacing, evaluations, mode, extent, tol)


def _cells_to_split(img: Tensor, cells_i: Tensor, cells_j: Tensor, f: Tensor, best: Tensor, side: int,
                    margin: float) -> tuple[Tensor, Tensor]:
    """(near, active) masks over the cells of one level.

    A cell is active when its log joint, raised where it is a local maximum by half its largest drop to a
    neighbour (8-neighbourhood), comes within ``margin`` of the image's best: a peak narrower than the spacing
    shows at its nearest node far below its height, but then amid steep drops, so that cell is split. Near:
    active or next to an active cell. Cells are keyed (image, i, j) and neighbours found by binary search.
    """
    key = (img * side + cells_i) * side + cells_j
    order = torch.argsort(key)
    key_sorted = key[order]
    neighbour = []
    for a, b in NEIGHBOURS:
        ni, nj = cells_i + a, cells_j + b
        inside = (ni >= 0) & (ni < side) & (nj >= 0) & (nj < side)
        nkey = (img * side + ni.clamp(0, side - 1)) * side + nj.clamp(0, side - 1)
        pos = torch.searchsorted(key_sorted, nkey).clamp(max=len(key_sorted) - 1)
        neighbour.append(torch.where(inside & (key_sorted[pos] == nkey), order[pos], -1))
    neighbour = torch.stack(neighbour, 1)  # (C, 8), -1 where the neighbour is not a cell of this level
    value = torch.where(neighbour >= 0, f[neighbour.clamp(min=0)], f[:, None]).nan_to_num(nan=-math.inf)
    peak = (value <= f[:, None]).all(1)  # a local maximum of this level's grid
    # Around a quadratic peak hidden inside a local-maximum cell, the peak exceeds the node by at most a
    # quarter of the node's largest drop to a neighbour (1-D: c a^2 <= c h (h + 2a) / 4 for |a| <= h / 2);
    # half of it, to spare the non-quadratic. Cells on a slope need no rise: their higher neighbour leads there.
    rise = torch.where(peak, (f - value.amin(1)) / 2, 0.0).nan_to_num(nan=0.0, posinf=math.inf)  # (C,)
    active = (f + rise).nan_to_num(nan=-math.inf) >= (best - margin)[img]
    near = active | ((neighbour >= 0) & active[neighbour.clamp(min=0)]).any(1)
    return near, active


def _segment_any(mask: Tensor, index: Tensor, n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.int64).index_add_(0, index, mask.long()) > 0


def _probe_outside(model, x: Tensor, radius: float) -> Tensor:
    """The largest log p(x|z) + log p(z) on rays beyond the scanned square, per image (N,)."""
    angles = torch.arange(PROBE_DIRECTIONS, dtype=torch.float64) * (2 * math.pi / PROBE_DIRECTIONS)
    radii = torch.tensor(PROBE_RADII, dtype=torch.float64) * radius * math.sqrt(2)
    r, a = torch.meshgrid(radii, angles, indexing="ij")
    z = torch.stack([r.flatten() * a.flatten().cos(), r.flatten() * a.flatten().sin()], 1).to(model.device)
    out = torch.cat([_log_joint(model, z, x[b:b + 16].unsqueeze(1)).cpu() for b in range(0, len(x), 16)])
    return out.nan_to_num(nan=-math.inf).amax(1)  # a NaN out there is not mass; NaNs inside are caught


@torch.no_grad()
def posterior_grid(model, x_one: Tensor, points: int = 201, extent: tuple[float, float, float, float] | None = None,
                   padding: float = 0.25, tol: float = 0.05, **quadrature) -> PosteriorGrid:
    """p(z|x) for one image x_one (1, *event) or (*event) on a ``points`` x ``points`` grid.

    The grid spans ``extent`` = (z1_min, z1_max, z2_min, z2_max), by default the region where the adaptive
    quadrature found the mass, widened by ``padding`` of its size on each side. Densities are normalised by the
    exact log p(x); ``probabilities`` are cell masses normalised on this grid and ``mass_on_grid`` says how much
    of the posterior the grid holds before that normalisation.
    """
    check_latent_plane(model)
    if not (isinstance(points, int) and points >= 2):
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    with torch.no_grad():
        event = tuple(model.eval().decode(torch.zeros(1, LATENT_DIM, dtype=model.prior().mean.dtype,
                                                      device=model.device)).event_shape)
    if tuple(x_one.shape) == event:
        x_one = x_one.unsqueeze(0)
    if tuple(x_one.shape) != (1, *event):
        raise ValueError(f"x_one must be one image of shape {event} (or {(1, *event)}), got {tuple(x_one.shape)}")
    result = exact_log_likelihood(model, x_one, tol=tol, **quadrature)
    log_px = float(result.log_px[0])
    if not bool(result.converged[0]) or not torch.isfinite(result.extent[0]).all():
        raise ValueError(f"no posterior grid for this image: {result.reasons[0] or 'log p(x) did not converge'}")
    if extent is None:
        lo1, hi1, lo2, hi2 = result.extent[0].tolist()
        pad1, pad2 = padding * (hi1 - lo1), padding * (hi2 - lo2)
        extent = (lo1 - pad1, hi1 + pad1, lo2 - pad2, hi2 + pad2)
    z1 = torch.linspace(extent[0], extent[1], points, dtype=torch.float64)
    z2 = torch.linspace(extent[2], extent[3], points, dtype=torch.float64)
    zz = torch.cartesian_prod(z1, z2)  # (points^2, 2), z2 fastest: ij order
    with torch.no_grad(), unvalidated():
        model.eval()
        f = torch.cat([_log_joint(model, zz[s:s + CHUNK].to(model.device), x_one.to(model.device)).cpu()
                       for s in range(0, len(zz), CHUNK)])
    log_density = (f - log_px).view(points, points)
    area = float((z1[1] - z1[0]) * (z2[1] - z2[0]))
    log_mass = log_density + math.log(area)
    total = torch.logsumexp(log_mass.flatten(), 0)
    return PosteriorGrid(z1, z2, log_density, (log_mass - total).exp(), float(total.exp()), area, log_px,
                         float(result.error[0]), bool(result.converged[0]), result.reasons[0])
