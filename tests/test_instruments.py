"""The Reconstruct page's instruments (explorer.compute.instruments): the sigma floor re-scores with the decoder's own
likelihood, and the stroke / background split of the per-pixel log-likelihood. Every registered likelihood runs
through the same checks; the Gaussian maths against closed forms."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from apptest_pages import html_tables, static_charts
from streamlit.testing.v1 import AppTest
from torch.distributions import Independent, Normal

from explorer import pages
from explorer.compute import latent
from explorer.compute.instruments import (
    FLOORS,
    STROKE_LEVEL,
    FloorNotApplicable,
    check_floor,
    floored,
    nats_split,
    rescore,
    stroke_mask,
)
from explorer.instruments import FLOOR_KEY, change_text
from vae_core.base.data import fixed_test_input, load_sample
from vae_core.model.likelihoods import LIKELIHOODS, decoder_sigma, make_likelihood
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.checkpoints import load_model

KEYS = list(LIKELIHOODS)  # a new variant joins every check below by registering itself
WITH_SIGMA = [k for k in KEYS if decoder_sigma(make_likelihood(k)(torch.zeros(1, 2, 28, 28))) is not None]
WITHOUT_SIGMA = [k for k in KEYS if k not in WITH_SIGMA]


def decoder_output(key: str, seed: int = 0) -> tuple[Independent, torch.Tensor]:
    """p(x|z) from random decoder outputs (wide: some sigmas collapse to ~e^-12) and an input of its data kind."""
    g = torch.Generator().manual_seed(seed)
    lik = make_likelihood(key).eval()
    params = torch.randn(4, lik.num_params, 28, 28, generator=g) * 4  # (4, P, 28, 28)
    images, _ = load_sample("mnist")
    x = fixed_test_input(images[:4], lik.data_kind, seed)  # (4, 1, 28, 28)
    return lik(params, x), x


def small_vae(key: str) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(decoder=key, latent_dim=4, hidden=[32]))


def test_the_registry_splits_into_floorable_and_not():
    assert {"gaussian-pixel", "gaussian-fixed", "discretized-gaussian"} <= set(WITH_SIGMA)
    assert {"bernoulli", "continuous-bernoulli"} == set(WITHOUT_SIGMA)


# ------------------------------------------------------------------------------------------------ the floor
@pytest.mark.parametrize("key", WITH_SIGMA)
def test_floor_zero_changes_nothing(key):
    px, x = decoder_output(key)
    assert torch.equal(floored(px, 0.0).base_dist.log_prob(x), px.base_dist.log_prob(x))


@pytest.mark.parametrize("key", WITH_SIGMA)
def test_the_floored_decoder_is_the_same_distribution_class(key):
    """Re-scoring uses the trained likelihood's own log_prob, not a copy of its formula."""
    px, _ = decoder_output(key)
    assert type(floored(px, 0.1).base_dist) is type(px.base_dist)
    assert floored(px, 0.1).reinterpreted_batch_ndims == px.reinterpreted_batch_ndims


@pytest.mark.parametrize("key", WITH_SIGMA)
@pytest.mark.parametrize("floor", [1e-4, 0.01, 0.3])
def test_the_floor_sets_sigma_to_max_of_sigma_and_floor(key, floor):
    px, _ = decoder_output(key)
    assert torch.equal(decoder_sigma(floored(px, floor)), torch.clamp(decoder_sigma(px), min=floor))


@pytest.mark.parametrize("key", WITHOUT_SIGMA)
def test_a_decoder_without_sigma_is_refused_with_a_sentence(key):
    px, _ = decoder_output(key)
    with pytest.raises(FloorNotApplicable, match="no sigma"):
        floored(px, 0.1, decoder=key)


# A Gaussian pixel (mu, sigma, x): where |x - mu| <= sigma, a larger sigma only spreads the density thinner.
CLOSE = [(0.5, 1e-4, 0.5), (0.5, 1e-3, 0.5005), (0.0, 0.05, 0.03), (0.9, 0.1, 1.0), (0.2, 0.3, 0.2)]


@pytest.mark.parametrize(("mu", "sigma", "x"), CLOSE)
@pytest.mark.parametrize("floor", FLOORS)
def test_the_floor_never_raises_a_gaussian_pixel_that_lies_within_sigma(mu, sigma, x, floor):
    px = Normal(torch.tensor([mu]), torch.tensor([sigma]))
    assert floored(px, floor).log_prob(torch.tensor([x])) <= px.log_prob(torch.tensor([x]))


