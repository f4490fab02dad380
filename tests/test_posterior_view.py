"""The Latent page's numbers for one image (compute.posterior_view) on the shipped 2-D checkpoints: the identity
log p(x) = ELBO + KL(q || p(z|x)) checked two ways, the bounds in their order, and bad input refused."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import torch

from explorer.compute.posterior_view import iwae_for_image, posterior_view
from vae_core.base.data import load_sample
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.checkpoints import load_model

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED_2D = ["mnist-bernoulli-2d", "mnist-gaussian-fixed-2d", "mnist-gaussian-pixel-2d"]
IMAGES = [0, 7]  # two test images each; over the first 20 of each model no gap exceeded its tolerance


@pytest.fixture(scope="module")
def images():
    return load_sample("mnist")[0]


@cache
def _model(name: str) -> VAE:
    torch.set_num_threads(1)  # the measured times assume one core
    return load_model(CHECKPOINTS / name)


@cache
def _view(name: str, index: int) -> dict:
    return posterior_view(_model(name), load_sample("mnist")[0][index], seed=0)


@pytest.mark.parametrize("name", SHIPPED_2D)
@pytest.mark.parametrize("index", IMAGES)
def test_the_two_kl_values_agree_within_the_stated_error(name, index):
    view = _view(name, index)
    assert "problem" not in view, view.get("problem")
    assert abs(view["kl_difference"] - view["kl_grid"]) <= view["tolerance"], view
    assert view["kl_grid"] >= -view["tolerance"]  # a KL divergence: never negative beyond the numerics
    assert view["q_mass_on_kl_grid"] == pytest.approx(1.0, abs=1e-6)
    assert view["mass_on_grid"] == pytest.approx(1.0, abs=0.05)  # the heat map holds the posterior


@pytest.mark.parametrize("name", SHIPPED_2D)
def test_the_bounds_sit_below_the_exact_value(name, images):
    """ELBO <= IWAE_k <= log p(x): IWAE's mean over runs may exceed log p(x) only by its standard error."""
    view = _view(name, IMAGES[0])
    iwae, stderr = iwae_for_image(_model(name), images[IMAGES[0]], k=100, seed=0)
    assert view["elbo"] <= view["log_px"]
    assert iwae - 3 * stderr <= view["log_px"] + view["log_px_error"]
    assert view["elbo"] <= iwae + 3 * stderr


def test_a_model_whose_latent_is_not_2d_is_refused(images):
    model = VAE(VAEConfig(latent_dim=3, hidden=[16]))
    with pytest.raises(ValueError, match="latent_dim=3"):
        posterior_view(model, images[0])


@pytest.mark.parametrize("k", [0, -5, 2.5, "100"])
def test_iwae_k_must_be_a_positive_whole_number(images, k):
    model = _model(SHIPPED_2D[0])
    with pytest.raises(ValueError, match="k must be a whole number >= 1"):
        iwae_for_image(model, images[0], k)
