"""The VAE: config validation, both architectures at two latent sizes, and the config.json + safetensors round
trip with strict loading."""
from __future__ import annotations

import json
import pickle
import struct
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vae_core.base.data import load_sample, to_model_input
from vae_core.files.names import CONFIG_NAME, WEIGHTS_NAME
from vae_core.model.likelihoods import LIKELIHOODS
from vae_core.model.vae import ACTIVATIONS, VAE, ResidualBlock, VAEConfig, load_config

B = 4


def real_input(kind: str, n: int = B) -> torch.Tensor:
    images, _ = load_sample("fashion-mnist")
    return to_model_input(torch.from_numpy(images[:n]), kind, torch.Generator().manual_seed(0))


def small(**kw) -> VAEConfig:
    kw.setdefault("hidden", [48, 24])
    kw.setdefault("conv_channels", [8, 16])
    return VAEConfig(**kw)


@pytest.mark.parametrize(("field", "value", "choices"), [
    ("decoder", "gaussian-perpixel", list(LIKELIHOODS)),
    ("architecture", "resnet", ["mlp", "conv"]),
    ("activation", "swish", list(ACTIVATIONS)),
    ("latent_dim", 0, ["latent_dim", "from 1"]),
    ("data_kind", "raw", ["binary"]),  # the default decoder (bernoulli) models binarized pixels only
])
def test_config_rejects_unknown_values_naming_the_choices(field, value, choices):
    with pytest.raises(ValueError) as e:
        VAEConfig(**{field: value})
    assert str(value) in str(e.value) and all(c in str(e.value) for c in choices)


@pytest.mark.parametrize(("field", "value", "words"), [
    ("latent_dim", 1e400, "latent_dim must be an integer"),
    ("latent_dim", 2.5, "latent_dim must be an integer"),
    ("hidden", [256, 0], "hidden must be an integer from 1"),
    ("hidden", [], "hidden needs at least one value"),
    ("conv_channels", [32], "conv_channels must be two widths"),
    ("conv_channels", [32, 64, 128], "conv_channels must be two widths"),
    ("conv_channels", [32, -64], "conv_channels must be an integer from 1"),
    ("res_blocks", -1, "res_blocks must be an integer from 0"),
    ("res_blocks", 1.5, "res_blocks must be an integer"),
])
def test_config_rejects_network_sizes_out_of_range(field, value, words):
    """Refused when the config is built, so a zoo entry or config.json never reaches training with them."""
    with pytest.raises(ValueError, match=words):
        VAEConfig(**{field: value})


def test_residual_blocks_need_the_conv_architecture():
    with pytest.raises(ValueError, match="res_blocks = 1 needs the conv architecture"):
        VAEConfig(res_blocks=1)


def test_a_config_written_before_residual_blocks_reads_as_none():
    """The shipped conv checkpoints' config.json files have no res_blocks key: they are the plain conv network."""
    d = asdict(small(architecture="conv"))
    del d["res_blocks"]
    config = VAEConfig.from_dict(d)
    assert config.res_blocks == 0
    assert not any(isinstance(m, ResidualBlock) for m in VAE(config).modules())


def test_config_from_dict_rejects_unknown_keys():
    d = asdict(VAEConfig())
    assert VAEConfig.from_dict(d) == VAEConfig()
    with pytest.raises(ValueError, match="hiddne"):
        VAEConfig.from_dict({**d, "hiddne": [10]})


def test_bad_decoder_settings_fail_when_the_model_is_built():
    with pytest.raises(ValueError, match="valid settings: sigma"):
        VAE(VAEConfig(decoder="gaussian-fixed", decoder_settings={"sigma_min": 0.1}))


NETWORKS = {"mlp": {"architecture": "mlp"}, "conv": {"architecture": "conv"},
            "resconv": {"architecture": "conv", "res_blocks": 2}}


@pytest.mark.parametrize(("config", "network", "described"), [
    ({}, "mlp", "MLP [512, 256] (relu)"),
    ({"architecture": "conv"}, "conv", "conv [32, 64] (relu)"),
    ({"architecture": "conv", "res_blocks": 1}, "resconv", "residual conv [32, 64], 1 residual block at each "
                                                           "resolution (relu)"),
    ({"architecture": "conv", "res_blocks": 2, "conv_channels": [8, 16], "activation": "gelu"}, "resconv",
     "residual conv [8, 16], 2 residual blocks at each resolution (gelu)"),
])
def test_the_network_is_named_from_architecture_and_residual_blocks(config, network, described):
    """What the app's tables, sentences and captions and the model cards call the network (NETWORK_NAMES)."""
    cfg = VAEConfig(**config)
    assert cfg.network == network and cfg.describe_network() == described
    assert "network" not in asdict(cfg)  # derived, never written to config.json


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("latent_dim", [2, 16])
@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian-pixel", "discretized-gaussian"])
def test_shapes_for_each_architecture_and_latent_size(network, latent_dim, decoder):
    torch.manual_seed(0)
    model = VAE(small(**NETWORKS[network], latent_dim=latent_dim, decoder=decoder))
    x = real_input(model.data_kind)
    qz = model.encode(x)
    assert qz.batch_shape == (B,) and qz.event_shape == (latent_dim,)
    px = model.decode(qz.rsample(), x)
    assert px.batch_shape == (B,) and px.event_shape == (1, 28, 28)
    assert model.decoder(qz.mean).shape == (B, model.likelihood.num_params, 28, 28)
    rec, kl = model.elbo_terms(x)
    assert rec.shape == kl.shape == (B,) and torch.isfinite(rec - kl).all() and (kl >= 0).all()
    z, ps = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, latent_dim) and ps.batch_shape == (3,)
    assert model.prior().event_shape == (latent_dim,)


