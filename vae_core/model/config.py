"""The model's config (``VAEConfig``, config.json) and the plain facts it is checked against: the architectures, the
activations and each decoder likelihood's data kinds and settings. No torch here: the explorer reads and checks a
whole zoo's configs (vae_core.zoo.checkpoints) before any model is built, so its first page never waits for torch.
The networks and likelihoods that these facts describe are built in ``vae`` and ``likelihoods``."""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from vae_core.base.limits import check_setting
from vae_core.files.names import CONFIG_NAME

T = TypeVar("T")
IMAGE_SHAPE = (1, 28, 28)
MLP = "mlp"  # the plain network: the default architecture, and the twin every other network is compared with
ARCHITECTURES = (MLP, "conv")  # VAEConfig.architecture: the default first
ACTIVATION_NAMES = ("relu", "tanh", "gelu")  # VAEConfig.activation (vae.ACTIVATIONS builds them)
# VAEConfig.network -> the network's name wherever a reader sees it (tables, sentences, captions, model cards)
NETWORK_NAMES = {MLP: "MLP", "conv": "conv", "resconv": "residual conv"}
DEFAULT_DATA_KINDS = ("continuous", "raw")


def twin_suffix(network: str) -> str:
    """What zoo.toml adds to an MLP entry's name for its twin in another network (VAEConfig.network):
    mnist-bernoulli, mnist-bernoulli-conv, mnist-bernoulli-resconv."""
    return "" if network == MLP else f"-{network}"


def twin_pairs(items: Iterable[T], network: str, name: Callable[[T], str],
               network_of: Callable[[T], str]) -> list[tuple[T, T]]:
    """(MLP item, its twin) for each item of ``network`` named as an MLP item plus twin_suffix(network): the one rule
    that pairs zoo entries across networks, for checkpoints and eval.json files alike."""
    items = list(items)
    suffix = twin_suffix(network)
    mlp = {name(i): i for i in items if network_of(i) == MLP}
    return [(mlp[name(i).removesuffix(suffix)], i) for i in items
            if network != MLP and network_of(i) == network and name(i).endswith(suffix)
            and name(i).removesuffix(suffix) in mlp]


def _finite_positive(value) -> bool:
    return math.isfinite(value) and value > 0


def _one_positive(key: str, name: str) -> Callable[[dict], str | None]:
    return lambda s: None if _finite_positive(s[name]) else f"{key} needs a finite {name} > 0, got {s[name]}"


def _optimal(s: dict) -> str | None:
    if _finite_positive(s["init_sigma"]) and _finite_positive(s["min_sigma"]) and 0 < s["momentum"] <= 1:
        return None
    return (f"gaussian-optimal needs init_sigma > 0, min_sigma > 0 and 0 < momentum <= 1, got {s['init_sigma']}, "
            f"{s['min_sigma']}, {s['momentum']}")


def _free_mean(s: dict) -> str | None:
    if s["free_mean"] in (True, False):  # 1 and 0 (and 1.0, 0.0) compare equal to True and False
        return None
    return f"discretized-gaussian needs free_mean true or false, got {s['free_mean']!r}"


@dataclass(frozen=True)
class DecoderSpec:
    """What a decoder likelihood (vae_core.model.likelihoods) takes: the data kinds (data.py) it can model, the first
    its default; its settings with their defaults (the class's keyword arguments); and the check of their values,
    one sentence on what is wrong, or None."""
    data_kinds: tuple[str, ...] = DEFAULT_DATA_KINDS
    settings: dict = field(default_factory=dict)
    check: Callable[[dict], str | None] = lambda settings: None


DECODERS: dict[str, DecoderSpec] = {  # key -> spec, in the order menus and messages list them
    "bernoulli": DecoderSpec(("binary",)),
    "gaussian-fixed": DecoderSpec(settings={"sigma": 0.1}, check=_one_positive("gaussian-fixed", "sigma")),
    "gaussian-shared": DecoderSpec(settings={"init_sigma": 0.1},
                                   check=_one_positive("gaussian-shared", "init_sigma")),
    "gaussian-optimal": DecoderSpec(settings={"init_sigma": 0.1, "momentum": 0.01, "min_sigma": 1e-4},
                                    check=_optimal),
    "gaussian-pixel": DecoderSpec(),
    "gaussian-pixel-floor": DecoderSpec(settings={"sigma_min": 0.01},
                                        check=_one_positive("gaussian-pixel-floor", "sigma_min")),
    "continuous-bernoulli": DecoderSpec(),
    "discretized-gaussian": DecoderSpec(("discrete",), settings={"free_mean": False}, check=_free_mean),
}


