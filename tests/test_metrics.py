"""Evaluation maths against exact answers: the importance-weighted bound on a linear-Gaussian model whose marginal
likelihood is known in closed form, the KL, active units, bits/dim and the Frechet distance."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vae_core.base.data import load_sample, to_model_input
from vae_core.evaluation.metrics import (
    active_units,
    bits_per_dim,
    elbo_terms,
    evaluate,
    frechet_distance,
    iwae_log_likelihood,
    mean_and_stderr,
    pixel_log_likelihood,
    posterior_means,
)
from vae_core.model.vae import VAE, VAEConfig

D, L = 5, 2  # data and latent dimensions of the linear-Gaussian model


class LinearGaussian:
    """x = W z + b + sigma eps, z ~ N(0, I), with a deliberately imperfect diagonal Gaussian q(z|x): the exact
    posterior's mean shifted by ``shift`` posterior standard deviations and its marginal std scaled by
    ``inflate``. Exposes what ``iwae_log_likelihood`` uses of a VAE (encode, decode, prior, config, device)."""

    def __init__(self, seed: int = 0, shift: float = 1.0, inflate: float = 1.8):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(D, L, generator=g, dtype=torch.float64)
        self.b = torch.randn(D, generator=g, dtype=torch.float64)
        self.sigma = 0.5
        self.config = SimpleNamespace(latent_dim=L)
        self.device = torch.device("cpu")
        # exact posterior: S = (I + W^T W / s^2)^-1, m = S W^T (x - b) / s^2
        self.S = torch.linalg.inv(torch.eye(L, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2)
        self.A = self.S @ self.W.T / self.sigma**2  # (L, D)
        self.q_std = self.S.diagonal().sqrt() * inflate
        self.q_shift = self.S.diagonal().sqrt() * shift

    def eval(self):
        return self

    def prior(self):
        return Independent(Normal(torch.zeros(L, dtype=torch.float64), torch.ones(L, dtype=torch.float64)), 1)

    def encode(self, x):
        loc = (x - self.b) @ self.A.T + self.q_shift  # (B, L)
        return Independent(Normal(loc, self.q_std.expand_as(loc)), 1)

    def decode(self, z, x=None):
        loc = z @ self.W.T + self.b  # (N, D)
        return Independent(Normal(loc, torch.full_like(loc, self.sigma)), 1)

    def marginal(self):
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(D, dtype=torch.float64)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def exact_elbo(self, x):
        """E_q log p(x|z) - KL(q || p(z)) in closed form, per row of x."""
        qz = self.encode(x)
        m, s = qz.base_dist.loc, qz.base_dist.scale
        resid = x - m @ self.W.T - self.b
        trace = (self.W**2 @ s[0] ** 2)  # diag(W diag(s^2) W^T), the same s for every x
        rec = -0.5 * D * math.log(2 * math.pi * self.sigma**2) - ((resid**2).sum(1) + trace.sum()) / (
            2 * self.sigma**2)
        kl = 0.5 * (m**2 + s**2 - 1 - 2 * torch.log(s)).sum(1)
        return rec - kl


@pytest.fixture(scope="module")
def lg():
    model = LinearGaussian()
    torch.manual_seed(123)
    x = model.marginal().sample((400,))  # (N, D) from the model itself
    return model, x, model.marginal().log_prob(x)


def test_iwae_with_many_samples_matches_the_exact_marginal(lg):
    model, x, exact = lg
    x, exact = x[:100], exact[:100]
    est = iwae_log_likelihood(model, x, k=5000, seed=1, batch_size=100, chunk=500)
    assert est.shape == (100,) and est.dtype == torch.float64
    # per image: the delta-method standard error of log mean(w), from an independent set of weights
    qz = model.encode(x)
    torch.manual_seed(7)
    z = qz.sample((5000,))  # (k, N, L)
    log_w = model.decode(z.flatten(0, 1)).log_prob(x.repeat(5000, 1)).view(5000, -1) \
        + model.prior().log_prob(z) - qz.log_prob(z)
    w = torch.exp(log_w - log_w.max(0).values)
    se = w.std(0) / (w.mean(0) * math.sqrt(5000))
    z_scores = (est - exact) / se
    assert float(z_scores.abs().max()) < 4.5  # 100 images: the largest of 100 |N(0,1)| draws
    diff_mean, diff_se = mean_and_stderr(est - exact)
    assert abs(diff_mean) < 3 * diff_se + 1e-4


def test_bound_ordering_and_monotone_in_k():
    model = LinearGaussian()
    torch.manual_seed(321)
    x = model.marginal().sample((2000,))
    exact, elbo = model.marginal().log_prob(x), model.exact_elbo(x)
    assert (elbo < exact - 1).all()  # q is imperfect for every x: a clear gap for the bound to close
    est = {k: iwae_log_likelihood(model, x, k=k, seed=3, batch_size=500) for k in (1, 10, 100, 1000)}
    # k = 1 is the one-sample ELBO estimate: unbiased for the closed-form ELBO
    m, se = mean_and_stderr(est[1] - elbo)
    assert abs(m) < 3 * se
    # never above log p(x) on average (IWAE_k is a lower bound in expectation)
    for k, values in est.items():
        m, se = mean_and_stderr(values - exact)
        assert m < 3 * se, (k, m, se)
    # non-decreasing in k: each step up in k raises the average, by more than its noise where the gap is large
    for k_lo, k_hi in ((1, 10), (10, 100), (100, 1000)):
        m, se = mean_and_stderr(est[k_hi] - est[k_lo])
        assert m > (3 * se if k_hi <= 100 else -3 * se), (k_lo, k_hi, m, se)
    assert float((exact - est[1000]).mean()) < 0.01 * float((exact - elbo).mean())  # the gap all but closed


def test_iwae_is_reproducible_for_a_seed_and_any_batching(lg):
    model, x, _ = lg
    a = iwae_log_likelihood(model, x[:20], k=300, seed=5, chunk=300)
    b = iwae_log_likelihood(model, x[:20], k=300, seed=5, chunk=300, batch_size=7)
    torch.testing.assert_close(a, iwae_log_likelihood(model, x[:20], k=300, seed=5, chunk=300))
    assert torch.isfinite(b).all()
    c = iwae_log_likelihood(model, x[:20], k=300, seed=5, chunk=64)  # a running log-sum-exp over chunks
    assert torch.isfinite(c).all() and abs(float((c - a).mean())) < 0.05


# ------------------------------------------------------------------------------------- on a real VAE
@pytest.fixture(scope="module")
def vae_and_x():
    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder="bernoulli", latent_dim=6, hidden=[64])).eval()
    images, _ = load_sample("mnist")
    x = to_model_input(torch.from_numpy(images[:64]), "binary", torch.Generator().manual_seed(0))
    return model, x


def test_kl_is_the_closed_form(vae_and_x):
    model, x = vae_and_x
    with torch.no_grad():
        qz = model.encode(x)
    mu, s = qz.base_dist.loc.double(), qz.base_dist.scale.double()
    expected = 0.5 * (mu**2 + s**2 - 1 - 2 * torch.log(s)).sum(1)
    terms = elbo_terms(model, x, batch_size=16)
    torch.testing.assert_close(terms["kl"].double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms["elbo"], terms["rec"] - terms["kl"])
    assert (terms["rec"] <= 0).all()  # a Bernoulli log-probability


def test_iwae_on_a_vae_lies_above_the_elbo(vae_and_x):
    model, x = vae_and_x
    elbo = float(elbo_terms(model, x)["elbo"].mean())
    iwae = float(iwae_log_likelihood(model, x, k=200).mean())
    assert elbo < iwae <= 0


def test_pixel_map_sums_to_the_image_log_likelihood(vae_and_x):
    model, x = vae_and_x
    pixel = pixel_log_likelihood(model, x)
    assert pixel.shape == x.shape
    with torch.no_grad():
        whole = model.decode(model.encode(x).mean).log_prob(x)
    torch.testing.assert_close(pixel.sum((1, 2, 3)), whole, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("variances", [[4.0, 0.5, 0.0101, 0.0099, 0.0], [0.0, 0.0], [1.0, 2.0, 3.0]])
def test_active_units_counts_columns_above_the_threshold(variances):
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(500, len(variances), generator=g, dtype=torch.float64)
    noise = (noise - noise.mean(0)) / noise.std(0)  # unit sample variance, exactly
    mu = noise * torch.tensor(variances, dtype=torch.float64).sqrt() + 3.0
    count, var = active_units(mu)
    assert count == sum(v > 0.01 for v in variances)
    torch.testing.assert_close(var, torch.tensor(variances, dtype=torch.float64), rtol=1e-9, atol=1e-12)


def test_active_units_of_an_encoder_with_dead_units(vae_and_x):
    model, x = vae_and_x
    model = VAE(model.config).eval()
    model.load_state_dict(vae_and_x[0].state_dict())
    last = model.encoder[-1][-1]  # the Linear giving (mu, log sigma)
    dead = [1, 4]
    with torch.no_grad():
        last.weight[dead] = 0.0  # these posterior means no longer depend on x
        last.weight[: model.config.latent_dim] *= 20  # and the others vary a lot
    count, var = active_units(posterior_means(model, x))
    assert count == model.config.latent_dim - len(dead)
    assert all(float(var[u]) < 1e-12 for u in dead)


# ------------------------------------------------------------------------------------- bits/dim
@pytest.mark.parametrize(("kind", "uniform_log_p_per_dim", "bits"), [
    ("continuous", 0.0, 8.0),                # uniform density on [0, 1]: 8 bits per 8-bit pixel
    ("discrete", -math.log(256), 8.0),       # uniform over 256 bins
    ("binary", -math.log(2), 1.0),           # a fair coin per binarized pixel: no log 256 shift
])
def test_bits_per_dim_of_uniform_models(kind, uniform_log_p_per_dim, bits):
    assert bits_per_dim(784 * uniform_log_p_per_dim, kind) == pytest.approx(bits)
    assert bits_per_dim(10 * uniform_log_p_per_dim, kind, num_dims=10) == pytest.approx(bits)


def test_bits_per_dim_conversion():
    ll = -1234.5
    assert bits_per_dim(ll, "binary") == pytest.approx(-ll / (784 * math.log(2)))
    assert bits_per_dim(ll, "discrete") == pytest.approx(-ll / (784 * math.log(2)))
    assert bits_per_dim(ll, "continuous") == pytest.approx(-ll / (784 * math.log(2)) + 8)


# ------------------------------------------------------------------------------------- Frechet distance
def _features(mean, std, n=400, seed=0):
    """n points whose sample mean and (ddof=1) covariance are exactly ``mean`` and diag(std^2)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(0)
    chol = np.linalg.cholesky(np.cov(z, rowvar=False))
    z = z @ np.linalg.inv(chol).T  # sample covariance exactly I
    return z * np.asarray(std) + np.asarray(mean)


