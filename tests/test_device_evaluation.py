"""The evaluation path on a device (issue 13, item 3): on the CPU, device="cpu" gives the numbers evaluation always
gave, bit for bit; a device this machine lacks is refused in one sentence before anything is read or written (the
library, train.py --zoo as a real subprocess, the scripts); and where there is a GPU, a model trained and evaluated
on it gives the CPU's numbers up to float32 rounding (skipped without one)."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train as train_cli
from vae_core.base.data import fixed_test_input, load_sample
from vae_core.base.devices import check_float64, mps_available
from vae_core.evaluation.ais import ais_log_likelihood
from vae_core.evaluation.best_likelihood import best_log_likelihood
from vae_core.evaluation.classifier import load_classifier
from vae_core.evaluation.metrics import elbo_terms, frechet_distance, iwae_log_likelihood
from vae_core.evaluation.quadrature import exact_log_likelihood
from vae_core.files.names import STATE_NAME
from vae_core.model.likelihoods import LIKELIHOODS, unvalidated
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo import burda_ledger, evaluate_likelihoods
from vae_core.zoo.evaluate import evaluate_checkpoint, frechet, sample_check, update_best_log_likelihood

ROOT = Path(__file__).resolve().parent.parent
NO_GPU = "no CUDA GPU visible to torch on this machine (torch.cuda.is_available() is False)"
TINY_NAME = "mnist-bernoulli-2d"  # the tiny zoo's 2-D Bernoulli model (tests/tiny_zoo.py): hidden 64,32, one epoch
# its zoo.toml entry, with evaluation settings small enough for a test
TINY_SPEC = (f'[[model]]\nname = "{TINY_NAME}"\ndataset = "mnist"\ndecoder = "bernoulli"\nlatent_dim = 2\n'
             'hidden = [64, 32]\nepochs = 1\nval_size = 200\niwae_k = 10\niwae_images = 50\nfrechet_images = 200\n'
             'best_images = 3\n')
TINY_EVAL = {"iwae_k": 10, "iwae_images": 50, "frechet_images": 200, "best_images": 3}
# the wall-clock fields of eval.json: the only ones that may differ between two evaluations of the same model
TIMINGS = {"evaluation_seconds", "seconds", "seconds_total"}


def _missing(device: str) -> bool:
    return {"cuda": not torch.cuda.is_available(), "mps": not mps_available()}.get(device, True)


# device -> the words of its one sentence; cuda / mps are bad only where this machine lacks them
BAD_DEVICES = {"tpu": "device must be one of auto, cpu, cuda, mps, got 'tpu'",
               "cuda": "device cuda was asked for but torch sees no CUDA GPU on this machine",
               "mps": "device mps was asked for but torch sees no Apple MPS device on this machine"}
BAD = [pytest.param(d, marks=pytest.mark.skipif(not _missing(d), reason=f"this machine has {d}, so it is not refused"))
       for d in BAD_DEVICES]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    return value


@pytest.fixture
def zoo_copy(tiny_zoo: Path, tmp_path: Path) -> Path:
    """A zoo folder holding a copy of the tiny zoo's 2-D Bernoulli checkpoint, safe to write into."""
    shutil.copytree(tiny_zoo / TINY_NAME, tmp_path / "zoo" / TINY_NAME)
    return tmp_path / "zoo"


def _tiny_vae(decoder: str) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(decoder=decoder, hidden=[32], latent_dim=3)).eval()


@pytest.fixture(scope="module")
def sample_images():
    return load_sample("mnist")[0][:100]  # (100, 28, 28) uint8