def _trained_a_little(config: VAEConfig) -> VAE:
    """A model whose every parameter and buffer (incl. a likelihood's) has moved away from its init."""
    torch.manual_seed(0)
    model = VAE(config).train()
    x = real_input(model.data_kind, n=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        (-model.elbo(x).mean()).backward()
        opt.step()
    return model.eval()


ROUND_TRIP = [
    small(decoder="bernoulli"),
    small(decoder="gaussian-shared", architecture="conv", latent_dim=2),  # a learned likelihood parameter
    small(decoder="gaussian-optimal", activation="tanh"),  # a tracked buffer
    small(decoder="gaussian-pixel-floor", decoder_settings={"sigma_min": 0.03}, activation="gelu"),
    small(decoder="gaussian-fixed", decoder_settings={"sigma": 0.2}, architecture="conv"),
    small(decoder="discretized-gaussian", dataset="fashion-mnist", latent_dim=16),
    small(decoder="gaussian-pixel", architecture="conv", res_blocks=1),
]


@pytest.mark.parametrize("config", ROUND_TRIP,
                         ids=lambda c: f"{c.decoder}-{c.architecture}{c.res_blocks or ''}-{c.latent_dim}")
def test_save_and_load_round_trip(tmp_path, config):
    model = _trained_a_little(config)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]  # nothing left over
    # config.json is the dataclass
    assert json.loads((tmp_path / CONFIG_NAME).read_text()) == asdict(config)
    assert load_config(tmp_path) == config
    # the weights are safetensors: an 8-byte little-endian header length, a JSON header, raw tensors
    raw = (tmp_path / WEIGHTS_NAME).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    state = model.state_dict()
    assert set(header) - {"__metadata__"} == set(state)
    with safe_open(str(tmp_path / WEIGHTS_NAME), "pt") as f:
        assert set(f.keys()) == set(state)

    loaded = VAE.from_pretrained(tmp_path)
    assert not loaded.training and loaded.config == config
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key
    x = real_input(model.data_kind)
    outputs = []
    for m in (model, loaded):
        torch.manual_seed(42)
        with torch.no_grad():
            rec, kl = m.elbo_terms(x)
            px = m.decode(m.encode(x).mean)
            outputs.append((rec, kl, px.mean, px.log_prob(x)))
    for a, b in zip(*outputs, strict=True):
        assert torch.equal(a, b)


def test_float16_snapshot_loads_into_float32(tmp_path):
    model = _trained_a_little(small(decoder="gaussian-pixel"))
    model.save_pretrained(tmp_path, dtype=torch.float16)
    assert all(t.dtype == torch.float16 for t in load_file(str(tmp_path / WEIGHTS_NAME)).values())
    loaded = VAE.from_pretrained(tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = real_input("continuous")
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(loaded.encode(x).mean).mean,
                                   model.decode(model.encode(x).mean).mean, rtol=0, atol=5e-3)


@pytest.fixture
def saved(tmp_path):
    model = VAE(small())
    model.save_pretrained(tmp_path)
    return tmp_path, model.state_dict()


def test_loading_rejects_an_extra_key(saved):
    folder, state = saved
    save_file({**state, "decoder.extra.weight": torch.zeros(3)}, str(folder / WEIGHTS_NAME))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        VAE.from_pretrained(folder)


def test_loading_rejects_a_missing_key(saved):
    folder, state = saved
    state = dict(state)
    state.pop("prior_loc")
    save_file(state, str(folder / WEIGHTS_NAME))
    with pytest.raises(RuntimeError, match="Missing key"):
        VAE.from_pretrained(folder)


def test_loading_rejects_weights_of_another_shape(saved):
    folder, _ = saved
    config = asdict(small())
    config["hidden"] = [40, 24]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="size mismatch"):
        VAE.from_pretrained(folder)


def test_loading_rejects_an_unknown_config_key(saved):
    folder, _ = saved
    config = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**config, "beta": 4.0}))
    with pytest.raises(ValueError, match="beta"):
        VAE.from_pretrained(folder)


class _Payload:
    """Unpickling this touches a marker file: proof that something ran pickle on the weights."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("name", [WEIGHTS_NAME, "pytorch_model.bin"])
def test_loading_never_unpickles(saved, name):
    folder, _ = saved
    marker = folder / "unpickled"
    (folder / name).write_bytes(pickle.dumps({"encoder.weight": _Payload(marker)}))
    if name == WEIGHTS_NAME:
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as nothing was unpickled
            VAE.from_pretrained(folder)
    else:
        VAE.from_pretrained(folder)  # a pickle beside the safetensors file is ignored
    assert not marker.exists()
