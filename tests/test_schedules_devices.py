"""Learning-rate schedules, Adam's epsilon and the training device: the rates a schedule gives, settings refused in
one sentence before any work, a schedule that survives a resume exactly, and a CUDA run where there is a GPU."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

import train as train_cli
from vae_core.base.data import fixed_test_input, load_sample
from vae_core.base.devices import resolve_device
from vae_core.files.names import HISTORY_NAME, SAMPLE_MARKER, STATE_NAME
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import Trainer, train
from vae_core.training.run_folder import drop_optimizer
from vae_core.training.schedules import SCHEDULES, extends

NO_GPU = "no CUDA GPU visible to torch on this machine (torch.cuda.is_available() is False)"
TINY_MODEL = VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2)


def _tiny(**settings) -> TrainConfig:
    return TrainConfig(**{"epochs": 5, "batch_size": 100, "val_size": 200, "max_train_images": 300,
                          "progress": False, **settings})


def _history(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / HISTORY_NAME).read_text().splitlines()]


# ------------------------------------------------------------------------------------- the schedules
DECAY = 10 ** (-1 / 7)
LR_CASES = [  # (schedule, base lr, epoch, expected lr): Burda et al. 2016, 3^i epochs at lr * 10^(-i/7)
    ("constant", 1e-3, 1, 1e-3), ("constant", 3e-4, 10_000, 3e-4),
    ("burda", 1e-3, 1, 1e-3),                                        # stage 0: epoch 1
    ("burda", 1e-3, 2, 1e-3 * DECAY), ("burda", 1e-3, 4, 1e-3 * DECAY),            # stage 1: epochs 2-4
    ("burda", 1e-3, 5, 1e-3 * DECAY**2), ("burda", 1e-3, 13, 1e-3 * DECAY**2),      # stage 2: epochs 5-13
    ("burda", 1e-3, 14, 1e-3 * DECAY**3),
    ("burda", 1e-3, 1093, 1e-3 * DECAY**6),                          # the end of the first seven stages
    ("burda", 1e-3, 1094, 1e-3 * DECAY**7), ("burda", 1e-3, 3280, 1e-4),  # the last stage: 2187 epochs at 1e-4
    ("burda", 2e-3, 2, 2e-3 * DECAY),
]


@pytest.mark.parametrize(("schedule", "base", "epoch", "expected"), LR_CASES)
def test_each_schedule_gives_the_papers_rate(schedule, base, epoch, expected):
    assert SCHEDULES[schedule].lr(base, epoch) == pytest.approx(expected, rel=1e-12)


def test_burda_is_3280_epochs_in_eight_stages():
    burda = SCHEDULES["burda"]
    assert burda.stage_epochs == (1, 3, 9, 27, 81, 243, 729, 2187) and burda.total_epochs == 3280
    assert sum(burda.stage_epochs[:7]) == 1093  # a third of the passes: the first seven stages


def test_burda_third_has_burdas_shape_in_a_third_of_the_passes():
    third, burda = SCHEDULES["burda-third"], SCHEDULES["burda"]
    assert third.stage_epochs == (1, 3, 9, 27, 81, 243, 729) and third.total_epochs == 1093
    assert 3 * third.total_epochs <= burda.total_epochs  # the issue's budget: a third of the paper's passes
    for s in (third, burda):  # the same first and last rate, and two thirds of the run at the last one
        assert s.lr(1e-3, 1) == 1e-3 and s.lr(1e-3, int(s.total_epochs)) == pytest.approx(1e-4, rel=1e-12)
        assert s.stage_epochs[-1] / s.total_epochs == pytest.approx(2 / 3, abs=1e-3)
    with pytest.raises(ValueError, match="epoch 1094 is past the end of the schedule \\(1093 epochs\\)"):
        third.lr(1e-3, 1094)


def test_burda_extended_is_burda_third_then_the_papers_last_stage():
    extended, third, burda = SCHEDULES["burda-extended"], SCHEDULES["burda-third"], SCHEDULES["burda"]
    assert extended.total_epochs == burda.total_epochs == 3280  # the paper's passes, no more
    assert all(extended.lr(1e-3, e) == third.lr(1e-3, e) for e in range(1, 1094))
    for e in (1094, 2000, 3280):  # the paper's final rate (each schedule's own float for lr / 10)
        assert extended.lr(1e-3, e) == third.lr(1e-3, 1093) == pytest.approx(burda.lr(1e-3, 3280), rel=1e-12)


@pytest.mark.parametrize(("new", "old", "done", "expected"), [
    ("burda-extended", "burda-third", 1093, True),   # the same rates in every epoch trained
    ("burda-third", "burda-extended", 1093, True),
    ("burda", "burda-third", 1, True),              # both start at lr
    ("burda", "burda-third", 2, False),             # 10^(-1/7) against 10^(-1/6) in stage 1
    ("constant", "burda-third", 2, False),
    ("constant", "constant", 10_000, True),
])
def test_a_schedule_extends_another_only_with_the_same_rate_in_every_epoch_trained(new, old, done, expected):
    assert extends(new, old, done) is expected


# ------------------------------------------------------------------------------------- refusals
CONFIG_REFUSALS = {  # name -> (TrainConfig settings, words of the one sentence)
    "unknown schedule": ({"lr_schedule": "cosine"},
                         "lr_schedule must be one of constant, burda, burda-third, burda-extended, got 'cosine'"),
    "burda-third shorter than the run": ({"lr_schedule": "burda-third", "epochs": 1094},
                                         "ends after 1093 epochs, so epochs = 1094 does not fit it"),
    "schedule shorter than the run": ({"lr_schedule": "burda", "epochs": 3281},
                                      "ends after 3280 epochs, so epochs = 3281 does not fit it"),
    "adam eps zero": ({"adam_eps": 0}, "adam_eps must be a finite number greater than 0 and at most 1, got 0"),
    "adam eps nan": ({"adam_eps": float("nan")}, "adam_eps must be a finite number greater than 0"),
    "adam eps too large": ({"adam_eps": 2.0}, "adam_eps must be a finite number greater than 0 and at most 1"),
    "unknown device": ({"device": "tpu"}, "device must be one of auto, cpu, cuda, mps, got 'tpu'"),
    "gradient clip zero": ({"grad_clip": 0}, "grad_clip must be a finite number greater than 0"),
    "gradient clip inf": ({"grad_clip": float("inf")}, "grad_clip must be a finite number greater than 0"),
    "gradient clip a flag": ({"grad_clip": True},
                             "grad_clip must be a finite number greater than 0 and at most 1e+09, got True"),
    "negative skips": ({"skip_nonfinite": -1}, "skip_nonfinite must be an integer from 0 to 1000000, got -1"),
    "fractional skips": ({"skip_nonfinite": 2.5}, "skip_nonfinite must be an integer from 0 to 1000000, got 2.5"),
}


@pytest.mark.parametrize("case", list(CONFIG_REFUSALS))
def test_train_config_refuses_bad_schedules_and_optimizer_settings(case):
    settings, words = CONFIG_REFUSALS[case]
    with pytest.raises(ValueError) as error:
        TrainConfig(**settings)
    assert words in str(error.value) and "\n" not in str(error.value)


FLAG_REFUSALS = {  # name -> (flags, words); every case reads no data and writes nothing
    "schedule past its end": (["--lr-schedule", "burda", "--epochs", "4000"],
                              ["error: the burda learning-rate schedule", "ends after 3280 epochs",
                               "epochs = 4000 does not fit it"]),
    "unknown schedule": (["--lr-schedule", "cosine"], ["argument --lr-schedule: invalid choice: 'cosine'"]),
    "adam eps zero": (["--adam-eps", "0"], ["argument --adam-eps: must be a finite number greater than 0"]),
    "adam eps not a number": (["--adam-eps", "tiny"], ["argument --adam-eps", "'tiny'"]),
    "gradient clip negative": (["--grad-clip", "-1"], ["argument --grad-clip: must be a finite number greater than 0"]),
    "skips not a number": (["--skip-nonfinite", "some"], ["argument --skip-nonfinite", "'some'"]),
    "unknown device": (["--device", "tpu"], ["argument --device: invalid choice: 'tpu'", "'cuda'"]),
    "resume with another schedule": (["--resume", "--lr-schedule", "burda"],
                                     ["cannot resume", "another learning-rate schedule",
                                      "lr_schedule: 'constant' there, 'burda' asked for"]),
    "resume with burda-third": (["--resume", "--lr-schedule", "burda-third"],
                                ["cannot resume", "lr_schedule: 'constant' there, 'burda-third' asked for"]),
    "burda-third past its end": (["--lr-schedule", "burda-third", "--epochs", "1100"],
                                 ["error: the burda-third learning-rate schedule", "ends after 1093 epochs",
                                  "epochs = 1100 does not fit it"]),
    "resume with another adam eps": (["--resume", "--adam-eps", "1e-4"],
                                     ["cannot resume", "adam_eps: 1e-08 there, 0.0001 asked for"]),
    "kl warm-up negative": (["--kl-warmup-epochs", "-1"], ["argument --kl-warmup-epochs: must be an integer from 0"]),
    "resume with a kl warm-up": (["--resume", "--kl-warmup-epochs", "2"],
                                 ["cannot resume", "kl_warmup_epochs: 0 there, 2 asked for"]),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-epoch run with the defaults (constant schedule, Adam eps 1e-8): its second epoch is where a
    schedule that steps down first differs from it."""
    out = tmp_path_factory.mktemp("trained") / "run"
    train(TINY_MODEL, _tiny(epochs=2), load_sample("mnist")[0], out)
    return out


