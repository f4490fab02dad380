"""Decoder likelihoods: one table of every registered variant through the same generic checks, then the maths
of each family against closed forms or independent float64 references."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent

from vae_core.base.data import DATA_KINDS, load_sample, to_model_input
from vae_core.model.config import DECODERS
from vae_core.model.likelihoods import LIKELIHOODS, DiscretizedNormal, decoder_sigma, make_likelihood
from vae_core.model.vae import VAE, VAEConfig

KEYS = list(LIKELIHOODS)  # a new variant joins every generic check below by registering itself
NO_SIGMA = {k for k, cls in LIKELIHOODS.items() if not cls.has_sigma()}  # as each class declares it (no_sigma)
UNBOUNDED = {"gaussian-pixel"}  # sigma free to collapse: float32 overflow is this variant's known failure
DESIGN_ZOO = {"bernoulli", "gaussian-fixed", "gaussian-shared", "gaussian-optimal", "gaussian-pixel",
              "gaussian-pixel-floor", "continuous-bernoulli", "discretized-gaussian"}
B = 8


def small_vae(key: str, **settings) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(decoder=key, decoder_settings=settings, latent_dim=4, hidden=[32]))


def sample_input(kind: str, n: int = B, seed: int = 0) -> torch.Tensor:
    images, _ = load_sample("mnist")
    return to_model_input(torch.from_numpy(images[:n]), kind, torch.Generator().manual_seed(seed))


def wide_params(num_params: int, seed: int = 0) -> torch.Tensor:
    """Decoder outputs (B, P, 28, 28) over a wide range, as an untrained or diverging decoder may emit."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, num_params, 28, 28, generator=g) * 6


def test_registry_holds_the_design_zoo():
    assert DESIGN_ZOO <= set(LIKELIHOODS)


# ------------------------------------------------------------------------------------- generic table
@pytest.mark.parametrize("key", KEYS)
def test_declaration(key):
    cls = LIKELIHOODS[key]
    assert cls.key == key and cls.num_params >= 1 and cls.description
    assert set(cls.data_kinds) <= set(DATA_KINDS) and cls.data_kind == cls.data_kinds[0]
    lik = make_likelihood(key)
    assert VAE(VAEConfig(decoder=key, hidden=[8], latent_dim=2)).decoder(torch.zeros(1, 2)).shape == \
        (1, lik.num_params, 28, 28)


