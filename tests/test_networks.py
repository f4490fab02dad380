"""The three networks side by side (VAEConfig.network: MLP, plain conv, residual conv): the findings compare each with
the MLP on its own, never a residual conv model counted as plain conv, and the sidebar's switch offers each network
the dataset has. On a small zoo of two likelihoods in each network, trained here (tests/tiny_zoo.py), and on the
shipped zoo, whose tables stay what they were while it has no residual conv entry."""
from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from tiny_zoo import NETWORK_DECODERS, build_network_zoo, network_models

from explorer import claims, story, tables
from explorer.access import LOCKED_ENV
from explorer.context import architectures, default_models, network_label
from explorer.findings_tables import architecture_columns, architecture_title, network_pairs, read_entries
from explorer.pages import APP
from vae_core.files.names import DEFAULT_ZOO
from vae_core.model.config import twin_suffix
from vae_core.model.vae import NETWORK_NAMES
from vae_core.zoo.checkpoints import scan

NETWORKS = list(NETWORK_NAMES)  # mlp, conv, resconv
OTHERS = [n for n in NETWORKS if n != "mlp"]


@pytest.fixture(scope="module")
def network_zoo(tmp_path_factory):
    return build_network_zoo(tmp_path_factory.mktemp("network-zoo"))


@pytest.fixture(scope="module")
def checkpoints(network_zoo):
    found, problems = scan(network_zoo)
    assert not problems and len(found) == len(network_models())
    return found


def twins(names, network: str) -> list[tuple[str, str]]:
    """(MLP, ``network``) pairs by zoo.toml's naming alone."""
    return sorted((n, n + twin_suffix(network)) for n in names if n + twin_suffix(network) in names
                  and not n.endswith(tuple(twin_suffix(o) for o in OTHERS)))


# ------------------------------------------------------------------------------------------------ the findings
@pytest.mark.parametrize("network", OTHERS)
def test_each_network_is_compared_with_the_mlp_on_its_own(network_zoo, network):
    pairs = network_pairs(read_entries(network_zoo))
    assert list(pairs) == OTHERS  # NETWORK_NAMES' order: conv, then residual conv
    got = sorted((m.name, o.name) for m, o in pairs[network])
    assert got == [(f"mnist-{d}", f"mnist-{d}{twin_suffix(network)}") for d in sorted(NETWORK_DECODERS)]


@pytest.mark.parametrize(("network", "words"), [
    ("conv", ("ELBO conv", "conv − MLP (nats)", "FD means conv / MLP", "mnist: MLP vs conv, same likelihood")),
    ("resconv", ("ELBO residual conv", "residual conv − MLP (nats)", "FD means residual conv / MLP",
                 "mnist: MLP vs residual conv, same likelihood")),
])
def test_each_networks_table_names_it(network, words):
    shown = [*architecture_columns(network), architecture_title("mnist", network)]
    assert all(any(w in s for s in shown) for w in words), shown
    assert not any("residual" in s for s in shown) or network == "resconv"