@pytest.mark.parametrize("floor", [f for f in FLOORS if f > 0])
def test_a_floored_gaussian_density_is_bounded_by_the_floor(floor):
    """log N(x; mu, sigma') <= -log(floor sqrt(2 pi)): the bound that makes maximum likelihood well-posed."""
    px, x = decoder_output("gaussian-pixel", seed=1)
    assert floored(px, floor).base_dist.log_prob(x).max() <= -math.log(floor * math.sqrt(2 * math.pi)) + 1e-4


@pytest.mark.parametrize(("mu", "sigma", "x", "floor"), [(0.5, 0.001, 0.6, 0.01), (0.0, 0.01, 0.3, 0.1)])
def test_the_floor_raises_a_pixel_whose_residual_exceeds_sigma(mu, sigma, x, floor):
    """Not a monotone instrument: an over-confident sigma below the residual |x - mu| gains from a floor up to the
    residual (log N is largest at sigma = |x - mu|), so the total can rise before it falls."""
    px = Normal(torch.tensor([mu]), torch.tensor([sigma]))
    assert floored(px, floor).log_prob(torch.tensor([x])) > px.log_prob(torch.tensor([x]))


@pytest.mark.parametrize("floor", [-0.1, -1e-12, math.nan, math.inf, -math.inf, "0.1", None, True, [0.1]])
def test_a_bad_floor_is_refused_with_a_sentence(floor):
    with pytest.raises(ValueError, match=r"A sigma floor must be a finite number >= 0"):
        check_floor(floor)
    px, _ = decoder_output("gaussian-fixed")
    with pytest.raises(ValueError, match=r"A sigma floor must be"):
        floored(px, floor)


@pytest.mark.parametrize("floor", [0, 0.0, 1e-3, np.float32(0.1), np.int64(1)])
def test_a_good_floor_is_taken_as_a_float(floor):
    assert check_floor(floor) == float(floor)


# ------------------------------------------------------------------------------------------------ re-scoring
@pytest.mark.parametrize("key", WITH_SIGMA)
def test_floor_zero_rescores_to_the_reconstruct_pages_elbo(key):
    images, _ = load_sample("mnist")
    model = small_vae(key)
    scores = rescore(model, images[:3], floors=(0.0, 0.05), seed=7)
    page = latent.reconstruct(model, images[:3], seed=7)
    np.testing.assert_array_equal(scores["elbo"][0], page["elbo"].astype(np.float64))
    assert scores["log_px"].shape == scores["elbo"].shape == scores["below"].shape == (2, 3)


@pytest.mark.parametrize("key", WITH_SIGMA)
def test_the_share_of_pixels_below_the_floor_grows_with_the_floor(key):
    images, _ = load_sample("mnist")
    below = rescore(small_vae(key), images[:2], seed=0)["below"]  # (F, N)
    assert (below[0] == 0).all() and (np.diff(below, axis=0) >= 0).all()


@pytest.mark.parametrize("key", WITHOUT_SIGMA)
def test_rescoring_a_decoder_without_sigma_says_why(key):
    images, _ = load_sample("mnist")
    with pytest.raises(FloorNotApplicable, match="no sigma"):
        rescore(small_vae(key), images[:1])


# ------------------------------------------------------------------------------------------------ the split
def _image(kind: str) -> np.ndarray:
    images, _ = load_sample("mnist")
    img = np.zeros((28, 28), np.uint8)
    if kind == "dot":
        img[14, 14] = 255
    elif kind == "digit":
        img = images[0].copy()
    elif kind == "full":
        img[:] = 255
    elif kind == "at the threshold":
        img[:] = STROKE_LEVEL  # not brighter than the level: background
    return img


SPLITS = ["blank", "dot", "digit", "full", "at the threshold"]


@pytest.mark.parametrize("kind", SPLITS)
def test_the_split_sums_to_the_total(kind):
    lp = np.random.default_rng(0).normal(0, 3, (28, 28))  # seed 0
    split = nats_split(lp, _image(kind))
    assert split.total == pytest.approx(lp.sum(), rel=1e-12, abs=1e-9)
    assert split.stroke_pixels + split.background_pixels == 784


@pytest.mark.parametrize(("kind", "stroke"), [("blank", 0), ("dot", 1), ("full", 784), ("at the threshold", 0)])
def test_the_stroke_is_the_pixels_brighter_than_half(kind, stroke):
    assert int(stroke_mask(_image(kind)).sum()) == stroke


@pytest.mark.parametrize(("kind", "stroke_nan", "background_nan"), [("blank", True, False), ("full", False, True),
                                                                     ("dot", False, False)])
def test_an_empty_set_has_no_nats_per_pixel(kind, stroke_nan, background_nan):
    split = nats_split(np.ones((28, 28)), _image(kind))
    assert math.isnan(split.stroke_per_pixel) == stroke_nan
    assert math.isnan(split.background_per_pixel) == background_nan


