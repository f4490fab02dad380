"""The explorer's likelihood views, run as Streamlit runs them (AppTest) on real checkpoints: the true posterior on
the Latent page for each shipped 2-D model, its k widget checked in the URL, the leaderboard's best estimate
beside the IWAE it replaces, and raw-pixel models shown without bits/dim and never ranked. Needs no
$VAE_ZOO_DATA: the 2-D checkpoints ship in the repo and the raw one is built here."""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from apptest_pages import as_shown, html_tables, leaderboards, open_leaderboard, open_tab, shown_number, static_charts
from streamlit.testing.v1 import AppTest

from explorer import cache, pages, tables
from explorer.views import sigma
from vae_core.base.data import UNBOUNDED_REASON, fixed_test_input, load_sample
from vae_core.evaluation.metrics import elbo_terms, iwae_log_likelihood, mean_and_stderr
from vae_core.model.vae import VAE, VAEConfig

APP = str(pages.APP)
CHECKPOINTS = pages.ROOT / "checkpoints"
LATENT, RECONSTRUCT, SIGMA = (pages.page(p).script for p in ("latent", "reconstruct", "sigma"))
SHIPPED_2D = ["mnist-bernoulli-2d", "mnist-gaussian-fixed-2d", "mnist-gaussian-pixel-2d"]
WITH_BEST = "mnist-bernoulli-2d"          # keeps its eval.json "log_likelihood" block
WITHOUT_BEST = "mnist-gaussian-fixed-2d"  # its block removed here: the IWAE must stand in, named a bound
RAW = "mnist-gaussian-pixel-raw-tiny"


def _raw_checkpoint(folder: Path) -> None:
    """An untrained raw-pixel model with an eval.json of real metrics on the embedded sample. Its bits_per_dim is
    what an evaluation that did not know raw data would have written: the app must not show it."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(dataset="mnist", decoder="gaussian-pixel", latent_dim=2, hidden=[16], data_kind="raw"))
    model.save_pretrained(folder)
    x = fixed_test_input(load_sample("mnist")[0][:50], "raw", seed=0)
    elbo, elbo_se = mean_and_stderr(elbo_terms(model, x)["elbo"])
    iwae, iwae_se = mean_and_stderr(iwae_log_likelihood(model, x, k=10))
    (folder / "eval.json").write_text(json.dumps({
        "name": folder.name, "dataset": "mnist", "decoder": "gaussian-pixel", "latent_dim": 2, "data_kind": "raw",
        "test": {"num_images": 50, "elbo": elbo, "elbo_stderr": elbo_se, "iwae": iwae, "iwae_stderr": iwae_se,
                 "iwae_k": 10, "iwae_images": 50, "bits_per_dim": 1.5}}))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("likelihood-zoo")
    for name in SHIPPED_2D:
        shutil.copytree(CHECKPOINTS / name, root / name, ignore=shutil.ignore_patterns("snapshots"))
    ev = json.loads((root / WITHOUT_BEST / "eval.json").read_text())
    ev.pop("log_likelihood", None)
    (root / WITHOUT_BEST / "eval.json").write_text(json.dumps(ev))
    _raw_checkpoint(root / RAW)
    return root


def _point_at(zoo: Path, monkeypatch) -> None:
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(zoo))
    monkeypatch.delenv("VAE_ZOO_REVISION", raising=False)
    monkeypatch.setattr(cache, "LOCAL_ZOO", zoo)
    cache.resolve.clear()
    cache.scan_zoo.clear()


@pytest.fixture(autouse=True)
def use_zoo(zoo, monkeypatch):
    _point_at(zoo, monkeypatch)
    return zoo


def run(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"dataset": "mnist", **params})
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
                     + [s.value for s in at.success] + [e.value for e in at.error] + [w.value for w in at.warning])


def notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info if i.value.startswith("The link's")]


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


# ------------------------------------------------------------------------------------------------ Latent page
@pytest.mark.parametrize("name", SHIPPED_2D)
def test_the_true_posterior_is_drawn_with_the_identity_checked(name):
    at = run(LATENT, models=[name], latent_model=name)
    assert any("log p(z|x) - peak" in json.dumps(s) for s in specs(at))  # the heat map under q's ellipses
    assert [s.value for s in at.success if "log p(x) = ELBO + KL holds here" in s.value]
    body = texts(at)
    assert "log p(x), exact (quadrature)" in body and "ELBO (a lower bound)" in body


@pytest.mark.parametrize("value", ["0", "7", "abc", "1e400"])
def test_the_k_widget_drops_a_bad_url_value_with_a_note(value):
    at = run(LATENT, models=[WITH_BEST], iwae_k=value)
    assert any(f"`iwae_k={value}`" in n for n in notes(at)), notes(at)
    assert at.select_slider(key="iwae_k").value == 1000


def test_a_good_k_and_image_in_the_url_are_used():
    at = run(LATENT, models=[WITH_BEST], iwae_k="10", post_idx="5")
    assert not notes(at)
    assert at.select_slider(key="iwae_k").value == 10 and at.number_input(key="post_idx").value == 5
    body = texts(at)
    assert "IWAE, k = 10 (a lower bound)" in body and "#5:" in " ".join(c for i in at.image for c in i.captions)


def test_a_model_with_more_latent_dimensions_is_told_why_not(monkeypatch):
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(CHECKPOINTS))
    at = run(LATENT, models=["mnist-bernoulli"], latent_model="mnist-bernoulli")
    assert "done for 2-D latents only, and mnist-bernoulli has 16 latent dimensions" in texts(at)


# ------------------------------------------------------------------------------------------------ Overview
@pytest.fixture(scope="module")
def overview(zoo) -> AppTest:
    """The Overview page of this zoo, run once for the tests that read it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_at(zoo, monkeypatch)
        return run()