@pytest.mark.parametrize(("mu1", "s1", "mu2", "s2"), [
    ([0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]),
    ([0, 0, 0], [1, 1, 1], [1, -2, 0.5], [1, 1, 1]),
    ([0, 0, 0], [1, 2, 3], [0, 0, 0], [3, 2, 1]),
    ([1, 2, 3, 4], [0.1, 5, 1, 2], [-1, 0, 3, 7], [2, 0.5, 1, 0.01]),
])
def test_frechet_distance_of_diagonal_gaussians(mu1, s1, mu2, s2):
    a, b = _features(mu1, s1, seed=1), _features(mu2, s2, seed=2)
    expected = np.sum((np.array(mu1) - mu2) ** 2) + np.sum((np.array(s1) - s2) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7, abs=1e-8)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-7, abs=1e-8)


def test_frechet_distance_of_identical_features_is_zero():
    a = np.random.default_rng(0).standard_normal((300, 8)) @ np.random.default_rng(1).standard_normal((8, 8))
    assert abs(frechet_distance(a, a)) < 1e-8


def test_frechet_distance_with_full_covariances_matches_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6)) + 1
    b = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------- the report
@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian-fixed", "discretized-gaussian"])
def test_evaluate_reports_consistent_numbers(decoder):
    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder=decoder, latent_dim=4, hidden=[32])).eval()
    images, _ = load_sample("mnist")
    x = to_model_input(torch.from_numpy(images[:40]), model.data_kind, torch.Generator().manual_seed(0))
    ev = evaluate(model, x, iwae_k=20, iwae_images=10)
    assert ev.num_images == 40 and ev.iwae_k == 20 and ev.data_kind == model.data_kind
    assert ev.elbo == pytest.approx(ev.rec - ev.kl, rel=1e-5)
    assert ev.bits_per_dim == pytest.approx(bits_per_dim(ev.iwae, model.data_kind))
    assert (ev.sigma is None) == (decoder == "bernoulli")
    if decoder == "gaussian-fixed":
        assert ev.sigma["min"] == pytest.approx(0.1) and ev.sigma["mean"] == pytest.approx(0.1)