def decoder_problem(key: str, settings: dict) -> str | None:
    """What is wrong with a decoder and its settings, in the sentence building the likelihood raises, or None."""
    if key not in DECODERS:
        return f"unknown decoder {key!r}; choose one of: {', '.join(DECODERS)}"
    spec = DECODERS[key]
    unknown = sorted(set(settings) - set(spec.settings))
    if unknown:
        return (f"unknown setting(s) {', '.join(unknown)} for decoder {key!r}; "
                f"valid settings: {', '.join(spec.settings) or 'none'}")
    try:
        return spec.check({**spec.settings, **settings})
    except TypeError as e:
        return f"bad settings {settings} for decoder {key!r}: {e}"


@dataclass
class VAEConfig:
    dataset: str = "mnist"            # which data the model was trained on (mnist | fashion-mnist)
    decoder: str = "bernoulli"        # key into DECODERS (vae_core.model.likelihoods.LIKELIHOODS builds it)
    decoder_settings: dict = field(default_factory=dict)  # e.g. {"sigma": 0.1} or {"sigma_min": 0.01}
    latent_dim: int = 16              # size of z; 2 gives an exact latent plane
    architecture: str = MLP           # mlp | conv
    hidden: list[int] = field(default_factory=lambda: [512, 256])  # MLP widths (encoder; decoder mirrored)
    activation: str = "relu"          # relu | tanh | gelu
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv widths at 14x14 and 7x7
    res_blocks: int = 0               # conv only: residual blocks at each of 14x14 and 7x7, encoder and decoder
    data_kind: str | None = None      # binary | continuous | discrete | raw (data.py); None: the decoder's default

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choose one of: {', '.join(DECODERS)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose {' or '.join(ARCHITECTURES)}")
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of: {', '.join(ACTIVATION_NAMES)}")
        kinds = DECODERS[self.decoder].data_kinds
        if self.data_kind is not None and self.data_kind not in kinds:
            raise ValueError(f"decoder {self.decoder!r} cannot model {self.data_kind!r} data; choose one of: "
                             f"{', '.join(kinds)}")
        check_setting("latent_dim", self.latent_dim)
        self.hidden = check_setting("hidden", list(self.hidden))
        self.conv_channels = check_setting("conv_channels", list(self.conv_channels))
        if len(self.conv_channels) != 2:  # the conv net has two stride-2 stages (28 -> 14 -> 7)
            raise ValueError(f"conv_channels must be two widths (at 14x14 and 7x7), got {self.conv_channels}")
        check_setting("res_blocks", self.res_blocks)
        if self.res_blocks and self.architecture != "conv":
            raise ValueError(f"res_blocks = {self.res_blocks} needs the conv architecture (an MLP has no feature maps)")

    @property
    def network(self) -> str:
        """mlp | conv | resconv: the architecture, a conv network with residual blocks told apart (NETWORK_NAMES)."""
        return "resconv" if self.res_blocks else self.architecture

    def describe_network(self) -> str:
        """The encoder and decoder in a few words, e.g. "MLP [512, 256] (relu)" or "residual conv [32, 64], 1
        residual block at each resolution (relu)"."""
        widths = self.hidden if self.architecture == MLP else self.conv_channels
        blocks = (f", {self.res_blocks} residual block{'s' if self.res_blocks > 1 else ''} at each resolution"
                  if self.res_blocks else "")
        return f"{NETWORK_NAMES[self.network]} {widths}{blocks} ({self.activation})"

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


def load_config(folder: str | os.PathLike) -> VAEConfig:
    return VAEConfig.from_dict(json.loads((Path(folder) / CONFIG_NAME).read_text()))