NUMBER = re.compile(r"–|-?\d+(\.\d*)?(e[-+]?\d+)?")  # a number as explorer.tables.shown writes it, or its dash


def _row(frame, name):
    """The model's row of a leaderboard table, its numbers as floats (a dash: nan)."""
    (row,) = [r for _, r in frame.iterrows() if r["model"] == name]
    return row.map(lambda v: shown_number(v) if isinstance(v, str) and NUMBER.fullmatch(v) else v)


def test_the_leaderboard_shows_the_best_estimate_its_method_and_keeps_iwae(overview, zoo):
    ev = json.loads((zoo / WITH_BEST / "eval.json").read_text())
    best = ev["log_likelihood"]  # the shipped 2-D checkpoints carry their exact estimate
    row = _row(leaderboards(overview)[0], WITH_BEST)
    assert row["estimate"] == "exact (quadrature)" and row["images"] == best["num_images"]
    assert row["log-lik"] == as_shown(best["estimate"], "log-lik")
    assert row["± se"] == as_shown(best["estimate_stderr"], "± se")
    assert row["IWAE"] == as_shown(best["iwae"], "IWAE") and row["ELBO"] == as_shown(best["elbo"], "ELBO")  # same img
    assert row["IWAE (test set)"] == as_shown(ev["test"]["iwae"], "IWAE (test set)")  # the old headline number
    assert row["best - IWAE"] == as_shown(best["best_minus_iwae"], "best - IWAE")
    assert row["bits/dim"] == as_shown(best["bits_per_dim"], "bits/dim")


def test_without_a_best_estimate_the_iwae_stands_in_as_a_lower_bound(overview, zoo):
    ev = json.loads((zoo / WITHOUT_BEST / "eval.json").read_text())
    row = _row(leaderboards(overview)[0], WITHOUT_BEST)
    assert row["estimate"] == f"IWAE k={ev['test']['iwae_k']} (lower bound)"
    assert row["log-lik"] == as_shown(ev["test"]["iwae"], "log-lik")
    assert math.isnan(row["bits/dim"])
    assert row["bits/dim (IWAE bound)"] == as_shown(ev["test"]["bits_per_dim"], "bits/dim (IWAE bound)")