def _files(folder) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(FLAG_REFUSALS))
def test_train_py_refuses_in_one_sentence_before_any_work(case, trained, tmp_path, capsys):
    flags, words = FLAG_REFUSALS[case]
    out = trained if "--resume" in flags else tmp_path / "run"
    before = _files(trained)
    argv = ["--dataset", "mnist", "--decoder", "bernoulli", "--hidden", "16", "--latent-dim", "2",
            "--val-size", "200", "--max-train-images", "300", "--batch-size", "100", "--no-progress",
            "--data-dir", "/nonexistent/vae-zoo-data", "--out", str(out), *flags]
    try:
        code = train_cli.main(argv)
    except SystemExit as e:  # argparse's errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "/nonexistent/vae-zoo-data" not in err
    for w in words:
        assert w in err, err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert _files(trained) == before and not (tmp_path / "run").exists()


THIRD_RESUME_REFUSALS = {  # a burda-third run (lr 1e-3, Adam eps 1e-4) resumed with other settings -> words
    "the paper's schedule": (["--lr-schedule", "burda", "--lr", "1e-3", "--adam-eps", "1e-4"],
                             "lr_schedule: 'burda-third' there, 'burda' asked for"),
    "the constant rate": (["--lr-schedule", "constant", "--lr", "1e-3", "--adam-eps", "1e-4"],
                          "lr_schedule: 'burda-third' there, 'constant' asked for"),
    "another base rate": (["--lr-schedule", "burda-third", "--lr", "2e-3", "--adam-eps", "1e-4"],
                          "lr: 0.001 there, 0.002 asked for"),
}


