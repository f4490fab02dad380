"""The Decoder sigma page's sections (app_pages/sigma.py, one tab each: SECTIONS): training curves, raw against
dequantized pixels, sigma over test pixels, and samples from snapshots."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import cache, charts, context, raw_runs, render
from explorer.context import Context
from vae_core.base.data import UNBOUNDED_REASON
from vae_core.files.schema import HistoryLine
from vae_core.zoo.checkpoints import Checkpoint, ZooError

SIGMA_IMAGES = 200  # test images whose pixels the sigma histogram counts


def training_curves(ctx: Context, models: list[Checkpoint]) -> None:
    """Sigma, the validation ELBO and the two ELBO terms per epoch, one colour per model (history.jsonl)."""
    no_sigma = [c.name for c in models if c.history_lines and c.history_lines[-1].sigma_mean is None]
    no_history = [c.name for c in models if not c.history_lines]
    rows = [{"model": c.name, "decoder": c.decoder, "epoch": r.epoch, "sigma_mean": r.sigma_mean,
             "sigma_min": r.smallest_sigma, "val_elbo": r.val_elbo, "rec": r.rec, "kl": r.kl}
            for c in models for r in c.history_lines]
    if no_history:
        st.info(f"No history.jsonl for {', '.join(no_history)}.")
    domain = tuple(c.name for c in models)  # one colour per model across the charts
    if rows:
        hist = pd.DataFrame(rows)
        left, right = st.columns(2)
        sig = (hist.melt(id_vars=["model", "epoch"], value_vars=["sigma_mean", "sigma_min"], var_name="statistic",
                         value_name="sigma").dropna(subset=["sigma"]))
        sig = sig[sig["sigma"] > 0]
        if sig.empty:
            render.not_applicable(left, "None of these models has a decoder sigma (Bernoulli-type likelihoods).")
        else:
            left.markdown("**Decoder sigma on a fixed validation batch** (log scale; solid: mean, dashed: min)")
            left.vega_lite_chart(charts.curve(sig, "sigma", "sigma", domain, log=True, dash="statistic", height=300),
                                 width="stretch")
            if no_sigma:
                left.caption(f"No sigma to plot for {', '.join(no_sigma)}: their likelihood has no scale parameter.")
        right.markdown("**Validation ELBO** (nats per image, higher is better)")
        right.vega_lite_chart(charts.curve(hist.dropna(subset=["val_elbo"]), "val_elbo", "ELBO", domain, height=300),
                              width="stretch")
        left, right = st.columns(2)
        for col, field_, label in ((left, "rec", "Reconstruction term E log p(x|z) (training, nats)"),
                                   (right, "kl", "KL(q(z|x) || p(z)) (training, nats)")):
            col.markdown(f"**{label}**")
            col.vega_lite_chart(charts.curve(hist.dropna(subset=[field_]), field_, field_, domain), width="stretch")


def raw_against_dequantized(ctx: Context, models: list[Checkpoint]) -> None:
    """A raw-pixel run of this dataset beside its dequantized partner: sigma and the ELBO per epoch and per step."""
    raws = [c for c in ctx.for_dataset() if raw_runs.is_raw(c)]
    if not raws:
        st.info("This zoo has no raw-pixel run of this dataset (a model trained on x / 255 with no dequantization: "
                "train.py --data-kind raw).")
    else:
        names = {c.name for c in models}
        # the selected raw run first, the per-pixel Gaussian before its fixed-sigma partner, the run that lived
        # through all its epochs (seed 000's figure) before the one that stopped
        chosen = sorted(raws, key=lambda c: (c.name not in names, c.decoder != "gaussian-pixel",
                                             raw_runs.diverged(c)))[0].name
        picked = {c.name: c for c in raws}
        raw = picked[st.selectbox("Raw-pixel run", list(picked), index=list(picked).index(chosen), key="raw_model")]
        pair = [raw] + [c for c in [raw_runs.partner(raw, ctx.checkpoints)] if c is not None]
        st.markdown(" ".join(raw_runs.stopped(c) for c in pair) +
                    ("" if len(pair) == 2 else " No dequantized run of the same dataset, decoder and network is in the "
                                               "zoo to compare with."))
        st.caption(f"Raw pixels: {UNBOUNDED_REASON}. Dequantized pixels ((x + u) / 256) bound the density, so the "
                   f"partner's sigma stops falling.")
        pair_domain = tuple(c.name for c in pair)
        per_epoch = pd.concat([raw_runs.epochs(c) for c in pair])
        left, right = st.columns(2)
        sig = per_epoch.dropna(subset=["sigma_min"])
        sig = sig[sig["sigma_min"] > 0]
        if sig.empty:
            render.not_applicable(left, f"`{raw.decoder}` has no learned sigma to follow.")
        else:
            left.markdown("**Smallest decoder sigma, per epoch** (validation batch, log scale)")
            left.vega_lite_chart(charts.run_curve(sig, "epoch", "sigma_min", "sigma min", pair_domain, "log",
                                                  canvas=True),
                                 width="stretch")
        right.markdown("**Validation ELBO, per epoch** (symmetric log scale: it swings by orders of magnitude)")
        right.vega_lite_chart(charts.run_curve(per_epoch.dropna(subset=["val_elbo"]), "epoch", "val_elbo", "ELBO",
                                               pair_domain, "symlog", canvas=True), width="stretch")
        steps = pd.concat([raw_runs.trace(c) for c in pair])
        if steps.empty:
            st.caption("No step trace in these histories (trained before history lines carried one).")
        else:
            left, right = st.columns(2)
            step_sig = steps.dropna(subset=["sigma_min"])
            step_sig = step_sig[step_sig["sigma_min"] > 0]
            if not step_sig.empty:
                left.markdown("**Smallest sigma on the training batch, step by step** (log scale)")
                left.vega_lite_chart(charts.run_curve(step_sig, "step", "sigma_min", "sigma min", pair_domain,
                                                      "log", canvas=True),
                                     width="stretch")
            right.markdown("**Training loss on the batch, step by step** (symmetric log scale)")
            right.vega_lite_chart(charts.run_curve(steps.dropna(subset=["loss"]), "step", "loss", "loss", pair_domain,
                                                   "symlog", canvas=True), width="stretch")
            st.caption("The trace keeps every 25th step and the step a run stopped at, counted from the start of "
                       "training; the loss is the negative ELBO of that batch.")
        raw_over_epochs(ctx, raw)


LOG10_EDGES = np.linspace(-5, 1, 61)  # the histogram's bins of log10 sigma


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def sigma_summary(_model, key: cache.ModelKey, dataset: str, n_images: int) -> dict | None:
    """The histogram's fractions per bin of LOG10_EDGES and the table's statistics of one model's sigma over the
    pixels of ``n_images`` test images (None without a sigma): a few hundred bytes, so that a rerun neither reads
    back nor sorts the 157,000 values again."""
    v = cache.sigma_values(_model, key, dataset, n_images)
    if v is None:
        return None
    return {"fraction": np.histogram(np.log10(np.clip(v, 1e-5, 10)), LOG10_EDGES)[0] / v.size,
            "mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()),
            "below 0.01": float((v < 0.01).mean())}


def sigma_histogram(ctx: Context, models: list[Checkpoint], n_images: int = SIGMA_IMAGES) -> None:
    """Where sigma ends up: its distribution over the pixels of ``n_images`` test images, per model."""
    domain = tuple(c.name for c in models)  # the same colours as the training curves
    values = {c.name: sigma_summary(model, ctx.key(c), ctx.dataset, n_images)
              for c, model in context.load_models(ctx, models)}
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        render.not_applicable(st, "None of these models has a decoder sigma: Bernoulli and continuous Bernoulli "
                                  "likelihoods have no scale parameter, so there is nothing to histogram.")
    else:
        bars = pd.concat([pd.DataFrame({"model": name, "log10 sigma": LOG10_EDGES[:-1], "fraction": v["fraction"]})
                          for name, v in values.items()])
        left, right = st.columns([1, 1])
        left.vega_lite_chart(charts.histogram(bars, n_images, domain), width="stretch")
        stats = pd.DataFrame([{"model": k, **{s: v[s] for s in ("mean", "median", "min", "below 0.01")}}
                              for k, v in values.items()])
        right.dataframe(stats, hide_index=True, column_config={
            "mean": st.column_config.NumberColumn(format="%.4f"),
            "median": st.column_config.NumberColumn(format="%.4f"),
            "min": st.column_config.NumberColumn(format="%.1e"),
            "below 0.01": st.column_config.NumberColumn(help="fraction of pixels with sigma < 0.01", format="%.3f")})
        right.caption("At the posterior mean of each image. A pixel with sigma = 0.01 has a density of up to 40 at "
                      "its mean; a fixed sigma (gaussian-fixed) is a single spike.")
        missing = [c.name for c in models if c.name not in values]
        if missing:
            right.caption(f"Not shown (no sigma): {', '.join(missing)}.")


def snapshots(ctx: Context, models: list[Checkpoint]) -> None:
    """Samples from the snapshots saved during training, beside the sigma and ELBO of that epoch."""
    with_snaps = [c for c in models if c.snapshots]
    if not with_snaps:
        st.info("None of these models kept snapshots (train.py --snapshots 1,3,10). In the shipped zoo the per-pixel, "
                "shared and fixed Gaussians have them; add one in the sidebar or switch on 'All models'.")
        return
    names = [c.name for c in with_snaps]
    name = st.selectbox("Model with snapshots", names, key="snapshot_model")
    ckpt = next(c for c in with_snaps if c.name == name)
    n = st.select_slider("Samples per snapshot", [8, 16, 32], value=16, key="snapshot_n")
    for epoch, label in saved_epochs(ckpt):
        c0, c1, c2 = st.columns([1, 3, 3])
        model = epoch_model(ctx, ckpt, epoch, label)
        if model is None:
            continue
        means, samples = snapshot_pictures(model, (*ctx.key(ckpt), epoch), n, ctx.seed)
        rec = epoch_line(ckpt, epoch)
        c0.markdown(f"**{label}**")
        render.show_html_table(c0, [("sigma mean", render.fmt(rec.sigma_mean, ".4f")),
                                    ("sigma min", render.fmt(rec.smallest_sigma, ".1e")),
                                    ("val ELBO", render.fmt(rec.val_elbo, ".1f"))])
        c1.image(means, width="stretch", caption="decoder mean")
        c2.image(samples, width="stretch", caption="full sample x ~ p(x|z)")


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def snapshot_pictures(_model, key: tuple, n: int, seed: int) -> tuple[bytes, bytes]:
    """One row of ``snapshots`` as the PNGs it shows: ``n`` decoder means and full samples from the prior, each an
    enlarged grid (``key``: the model's key and the epoch). Cached as PNG bytes, so that a new session (a fresh tab)
    neither grids nor encodes the row again."""
    out = cache.prior_samples(_model, key, n, 1.0, seed)
    ncols = n // 2 if n > 8 else 8
    return (render.png(render.grid(out["mean"], ncols=ncols, scale=3)),
            render.png(render.grid(out["sample"], ncols=ncols, scale=3)))


def saved_epochs(ckpt: Checkpoint) -> list[tuple[int, str]]:
    """(epoch, label) of every snapshot and of the final weights, ascending."""
    final = max((r.epoch for r in ckpt.history_lines), default=None)
    epochs = [(e, f"epoch {e}") for e, _ in ckpt.snapshots]
    if final is not None and final not in dict(ckpt.snapshots):
        epochs.append((final, f"epoch {final} (final)"))
    return epochs


def epoch_line(ckpt: Checkpoint, epoch: int) -> HistoryLine:
    """history.jsonl's record of ``epoch`` (an empty one when the run has none)."""
    return next((r for r in ckpt.history_lines if r.epoch == epoch), HistoryLine(epoch=epoch))


def epoch_model(ctx: Context, ckpt: Checkpoint, epoch: int, label: str):
    """The weights of ``epoch`` (a snapshot, or the final model), or None with an error shown."""
    try:
        return ctx.model(ckpt) if epoch not in dict(ckpt.snapshots) else cache.snapshot(*ctx.key(ckpt), ckpt, epoch)
    except ZooError as e:
        st.error(f"{label} cannot be loaded: {ctx.public(str(e))}")
        return None


RAW_EPOCH_IMAGES = 8  # test images and samples per row of the raw run's epochs


def raw_over_epochs(ctx: Context, raw: Checkpoint) -> None:
    """Seed 000's figure: per saved epoch of a raw-pixel run, its smallest sigma and validation ELBO, reconstructions
    of test images and full samples; the constant sigma on the same pixels and network as the last row."""
    fixed = raw_runs.fixed_partner(raw, ctx.checkpoints) if raw.decoder != raw_runs.FIXED_SIGMA else None
    rows = [(raw, epoch, label) for epoch, label in saved_epochs(raw)]
    if fixed is not None:
        rows += [(fixed, epoch, f"{fixed.name}, {label}") for epoch, label in saved_epochs(fixed)[-1:]]
    st.markdown(f"**{raw.name}, epoch by epoch:** reconstructions of the first {RAW_EPOCH_IMAGES} test images "
                f"(decoder means) and full samples x ~ p(x|z)"
                + (f", with {fixed.name} (constant sigma) on the same pixels last." if fixed is not None else "."))
    _, c1, _ = st.columns([1, 3, 3])
    c1.image(test_pictures(ctx.dataset), width="stretch", caption="test images")
    for ckpt, epoch, label in rows:
        model = epoch_model(ctx, ckpt, epoch, label)
        if model is None:
            continue
        reconstructed, sampled = epoch_pictures(model, (*ctx.key(ckpt), epoch), ctx.dataset, ctx.seed)
        line = epoch_line(ckpt, epoch)
        c0, c1, c2 = st.columns([1, 3, 3])
        c0.markdown(f"**{label}**")
        render.show_html_table(c0, [("sigma min", render.fmt(line.smallest_sigma, ".1e")),
                                    ("val ELBO", render.fmt(line.val_elbo, ".1f"))])
        c1.image(reconstructed, width="stretch", caption="reconstruction (decoder mean)")
        c2.image(sampled, width="stretch", caption="full sample x ~ p(x|z)")


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def test_pictures(dataset: str) -> bytes:
    """The first RAW_EPOCH_IMAGES test images of ``dataset`` as the PNG of ``raw_over_epochs``'s first row."""
    return render.png(render.grid(cache.sample_set(dataset)[0][:RAW_EPOCH_IMAGES], ncols=RAW_EPOCH_IMAGES, scale=3))


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def epoch_pictures(_model, key: tuple, dataset: str, seed: int) -> tuple[bytes, bytes]:
    """One row of ``raw_over_epochs`` as the two pictures it shows: the decoder means of the first RAW_EPOCH_IMAGES
    test images and as many full samples, each an enlarged grid (``key``: the model's key and the epoch). Cached
    whole as PNG bytes, so that neither a rerun nor a new session reads back, draws or encodes a row again."""
    images = cache.sample_set(dataset)[0][:RAW_EPOCH_IMAGES]
    rec = cache.reconstruction(_model, key, images, seed)
    out = cache.prior_samples(_model, key, RAW_EPOCH_IMAGES, 1.0, seed)
    return (render.png(render.grid(rec["mean"], ncols=RAW_EPOCH_IMAGES, scale=3)),
            render.png(render.grid(out["sample"], ncols=RAW_EPOCH_IMAGES, scale=3)))


SECTION_KEY = "sigma_section"  # the open tab's label, in the URL as ?sigma_section=
SECTIONS = {"Training curves": training_curves, "Raw pixels against dequantized": raw_against_dequantized,
            "Sigma over test pixels": sigma_histogram, "Snapshots": snapshots}  # label -> draw(ctx, models)