# ------------------------------------------------------------------------------------- the best estimate
@pytest.mark.parametrize(("latent_dim", "method"), [(2, "quadrature"), (4, "ais")])
def test_best_log_likelihood_pairs_the_best_estimate_with_iwae_on_the_same_images(latent_dim, method):
    from vae_core.evaluation.best_likelihood import best_log_likelihood

    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder="bernoulli", latent_dim=latent_dim, hidden=[32])).eval()
    images, _ = load_sample("mnist")
    x = to_model_input(torch.from_numpy(images[:6]), "binary", torch.Generator().manual_seed(0))
    settings = None if method == "quadrature" else {"num_steps": 30, "leapfrog_steps": 3, "chains": 2, "seed": 0}
    block = best_log_likelihood(model, x, settings=settings, iwae_k=50)
    assert block["method"] == method and block["num_images"] + block["excluded_images"] == 6
    iwae = iwae_log_likelihood(model, x, k=50, seed=0).double()
    assert block["iwae"] == pytest.approx(float(iwae.mean()))  # the same images, the same seed
    assert block["best_minus_iwae"] == pytest.approx(block["estimate"] - block["iwae"])
    assert block["bits_per_dim"] == pytest.approx(bits_per_dim(block["estimate"], "binary"))
    assert block["elbo"] <= block["iwae"] + 3 * block["iwae_stderr"]
    if method == "quadrature":  # exact: above IWAE on average, whatever the (untrained) model
        assert block["best_minus_iwae"] > -3 * block["best_minus_iwae_stderr"]
        assert block["numerical_error_max"] < 0.05


