"""Every best estimate the best (issue 22): the wider-proposal IWAE beside AIS, the BDMC sandwich stored with the
estimate, and the one rule (best_likelihood.not_best) by which an AIS number is or is not shown as the best
log p(x) a model has, checked against a closed-form marginal and on copies of shipped checkpoints."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from linear_gaussian import LinearGaussianModel

from vae_core.evaluation.best_likelihood import BDMC_TARGET_OTHER, BDMC_TARGETS, WIDER_SCALE, not_best, sandwich
from vae_core.evaluation.metrics import iwae_log_likelihood
from vae_core.files.names import DEFAULT_ZOO
from vae_core.files.schema import BestLogLikelihood, Evaluation, Metrics

DATA_DIM, NUM_IMAGES = 12, 40


def simulated(model: LinearGaussianModel, n: int = NUM_IMAGES) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(12345)
    z = torch.randn(n, model.L, generator=g, dtype=torch.float64)
    x = z @ model.W.T + model.b + model.sigma * torch.randn(n, model.D, generator=g, dtype=torch.float64)
    return x, model.marginal().log_prob(x)


# ------------------------------------------------------------------------------------- the wider proposal
def test_a_wider_proposal_gets_closer_where_q_is_too_narrow_and_stays_a_lower_bound():
    """q(z|x) half as wide as the posterior and shifted: IWAE from q misses posterior mass, the same k from q
    widened 1.5x misses less; both stay under the exact log p(x) on average."""
    model = LinearGaussianModel(data_dim=DATA_DIM, latent_dim=4, inflate=0.5, shift=1.0)
    x, exact = simulated(model)
    narrow = iwae_log_likelihood(model, x, k=50, seed=0).double()
    wider = iwae_log_likelihood(model, x, k=50, seed=0, proposal_scale=WIDER_SCALE).double()
    assert float((exact - wider).mean()) < float((exact - narrow).mean())
    for bound in (narrow, wider):
        d = bound - exact
        assert float(d.mean()) < 3 * float(d.std() / math.sqrt(len(d)))


def test_scale_one_is_plain_iwae_bit_for_bit():
    model = LinearGaussianModel(data_dim=DATA_DIM, latent_dim=2)
    x, _ = simulated(model, 5)
    assert torch.equal(iwae_log_likelihood(model, x, k=30, seed=3),
                       iwae_log_likelihood(model, x, k=30, seed=3, proposal_scale=1.0))


@pytest.mark.parametrize("scale", [0.0, -1.5, math.nan, math.inf])
def test_a_proposal_scale_that_is_no_spread_is_one_sentence(scale):
    model = LinearGaussianModel(data_dim=DATA_DIM, latent_dim=2)
    with pytest.raises(ValueError, match="^proposal_scale must be a finite number greater than 0"):
        iwae_log_likelihood(model, simulated(model, 2)[0], k=2, proposal_scale=scale)


# ------------------------------------------------------------------------------------- the sandwich
@pytest.mark.parametrize(("data_kind", "target"), [("continuous", BDMC_TARGET_OTHER),
                                                   ("binary", BDMC_TARGETS["binary"])])
def test_the_sandwich_holds_the_exact_marginal_and_pairs_the_wider_iwae_with_the_estimate(data_kind, target):
    model = LinearGaussianModel(data_dim=DATA_DIM, latent_dim=4)
    model.data_kind = data_kind  # what the target depends on; the linear-Gaussian data themselves are real-valued
    x, exact = simulated(model)
    best = exact + 0.25  # an estimate standing in for AIS, image by image
    block = sandwich(model, x, best, {"num_steps": 100, "leapfrog_steps": 10, "chains": 4, "seed": 0}, wider_k=40)
    wider = iwae_log_likelihood(model, x, k=40, seed=1, proposal_scale=WIDER_SCALE).double()
    assert block["wider_iwae"] == pytest.approx(float(wider.mean()), rel=1e-12)
    assert block["best_minus_wider_iwae"] == pytest.approx(float((best - wider).mean()), rel=1e-12)
    assert (block["wider_iwae_k"], block["wider_iwae_scale"], block["bdmc_images"]) == (40, WIDER_SCALE, NUM_IMAGES)
    assert block["bdmc_target"] == target
    assert block["bdmc_gap"] == pytest.approx(block["bdmc_upper"] - block["bdmc_lower"], abs=1e-9)
    assert 0 < block["bdmc_gap"] < 5 and block["bdmc_gap_stderr"] > 0 and block["bdmc_nonfinite_images"] == 0
    # simulated images have the exact marginal too: it lies between the two bounds, within their noise
    assert block["bdmc_lower"] - 3 * block["bdmc_gap_stderr"] < float(exact.mean()) + 3 * float(exact.std())
    schema_keys = set(BestLogLikelihood.__dataclass_fields__)
    assert set(block) <= schema_keys  # every key is one eval.json knows


# ------------------------------------------------------------------------------------- the rule
AIS = {"method": "ais", "estimate": -90.0, "iwae_k": 1000, "best_minus_iwae": 0.3, "best_minus_iwae_stderr": 0.1}
WIDER = {"wider_iwae_k": 20_000, "wider_iwae_scale": 1.5}
NOT_BEST = [  # (block fields, None or words of the reason)
    ({**AIS}, None),                                                        # no wider IWAE yet: the IWAE rule only
    ({**AIS, **WIDER, "best_minus_wider_iwae": 0.1, "best_minus_wider_iwae_stderr": 0.2}, None),
    ({**AIS, "best_minus_iwae": -0.2}, "0.20 ± 0.10 nats below IWAE k=1000"),
    ({**AIS, "best_minus_iwae": -0.08}, None),                              # below, but within its standard error
    ({**AIS, "best_minus_iwae": -0.08, "best_minus_iwae_stderr": None}, "lies 0.08 nats below"),  # no error known
    ({**AIS, **WIDER, "best_minus_wider_iwae": -0.62, "best_minus_wider_iwae_stderr": 0.15},
     "0.62 ± 0.15 nats below the wider-proposal IWAE (k=20000, q's spread x1.5) on the same images: lengthen AIS"),
    ({**AIS, "images_far_below_iwae": 7}, "on 7 of its images: its chains did not converge there"),
    ({**AIS, "method": "quadrature", "best_minus_iwae": -0.2}, None),      # exact: no lower bound can beat it
]


@pytest.mark.parametrize(("fields", "words"), NOT_BEST)
def test_an_estimate_is_the_best_only_if_no_other_lower_bound_beats_it(fields, words):
    reason = not_best(BestLogLikelihood(**fields))
    assert reason is None if words is None else words in reason


@pytest.mark.parametrize(("fields", "words"), NOT_BEST)
def test_the_findings_tables_flag_a_best_estimate_by_the_same_rule(fields, words):
    """The findings' log-likelihood row says why in the rule's words and gives no bits/dim from a flagged estimate;
    the MLP-against-network rows then compare IWAE on the same images, never a flagged estimate."""
    from explorer.findings_tables import LIKELIHOOD_COLUMNS, common_log_p, likelihood_row

    block = BestLogLikelihood(**fields, bits_per_dim=0.17, num_images=50, excluded_images=0, iwae=-91.0)
    ev = Evaluation(name="m", dataset="mnist", data_kind="binary", test=Metrics(iwae=-95.0), log_likelihood=block)
    cells = dict(zip(LIKELIHOOD_COLUMNS, likelihood_row(ev), strict=True))
    assert cells["not shown as best because"] == (not_best(block) or "–")
    assert cells["bits/dim (best)"] == ("0.170" if words is None else "–")
    twin = Evaluation(name="m-conv", dataset="mnist", data_kind="binary", test=Metrics(iwae=-99.0),
                      log_likelihood=BestLogLikelihood(**{**AIS, "num_images": 50, "excluded_images": 0,
                                                          "iwae": -93.0, "estimate": -92.0}))
    common = common_log_p(ev, twin)
    exact_twin = block.method != twin.log_likelihood.method  # an exact estimate is not compared with AIS
    assert (common.mlp, common.other) == ((-90.0, -92.0) if words is None and not exact_twin else (-91.0, -93.0))


def test_the_leaderboard_shows_the_iwae_where_the_wider_proposal_beats_ais(tmp_path):
    from explorer.tables import leaderboard, not_best_sentence
    from vae_core.zoo.checkpoints import read_checkpoint

    name = "mnist-bernoulli"
    folder = shutil.copytree(DEFAULT_ZOO / name, tmp_path / name, ignore=shutil.ignore_patterns("snapshots"))
    ev = json.loads((folder / "eval.json").read_text())
    block = ev["log_likelihood"]
    assert block["method"] == "ais"
    block.update(WIDER, best_minus_iwae=0.3, images_far_below_iwae=0, best_minus_wider_iwae=-0.62,
                 best_minus_wider_iwae_stderr=0.15, bdmc_gap=1.04)
    (folder / "eval.json").write_text(json.dumps(ev))
    ckpt = read_checkpoint(folder)
    frame = leaderboard([ckpt])
    row = frame.iloc[0]
    assert "IWAE" in row["estimate"] and row["log-lik"] == ckpt.evaluation.test.iwae and np.isnan(row["bits/dim"])
    assert row["BDMC gap"] == 1.04 and "wider-proposal IWAE" in row["not best"]
    assert name in not_best_sentence(frame) and "lengthen AIS" in not_best_sentence(frame)


def test_the_leaderboard_gives_a_sandwich_that_is_not_finite_as_an_infinite_gap(tmp_path):
    from explorer.tables import leaderboard
    from vae_core.zoo.checkpoints import read_checkpoint

    name = "mnist-bernoulli"
    folder = shutil.copytree(DEFAULT_ZOO / name, tmp_path / name, ignore=shutil.ignore_patterns("snapshots"))
    ev = json.loads((folder / "eval.json").read_text())
    ev["log_likelihood"].update(bdmc_images=50, bdmc_lower=None, bdmc_gap=None, bdmc_gap_stderr=None)
    (folder / "eval.json").write_text(json.dumps(ev))
    assert leaderboard([read_checkpoint(folder)]).iloc[0]["BDMC gap"] == np.inf