# ------------------------------------------------------------------------------------- the CPU, bit for bit
@pytest.mark.parametrize("decoder", list(LIKELIHOODS))
def test_the_elbo_is_the_models_own_bit_for_bit(decoder, sample_images):
    """elbo_terms draws z ~ q(z|x) on the CPU: there these are VAE.elbo_terms' numbers after torch.manual_seed(0),
    exactly, over several batches, and the global generator ends in the same state (the Frechet draws that follow
    it in evaluate_checkpoint depend on that)."""
    model = _tiny_vae(decoder)
    x = fixed_test_input(sample_images, model.data_kind, seed=0)  # (100, 1, 28, 28)
    with torch.no_grad(), unvalidated():
        torch.manual_seed(0)
        before = [model.elbo_terms(b) for b in x.split(40)]
        state_before = torch.get_rng_state()
        terms = elbo_terms(model, x, batch_size=40, device="cpu")
    assert torch.equal(terms["rec"], torch.cat([r for r, _ in before]))
    assert torch.equal(terms["kl"], torch.cat([k for _, k in before]))
    assert torch.equal(torch.get_rng_state(), state_before)


def _frechet_as_it_was(model: VAE, x: torch.Tensor, seed: int = 0) -> dict:
    """zoo.evaluate.frechet before it took a device: every draw where the model is, from VAE.sample and the global
    generator (the reference the device-aware version must equal on the CPU)."""
    classifier = load_classifier(model.config.dataset)
    gen = torch.Generator().manual_seed(seed)
    reference = classifier.features(x)
    outputs: dict[str, list] = {"samples": [], "sample_means": [], "reconstructions": [], "reconstruction_means": []}
    with torch.no_grad():
        for xb in x.split(1000):
            _, px = model.sample(len(xb), generator=gen)
            outputs["samples"].append(px.sample())
            outputs["sample_means"].append(px.mean)
            pr = model.decode(model.encode(xb).sample())
            outputs["reconstructions"].append(pr.sample())
            outputs["reconstruction_means"].append(pr.mean)
    return {k: frechet_distance(classifier.features(torch.cat(v)), reference) for k, v in outputs.items()}


# a Bernoulli (pixels drawn by comparing uniforms), a likelihood with a learned parameter (copied to the CPU to
# draw from), and the discretized Gaussian (its own sampler and a mean over 256 bins)
FRECHET_DECODERS = ["bernoulli", "gaussian-shared", "discretized-gaussian"]


@pytest.mark.parametrize("decoder", FRECHET_DECODERS)
def test_the_frechet_distances_are_those_from_before_bit_for_bit(decoder, sample_images):
    """frechet samples from a CPU copy of the likelihood and draws z on the CPU: on the CPU that is the same draws
    in the same order, so the same distances exactly."""
    model = _tiny_vae(decoder)
    x = fixed_test_input(sample_images[:60], model.data_kind, seed=0)  # (60, 1, 28, 28)
    with unvalidated():
        torch.manual_seed(7)
        before = _frechet_as_it_was(model, x)
        torch.manual_seed(7)
        now = frechet(model, x, device="cpu")
    assert {k: now[k] for k in before} == before


def test_evaluating_a_checkpoint_with_device_cpu_writes_what_the_default_writes(zoo_copy, data_dir, tmp_path):
    """The tiny 2-D checkpoint evaluated by evaluate_checkpoint called as every existing caller calls it (no device),
    and by the real command line `train.py --zoo ... --device cpu` (its evaluation after training): the same
    eval.json, bit for bit, but for the wall-clock timings."""
    default = tmp_path / "default" / TINY_NAME
    shutil.copytree(zoo_copy / TINY_NAME, default)
    (zoo_copy / TINY_NAME / "eval.json").unlink()  # so the zoo run evaluates it (training is done: 1 of 1 epochs)
    evaluate_checkpoint(default, data_dir, progress=False, **TINY_EVAL)
    spec = tmp_path / "zoo.toml"
    spec.write_text(TINY_SPEC + 'device = "cuda"\n')  # --device overrides the spec's, a GPU here or not
    argv = ["--zoo", str(spec), "--checkpoints", str(zoo_copy), "--device", "cpu", "--data-dir", str(data_dir),
            "--no-progress"]
    assert train_cli.main(argv) == 0
    written = json.loads((zoo_copy / TINY_NAME / "eval.json").read_text())
    expected = json.loads((default / "eval.json").read_text())
    assert written["log_likelihood"]["method"] == "quadrature" and written["frechet"] is not None
    assert _without_timings(written) == _without_timings(expected)


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("device", BAD)
@pytest.mark.parametrize("call", ["evaluate_checkpoint", "update_best_log_likelihood"])
def test_a_device_this_machine_lacks_is_one_sentence_before_anything(call, device, zoo_copy):
    folder = zoo_copy / TINY_NAME
    before = _files(folder)
    run = {"evaluate_checkpoint": evaluate_checkpoint, "update_best_log_likelihood": update_best_log_likelihood}[call]
    with pytest.raises(ValueError) as error:
        run(folder, "/nonexistent/vae-zoo-data", progress=False, device=device)
    assert str(error.value).startswith(BAD_DEVICES[device]) and "\n" not in str(error.value)
    assert _files(folder) == before