@pytest.mark.parametrize(("key", "kind"), [(k, kind) for k in KEYS for kind in LIKELIHOODS[k].data_kinds[1:]])
def test_every_declared_data_kind_gives_a_finite_elbo(key, kind):
    """A variant trained on another kind it declares (raw pixels for the densities) reads it as its data kind."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder=key, data_kind=kind, latent_dim=4, hidden=[32]))
    assert model.data_kind == kind
    assert torch.isfinite(model.elbo(sample_input(kind))).all()


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_shapes_and_finite_log_prob_on_real_data(key, mode):
    model = small_vae(key).train(mode == "train")
    x = sample_input(model.data_kind)  # (B, 1, 28, 28) of the variant's data kind
    with torch.no_grad():
        px = model.decode(model.encode(x).mean, x)
    assert isinstance(px, Independent)
    assert px.batch_shape == (B,) and px.event_shape == (1, 28, 28)
    log_p = px.log_prob(x)
    pixel = px.base_dist.log_prob(x)
    assert log_p.shape == (B,) and pixel.shape == (B, 1, 28, 28)
    assert torch.isfinite(log_p).all() and torch.isfinite(pixel).all()
    torch.testing.assert_close(pixel.sum((1, 2, 3)), log_p, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("key", KEYS)
def test_gradients_reach_every_parameter(key):
    model = small_vae(key).train()
    x = sample_input(model.data_kind)
    (-model.elbo(x).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
    for part in (model.decoder, model.encoder):
        assert sum(float(p.grad.abs().sum()) for p in part.parameters()) > 0


@pytest.mark.parametrize("key", KEYS)
def test_gradients_stay_finite_for_extreme_decoder_outputs(key):
    lik = make_likelihood(key).train()
    # The unbounded per-pixel Gaussian is the exception by design: at log sigma ~ -25 its gradient
    # (x - mu)^2 / sigma^2 overflows float32, which is how it diverges; give it a narrower range.
    params = (wide_params(lik.num_params) / (2 if key in UNBOUNDED else 1)).requires_grad_()
    x = sample_input(lik.data_kind)
    lik(params, x).log_prob(x).sum().backward()
    assert torch.isfinite(params.grad).all()


@pytest.mark.parametrize("key", KEYS)
def test_mean_and_sample_lie_in_the_support(key):
    lik = make_likelihood(key).eval()
    px = lik(wide_params(lik.num_params))
    mean = px.mean
    assert mean.shape == (B, 1, 28, 28) and torch.isfinite(mean).all()
    assert ((mean >= 0) & (mean <= 1)).all()
    torch.manual_seed(0)
    sample = px.sample()
    assert sample.shape == (B, 1, 28, 28) and torch.isfinite(sample).all()
    assert px.base_dist.support.check(sample).all()
    if lik.data_kind == "binary":
        assert set(sample.unique().tolist()) <= {0.0, 1.0}
    if key in ("continuous-bernoulli", "discretized-gaussian"):
        assert ((sample >= 0) & (sample <= 1)).all()
    if lik.data_kind == "discrete":
        k = sample * 255
        assert torch.allclose(k, k.round(), atol=1e-4)
    # samples are draws from p(x|z): the samples' log-probabilities are finite
    assert torch.isfinite(px.log_prob(sample)).all()


def test_the_variants_without_a_sigma_say_why_and_are_bounded_by_a_probability_or_by_nothing():
    assert NO_SIGMA == {"bernoulli", "continuous-bernoulli"}
    assert all(LIKELIHOODS[k].no_sigma.endswith(".") for k in NO_SIGMA)
    assert {k for k, cls in LIKELIHOODS.items() if cls.bound} == {"bernoulli", "discretized-gaussian"}


@pytest.mark.parametrize("key", KEYS)
def test_a_ceiling_is_declared_exactly_where_a_setting_caps_the_density(key):
    """The floor's ceiling is the lab's (vae_core.lab.pixel_bounds): the density at a residual of 0 and the floor."""
    lik = make_likelihood(key)
    if key == "gaussian-pixel-floor":
        x = torch.tensor(0.5)
        assert lik.pixel_ceiling() == pytest.approx(float(torch.distributions.Normal(x, lik.sigma_min).log_prob(x)))
    else:
        assert lik.pixel_ceiling() is None


@pytest.mark.parametrize("key", KEYS)
def test_decoder_sigma_exists_exactly_for_variants_with_a_scale(key):
    lik = make_likelihood(key).eval()
    sigma = decoder_sigma(lik(wide_params(lik.num_params)))
    if key in NO_SIGMA:
        assert sigma is None
    else:
        assert sigma is not None and sigma.shape == (B, 1, 28, 28)
        assert torch.isfinite(sigma).all() and (sigma > 0).all()


@pytest.mark.parametrize("key", KEYS)
def test_unknown_setting_names_the_valid_ones(key):
    with pytest.raises(ValueError) as e:
        make_likelihood(key, no_such_setting=1.0)
    message = str(e.value)
    assert "no_such_setting" in message and key in message
    sig = inspect.signature(LIKELIHOODS[key])
    for name in sig.parameters:
        if sig.parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert name in message


@pytest.mark.parametrize("key", KEYS)
def test_each_class_takes_the_settings_its_torch_free_spec_declares(key):
    """The zoo scan checks configs against DECODERS without torch; the class builds the likelihood: both must agree
    on the settings, their defaults and the data kinds."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    signature = inspect.signature(LIKELIHOODS[key]).parameters
    assert {n: p.default for n, p in signature.items() if p.kind in named} == DECODERS[key].settings
    assert LIKELIHOODS[key].data_kinds == DECODERS[key].data_kinds
    assert list(LIKELIHOODS) == list(DECODERS)


def test_unknown_decoder_names_the_valid_choices():
    with pytest.raises(ValueError) as e:
        make_likelihood("gaussian-pixle")
    assert "gaussian-pixle" in str(e.value)
    assert all(key in str(e.value) for key in LIKELIHOODS)


@pytest.mark.parametrize(("key", "settings", "words"), [
    ("gaussian-fixed", {"sigma": 0.0}, "sigma > 0"),
    ("gaussian-fixed", {"sigma": -1.0}, "sigma > 0"),
    ("gaussian-fixed", {"sigma": "wide"}, "bad settings"),
    ("gaussian-shared", {"init_sigma": 0.0}, "init_sigma > 0"),
    ("gaussian-optimal", {"momentum": 0.0}, "momentum"),
    ("gaussian-pixel-floor", {"sigma_min": 0.0}, "sigma_min > 0"),
    *[(key, {name: value}, f"finite {name} > 0") for key, name in [
        ("gaussian-fixed", "sigma"), ("gaussian-shared", "init_sigma"), ("gaussian-pixel-floor", "sigma_min")]
      for value in (math.inf, -math.inf, math.nan)],
    ("gaussian-optimal", {"min_sigma": math.inf}, "min_sigma"),
])
def test_bad_setting_values_are_value_errors(key, settings, words):
    with pytest.raises(ValueError, match=words):
        make_likelihood(key, **settings)


