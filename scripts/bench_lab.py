"""Time every computation of the likelihood lab (app_pages/lab.py) and print a markdown table.

    .venv/bin/python -m scripts.bench_lab            # median of 5 runs each
    .venv/bin/python -m scripts.bench_lab --runs 9 --no-page

Each row is the median wall time of ``--runs`` calls after one warm-up call (the warm-up time is shown too:
it includes one-off costs such as lazy imports). The page rows drive the real page through Streamlit's
AppTest, tab by tab (the page runs only its open tab): the first opening (empty caches) and a rerun with warm
caches. The results go into docs/lab.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from explorer import pages
from explorer.lab import TABS
from vae_core.base.data import load_sample
from vae_core.lab import gmm, one_point, pixel_bounds, ppca


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(warm-up seconds, median seconds over ``runs`` further calls)."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return warm, statistics.median(times)


def cases() -> list[tuple[str, Callable[[], object]]]:
    x2, _ = gmm.make_data(3, 500, 2, 1)
    x1, _ = gmm.make_data(3, 500, 1, 0)
    big, _ = gmm.make_data(6, 2000, 2, 0)
    fit2 = gmm.run_em(x2, gmm.init_params(x2, 4, 1), max_iter=1000, tol=1e-7).params[-1]
    k = int(np.argmin(fit2.weights))
    i = int(np.argmin(np.linalg.norm(x2 - fit2.means[k], axis=1)))
    images, _ = load_sample("mnist")
    pixels = images.reshape(len(images), -1).astype(np.float64) / 255.0  # (1000, 784)
    spec = ppca.spectrum(pixels)
    w_ml = ppca.ppca_ml_weights(spec, 0.5, 32)
    sig = np.logspace(0.0, -8.0, 161)
    return [
        ("EM to convergence, 2-D, 500 points, 4 components (page default)",
         lambda: gmm.run_em(x2, gmm.init_params(x2, 4, 1), max_iter=1000, tol=1e-7)),
        ("EM to convergence, 1-D, 500 points, 3 components",
         lambda: gmm.run_em(x1, gmm.init_params(x1, 3, 0), max_iter=1000, tol=1e-7)),
        ("one EM step, 2-D, 2000 points, 8 components (largest setting)",
         lambda: gmm.em_step(big, gmm.init_params(big, 8, 0))),
        ("singularity path, 61 sigmas, EM re-fit at each (page default)",
         lambda: gmm.singularity_profile(x2, fit2, k, i, np.logspace(0.0, -150.0, 61), max_iter=100,
                                         tol=1e-8)),
        ("covariance eigen-decomposition, MNIST sample 1000 x 784", lambda: ppca.spectrum(pixels)),
        ("pPCA closed form: ML W and max log-likelihood (sigma^2 = 0.5, q = 32)",
         lambda: (ppca.ppca_ml_weights(spec, 0.5, 32), ppca.ppca_log_lik_closed(spec, 0.5, 32))),
        ("pPCA direct density check, Cholesky of 784 x 784 (reference only, no page uses it)",
         lambda: ppca.ppca_log_lik_direct(pixels, spec.mean, w_ml, 0.5)),
        ("linear VAE, 400 L-BFGS steps, sigma^2 = 0.5, q = 32 (page default)",
         lambda: ppca.train_linear_vae(spec, 0.5, 32, max_iter=400)),
        ("linear VAE, 800 L-BFGS steps, sigma^2 = 0.05, q = 48 (largest setting)",
         lambda: ppca.train_linear_vae(spec, 0.05, 48, max_iter=800)),
        ("one-point ELBO grid 61 x 61 and curves",
         lambda: (one_point.elbo_grid(np.linspace(-3, 1, 61), np.linspace(-2, 6, 61), 784, 1.0),
                  one_point.max_elbo(np.logspace(-2, 12, 141), 784, 1.0))),
        ("pixel curves, 161 sigmas (incl. discretized Gaussian)",
         lambda: pixel_bounds.pixel_curves(128, sig, 0.01)),
        ("discretized Gaussian, all 256 bins x 1000 (mu, sigma) pairs",
         lambda: pixel_bounds.discretized_gaussian_log_prob(np.arange(256)[None, :],
                                                            np.linspace(0, 1, 1000)[:, None], 0.01)),
    ]


def page_times() -> list[tuple[str, float]]:
    """Per tab (the page runs only the open one), opened from a URL naming it: its first opening (empty caches)
    and a warm rerun; then a new sigma^2 on the pPCA tab."""
    from streamlit.testing.v1 import AppTest

    page = pages.page("lab").path
    rows = []
    for tab in TABS:
        at = AppTest.from_file(str(page), default_timeout=120)
        at.query_params["lab_tab"] = tab
        t0 = time.perf_counter()
        at.run()
        rows.append((f"page, {tab} tab, first opening (empty caches; torch and numpy already imported)",
                     time.perf_counter() - t0))
        assert not at.exception and at.session_state["lab_tab"] == tab, (tab, at.exception)
        warm = []
        for _ in range(3):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        rows.append((f"page, {tab} tab, rerun with warm caches", statistics.median(warm)))
        if tab == "Linear VAE = pPCA":
            t0 = time.perf_counter()
            at.select_slider(key="lab_ppca_sigma2").set_value(1.0).run()
            rows.append(("page, pPCA tab, rerun after changing sigma^2 (retrains the linear VAE)",
                         time.perf_counter() - t0))
            assert not at.exception, at.exception
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-page", action="store_true", help="skip the AppTest rows")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"numpy {np.__version__}, load average {load:.1f} at start; median of {args.runs} runs\n")
    print("| computation | median (ms) | first call (ms) |")
    print("|---|---:|---:|")
    for name, fn in cases():
        warm, median = timed(fn, args.runs)
        print(f"| {name} | {1000 * median:.3g} | {1000 * warm:.3g} |", flush=True)
    if not args.no_page:
        for name, seconds in page_times():
            print(f"| {name} | {1000 * seconds:.0f} | |", flush=True)


if __name__ == "__main__":
    main()