def test_nats_per_pixel_is_the_mean_over_the_set():
    img = _image("dot")
    lp = np.where(img > STROKE_LEVEL, 5.0, -1.0)
    split = nats_split(lp, img)
    assert (split.stroke_per_pixel, split.background_per_pixel) == (5.0, -1.0)


@pytest.mark.parametrize(("lp", "image"), [
    (np.zeros((28, 28)), np.zeros((28, 28), np.float32)),   # not uint8
    (np.zeros((28, 28)), np.zeros((14, 14), np.uint8)),     # wrong size
    (np.zeros((1, 28, 28)), np.zeros((28, 28), np.uint8)),  # a batch, not one map
])
def test_a_mismatched_split_is_refused_with_a_sentence(lp, image):
    with pytest.raises(ValueError, match="28 x 28"):
        nats_split(lp, image)


# ------------------------------------------------------------------------------------------------ the view
VIEW_MODELS = ["mnist-gaussian-pixel", "mnist-gaussian-fixed", "mnist-bernoulli-2d"]


def run_view(models=VIEW_MODELS) -> AppTest:
    """app.py on Reconstruct for ``models``: the instruments on the embedded sample's first image (the page's
    default)."""
    at = AppTest.from_file(str(pages.APP), default_timeout=90)
    at.query_params["dataset"] = "mnist"
    at.query_params["models"] = models
    at.run()
    at.switch_page(pages.page("reconstruct").script).run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    return at


def expected_log_px(zoo: Path, name: str, floor: float) -> float:
    scores = rescore(load_model(zoo / name), load_sample("mnist")[0][:1], floors=(floor,), seed=0)
    return float(scores["log_px"][0, 0])


def test_the_floor_slider_starts_as_trained(zoo):
    at = run_view()
    assert at.select_slider(key=FLOOR_KEY).value == 0.0
    assert [m.delta for m in at.metric] == ["", ""]  # no change shown at floor 0: one metric per Gaussian decoder


def test_the_metric_is_log_p_at_the_chosen_floor(zoo):
    at = run_view()
    at.select_slider(key=FLOOR_KEY).set_value(0.1).run()
    shown = [float(m.value.replace(",", "")) for m in at.metric]
    want = [expected_log_px(zoo, name, 0.1) for name in VIEW_MODELS[:2]]
    assert shown == pytest.approx(want, abs=0.051)
    trained = [expected_log_px(zoo, name, 0.0) for name in VIEW_MODELS[:2]]
    assert [m.delta for m in at.metric] == [change_text(w - t) for w, t in zip(want, trained, strict=True)]


@pytest.mark.parametrize(("change", "text"), [(-2127.04, "-2,127.0"), (3.26, "+3.3"), (0.01, "no change"),
                                              (-0.049, "no change"), (math.nan, "change: n/a"),
                                              (-math.inf, "change: n/a")])
def test_a_change_reads_as_signed_nats_or_no_change(change, text):
    assert change_text(change) == text


def test_a_model_without_sigma_says_the_floor_does_not_apply(zoo):
    at = run_view()
    assert any("not applicable" in m.value for m in at.markdown)


def test_the_floor_chart_has_a_line_per_gaussian_model(zoo):
    at = run_view()
    assert not at.get("vega_lite_chart")  # drawn on the server: a fresh tab loads no Vega code
    (chart,) = [c for c in static_charts(at) if "sigma floor" in c]
    assert [name in chart for name in VIEW_MODELS] == [True, True, False]  # the Bernoulli has no sigma


def test_the_floor_chart_follows_the_slider(zoo):
    at = run_view()
    before = next(c for c in static_charts(at) if "sigma floor" in c)
    at.select_slider(key=FLOOR_KEY).set_value(0.1).run()
    after = next(c for c in static_charts(at) if "sigma floor" in c)
    assert before != after  # the rule marks the slider's floor


def test_the_nats_split_has_a_row_per_model_summing_to_the_map(zoo):
    at = run_view()
    assert not at.dataframe  # an HTML table: a fresh tab loads no data grid code
    table = next(t for t in html_tables(at) if "stroke: nats" in t.columns)
    assert list(table["model"]) == VIEW_MODELS
    image = load_sample("mnist")[0][0]
    for name, row in zip(VIEW_MODELS, table.itertuples(index=False), strict=True):
        page_map = latent.reconstruct(load_model(zoo / name), image[None], seed=0)["pixel_log_prob"][0]
        stroke, background = float(row[1]), float(row[3])  # shown to 0.1 nats
        assert stroke + background == pytest.approx(float(page_map.astype(np.float64).sum()), abs=0.11)
