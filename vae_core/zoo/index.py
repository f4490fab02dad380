"""The zoo's index.json: one row of headline numbers per evaluated checkpoint, for the app."""
from __future__ import annotations

import json
from pathlib import Path

from vae_core.evaluation.best_likelihood import not_best
from vae_core.files.names import EVAL_NAME, INDEX_NAME
from vae_core.files.schema import BestLogLikelihood, Evaluation, Frechet, Metrics, SigmaStats
from vae_core.zoo.checkpoints import read_evaluation_whole


def write_index(checkpoints: str | Path) -> Path:
    """checkpoints/index.json: every evaluated checkpoint with its headline numbers, for the app. Every eval.json
    is read (``read_evaluation_whole``) before the index is written, so a damaged one leaves the old index."""
    models = index_models(checkpoints)
    out = Path(checkpoints) / INDEX_NAME
    out.write_text(json.dumps({"models": models}, indent=2) + "\n")
    return out


def index_models(checkpoints: str | Path) -> list[dict]:
    """index.json's rows as the checkpoints' eval.json files give them now, one per evaluated checkpoint."""
    root = Path(checkpoints)
    models = []
    for path in sorted(root.glob(f"*/{EVAL_NAME}")):
        ev = read_evaluation_whole(path)
        t, f = ev.test or Metrics(), ev.frechet or Frechet()
        models.append({"name": ev.name, "dataset": ev.dataset, "decoder": ev.decoder,
                       "latent_dim": ev.latent_dim, "data_kind": ev.data_kind,
                       "log_likelihood": t.iwae if t.iwae is not None else t.elbo,
                       "bits_per_dim": t.bits_per_dim,
                       "frechet_samples": f.samples,
                       "frechet_reconstructions": f.reconstructions,
                       "frechet_sample_means": f.sample_means,
                       "frechet_reconstruction_means": f.reconstruction_means,
                       "sigma_min": (ev.sigma or SigmaStats()).min,
                       "active_units": t.active_units, **best_index_fields(ev)})
    return models


def best_index_fields(ev: Evaluation) -> dict:
    """index.json keys for the best estimate (None before scripts/evaluate_likelihoods.py has run)."""
    b = ev.log_likelihood or BestLogLikelihood()
    return {"best_log_likelihood": b.estimate, "best_log_likelihood_stderr": b.estimate_stderr,
            "best_method": b.method, "best_images": b.num_images,
            "best_bits_per_dim": b.bits_per_dim, "best_minus_iwae": b.best_minus_iwae,
            "best_minus_iwae_stderr": b.best_minus_iwae_stderr, "best_warning": b.warning,
            "best_not_best": not_best(b) if b.estimate is not None else None,
            "best_bdmc_gap": b.bdmc_gap, "best_bdmc_gap_stderr": b.bdmc_gap_stderr}