@pytest.mark.parametrize("network", OTHERS)
def test_the_findings_sentence_of_each_network_counts_its_own_models(checkpoints, network):
    """The sentence on plain conv against the MLP counts the two plain conv models, not the residual ones too; the
    residual conv network gets its own sentence, its numbers from its own rows of the leaderboard."""
    frame = tables.leaderboard(checkpoints)
    sentence = claims.conv_sentence(frame, checkpoints, "mnist", network)
    name = NETWORK_NAMES[network]
    rows = frame[frame["architecture"] == name].set_index("decoder")
    mlp = frame[frame["architecture"] == NETWORK_NAMES["mlp"]].set_index("decoder")
    ratio = rows["FD sample means"] / mlp["FD sample means"]
    assert sentence.startswith(f"On mnist (latent 4 against the MLP's 4) the {name} network reaches a higher ELBO "
                               f"than the MLP for ")
    assert f" of the {len(NETWORK_DECODERS)} likelihoods ({name} − MLP " in sentence
    assert f"FD of decoder means {name} / MLP {ratio.min():.2f}-{ratio.max():.2f}; " in sentence
    # the verdict: the median factor between the networks at one likelihood against that between the likelihoods
    # within one network, recomputed here from the leaderboard
    fd = pd.concat([mlp["FD sample means"], rows["FD sample means"]], axis=1, keys=["mlp", "other"])

    def factor(a, b):
        return max(a, b) / min(a, b)
    by_network = sorted(factor(a, b) for a, b in fd.itertuples(index=False))
    by_likelihood = sorted(factor(fd[side].iloc[i], fd[side].iloc[j]) for side in fd
                           for i in range(len(fd)) for j in range(i + 1, len(fd)))
    a, b = by_network[len(by_network) // 2], by_likelihood[len(by_likelihood) // 2]
    assert sentence.endswith(f"by a median factor of {a:.2f}, changing the likelihood within one network by "
                             f"{b:.2f}: here the {'network' if a > b else 'likelihood'} mattered more.")
    assert sentence in claims.paragraph_sentences(frame, checkpoints)


def test_the_storys_conv_step_counts_the_mlp_models_only(checkpoints):
    """The story's inductive-bias step: residual conv models are neither MLP models lacking a twin nor plain conv
    twins; each network gets its own count, and the step shows an MLP model beside its twin in every network."""
    n = len(NETWORK_DECODERS)
    assert story.twins_status(checkpoints, "mnist") == (
        f"Conv twins in this zoo: {n} of the {n} MLP models of mnist, {n} evaluated. "
        f"Residual conv twins in this zoo: {n} of the {n} MLP models of mnist, {n} evaluated.")
    mlp, shown = story.bias_group(checkpoints, "mnist")
    assert mlp.config.network == "mlp" and [t.config.network for t in shown] == OTHERS
    assert [t.name for t in shown] == [mlp.name + twin_suffix(o) for o in OTHERS]
    name = NETWORK_NAMES[OTHERS[-1]]
    assert story.bias_heading(checkpoints, "mnist").startswith(f"MLP against {name}: ")  # the strongest network's


shipped = pytest.mark.skipif(not DEFAULT_ZOO.is_dir(), reason="no shipped checkpoints/ in this checkout")


@shipped
def test_on_the_shipped_zoo_the_pairs_are_zoo_tomls_twins_and_conv_the_ones_it_had():
    """Each shipped network's pairs are its name twins of an MLP entry; while the zoo ships no residual conv entry
    there is no residual conv table, and the conv pairs are the "-conv" pairs the tables always had."""
    entries = read_entries(DEFAULT_ZOO)
    names = {e.evaluation.name for e in entries}
    pairs = network_pairs(entries)
    for network, found in pairs.items():
        assert sorted((m.name, o.name) for m, o in found) == twins(names, network), network
    assert sorted((m.name, c.name) for m, c in pairs["conv"]) == sorted(
        (n.removesuffix("-conv"), n) for n in names if n.endswith("-conv") and n.removesuffix("-conv") in names)
    if not any(e.network == "resconv" for e in entries):
        assert list(pairs) == ["conv"]


# ------------------------------------------------------------------------------------------------ the sidebar
def test_the_switch_lists_the_networks_the_dataset_has(checkpoints):
    assert architectures(checkpoints, "mnist") == NETWORKS
    for network in NETWORKS:
        chosen = {c.name: c for c in checkpoints if c.name in default_models(checkpoints, "mnist", network)}
        assert chosen and {c.config.network for c in chosen.values()} == {network}, network


@pytest.fixture
def app_zoo(network_zoo, monkeypatch):
    """The network zoo as the app's source, caches cleared (as conftest's ``zoo`` does for the tiny zoo)."""
    from explorer import cache

    monkeypatch.setenv("VAE_ZOO_SOURCE", str(network_zoo))
    monkeypatch.delenv("VAE_ZOO_REVISION", raising=False)
    monkeypatch.setattr(cache, "LOCAL_ZOO", network_zoo)
    cache.resolve.clear()
    return network_zoo


def network_of(at: AppTest, checkpoints) -> set[str]:
    by_name = {c.name: c.config.network for c in checkpoints}
    return {by_name[n] for n in at.multiselect(key="models").value}


@pytest.mark.parametrize("locked", [False, True], ids=["open", "locked"])
def test_a_link_to_residual_conv_opens_its_models_and_the_switch_shows_it(app_zoo, checkpoints, monkeypatch, locked):
    """The URL holds the switch's label (a bound widget writes its labels there): architecture=residual conv, on a
    deployment that anyone may point anywhere and on a locked public one."""
    if locked:
        monkeypatch.setenv(LOCKED_ENV, "1")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"dataset": "mnist", "architecture": network_label("resconv")})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert ("zoo_source" in [t.key for t in at.text_input]) is not locked  # locked: no source box
    switch = at.button_group(key="architecture")
    assert switch.options == [NETWORK_NAMES[n] for n in NETWORKS] and switch.value == "resconv"
    assert network_of(at, checkpoints) == {"resconv"}
    assert not any("architecture" in n.value for n in at.info)  # a choice the zoo has: no note on the link


def test_a_link_with_a_network_the_switch_does_not_name_is_dropped_with_a_note(app_zoo, checkpoints):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"dataset": "mnist", "architecture": "resconv"})  # the config's name, not the label
    at.run()
    assert not at.exception and network_of(at, checkpoints) == {"mlp"}
    assert any("`architecture=resconv` is not used" in n.value and "MLP, conv, residual conv" in n.value
               for n in at.info), [n.value for n in at.info]


def test_a_selection_of_conv_and_residual_conv_shows_no_network_and_the_models_stay(app_zoo):
    names = ["mnist-gaussian-pixel-conv", "mnist-gaussian-pixel-resconv"]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"dataset": "mnist", "models": names, "open": "1"})
    at.run()
    assert at.multiselect(key="models").value == names and at.button_group(key="architecture").value is None


def test_choosing_residual_conv_in_the_sidebar_selects_its_models_and_plain_conv_leaves_them(app_zoo, checkpoints):
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["dataset"] = "mnist"
    at.run()
    assert at.button_group(key="architecture").value == "mlp" and network_of(at, checkpoints) == {"mlp"}
    at.button_group(key="architecture").set_value("resconv").run()
    assert not at.exception and network_of(at, checkpoints) == {"resconv"}
    at.button_group(key="architecture").set_value("conv").run()
    assert network_of(at, checkpoints) == {"conv"}  # plain conv: the residual models are not among them
