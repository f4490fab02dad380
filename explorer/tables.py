"""The overview's tables and chart, built from each checkpoint's eval.json (vae_core.files.schema.Evaluation, read by
vae_core.zoo.checkpoints: every value has its declared type or is None, which shows as n/a)."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from vae_core.base.data import DATA_KINDS, UNBOUNDED_REASON, is_bounded
from vae_core.evaluation.judge import AIS, QUADRATURE, not_best, sandwich_not_finite
from vae_core.files.schema import BestLogLikelihood, Evaluation, Frechet, Metrics, SigmaStats, TrainingSummary, or_nan
from vae_core.model.config import NETWORK_NAMES
from vae_core.zoo.checkpoints import Checkpoint

from .render import DATA_KIND_NAMES, data_kind

GROUPS = {"binary": "binarized pixels (bits per binary pixel)", "continuous": "8-bit pixels (bits per 8-bit pixel)",
          "discrete": "8-bit pixels (bits per 8-bit pixel)"}
BINARY_NOTE = "binarized pixels: not comparable with 8-bit"  # beside every Bernoulli log p(x) and bits/dim
RAW_GROUP = "raw pixels (an unbounded density: not ranked)"  # every unbounded data kind (vae_core.base.data)
METHODS = {QUADRATURE: "exact (quadrature)", AIS: "AIS (stochastic lower bound)"}
BEST = "best estimate"
IWAE_BOUND = "IWAE (a lower bound)"


def _kind(c: Checkpoint) -> str | None:
    """The model's data kind (its config, trusted over eval.json's copy); None when unknown."""
    kind = data_kind(c) or (c.evaluation.data_kind if c.evaluation is not None else None)
    return kind if kind in DATA_KINDS else None


def bounded(c: Checkpoint) -> bool:
    kind = _kind(c)
    return kind is None or is_bounded(kind)


def _best(ev: Evaluation) -> BestLogLikelihood | None:
    """eval.json's best-estimate block when it names a known method and has an estimate."""
    block = ev.log_likelihood
    if block is None or block.method not in METHODS or block.estimate is None:
        return None
    return block


