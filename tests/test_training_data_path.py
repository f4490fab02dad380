"""The Trainer's cheaper data path changes no number: ``binarize`` makes the very draws of ``torch.bernoulli`` (so
every training run and every evaluation input is what it was), and the images a run trains on are its own."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.base.data import binarize, fixed_test_input, load_sample
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import Trainer
from vae_core.training.parts import BATCH, HIDDEN, LATENT, LR, PartClock, trainer_parts

PROBABILITIES = {  # name -> p (B, 1, 28, 28) in [0, 1]
    "8-bit pixels / 255, float32": lambda: torch.from_numpy(load_sample("mnist")[0][:300].copy()).float()
    .div(255.0).reshape(-1, 1, 28, 28),
    "the same in float64": lambda: torch.from_numpy(load_sample("mnist")[0][:300].copy()).double()
    .div(255.0).reshape(-1, 1, 28, 28),
    "0 and 1 exactly, beside values a hair inside": lambda: torch.tensor([0.0, 1.0, 1e-8, 1 - 2**-24] * 50)
    .reshape(200, 1, 1, 1).expand(200, 1, 28, 28).contiguous(),
    "a transposed view (not contiguous)": lambda: torch.from_numpy(load_sample("mnist")[0][:300].copy()).float()
    .div(255.0).reshape(-1, 1, 28, 28).transpose(2, 3),
}


@pytest.mark.parametrize("make_p", PROBABILITIES.values(), ids=list(PROBABILITIES))
def test_binarize_makes_the_draws_of_torch_bernoulli_and_leaves_the_generator_alike(make_p):
    p = make_p()
    ours, theirs = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    for _ in range(3):  # consecutive batches from one generator, as in an epoch
        x, expected = binarize(p, ours), torch.bernoulli(p, generator=theirs)
        assert x.dtype == expected.dtype == p.dtype and torch.equal(x, expected)
        assert torch.equal(ours.get_state(), theirs.get_state())
    assert 0 < float(x.mean()) < 1  # the case can fail: it does draw


def test_binarize_without_a_generator_draws_from_the_global_one():
    p = torch.full((64, 1, 28, 28), 0.3)
    torch.manual_seed(5)
    x = binarize(p)
    torch.manual_seed(5)
    assert torch.equal(x, torch.bernoulli(p))


def test_the_fixed_test_binarization_is_unchanged():
    """Every evaluated number rests on fixed_test_input: it is still the torch.bernoulli draw of seed 0."""
    images = load_sample("mnist")[0]
    expected = torch.bernoulli(torch.from_numpy(images.copy()).float().reshape(-1, 1, 28, 28) / 255.0,
                               generator=torch.Generator().manual_seed(0))
    assert torch.equal(fixed_test_input(images, "binary"), expected)


def _trainer(images: np.ndarray, tmp_path) -> Trainer:
    cfg = TrainConfig(epochs=1, batch_size=50, val_size=100, max_train_images=200, progress=False)
    return Trainer(VAE(VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2)), images, tmp_path, cfg)


def test_a_run_trains_on_its_own_copy_of_a_writable_array(tmp_path):
    images = load_sample("mnist")[0][:300].copy()
    trainer = _trainer(images, tmp_path)
    before = trainer.train_images.clone()
    images[:] = 0  # the caller reuses its array while the run goes on
    assert torch.equal(trainer.train_images, before) and int(before.sum()) > 0


def test_a_read_only_array_is_read_in_place_without_a_warning(tmp_path, recwarn):
    images = load_sample("mnist")[0][:300].copy()
    images.flags.writeable = False  # as load_split returns them: the bytes of the IDX file
    trainer = _trainer(images, tmp_path)
    assert np.shares_memory(trainer.train_images.numpy(), images)
    assert torch.equal(trainer.train_images, torch.from_numpy(images[:200].copy()))
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_the_per_part_benchmark_trains_what_the_trainer_trains(tmp_path):
    """scripts/bench_train_parts.py times a copy of Trainer._epoch; it must stay the same epoch, or its parts
    describe another loop."""
    images = load_sample("mnist")[0][:400]
    model = trainer_parts(images, 300, 100, 3, PartClock())
    torch.manual_seed(3)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=3, val_size=100, max_train_images=300, progress=False)
    reference = VAE(VAEConfig(decoder="bernoulli", hidden=[HIDDEN], latent_dim=LATENT))
    Trainer(reference, images, tmp_path, cfg).fit()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert not torch.equal(ours["decoder.0.0.weight"], VAE(reference.config).state_dict()["decoder.0.0.weight"])