@pytest.mark.skipif(not _missing("cuda"), reason="this machine has a CUDA GPU, so cuda is not refused")
def test_train_py_zoo_on_cuda_without_a_gpu_is_one_sentence_and_writes_nothing(zoo_copy, tmp_path):
    """The real command line: the zoo entry is trained and would be evaluated (no eval.json yet), but the device
    is refused first, in one line, and the folder is left as it was."""
    (zoo_copy / TINY_NAME / "eval.json").unlink()
    before = _files(zoo_copy)
    spec = tmp_path / "zoo.toml"
    spec.write_text(TINY_SPEC)
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "--zoo", str(spec), "--checkpoints", str(zoo_copy),
                           "--device", "cuda", "--data-dir", "/nonexistent/vae-zoo-data"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {BAD_DEVICES['cuda']}") and done.stderr.count("\n") == 1, done.stderr
    assert _files(zoo_copy) == before


def test_float64_estimators_are_refused_on_mps_in_one_sentence():
    """AIS and the quadrature sum in float64, which Apple's MPS lacks: refused before any work (a torch.device
    names MPS on any machine, so this runs without one)."""
    with pytest.raises(ValueError) as error:
        check_float64(torch.device("mps"), "AIS")
    assert str(error.value) == ("AIS sums in float64, which Apple's MPS backend does not support; run it with device "
                                "cpu (or cuda)")
    for device in ("cpu", "cuda"):
        check_float64(torch.device(device), "AIS")


# script -> its main and its arguments before --device, given the zoo copy and a scratch folder
SCRIPTS = {
    "evaluate_likelihoods": (evaluate_likelihoods.main, lambda zoo, tmp: ["--checkpoints", str(zoo), "--zoo", ""]),
    "burda_ledger": (burda_ledger.main, lambda zoo, tmp: [str(zoo / TINY_NAME), "--ledger", str(tmp / "ledger.json")]),
    "train.py --zoo": (train_cli.main, lambda zoo, tmp: ["--zoo", str(tmp / "zoo.toml"), "--checkpoints", str(zoo)]),
}


@pytest.mark.parametrize("device", BAD)
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_scripts_refuse_a_device_in_one_sentence_and_write_nothing(script, device, zoo_copy, tmp_path, capsys):
    """Each would evaluate the tiny checkpoint (its eval.json removed, for the zoo), but the device is refused first:
    exit code 2, one error line (argparse puts its usage before it), nothing written."""
    main, args = SCRIPTS[script]
    if script == "train.py --zoo":
        (zoo_copy / TINY_NAME / "eval.json").unlink()  # so the zoo run would evaluate it (its training is done)
    (tmp_path / "zoo.toml").write_text(TINY_SPEC)
    before = _files(tmp_path)
    try:
        code = main([*args(zoo_copy, tmp_path), "--device", device, "--data-dir", "/nonexistent/vae-zoo-data"])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    words = "argument --device: invalid choice: 'tpu'" if device == "tpu" else BAD_DEVICES[device]
    assert code == 2 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error: " in line]
    assert len(errors) == 1 and words in errors[0] and err.endswith(errors[0] + "\n"), err
    assert _files(tmp_path) == before