def leaderboard(checkpoints: list[Checkpoint]) -> pd.DataFrame:
    """One row per checkpoint: the best log p(x) it has (exact or AIS, with its standard error and number of
    images), else its IWAE or ELBO named as the lower bound it is; the old IWAE beside it and best - IWAE; bits/dim
    from the best estimate only, and none for unbounded (raw) data."""
    rows = []
    for c in checkpoints:
        ev = c.evaluation or Evaluation()
        test, sigma, frechet = ev.test or Metrics(), ev.sigma or SigmaStats(), ev.frechet or Frechet()
        training = ev.training or TrainingSummary()
        kind = _kind(c)
        is_raw = not bounded(c)
        best = _best(ev)
        iwae, elbo = or_nan(test.iwae), or_nan(test.elbo)
        # An AIS mean below another lower bound on the same images (IWAE, the wider-proposal IWAE), or from chains
        # that did not converge, is not the best this model has: the IWAE stands in, and not_best_sentence says why.
        why_not = not_best(best) if best is not None else None
        usable = best is not None and why_not is None
        if usable:
            loglik, stderr = or_nan(best.estimate), or_nan(best.estimate_stderr)
            method, images = METHODS[best.method], or_nan(best.num_images)
        elif np.isfinite(iwae):
            loglik, stderr, images = iwae, or_nan(test.iwae_stderr), or_nan(test.iwae_images)
            method = f"IWAE k={test.iwae_k} (lower bound)" if test.iwae_k is not None else "IWAE (lower bound)"
        else:
            loglik, stderr, images = elbo, or_nan(test.elbo_stderr), or_nan(test.num_images)
            method = "ELBO (lower bound)" if c.evaluation is not None else "not evaluated"
        rows.append({
            "dataset": c.dataset, "group": RAW_GROUP if is_raw else GROUPS.get(kind, "other"), "model": c.name,
            "decoder": c.decoder, "architecture": NETWORK_NAMES[c.config.network],
            "data": DATA_KIND_NAMES.get(kind, kind or "?"), "latent": c.config.latent_dim,
            "log-lik": loglik, "± se": stderr, "estimate": method, "images": images,
            # on the images of log p(x) where a best estimate exists, so the three read side by side
            "ELBO": or_nan(best.elbo) if best else elbo, "IWAE": or_nan(best.iwae) if best else iwae,
            "IWAE (test set)": iwae,
            "best - IWAE": or_nan(best.best_minus_iwae) if best else np.nan,
            "± (best - IWAE)": or_nan(best.best_minus_iwae_stderr) if best else np.nan,
            "BDMC gap": (np.inf if sandwich_not_finite(best) else or_nan(best.bdmc_gap)) if best else np.nan,
            "not best": why_not or "",
            "bits/dim": np.nan if is_raw or not usable else or_nan(best.bits_per_dim),
            "bits/dim (IWAE bound)": np.nan if is_raw else or_nan(test.bits_per_dim),
            "KL": or_nan(test.kl), "MSE": or_nan(test.mse), "active units": or_nan(test.active_units),
            "sigma min": or_nan(sigma.min), "sigma < 0.01": or_nan(sigma.frac_below_0_01),
            "FD samples": or_nan(frechet.samples), "FD sample means": or_nan(frechet.sample_means),
            "FD reconstructions": or_nan(frechet.reconstructions),
            "epochs": (or_nan(training.epochs) if c.evaluation is not None
                       else float(len(c.history_lines) or np.nan)),
            "diverged at": or_nan(training.diverged_at_epoch),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["dataset", "group", "bits/dim", "bits/dim (IWAE bound)", "model"],
                             ascending=[True, False, True, True, True], na_position="last").reset_index(drop=True)


COLUMNS = {
    "log-lik": st.column_config.NumberColumn("log p(x)", help="nats per image (higher is better): the best estimate "
                                             "this model has, or the lower bound the next column names",
                                             format="%.1f"),
    "± se": st.column_config.NumberColumn(help="standard error over the test images", format="%.2f"),
    "estimate": st.column_config.TextColumn(help="how log p(x) was computed: exact for 2-D latents, AIS otherwise; "
                                                 "IWAE or ELBO (lower bounds) where no better estimate exists yet"),
    "images": st.column_config.NumberColumn(help="test images the estimate averages", format="%d"),
    "ELBO": st.column_config.NumberColumn(help="a lower bound, on the same images as log p(x)", format="%.1f"),
    "IWAE": st.column_config.NumberColumn(help="the importance-weighted lower bound, on the same images as log p(x)",
                                          format="%.1f"),
    "IWAE (test set)": st.column_config.NumberColumn(help="the IWAE bound the leaderboard used to show, on the "
                                                          "test images of its evaluation", format="%.1f"),
    "best - IWAE": st.column_config.NumberColumn(help="how far IWAE fell below the best estimate, on the same images",
                                                 format="%.2f"),
    "± (best - IWAE)": st.column_config.NumberColumn(help="standard error of the paired difference", format="%.2f"),
    "BDMC gap": st.column_config.NumberColumn(help="the width of the BDMC sandwich at the best estimate's AIS "
                                              "settings (Grosse et al. 2015), on images simulated from the model: "
                                              "how far AIS there can miss log p(x); inf where a bound there was not "
                                              "finite", format="%.2f"),
    "bits/dim": st.column_config.NumberColumn(help="from the best estimate; lower is better; binarized and 8-bit "
                                                   "are not comparable", format="%.3f"),
    "bits/dim (IWAE bound)": st.column_config.NumberColumn(help="from the IWAE bound: an upper bound on bits/dim",
                                                           format="%.3f"),
    "KL": st.column_config.NumberColumn(format="%.1f"),
    "MSE": st.column_config.NumberColumn(format="%.4f"),
    "active units": st.column_config.NumberColumn(format="%d"),
    "sigma min": st.column_config.NumberColumn(help="smallest decoder sigma over the test pixels", format="%.1e"),
    "sigma < 0.01": st.column_config.NumberColumn(help="fraction of test pixels with sigma below 0.01",
                                                  format="%.3f"),
    "FD samples": st.column_config.NumberColumn("FD samples", help="Frechet distance of full samples x ~ p(x|z) "
                                                "to the test set", format="%.1f"),
    "FD sample means": st.column_config.NumberColumn("FD means", help="Frechet distance of decoder means E[x|z] "
                                                     "to the test set", format="%.1f"),
    "FD reconstructions": st.column_config.NumberColumn(format="%.1f"),
    "epochs": st.column_config.NumberColumn(format="%d"),
    "diverged at": st.column_config.NumberColumn(help="epoch whose loss became non-finite", format="%d"),
}


MISSING = "–"  # a number a checkpoint does not have, as a table shows it (never "None")


def shown(frame: pd.DataFrame, dataset: str | None = None) -> tuple[pd.DataFrame, dict]:
    """``frame`` as a table shows it, and its column_config: a column with a missing number holds text (each number
    in its column's format, a missing one as MISSING: st.dataframe writes "None" for a missing number); the others
    stay numbers. With ``dataset``, models go by their short names (the table's tab names the dataset)."""
    out, config = frame.copy(), dict(COLUMNS)
    if dataset is not None and "model" in out:
        out["model"] = [short_name(m, dataset) for m in out["model"]]
    for c in out.columns:
        cfg = COLUMNS.get(c) or {}
        if pd.api.types.is_numeric_dtype(out[c]) and out[c].isna().any():
            printf = (cfg.get("type_config") or {}).get("format") or "%g"
            out[c] = [MISSING if pd.isna(v) else printf % v for v in out[c]]
            config[c] = st.column_config.TextColumn(cfg.get("label"), help=cfg.get("help"), alignment="right")
    return out, config


TABLE_CLASS = "leaderboard-table"  # the HTML table ``html_table`` writes
TABLE_CSS = (f"<style>table.{TABLE_CLASS} {{font-size:0.9rem; margin-bottom:0.5rem}} table.{TABLE_CLASS} :is(th, td) "
             f"{{padding:0.2rem 0.55rem}} table.{TABLE_CLASS} td:first-child {{white-space:nowrap}}</style>")


def html_table(frame: pd.DataFrame, config: dict) -> str:
    """``frame`` and its column_config (what ``shown`` returns) as one line of HTML, for Markdown's raw HTML: each
    column under its label with its help as the heading's hover title, numbers in the column's format and on the
    right, a missing one as MISSING. A fresh tab draws it without loading the data grid's code, which alone took
    it to 1.3x a one-line app (docs/bench_presenter.md, eighth pass); where sorting matters, the grid stays."""
    heads, cells = [], []
    for c in frame.columns:
        cfg = config.get(c) or {}
        typed = cfg.get("type_config") or {}
        numeric = typed.get("type") == "number" or (not typed and pd.api.types.is_numeric_dtype(frame[c]))
        align = ' style="text-align:right"' if numeric or cfg.get("alignment") == "right" else ""
        printf = typed.get("format") or "%g"
        title = f' title="{html.escape(cfg["help"])}"' if cfg.get("help") else ""
        heads.append(f"<th{title}{align}>{html.escape(cfg.get('label') or c)}</th>")
        cells.append([f"<td{align}>{(MISSING if pd.isna(v) else printf % v) if numeric else html.escape(str(v))}</td>"
                      for v in frame[c]])
    rows = "".join(f"<tr>{''.join(row)}</tr>" for row in zip(*cells, strict=True))
    return f'<table class="{TABLE_CLASS}"><thead><tr>{"".join(heads)}</tr></thead><tbody>{rows}</tbody></table>'


def quality_points(frame: pd.DataFrame, means: bool = False) -> pd.DataFrame:
    """Bounded models with a Frechet distance, at the bits/dim of their best estimate, else of their IWAE bound
    (the "estimate" column says which). Raw-pixel models have no bits/dim and are left out."""
    if frame.empty:
        return frame
    fd = "FD sample means" if means else "FD samples"
    points = frame[frame["group"] != RAW_GROUP][["model", "dataset", "decoder", "architecture", "group", "bits/dim",
                                                  "bits/dim (IWAE bound)", fd]]
    points = points.assign(label=[short_name(m, d) for m, d in zip(points["model"], points["dataset"], strict=True)])
    has_best = np.isfinite(points["bits/dim"])
    points = points.assign(estimate=np.where(has_best, BEST, IWAE_BOUND),
                           **{"bits/dim": points["bits/dim"].where(has_best, points["bits/dim (IWAE bound)"])})
    points = points.drop(columns=["bits/dim (IWAE bound)", "dataset"]).rename(columns={fd: "FD"})
    return points[np.isfinite(points["bits/dim"]) & np.isfinite(points["FD"]) & (points["FD"] > 0)]


def short_name(model: str, dataset: str) -> str:
    """A checkpoint's name without its dataset: distinct within a dataset ("gaussian-pixel-conv")."""
    return model.removeprefix(f"{dataset}-")


def raw_sentence(frame: pd.DataFrame) -> str | None:
    """Why the raw-pixel models of ``frame`` are neither ranked nor charted, or None when there are none."""
    raw = frame[frame["group"] == RAW_GROUP]["model"].tolist() if not frame.empty else []
    if not raw:
        return None
    return f"{', '.join(raw)} {'is' if len(raw) == 1 else 'are'} left out: {UNBOUNDED_REASON}."


def not_best_sentence(frame: pd.DataFrame) -> str | None:
    """A sentence naming the models whose best estimate may not be shown as such (best_likelihood.not_best), with
    why, or None. Each such row shows its IWAE instead."""
    if frame.empty:
        return None
    short = frame[frame["not best"] != ""]
    if short.empty:
        return None
    named = "; ".join(f"{r['model']}: {r['not best']}" for _, r in short.iterrows())
    return (f"AIS estimate not shown as the best log p(x) for {named}. AIS is a stochastic lower bound like IWAE, "
            f"so there it fell short on some image (too few intermediate distributions or a stuck chain); such a "
            f"row shows its IWAE instead.")


def quality_sentences(points: pd.DataFrame, samples: str = "full samples") -> list[str]:
    """Sentences on what the chart shows, the middle one computed from this zoo's numbers; ``samples`` names the
    FD the points stand at ("full samples" or "decoder means")."""
    out = [f"Each point is one checkpoint: lower means a higher test likelihood, further left means {samples} "
           "closer to the test set."]
    bounds = points[points["estimate"] == IWAE_BOUND]["model"].tolist()
    if bounds:
        out.append(f"Hollow points ({', '.join(bounds)}) have no best estimate yet: they sit at the bits/dim of "
                   f"their IWAE lower bound, an upper bound on bits/dim.")
    eight = points[points["group"] != GROUPS["binary"]]
    if len(eight) >= 2:
        best = eight.loc[eight["bits/dim"].idxmin()]
        rank = int((eight["FD"] < best["FD"]).sum()) + 1
        best_fd = eight.loc[eight["FD"].idxmin()]
        what = "" if best["estimate"] == BEST else " (by its IWAE bound)"
        if rank == 1:
            out.append(f"Among the 8-bit models here, {best['model']} has both the best likelihood{what} "
                       f"({best['bits/dim']:.3f} bits/dim) and the best {samples} (FD {best['FD']:.1f}).")
        else:
            out.append(f"Among the 8-bit models here, {best['model']} has the best likelihood{what} "
                       f"({best['bits/dim']:.3f} bits/dim) yet ranks {rank} of {len(eight)} on {samples} "
                       f"(FD {best['FD']:.1f}, against {best_fd['FD']:.1f} for {best_fd['model']}): a better "
                       f"likelihood did not buy better {samples}.")
    else:
        out.append("There are too few 8-bit models with both numbers to compare likelihood and samples.")
    out.append(f"Bernoulli models see binarized pixels, so their bits/dim sit in a panel of their own "
               f"({BINARY_NOTE}: bits per binary pixel against bits per 8-bit pixel).")
    return out