# ------------------------------------------------------------------------------------- closed forms
def _sigmoid64(p: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(p.double())


GAUSSIAN_MU_SIGMA = {  # variant -> (settings, decoder outputs -> (mu, sigma)) as each class documents it
    "gaussian-fixed": ({"sigma": 0.07}, lambda p: (_sigmoid64(p[:, :1]), torch.full_like(p[:, :1].double(), 0.07))),
    "gaussian-shared": ({"init_sigma": 0.2},
                        lambda p: (_sigmoid64(p[:, :1]), torch.full_like(p[:, :1].double(), 0.2))),
    "gaussian-optimal": ({"init_sigma": 0.3},
                         lambda p: (_sigmoid64(p[:, :1]), torch.full_like(p[:, :1].double(), 0.3))),
    "gaussian-pixel": ({}, lambda p: (_sigmoid64(p[:, :1]), torch.exp(p[:, 1:2].double()))),
    "gaussian-pixel-floor": ({"sigma_min": 0.02},
                             lambda p: (_sigmoid64(p[:, :1]), 0.02 + F.softplus(p[:, 1:2].double()))),
}


@pytest.mark.parametrize("key", list(GAUSSIAN_MU_SIGMA))
def test_gaussian_log_prob_is_the_closed_form(key):
    settings, mu_sigma = GAUSSIAN_MU_SIGMA[key]
    lik = make_likelihood(key, **settings).eval()
    params = torch.randn(B, lik.num_params, 28, 28, generator=torch.Generator().manual_seed(1)) * 2
    x = sample_input("continuous")
    mu, s = mu_sigma(params)
    expected = -(x.double() - mu) ** 2 / (2 * s**2) - torch.log(s) - 0.5 * math.log(2 * math.pi)
    px = lik(params, x)
    torch.testing.assert_close(px.base_dist.log_prob(x).double(), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(px.log_prob(x).double(), expected.sum((1, 2, 3)), rtol=1e-5, atol=1e-2)


def test_bernoulli_log_prob_is_the_closed_form():
    lik = make_likelihood("bernoulli")
    params = torch.randn(B, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 5
    x = sample_input("binary").double()
    p = _sigmoid64(params)
    expected = x * torch.log(p) + (1 - x) * torch.log1p(-p)
    torch.testing.assert_close(lik(params).base_dist.log_prob(x.float()).double(), expected, rtol=1e-5, atol=1e-5)
    assert (lik(params).log_prob(x.float()) <= 0).all()


@pytest.mark.parametrize("sigma_min", [0.01, 0.05, 0.2])
def test_floor_holds_for_extreme_decoder_outputs(sigma_min):
    lik = make_likelihood("gaussian-pixel-floor", sigma_min=sigma_min)
    raw = torch.tensor([-1e30, -1e4, -100.0, -30.0, -1.0, 0.0, 30.0, 1e4])
    params = torch.zeros(len(raw), 2, 28, 28)
    params[:, 1] = raw.view(-1, 1, 1)
    sigma = decoder_sigma(lik(params))
    assert (sigma >= sigma_min).all() and torch.isfinite(sigma).all()
    assert float(sigma[0].min()) == pytest.approx(sigma_min)  # the floor is reached, not just approached
    x = sample_input("continuous", n=len(raw))
    bound = -math.log(sigma_min) - 0.5 * math.log(2 * math.pi)  # the density's maximum per pixel
    assert (lik(params).base_dist.log_prob(x) <= bound + 1e-5).all()


def test_gaussian_optimal_uses_the_batch_mse_in_training_and_its_buffer_in_eval():
    lik = make_likelihood("gaussian-optimal", init_sigma=0.3, momentum=0.1)
    params = torch.randn(B, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    x = sample_input("continuous")
    mu = torch.sigmoid(params)
    batch_sigma = float(((x - mu) ** 2).mean().sqrt())
    assert abs(batch_sigma - 0.3) > 0.05  # so the two cases below can be told apart

    lik.train()
    sigma = decoder_sigma(lik(params, x))
    torch.testing.assert_close(sigma, torch.full_like(sigma, batch_sigma), rtol=1e-5, atol=0)
    tracked = math.exp(0.9 * math.log(0.3) + 0.1 * math.log(batch_sigma))  # one EMA step in log space
    assert float(lik.log_sigma.exp()) == pytest.approx(tracked, rel=1e-5)

    lik.eval()
    for data in (x, torch.rand_like(x), None):  # the data no longer matter
        sigma = decoder_sigma(lik(params, data))
        torch.testing.assert_close(sigma, torch.full_like(sigma, tracked), rtol=1e-5, atol=0)
    assert float(lik.log_sigma.exp()) == pytest.approx(tracked, rel=1e-6)  # eval does not move the buffer


def test_gaussian_shared_sigma_is_learned():
    lik = make_likelihood("gaussian-shared", init_sigma=0.5)
    x = sample_input("continuous")
    params = torch.logit(x.clamp(0.05, 0.95))  # a decoder mean near the data: the best sigma is small
    opt = torch.optim.Adam(lik.parameters(), lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        (-lik(params, x).log_prob(x).mean()).backward()
        opt.step()
    assert float(lik.log_sigma.detach().exp()) < 0.5 * 0.5


# ------------------------------------------------------------------------------------- discretized Gaussian
LOCS = [-3.0, -0.5, -0.01, 0.0, 0.002, 0.3, 0.5, 0.77, 0.999, 1.0, 1.01, 2.0, 10.0]
SCALES = [1e-4, 1.234e-4, 1e-3, 0.002, 0.01, 0.05, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e5]


def _grid(dtype):
    loc, scale = torch.meshgrid(torch.tensor(LOCS, dtype=dtype), torch.tensor(SCALES, dtype=dtype), indexing="ij")
    return DiscretizedNormal(loc, scale)


def _reference_log_probs(loc: float, scale: float) -> np.ndarray:
    """log P(x = k/255) in float64 from math.erf/erfc, bin edges (k -+ 1/2)/255, open-ended edge bins."""
    def phi(t):  # Phi(t), accurate in both tails
        return 0.5 * math.erfc(-t / math.sqrt(2))

    out = np.empty(256)
    for k in range(256):
        lo = -math.inf if k == 0 else ((k - 0.5) / 255 - loc) / scale
        hi = math.inf if k == 255 else ((k + 0.5) / 255 - loc) / scale
        if abs(lo) < 3 and abs(hi) < 3:  # near the centre erf keeps the digits of a tiny difference
            mass = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
        else:  # in a tail, the tail's own side, where erfc does not cancel
            mass = phi(-lo) - phi(-hi) if lo + hi > 0 else phi(hi) - phi(lo)
        out[k] = math.log(mass) if mass > 0 else -math.inf
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discretized_gaussian_bins_sum_to_one(dtype):
    log_p = _grid(dtype).bin_log_probs()  # (len(LOCS), len(SCALES), 256)
    assert log_p.shape == (len(LOCS), len(SCALES), 256)
    assert (log_p <= 0).all()
    total = log_p.double().exp().sum(-1)
    assert float((total - 1).abs().max()) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_discretized_gaussian_matches_an_erf_reference(dtype):
    dist = _grid(dtype)
    ours = dist.bin_log_probs().double().numpy()
    checked = 0
    for i in range(len(LOCS)):
        for j in range(len(SCALES)):
            loc, scale = float(dist.loc[i, j]), float(dist.scale[i, j])  # the values the dtype can hold
            ref = _reference_log_probs(loc, scale)
            live = ref > math.log(1e-12)  # bins with mass worth comparing; the rest must be tiny too
            tol = 1e-9 if dtype == torch.float64 else 2e-3
            np.testing.assert_allclose(ours[i, j, live], ref[live], rtol=0, atol=tol)
            assert (ours[i, j, ~live] < math.log(1e-10)).all()
            checked += int(live.sum())
    assert checked > 1000


def test_discretized_gaussian_log_prob_of_data_and_mean():
    x = sample_input("discrete", n=2)
    loc = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(4)) * 1.4 - 0.2
    for scale in (1e-4, 0.01, 0.5, 50.0):
        dist = DiscretizedNormal(loc, torch.full_like(loc, scale))
        log_p = dist.log_prob(x)
        assert torch.isfinite(log_p).all() and (log_p <= 0).all()
        values = torch.arange(256) / 255
        by_hand = (dist.bin_log_probs().exp() * values).sum(-1)
        torch.testing.assert_close(dist.mean, by_hand)


def test_discretized_gaussian_concentrates_on_its_bin_for_tiny_sigma():
    loc = torch.tensor([0.0, 37 / 255, 1.0, 2.0, -1.0])
    dist = DiscretizedNormal(loc, torch.full_like(loc, 1e-4))
    x = torch.tensor([0.0, 37 / 255, 1.0, 1.0, 0.0])
    assert float(dist.log_prob(x).min()) > -1e-6  # probability ~1, not a density that soars


def test_discretized_gaussian_free_mean_reaches_the_edge_bins_at_a_moderate_sigma():
    """With free_mean the raw output is the mean: beyond 0 it puts ~all mass on the open-ended bin 0 at sigma 0.05,
    where the sigmoid mean (at most 0 from above) leaves half the mass in the interior."""
    params = torch.zeros(1, 2, 28, 28)
    params[:, 0], params[:, 1] = -0.5, math.log(0.05)  # raw mean -0.5, sigma 0.05
    x = torch.zeros(1, 1, 28, 28)  # every pixel black
    free = make_likelihood("discretized-gaussian", free_mean=True)
    squashed = make_likelihood("discretized-gaussian")
    assert float(free(params).base_dist.loc.max()) == -0.5
    assert float(free(params).log_prob(x)) > -784 * 1e-6  # P(x) ~ 1
    assert float(squashed(params).log_prob(x)) < 784 * math.log(0.5)  # sigmoid(-0.5) = 0.38, 7 sigma off bin 0
    params.requires_grad_(True)
    free(params).log_prob(x).sum().backward()
    assert torch.isfinite(params.grad).all() and params.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", ["yes", 2.0, None])
def test_discretized_gaussian_free_mean_must_be_a_boolean(bad):
    with pytest.raises(ValueError, match="free_mean true or false"):
        make_likelihood("discretized-gaussian", free_mean=bad)


# ------------------------------------------------------------------------------------- continuous Bernoulli
CB_LOGITS = [-400.0, -40.0, -8.0, -1.0, -0.31, -0.29, -0.01, -0.004, -1e-4, -5e-5, 0.0, 1e-3, 0.0039, 0.0041, 0.5,
             3.0, 25.0, 90.0, 400.0]


def _simpson_weights(n: int) -> torch.Tensor:
    w = torch.ones(n, dtype=torch.float64)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w / (3 * (n - 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_bernoulli_integrates_to_one_and_has_its_mean(dtype):
    lik = make_likelihood("continuous-bernoulli")
    base = lik(torch.tensor(CB_LOGITS, dtype=dtype).view(-1, 1, 1, 1)).base_dist  # batch (n, 1, 1, 1)
    n = 100_001  # Simpson on [0, 1]; the narrowest density (|logit| = 400) spans ~40 steps
    grid = torch.linspace(0, 1, n, dtype=torch.float64)
    density = base.log_prob(grid.to(dtype).view(n, 1, 1, 1, 1)).double().exp().view(n, -1)  # (n, logits)
    w = _simpson_weights(n)[:, None]
    total = (w * density).sum(0)
    mean = (w * density * grid[:, None]).sum(0)
    assert float((total - 1).abs().max()) < 1e-5, total
    assert float((mean - base.mean.double().flatten()).abs().max()) < 1e-5


def test_continuous_bernoulli_samples_follow_its_mean():
    lik = make_likelihood("continuous-bernoulli")
    base = lik(torch.tensor(CB_LOGITS).view(-1, 1, 1, 1)).base_dist
    torch.manual_seed(0)
    s = base.sample((20_000,)).double()  # (20000, n, 1, 1, 1)
    assert ((s >= 0) & (s <= 1)).all()
    z = (s.mean(0) - base.mean.double()) / (s.std(0) / math.sqrt(len(s)))
    assert float(z.abs().max()) < 5


def test_continuous_bernoulli_is_smooth_through_logit_zero():
    lik = make_likelihood("continuous-bernoulli")
    logits = torch.linspace(-0.02, 0.02, 401, dtype=torch.float64).view(-1, 1, 1, 1).requires_grad_()
    base = lik(logits).base_dist
    lp = base.log_prob(torch.full_like(logits, 0.8))
    # log p(0.8) = log C(l) + 0.8 l - log(1 + e^l), with log C(l) = log(l / tanh(l / 2)) -> log 2 + l^2 / 12
    l64 = logits.detach()
    expected = math.log(2) + l64**2 / 12 + 0.8 * l64 - F.softplus(l64)
    torch.testing.assert_close(lp.detach(), expected, rtol=0, atol=1e-9)
    lp.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert float(logits.grad.diff(dim=0).abs().max()) < 1e-3  # no jump at the series/exact switch