@pytest.fixture(scope="module")
def trained_third(tmp_path_factory):
    """Two epochs: the second is where the paper's schedule and burda-third first differ."""
    out = tmp_path_factory.mktemp("third") / "run"
    train(TINY_MODEL, _tiny(epochs=2, lr_schedule="burda-third", adam_eps=1e-4), load_sample("mnist")[0], out)
    return out


@pytest.mark.parametrize("case", list(THIRD_RESUME_REFUSALS))
def test_a_burda_third_run_resumes_only_with_its_own_schedule(case, trained_third, capsys):
    flags, words = THIRD_RESUME_REFUSALS[case]
    before = _files(trained_third)
    argv = ["--dataset", "mnist", "--decoder", "bernoulli", "--hidden", "16", "--latent-dim", "2",
            "--val-size", "200", "--max-train-images", "300", "--batch-size", "100", "--no-progress", "--epochs", "3",
            "--data-dir", "/nonexistent/vae-zoo-data", "--out", str(trained_third), "--resume", *flags]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and words in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert _files(trained_third) == before


def _resume_third(out, *flags: str) -> int:
    return train_cli.main(["--dataset", "mnist", "--decoder", "bernoulli", "--hidden", "16", "--latent-dim", "2",
                           "--val-size", "200", "--max-train-images", "300", "--batch-size", "100", "--no-progress",
                           "--train-on-sample", "--lr", "1e-3", "--adam-eps", "1e-4", "--out", str(out), *flags])


