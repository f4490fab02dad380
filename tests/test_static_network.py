"""The decoder as the static site exports it (explorer.static_site.network_layers, no browser): the op list of a plain
and a residual conv decoder, every op's arrays are its module's parameters, and a layer that site/decoder.js does not
compute stops the export with one sentence. The browser's arithmetic on these ops: tests/test_static_site.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from explorer.static_site import ExportError, network_layers
from vae_core.model.vae import NORM_GROUPS, VAE, VAEConfig

C1, C2, LATENT = 3, 5, 4  # small widths: the op list depends only on the structure


def resconv(res_blocks: int, decoder: str = "gaussian-pixel") -> VAE:
    return VAE(VAEConfig(decoder=decoder, architecture="conv", conv_channels=[C1, C2], res_blocks=res_blocks,
                         latent_dim=LATENT, activation="tanh"))


def shape(ops: list[dict]) -> list:
    """The ops without their array offsets: names, sizes and the residual blocks' bodies."""
    return [[op["op"], shape(op["layers"])] if op["op"] == "residual"
            else {k: v for k, v in op.items() if k not in ("weight", "bias")} for op in ops]


def conv(c: int, size: int) -> dict:
    return {"op": "conv2d", "in": c, "out": c, "kernel": 3, "padding": 1, "size_in": size}


def norm(c: int, size: int) -> dict:
    return {"op": "group_norm", "groups": math.gcd(NORM_GROUPS, c), "channels": c, "eps": 1e-5, "size_in": size}


def block(c: int, size: int) -> list:
    return ["residual", [norm(c, size), {"op": "tanh"}, conv(c, size), norm(c, size), {"op": "tanh"}, conv(c, size)]]


HEAD = [{"op": "linear", "in": LATENT, "out": C2 * 49}, {"op": "tanh"}, {"op": "unflatten", "shape": [C2, 7, 7]}]
UP1 = {"op": "conv_transpose2d", "in": C2, "out": C1, "kernel": 4, "stride": 2, "padding": 1, "size_in": 7}
UP2 = {"op": "conv_transpose2d", "in": C1, "out": 2, "kernel": 4, "stride": 2, "padding": 1, "size_in": 14}


@pytest.mark.parametrize("res_blocks, want", [
    (0, [*HEAD, UP1, {"op": "tanh"}, UP2]),  # the plain conv network, as before residual blocks existed
    (2, [*HEAD, block(C2, 7), block(C2, 7), UP1, {"op": "tanh"}, block(C1, 14), block(C1, 14), UP2]),
])
def test_a_conv_decoder_becomes_these_ops(res_blocks, want):
    layers, _ = network_layers(resconv(res_blocks))
    assert shape(layers) == want


def test_every_op_points_at_its_modules_parameters_in_order():
    """The exported arrays, concatenated as the export writes them, hold each layer's weight and bias at the offsets
    its op names: every decoder parameter once, in the decoder's own order."""
    model = resconv(2)
    layers, arrays = network_layers(model)
    flat = np.concatenate(arrays)
    params = [p.detach().numpy().ravel() for p in model.decoder.parameters()]
    assert flat.size == sum(p.size for p in params)

    def offsets(ops: list[dict]) -> list[int]:
        return [at for op in ops for at in (offsets(op["layers"]) if op["op"] == "residual"
                                            else [op[k] for k in ("weight", "bias") if k in op])]
    starts = offsets(layers)
    assert starts == sorted(starts) and len(starts) == len(params)
    for at, p in zip(starts, params, strict=True):
        assert np.array_equal(flat[at:at + p.size], p)


def with_batch_norm(model: VAE) -> VAE:
    model.decoder = nn.Sequential(*model.decoder[:3], nn.BatchNorm2d(C2), *model.decoder[3:])
    return model


def with_5x5_conv(model: VAE) -> VAE:
    model.decoder[3].body[2] = nn.Conv2d(C2, C2, 5, padding=2)  # inside the first residual block
    return model


def with_plain_group_norm(model: VAE) -> VAE:
    model.decoder[3].body[0] = nn.GroupNorm(1, C2, affine=False)
    return model


def with_tanh_gelu(model: VAE) -> VAE:
    model.decoder[1] = nn.GELU(approximate="tanh")
    return model


class Doubled(nn.Module):  # a container whose forward is not its children in turn
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return 2 * self.inner(x)


def with_custom_container(model: VAE) -> VAE:
    model.decoder[4] = Doubled(model.decoder[4])
    return model


@pytest.mark.parametrize("change, sentence", [
    (with_batch_norm, "site/decoder.js has no layer like BatchNorm2d"),
    (with_5x5_conv, "site/decoder.js computes 3x3 convolutions of stride 1 and padding 1 only, not "
                    f"Conv2d({C2}, {C2}, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"),
    (with_plain_group_norm, "site/decoder.js computes group normalization with its affine weights only, not "
                            f"GroupNorm(1, {C2}, eps=1e-05, affine=False, bias=False)"),
    (with_tanh_gelu, "site/decoder.js computes the exact GELU only"),
    (with_custom_container, "site/decoder.js has no layer like Doubled"),
])
def test_a_layer_the_page_does_not_compute_is_one_sentence(change, sentence):
    model = change(resconv(1))
    with torch.no_grad():
        model.decoder(torch.zeros(1, LATENT))  # still a network torch runs
    with pytest.raises(ExportError) as caught:
        network_layers(model)
    assert str(caught.value) == sentence