def test_adding_the_best_estimate_keeps_weights_and_old_numbers_and_resumes(tmp_path, data_dir):
    import hashlib
    import json

    from vae_core.zoo.evaluate import update_best_log_likelihood
    from vae_core.zoo.index import write_index

    torch.manual_seed(0)
    folder = tmp_path / "mnist-tiny-2d"
    config = VAEConfig(decoder="gaussian-fixed", decoder_settings={"sigma": 0.1}, latent_dim=2, hidden=[32])
    VAE(config).save_pretrained(folder)
    test = {"num_images": 10000, "elbo": -2.0, "elbo_stderr": 0.1, "iwae": -1.0, "iwae_stderr": 0.1, "iwae_k": 20,
            "iwae_images": 2000, "bits_per_dim": 9.0, "mse": 0.1, "active_units": 2}
    old = {"name": folder.name, "dataset": "mnist", "decoder": "gaussian-fixed", "latent_dim": 2,
           "data_kind": "continuous", "test": test, "training": {"epochs": 1, "seconds": 1.0,
                                                                 "diverged_at_epoch": None}}
    (folder / "eval.json").write_text(json.dumps(old))
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    block = update_best_log_likelihood(folder, data_dir, num_images=3, progress=False)
    ev = json.loads((folder / "eval.json").read_text())
    # the old IWAE numbers stay as they were (the schema writes its other fields as null)
    assert {k: ev["test"][k] for k in old["test"]} == old["test"]
    assert {k: ev["log_likelihood"][k] for k in block} == block
    assert block["method"] == "quadrature" and block["iwae_k"] == 20
    assert "best - IWAE" in (folder / "README.md").read_text()
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == weights
    assert update_best_log_likelihood(folder, data_dir, num_images=3, progress=False) is None  # done: skipped
    index = json.loads(write_index(tmp_path).read_text())["models"][0]
    assert index["log_likelihood"] == -1.0 and index["best_log_likelihood"] == block["estimate"]
    assert index["best_method"] == "quadrature" and index["best_minus_iwae"] == block["best_minus_iwae"]
