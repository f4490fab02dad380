"""The explorer's maths through z (explorer.compute.latent): reconstructions and their terms, samples, the plane of
posterior means (exact or PCA), the prior's contours in it, and interpolation. Untrained tiny models suffice."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import kl_divergence

from explorer.compute import latent
from vae_core.base.data import load_sample
from vae_core.model.likelihoods import LIKELIHOODS
from vae_core.model.vae import VAE, VAEConfig

SIGMA_FREE = {k for k, cls in LIKELIHOODS.items() if not cls.has_sigma()}  # as each class declares it


def tiny(decoder: str, latent_dim: int = 3) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(decoder=decoder, latent_dim=latent_dim, hidden=[16])).eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return load_sample("mnist")[0][:6]


@pytest.mark.parametrize("decoder", list(LIKELIHOODS))
def test_reconstruct_returns_consistent_maps_and_terms(decoder, images):
    model = tiny(decoder)
    out = latent.reconstruct(model, images, seed=1, elbo_samples=4)
    for k in ("input", "mean", "sample", "pixel_log_prob"):
        assert out[k].shape == (6, 28, 28) and np.isfinite(out[k]).all(), k
    assert (out["sigma"] is None) == (decoder in SIGMA_FREE)
    assert np.allclose(out["elbo"], out["rec"] - out["kl"], atol=1e-4)
    # the map is log p(x_ij | E_q[z]) pixel by pixel: its sum is the decoder's log p(x | z) at the mean
    x = latent.model_input(model, images, seed=1)
    with torch.no_grad():
        qz = model.encode(x)
        whole = model.decode(qz.mean).log_prob(x).numpy()
        kl = kl_divergence(qz, model.prior()).numpy()
    assert np.allclose(out["pixel_log_prob"].sum((1, 2)), whole, rtol=1e-4, atol=1e-2)
    assert np.allclose(out["kl"], kl, rtol=1e-5)
    again = latent.reconstruct(model, images, seed=1, elbo_samples=4)
    assert np.array_equal(out["sample"], again["sample"]) and np.array_equal(out["elbo"], again["elbo"])
    if model.data_kind == "binary":
        assert set(np.unique(out["input"])) <= {0.0, 1.0} and (out["pixel_log_prob"] <= 0).all()


def test_samples_are_seeded_and_temperature_scales_z():
    model = tiny("gaussian-pixel")
    a, b = latent.prior_samples(model, 8, 1.0, seed=3), latent.prior_samples(model, 8, 1.0, seed=3)
    assert np.array_equal(a["sample"], b["sample"]) and a["sigma"].shape == (8, 28, 28)
    assert not np.array_equal(a["sample"], latent.prior_samples(model, 8, 1.0, seed=4)["sample"])
    cold = latent.prior_samples(model, 8, 0.5, seed=3)
    assert np.allclose(cold["z"], 0.5 * a["z"])
    zero = latent.prior_samples(model, 4, 0.0, seed=0)
    assert np.allclose(zero["mean"], zero["mean"][0])  # T = 0: every draw decodes z = 0
    rng_before = torch.get_rng_state()
    latent.decode(model, np.zeros((2, 3)), seed=9)
    assert torch.equal(rng_before, torch.get_rng_state())  # the global generator is left alone


def test_exact_plane_for_a_2d_latent():
    means = np.random.default_rng(0).normal(size=(100, 2)) * [2.0, 0.5]
    p = latent.fit_projection(means)
    assert p.exact and p.axis_names == ("z1", "z2")
    assert np.allclose(latent.project(p, means), means) and np.allclose(latent.lift(p, means), means)
    rings = latent.prior_contours(p, radii=(1, 2, 3))
    assert np.allclose(np.hypot(rings["x"], rings["y"]), rings["radius"])


def test_pca_plane_for_a_larger_latent():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(300, 6)) * [3, 1, 0.1, 0.1, 0.1, 0.1] + 2.0
    p = latent.fit_projection(means)
    assert not p.exact and p.axis_names == ("PC 1", "PC 2")
    assert np.allclose(p.components @ p.components.T, np.eye(2), atol=1e-8)
    assert p.explained[0] > 0.8 and p.explained.sum() <= 1
    xy = rng.normal(size=(5, 2))
    assert np.allclose(latent.project(p, latent.lift(p, xy)), xy)
    # the prior's circles are centred on the projection of z = 0, radius in prior standard deviations
    rings = latent.prior_contours(p, radii=(2.0,))
    origin = latent.project(p, np.zeros((1, 6)))[0]
    assert np.allclose(np.hypot(rings["x"] - origin[0], rings["y"] - origin[1]), 2.0)
    one_d = latent.fit_projection(rng.normal(size=(50, 1)))
    assert one_d.components.shape == (2, 1)


def test_interpolation_paths_and_grid():
    z0, z1 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    line = latent.interpolate(z0, z1, 5)
    assert line.shape == (5, 3) and np.allclose(line[0], z0) and np.allclose(line[-1], z1)
    arc = latent.interpolate(z0, z1, 5, "slerp")
    assert np.allclose(arc[0], z0) and np.allclose(arc[-1], z1)
    assert np.linalg.norm(arc[2]) > np.linalg.norm(line[2])  # the arc keeps away from the origin
    with pytest.raises(ValueError):
        latent.interpolate(z0, z1, 5, "cubic")
    grid = latent.plane_grid(3.0, 4)
    assert grid.shape == (16, 2) and grid[0].tolist() == [-3.0, 3.0] and grid[-1].tolist() == [3.0, -3.0]


@pytest.mark.parametrize("decoder", ["gaussian-pixel", "bernoulli", "discretized-gaussian"])
def test_encode_means_and_sigma_maps(decoder, images):
    model = tiny(decoder, latent_dim=2)
    mu = latent.encode_means(model, images)
    assert mu.shape == (6, 2)
    sigma = latent.sigma_at_means(model, images)
    assert (sigma is None) == (decoder in SIGMA_FREE) and (sigma is None or (sigma > 0).all())


def test_raw_pixels_get_an_elbo_but_no_bits_per_dim(images):
    """A density on raw pixels is unbounded (vae_core.base.data.UNBOUNDED_REASON): bits/dim would be meaningless."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder="gaussian-pixel", latent_dim=3, hidden=[16], data_kind="raw")).eval()
    out = latent.reconstruct(model, images, seed=0, elbo_samples=2)
    assert out["data_kind"] == "raw" and np.isfinite(out["elbo"]).all() and np.isnan(out["bits_per_dim"]).all()
