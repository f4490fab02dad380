"""The overview's tables and chart, built from each checkpoint's eval.json. Every key may be missing or null."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vae_core.zoo import Checkpoint

from .render import DATA_KIND_NAMES, data_kind

GROUPS = {"binary": "binarized pixels (bits per binary pixel)", "continuous": "8-bit pixels (bits per 8-bit pixel)",
          "discrete": "8-bit pixels (bits per 8-bit pixel)"}


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _num(v) -> float:
    try:
        return float(v) if v is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def leaderboard(checkpoints: list[Checkpoint]) -> pd.DataFrame:
    rows = []
    for c in checkpoints:
        ev = c.evaluation or {}
        kind = ev.get("data_kind") or data_kind(c)
        iwae = _num(_get(ev, "test", "iwae"))
        k = _get(ev, "test", "iwae_k")
        rows.append({
            "dataset": c.dataset, "group": GROUPS.get(kind, "other"), "model": c.name, "decoder": c.decoder,
            "data": DATA_KIND_NAMES.get(kind, kind or "?"), "latent": c.config.latent_dim,
            "log-lik": iwae if np.isfinite(iwae) else _num(_get(ev, "test", "elbo")),
            "bound": (f"IWAE k={k}" if np.isfinite(iwae) else "ELBO") if ev else "not evaluated",
            "ELBO": _num(_get(ev, "test", "elbo")), "bits/dim": _num(_get(ev, "test", "bits_per_dim")),
            "KL": _num(_get(ev, "test", "kl")), "MSE": _num(_get(ev, "test", "mse")),
            "active units": _num(_get(ev, "test", "active_units")),
            "sigma min": _num(_get(ev, "sigma", "min")), "sigma < 0.01": _num(_get(ev, "sigma", "frac_below_0.01")),
            "FD samples": _num(_get(ev, "frechet", "samples")),
            "FD sample means": _num(_get(ev, "frechet", "sample_means")),
            "FD reconstructions": _num(_get(ev, "frechet", "reconstructions")),
            "epochs": _num(_get(ev, "training", "epochs")) if ev else float(len(c.history) or np.nan),
            "diverged at": _num(_get(ev, "training", "diverged_at_epoch")),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["dataset", "group", "bits/dim", "model"], ascending=[True, False, True, True],
                             na_position="last").reset_index(drop=True)


COLUMNS = {
    "log-lik": st.column_config.NumberColumn("log p(x)", help="nats per image (higher is better)", format="%.1f"),
    "bound": st.column_config.TextColumn("estimate"),
    "ELBO": st.column_config.NumberColumn(format="%.1f"),
    "bits/dim": st.column_config.NumberColumn(help="lower is better; binarized and 8-bit are not comparable",
                                              format="%.3f"),
    "KL": st.column_config.NumberColumn(format="%.1f"),
    "MSE": st.column_config.NumberColumn(format="%.4f"),
    "active units": st.column_config.NumberColumn(format="%d"),
    "sigma min": st.column_config.NumberColumn(help="smallest decoder sigma over the test pixels", format="%.1e"),
    "sigma < 0.01": st.column_config.NumberColumn(help="fraction of test pixels with sigma below 0.01",
                                                  format="%.3f"),
    "FD samples": st.column_config.NumberColumn(help="Frechet distance of prior samples to the test set",
                                                format="%.1f"),
    "FD sample means": st.column_config.NumberColumn(format="%.1f"),
    "FD reconstructions": st.column_config.NumberColumn(format="%.1f"),
    "epochs": st.column_config.NumberColumn(format="%d"),
    "diverged at": st.column_config.NumberColumn(help="epoch whose loss became non-finite", format="%d"),
}


def quality_points(frame: pd.DataFrame, means: bool = False) -> pd.DataFrame:
    if frame.empty:
        return frame
    fd = "FD sample means" if means else "FD samples"
    points = frame[["model", "decoder", "group", "bits/dim", fd]].rename(columns={fd: "FD"})
    return points[np.isfinite(points["bits/dim"]) & np.isfinite(points["FD"]) & (points["FD"] > 0)]


def quality_sentences(points: pd.DataFrame) -> list[str]:
    """Three sentences on what the chart shows, the middle one computed from this zoo's numbers."""
    out = ["Each point is one checkpoint: lower means a higher test likelihood, further left means prior samples "
           "closer to the test set."]
    eight = points[points["group"] != GROUPS["binary"]]
    if len(eight) >= 2:
        best = eight.loc[eight["bits/dim"].idxmin()]
        rank = int((eight["FD"] < best["FD"]).sum()) + 1
        best_fd = eight.loc[eight["FD"].idxmin()]
        if rank == 1:
            out.append(f"Among the 8-bit models here, {best['model']} has both the best likelihood "
                       f"({best['bits/dim']:.3f} bits/dim) and the best samples (FD {best['FD']:.1f}).")
        else:
            out.append(f"Among the 8-bit models here, {best['model']} has the best likelihood "
                       f"({best['bits/dim']:.3f} bits/dim) yet ranks {rank} of {len(eight)} on samples "
                       f"(FD {best['FD']:.1f}, against {best_fd['FD']:.1f} for {best_fd['model']}): a better "
                       f"likelihood did not buy better samples.")
    else:
        out.append("There are too few 8-bit models with both numbers to compare likelihood and samples.")
    out.append("Bernoulli models see binarized pixels, so their bits/dim sit in a panel of their own: bits per "
               "binary pixel are not comparable with bits per 8-bit pixel.")
    return out