def test_a_shipped_burda_third_run_goes_on_with_the_extended_schedule_and_adam_afresh(trained_third, tmp_path,
                                                                                       capsys):
    """Issue 22's route to the paper's passes: the shipped run (optimizer state dropped) continued with a schedule
    that gave it the same rates so far; Adam starts afresh only when asked, and the history says where."""
    shipped = tmp_path / "shipped"
    shutil.copytree(trained_third, shipped)
    (shipped / SAMPLE_MARKER).write_text("trained on the embedded sample\n")  # as train.py --train-on-sample
    drop_optimizer(shipped)
    before = _files(shipped)
    assert _resume_third(shipped, "--resume", "--lr-schedule", "burda-extended", "--epochs", "3") == 2
    err = capsys.readouterr().err
    assert "finished without its optimizer state" in err and "--restart-optimizer" in err and err.count("\n") == 1
    assert _files(shipped) == before
    assert _resume_third(shipped, "--restart-optimizer", "--epochs", "3",
                         "--lr-schedule", "burda-extended") == 2  # without --resume
    assert "ask for --resume too" in capsys.readouterr().err and _files(shipped) == before
    assert _resume_third(shipped, "--resume", "--restart-optimizer", "--lr-schedule", "burda-extended",
                         "--epochs", "3") == 0
    history = _history(shipped)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert [r.get("optimizer_restarted") for r in history] == [None, None, True]
    assert history[2]["lr"] == SCHEDULES["burda-extended"].lr(1e-3, 3)
    saved = json.loads((shipped / STATE_NAME).read_text())["train_config"]
    assert (saved["lr_schedule"], saved["epochs"]) == ("burda-extended", 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU, so cuda is not refused")
def test_cuda_without_a_gpu_is_one_sentence(tmp_path, capsys):
    argv = ["--dataset", "mnist", "--decoder", "bernoulli", "--device", "cuda", "--out", str(tmp_path / "run"),
            "--data-dir", "/nonexistent/vae-zoo-data"]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device cuda was asked for but torch sees no CUDA GPU on this machine")
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_a_zoo_entry_with_a_schedule_that_does_not_fit_is_refused(tmp_path, capsys):
    spec = tmp_path / "zoo.toml"
    spec.write_text('[[model]]\nname = "burda-long"\ndataset = "mnist"\ndecoder = "bernoulli"\n'
                    'lr_schedule = "burda"\nepochs = 5000\n')
    assert train_cli.main(["--zoo", str(spec), "--checkpoints", str(tmp_path / "zoo")]) == 2
    err = capsys.readouterr().err
    assert "zoo entry 'burda-long': the burda learning-rate schedule" in err and "epochs = 5000" in err
    assert not (tmp_path / "zoo").exists()


@pytest.mark.parametrize("key", ["sigma_clip", "clip_log_var"])
def test_a_floor_named_as_a_training_recipe_is_refused(key, tmp_path, capsys):
    """A bound on sigma changes the density (it is another decoder), so a recipe key that would set one is refused
    in one sentence that names the decoder which has it, before anything is written."""
    spec = tmp_path / "zoo.toml"
    spec.write_text(f'[[model]]\nname = "raw-kept"\ndataset = "mnist"\ndecoder = "gaussian-pixel"\n'
                    f'data_kind = "raw"\n{key} = 0.01\n')
    assert train_cli.main(["--zoo", str(spec), "--checkpoints", str(tmp_path / "zoo")]) == 2
    err = capsys.readouterr().err
    assert f"{key} would bound the decoder's sigma, which changes the model" in err and "gaussian-pixel-floor" in err
    assert not (tmp_path / "zoo").exists()


# ------------------------------------------------------------------------------------- a schedule survives a resume
def test_the_schedule_and_adam_eps_survive_a_resume_exactly(tmp_path):
    """Burda's schedule over 5 epochs (stages of 1, 3 and 1 of 9 epochs), stopped after epoch 2 and resumed: the
    rates, the history and the weights are those of the run that never stopped."""
    images = load_sample("mnist")[0]
    settings = {"lr_schedule": "burda", "adam_eps": 1e-4, "lr": 3e-3}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(TINY_MODEL, _tiny(**settings), images, straight)
    train(TINY_MODEL, _tiny(**settings, epochs=2), images, resumed)
    train(TINY_MODEL, _tiny(**settings), images, resumed, resume=True)
    expected = [3e-3 * DECAY ** i for i in (0, 1, 1, 1, 2)]
    for folder in (straight, resumed):
        assert [r["lr"] for r in _history(folder)] == pytest.approx(expected, rel=1e-12)
        saved = json.loads((folder / STATE_NAME).read_text())["train_config"]
        assert (saved["lr_schedule"], saved["adam_eps"], saved["lr"]) == ("burda", 1e-4, 3e-3)
    drop = ("seconds", "cpu_seconds")
    assert ([{k: v for k, v in r.items() if k not in drop} for r in _history(resumed)]
            == [{k: v for k, v in r.items() if k not in drop} for r in _history(straight)])
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_adam_gets_the_configured_epsilon(tmp_path):
    trainer = Trainer(VAE(TINY_MODEL), load_sample("mnist")[0], tmp_path, _tiny(adam_eps=1e-4))
    assert [g["eps"] for g in trainer.optimizer.param_groups] == [1e-4]


# ------------------------------------------------------------------------------------- the device
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_the_data_is_on_the_training_device_from_the_start(device, tmp_path):
    """The images move to the device once, when the Trainer is built: batches are cut from tensors already there."""
    trainer = Trainer(VAE(TINY_MODEL), load_sample("mnist")[0], tmp_path, _tiny(device=device))
    target = resolve_device(device)
    assert trainer.train_images.device.type == target.type and trainer.train_images.dtype == torch.uint8
    assert trainer.val_x.device.type == target.type
    assert {p.device.type for p in trainer.model.parameters()} == {target.type}


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_training_on_cuda_and_evaluating_on_both_devices_agree(tmp_path):
    """Two epochs on the GPU, a resume included; the saved weights then give the same log p(x|z) at the posterior
    means on the CPU and on the GPU, up to float32 noise (relative 1e-4): the model's maths is device-independent."""
    images = load_sample("mnist")[0]
    config = VAEConfig(decoder="gaussian-pixel", hidden=[64], latent_dim=4)
    model, state = train(config, _tiny(epochs=1, device="cuda"), images, tmp_path)
    assert next(model.parameters()).device.type == "cuda" and state["diverged"] is None
    train(config, _tiny(epochs=2, device="cuda"), images, tmp_path, resume=True)
    saved = json.loads((tmp_path / STATE_NAME).read_text())
    assert saved["epoch"] == 2 and saved["device"].startswith("cuda") and saved["device_rng"] is not None
    assert all(math.isfinite(r["val_elbo"]) for r in _history(tmp_path))
    x = fixed_test_input(images[:200], "continuous")
    logp = {}
    for device in ("cpu", "cuda"):
        m = VAE.from_pretrained(tmp_path, map_location=device)
        with torch.no_grad():
            xd = x.to(device)
            logp[device] = m.decode(m.encode(xd).mean).log_prob(xd).cpu()
    assert torch.allclose(logp["cpu"], logp["cuda"], rtol=1e-4, atol=1e-3)
    shutil.rmtree(tmp_path)


# ------------------------------------------------------------------------------------- KL warm-up
def test_a_kl_warm_up_weighs_the_kl_term_up_to_one_and_the_history_keeps_the_elbo(tmp_path):
    """Two warm-up epochs of a three-epoch run: the weight reaches 1/2 at the end of the first epoch and 1 at the end
    of the second, the third is plain ELBO; every history line's loss is still the negative ELBO (kl - rec), and the
    run differs from one without the warm-up (the weight did change the updates)."""
    images = load_sample("mnist")[0]
    warm, plain = tmp_path / "warm", tmp_path / "plain"
    train(TINY_MODEL, _tiny(epochs=3, kl_warmup_epochs=2), images, warm)
    train(TINY_MODEL, _tiny(epochs=3), images, plain)
    history = _history(warm)
    assert [r.get("kl_weight") for r in history] == [pytest.approx(0.5), pytest.approx(1.0), None]
    assert all(r["loss"] == pytest.approx(r["kl"] - r["rec"], rel=1e-5) for r in history)
    assert "kl_weight" not in _history(plain)[0]
    a, b = load_file(str(warm / "model.safetensors")), load_file(str(plain / "model.safetensors"))
    assert not all(torch.equal(a[k], b[k]) for k in a)
