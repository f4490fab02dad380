"""The architecture switch on the shipped zoo: MLP and convolutional checkpoints of the same likelihoods side by
side, the sidebar choosing which the default selection (and so the gap view) uses."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.context import STORY, architectures, default_models
from explorer.pages import APP, page
from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import scan

CHECKPOINTS = scan(DEFAULT_ZOO)[0] if DEFAULT_ZOO.is_dir() else []
DATASETS_WITH_BOTH = sorted({c.dataset for c in CHECKPOINTS if c.config.architecture == "conv"}
                            & {c.dataset for c in CHECKPOINTS if c.config.architecture == "mlp"})
needs_both = pytest.mark.skipif(not DATASETS_WITH_BOTH, reason="the shipped zoo has no conv checkpoints yet")


@needs_both
@pytest.mark.parametrize("dataset", DATASETS_WITH_BOTH)
@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_the_default_selection_is_the_story_in_one_architecture(dataset, architecture):
    chosen = {c.name: c for c in CHECKPOINTS if c.name in default_models(CHECKPOINTS, dataset, architecture)}
    assert {c.config.architecture for c in chosen.values()} == {architecture}
    assert {c.decoder for c in chosen.values()} <= set(STORY) and len(chosen) >= 2


@needs_both
@pytest.mark.parametrize("dataset", DATASETS_WITH_BOTH)
def test_mlp_is_the_default_architecture_and_conv_one_click_away(dataset):
    """The claims the pages make hold on the MLP models (tests/test_claims.py); conv, and every other network the
    dataset's checkpoints have (residual conv), are the switch's other options."""
    networks = architectures(CHECKPOINTS, dataset)
    assert networks[0] == "mlp" and "conv" in networks
    assert sorted(networks) == sorted({c.config.network for c in CHECKPOINTS if c.dataset == dataset})


def open_link(params: dict) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@needs_both
@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_the_switch_shows_the_architecture_of_the_models_a_link_selected(architecture):
    """A link that selects models of one architecture: the switch shows that one (it used to keep showing the
    default's, "Convolutional", after a link to MLP models)."""
    dataset = DATASETS_WITH_BOTH[0]
    names = [n for n in default_models(CHECKPOINTS, dataset, architecture)]
    at = open_link({"dataset": dataset, "models": names, "open": "1"})
    assert at.multiselect(key="models").value == names
    assert at.button_group(key="architecture").value == architecture


@needs_both
def test_the_switch_shows_no_architecture_for_a_mixed_selection_and_the_models_stay():
    dataset = DATASETS_WITH_BOTH[0]
    names = default_models(CHECKPOINTS, dataset, "mlp")[:1] + default_models(CHECKPOINTS, dataset, "conv")[:1]
    at = open_link({"dataset": dataset, "models": names, "open": "1"})
    assert at.multiselect(key="models").value == names and at.button_group(key="architecture").value is None


@needs_both
def test_switching_architecture_in_the_sidebar_switches_the_models_on_every_page():
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["dataset"] = DATASETS_WITH_BOTH[0]
    at.run()
    first = at.button_group(key="architecture").value or architectures(CHECKPOINTS, DATASETS_WITH_BOTH[0])[0]
    other = "mlp" if first == "conv" else "conv"
    at.button_group(key="architecture").set_value(other).run()
    at.switch_page(page("sample").script).run()
    names = at.multiselect(key="models").value
    by_name = {c.name: c for c in CHECKPOINTS}
    assert not at.exception and names and {by_name[n].config.architecture for n in names} == {other}


def test_an_architecture_the_dataset_lacks_in_a_link_is_dropped_with_a_note():
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["architecture"] = "transformer"
    at.run()
    assert not at.exception
    assert any("architecture" in n.value and "transformer" in n.value for n in at.info)