def test_a_raw_model_is_not_ranked_and_has_no_bits_per_dim(overview):
    # the HTML tables of the first tab: ranked ones (8-bit, binarized), then the raw one; short names
    *ranked, raw = html_tables(open_leaderboard(overview, overview.tabs[0].label))
    short = tables.short_name(RAW, "mnist")
    assert ranked and all(short not in set(f["model"]) for f in ranked) and list(raw["model"]) == [short]
    assert not [c for c in raw.columns if "bits/dim" in c]
    assert UNBOUNDED_REASON in texts(overview)
    chart = "".join(static_charts(overview))
    assert "bits/dim" in chart and RAW not in chart  # the likelihood-vs-samples chart leaves it out


# ------------------------------------------------------------------------------------------------ other pages
def test_reconstruct_names_the_elbo_bound_and_gives_raw_no_bits_per_dim():
    at = run(RECONSTRUCT, models=[RAW, WITH_BEST])
    body = texts(at)
    assert "none (raw pixels)" in body and "bits/dim of the ELBO (binary; an upper bound)" in body
    assert UNBOUNDED_REASON in body


def test_the_sigma_page_shows_a_raw_run_beside_its_dequantized_partner(monkeypatch):
    """On the shipped raw run (trained by train.py; skipped until it is in checkpoints/)."""
    name, partner = "mnist-gaussian-pixel-raw", "mnist-gaussian-pixel"
    if not (CHECKPOINTS / name / "history.jsonl").is_file():
        pytest.skip(f"{name} is not in checkpoints/ yet")
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(CHECKPOINTS))
    at = open_tab(run(SIGMA, models=[name]), sigma.SECTION_KEY, "Raw pixels against dequantized")
    assert at.selectbox(key="raw_model").value == name
    history = [json.loads(line) for line in (CHECKPOINTS / name / "history.jsonl").read_text().splitlines() if line]
    stops = [r for r in history if r.get("diverged")]
    body = texts(at)
    if stops:
        assert f"{name} stopped in epoch {stops[0]['epoch']} at step {stops[0]['diverged_step']}" in body
    else:
        assert f"{name} trained {len(history)} epochs without a non-finite loss" in body
    pair = [s for s in specs(at) if name in json.dumps(s) and partner in json.dumps(s)]
    assert len(pair) >= 2  # sigma min and validation ELBO per epoch, both runs in each
    if any(r.get("trace") for r in history):
        assert any('"step"' in json.dumps(s) and name in json.dumps(s) for s in pair)


@pytest.fixture(autouse=True, scope="module")
def _fresh_caches():
    yield
    st.cache_data.clear()
    np.seterr(all="warn")


@pytest.mark.parametrize(("name", "best_minus_iwae", "shown"), [
    ("mnist-gaussian-pixel-2d", None, "exact"),           # the quadrature's value, as shipped
    ("fashion-mnist-gaussian-pixel", 65.0, "AIS"),        # AIS above the IWAE on the same images
    ("fashion-mnist-gaussian-pixel", -120.0, "IWAE"),     # AIS far below its own IWAE: the IWAE stands in
])
def test_leaderboard_never_shows_a_bound_weaker_than_the_iwae(tmp_path, name, best_minus_iwae, shown):
    from explorer.tables import leaderboard, not_best_sentence
    from vae_core.zoo.checkpoints import read_checkpoint

    folder = CHECKPOINTS / name
    if best_minus_iwae is not None:  # a shipped AIS moves when the zoo is re-evaluated: set the case on a copy
        folder = shutil.copytree(folder, tmp_path / name, ignore=shutil.ignore_patterns("snapshots"))
        ev = json.loads((folder / "eval.json").read_text())
        ais = ev["log_likelihood"]
        assert ais["method"] == "ais"
        ais["estimate"], ais["best_minus_iwae"] = ais["iwae"] + best_minus_iwae, best_minus_iwae
        (folder / "eval.json").write_text(json.dumps(ev))
    ckpt = read_checkpoint(folder)
    row = leaderboard([ckpt]).iloc[0]
    best = ckpt.evaluation.log_likelihood
    assert shown in row["estimate"]
    if shown == "IWAE":
        assert best.best_minus_iwae < 0 and row["log-lik"] == ckpt.evaluation.test.iwae
        assert np.isnan(row["bits/dim"]) and name in not_best_sentence(leaderboard([ckpt]))
    else:
        assert row["log-lik"] == best.estimate and row["bits/dim"] == best.bits_per_dim