# ------------------------------------------------------------------------------------- a GPU against the CPU
def assert_float32_noise(gpu: torch.Tensor, cpu: torch.Tensor, what: str) -> None:
    """Per image, |gpu - cpu| <= 1e-4 |cpu| + 1e-3 nats. The same draws reach both devices (made on the CPU), so only
    rounding differs. Each number is a float32 sum over 784 pixels (and L latents), added in another order on the
    GPU: its rounding error is at most 784 * 2^-24 ~ 5e-5 of the sum of the terms' magnitudes, which for these
    models is the magnitude of the sum or close to it (Bernoulli and KL terms all have one sign), and typically
    sqrt(784) * 2^-24 ~ 2e-6; the matrix products before it add ~sqrt(fan-in) * 2^-24 ~ 1e-6 relative to each
    pixel's parameters. A wrong draw or a wrong device moves these numbers by nats (the one-sample ELBO of these
    models varies by several nats between draws)."""
    torch.testing.assert_close(gpu.double().cpu(), cpu.double(), rtol=1e-4, atol=1e-3,
                               msg=lambda m: f"{what} on CUDA and on the CPU differ by more than float32 noise: {m}")


# (decoder, latent_dim): the 2-D model's best estimate is the exact quadrature, the 4-D one's is AIS; the shared
# sigma is a learned parameter of the likelihood, which frechet copies to the CPU to draw from
CUDA_MODELS = [("bernoulli", 2), ("gaussian-shared", 4)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
@pytest.mark.parametrize(("decoder", "latent_dim"), CUDA_MODELS)
def test_a_model_trained_on_cuda_evaluates_there_to_the_cpu_numbers(decoder, latent_dim, tmp_path, monkeypatch):
    """One epoch by the real train.py on the GPU (the embedded sample), then every estimator of the evaluation on
    the GPU and on the CPU, on the same 200 images: ELBO, IWAE, the Frechet distances, the embedded-sample check
    and the best estimate agree to float32 rounding (AIS: to its Monte Carlo error, as its chains may part where a
    Metropolis decision tips on the last bit; the quadrature: to its tolerance, where rounding tips a refinement)."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)  # full float32 products (torch's default)
    out = tmp_path / decoder
    argv = ["--train-on-sample", "--val-size", "200", "--epochs", "1", "--dataset", "mnist", "--decoder", decoder,
            "--hidden", "64,32", "--latent-dim", str(latent_dim), "--device", "cuda", "--no-progress", "--out",
            str(out)]
    assert train_cli.main(argv) == 0
    assert json.loads((out / STATE_NAME).read_text())["device"].startswith("cuda")
    images = load_sample("mnist")[0][:200]
    got = {}
    for device in ("cpu", "cuda"):
        model = VAE.from_pretrained(out)  # on the CPU; the first call moves it to ``device``, in place
        x = fixed_test_input(images, model.data_kind, seed=0)  # (200, 1, 28, 28) on the CPU, moved once per call
        with unvalidated():
            got[device] = {"elbo": elbo_terms(model, x, device=device)["elbo"],
                           "iwae": iwae_log_likelihood(model, x[:100], k=50, device=device),
                           "frechet": frechet(model, x, device=device), "sample": sample_check(model, device=device),
                           "best": best_log_likelihood(model, x[:4], iwae_k=50, device=device,
                                                       settings=None if latent_dim == 2 else {"num_steps": 50})}
            if latent_dim == 2:
                got[device]["exact"] = exact_log_likelihood(model, x[:10], device=device)
            else:
                got[device]["ais"] = ais_log_likelihood(model, x[:20], num_steps=50, chains=4, seed=0, device=device)
        assert {p.device.type for p in model.parameters()} == {device}
    cpu, gpu = got["cpu"], got["cuda"]
    assert_float32_noise(gpu["elbo"], cpu["elbo"], "the per-image ELBO")
    assert_float32_noise(gpu["iwae"], cpu["iwae"], "the per-image IWAE (k = 50)")
    for key in ("elbo", "mse"):
        assert math.isclose(gpu["sample"][key], cpu["sample"][key], rel_tol=1e-4, abs_tol=1e-6), key
    for key in ("iwae", "elbo"):
        assert math.isclose(gpu["best"][key], cpu["best"][key], rel_tol=1e-4, abs_tol=1e-3), key
    # Frechet: the classifier runs on the CPU on inputs that differ by rounding; a sampled Bernoulli pixel flips only
    # where a CPU uniform falls between the two devices' probabilities (~1e-7 apart: expected ~0.03 flips in all),
    # so the distances (tens of units) agree to 1e-3 relative.
    assert gpu["frechet"].keys() == cpu["frechet"].keys()
    for key, value in cpu["frechet"].items():
        if isinstance(value, float):
            assert math.isclose(gpu["frechet"][key], value, rel_tol=1e-3, abs_tol=1e-3), key
    if latent_dim == 2:
        a, b = gpu["exact"], cpu["exact"]
        assert a.converged.all() and b.converged.all(), (a.reasons, b.reasons)
        # each image is within ``tol`` of its converged value on either device, so within 2 tol of each other
        assert ((a.log_px - b.log_px).abs() <= 2 * b.tol + 1e-4 * b.log_px.abs()).all()
        assert abs(gpu["best"]["estimate"] - cpu["best"]["estimate"]) <= 2 * b.tol + 1e-2
    else:
        diff = gpu["ais"].log_px - cpu["ais"].log_px  # (20,): ~0 while the chains agree, Monte Carlo noise after
        assert torch.isfinite(diff).all()
        assert abs(float(diff.mean())) <= 4 * float(diff.std()) / math.sqrt(len(diff)) + 1e-3, diff


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
def test_the_zoo_trained_and_evaluated_on_cuda_writes_the_cpu_numbers(data_dir, tmp_path):
    """`train.py --zoo --device cuda` as a user runs it (the full test split), against the same checkpoint
    evaluated on the CPU: eval.json's numbers agree to float32 rounding (module helper's argument)."""
    spec = tmp_path / "zoo.toml"
    spec.write_text(TINY_SPEC.replace("val_size = 200", "val_size = 200\nmax_train_images = 2000"))
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "--zoo", str(spec), "--checkpoints",
                           str(tmp_path / "zoo"), "--device", "cuda", "--data-dir", str(data_dir), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    on_cpu = shutil.copytree(tmp_path / "zoo" / TINY_NAME, tmp_path / "on-cpu")
    evaluate_checkpoint(on_cpu, data_dir, progress=False, device="cpu", **TINY_EVAL)
    gpu, cpu = (json.loads((f / "eval.json").read_text()) for f in (tmp_path / "zoo" / TINY_NAME, on_cpu))
    for key in ("elbo", "rec", "kl", "iwae"):
        assert math.isclose(gpu["test"][key], cpu["test"][key], rel_tol=1e-4, abs_tol=1e-3), key
    assert gpu["test"]["active_units"] == cpu["test"]["active_units"]
    for key in ("elbo", "mse"):
        assert math.isclose(gpu["embedded_sample"][key], cpu["embedded_sample"][key], rel_tol=1e-4, abs_tol=1e-6)
    for key in ("samples", "sample_means", "reconstructions", "reconstruction_means"):
        assert math.isclose(gpu["frechet"][key], cpu["frechet"][key], rel_tol=1e-3, abs_tol=1e-3), key
    assert abs(gpu["log_likelihood"]["estimate"] - cpu["log_likelihood"]["estimate"]) <= 0.1 + 1e-2
