"""Exact log p(x) by adaptive quadrature (2-D latents) against closed forms: the marginal and the posterior of a
linear-Gaussian model, wherever its posterior sits; its refusals and flags on bad input; and, on the shipped 2-D
checkpoints, the ordering ELBO <= IWAE_k <= exact on average."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from linear_gaussian import LinearGaussianModel
from torch.distributions import MultivariateNormal

from vae_core.base.data import fixed_test_input, load_sample
from vae_core.evaluation.metrics import elbo_terms, iwae_log_likelihood, mean_and_stderr
from vae_core.evaluation.quadrature import exact_log_likelihood, posterior_grid
from vae_core.zoo.checkpoints import load_model

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
TWO_D = sorted(p.name for p in CHECKPOINTS.glob("*-2d") if (p / "config.json").is_file())


def data_with_posterior_at(model: LinearGaussianModel, centre: tuple[float, float], n: int, seed: int = 0):
    """n images simulated from the model around latent ``centre``: their posteriors sit near it."""
    g = torch.Generator().manual_seed(seed)
    z = torch.tensor(centre, dtype=torch.float64) + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return z @ model.W.T + model.b + model.sigma * torch.randn(n, model.D, generator=g, dtype=torch.float64)


def exact_posterior(model: LinearGaussianModel, x: torch.Tensor) -> MultivariateNormal:
    return MultivariateNormal((x - model.b) @ model.A.T, covariance_matrix=model.S)


# (sigma of p(x|z), where the posteriors sit): a broad posterior at the origin; one 12 units out, where a
# fixed box or a proposal from the prior misses it; a sharp one (posterior sd ~ 0.005) off-centre.
CASES = [(0.5, (0.0, 0.0)), (0.5, (9.0, -8.0)), (0.01, (-2.0, 3.0))]


@pytest.mark.parametrize(("sigma", "centre"), CASES)
def test_quadrature_matches_the_closed_form_marginal(sigma, centre):
    model = LinearGaussianModel(sigma=sigma)
    x = data_with_posterior_at(model, centre, n=12)
    exact = model.marginal().log_prob(x)
    result = exact_log_likelihood(model, x, tol=0.05)
    assert result.log_px.dtype == torch.float64 and result.log_px.shape == (12,)
    assert result.converged.all(), result.reasons
    assert (result.error < 0.05).all()
    # the reported error (the change on the last halving) bounds the true error here: the midpoint rule
    # converges geometrically on a Gaussian, so the last change exceeds what is left
    assert ((result.log_px - exact).abs() <= result.error + 1e-6).all(), (result.log_px - exact, result.error)
    mode = exact_posterior(model, x).mean
    assert ((result.mode - mode).norm(dim=1) < 0.1 + 2 * result.spacing).all()


def test_quadrature_is_batched_without_changing_answers():
    model = LinearGaussianModel(sigma=0.05)
    x = torch.cat([data_with_posterior_at(model, c, 3) for c in ((0, 0), (5, 5), (-10, 2))])
    together = exact_log_likelihood(model, x)
    alone = torch.cat([exact_log_likelihood(model, x[i:i + 1]).log_px for i in range(len(x))])
    torch.testing.assert_close(together.log_px, alone, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("sigma", "centre"), CASES)
def test_posterior_grid_is_the_normalised_posterior(sigma, centre):
    model = LinearGaussianModel(sigma=sigma)
    x = data_with_posterior_at(model, centre, n=1)
    grid = posterior_grid(model, x[0], points=121)
    assert grid.converged and grid.reason == ""
    assert grid.log_density.shape == (121, 121) and grid.z1.shape == (121,) and grid.z2.shape == (121,)
    assert float(grid.probabilities.sum()) == pytest.approx(1.0, abs=1e-9)
    assert grid.mass_on_grid == pytest.approx(1.0, abs=0.01)  # the grid covers and resolves the posterior
    assert grid.log_px == pytest.approx(float(model.marginal().log_prob(x)[0]), abs=0.05)
    zz = torch.cartesian_prod(grid.z1, grid.z2)  # ij order, as log_density
    truth = exact_posterior(model, x).log_prob(zz).view(121, 121)
    top = truth > truth.max() - 20  # compare where the density is not vanishingly small
    torch.testing.assert_close(grid.log_density[top], truth[top], rtol=0, atol=0.05)


# ------------------------------------------------------------------------------------- bad input
class NaNDecoder(LinearGaussianModel):
    """p(x|z) whose mean is NaN on part of the plane (as a decoder with overflowing outputs)."""

    def decode(self, z, x=None):
        px = super().decode(z)
        loc = torch.where((z[:, :1] > 0.5), torch.nan, px.base_dist.loc)
        return type(px)(type(px.base_dist)(loc, px.base_dist.scale), 1)


class Latent3(LinearGaussianModel):
    def __init__(self):
        super().__init__(latent_dim=3)


def test_a_latent_that_is_not_2d_is_refused_with_a_sentence():
    model = Latent3()
    x = model.marginal().sample((2,))
    for call in (lambda: exact_log_likelihood(model, x), lambda: posterior_grid(model, x[0])):
        with pytest.raises(ValueError, match=r"2-D latent plane.*latent_dim=3"):
            call()


@pytest.mark.parametrize(("setting", "value"), [("tol", 0), ("tol", -0.1), ("radius", -1.0), ("coarse_spacing", 0.0),
                                                ("margin", float("nan")), ("coarse_spacing", 100.0)])
def test_bad_settings_are_refused(setting, value):
    model = LinearGaussianModel()
    with pytest.raises(ValueError, match=setting):
        exact_log_likelihood(model, model.marginal().sample((1,)), **{setting: value})


def test_a_non_finite_decoder_is_flagged_never_a_number():
    model = NaNDecoder(sigma=0.5)
    x = data_with_posterior_at(model, (-1.0, 0.0), n=3)
    result = exact_log_likelihood(model, x)
    assert not result.converged.any()
    assert torch.isnan(result.log_px).all()
    assert all("not finite" in r for r in result.reasons)


def test_mass_outside_the_scanned_square_is_flagged():
    model = LinearGaussianModel(sigma=0.5)
    x = data_with_posterior_at(model, (12.0, 0.0), n=2)
    result = exact_log_likelihood(model, x, radius=8.0)
    assert not result.converged.any()
    assert all("edge of the scanned square" in r for r in result.reasons)
    with pytest.raises(ValueError, match="edge of the scanned square"):
        posterior_grid(model, x[0], radius=8.0)


def test_an_evaluation_budget_too_small_is_reported_as_not_converged():
    model = LinearGaussianModel(sigma=0.01)
    x = data_with_posterior_at(model, (0.0, 0.0), n=2)
    result = exact_log_likelihood(model, x, coarse_spacing=1.0, max_evaluations=4_300)  # 4,288 go to the scan
    assert not result.converged.any()
    assert all("not converged" in r for r in result.reasons)
    assert torch.isfinite(result.log_px).all()  # the estimate so far is kept, flagged


def test_posterior_grid_wants_one_image():
    model = LinearGaussianModel()
    with pytest.raises(ValueError, match="one image"):
        posterior_grid(model, model.marginal().sample((3,)))


def test_no_images_give_an_empty_result():
    model = LinearGaussianModel()
    result = exact_log_likelihood(model, torch.zeros(0, 5, dtype=torch.float64))
    assert result.log_px.shape == (0,) and result.converged.shape == (0,)


# ------------------------------------------------------------------------------------- shipped 2-D models
@pytest.mark.parametrize("name", TWO_D)
def test_shipped_2d_models_order_elbo_iwae_exact(name):
    model = load_model(CHECKPOINTS / name)
    images, _ = load_sample(model.config.dataset)
    x = fixed_test_input(images[:6], model.data_kind, seed=0)  # (6, 1, 28, 28)
    exact = exact_log_likelihood(model, x)
    assert exact.converged.all(), exact.reasons
    iwae = iwae_log_likelihood(model, x, k=1000, seed=0).double()
    elbo = elbo_terms(model, x, seed=0)["elbo"].double()
    # on average, with the spread of the per-image differences as the tolerance (3 standard errors)
    gap, gap_se = mean_and_stderr(exact.log_px - iwae)
    assert gap > -3 * gap_se, (gap, gap_se)
    gain, gain_se = mean_and_stderr(iwae - elbo)
    assert gain > -3 * gain_se, (gain, gain_se)
    assert math.isfinite(float(exact.log_px.mean()))
