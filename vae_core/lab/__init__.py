"""Likelihood lab: small models whose likelihood is exact, to watch the seeds' arguments happen.

- ``gmm``: EM on Gaussian mixtures (Dempster, Laird & Rubin 1977) and the likelihood's singularity.
- ``ppca``: probabilistic PCA in closed form (Tipping & Bishop 1999) and the linear VAE whose ELBO reaches it
  (Lucas et al. 2019).
- ``one_point``: the one-datapoint ELBO of the Q&A seed, sigma* = (2 lambda')^(-1/2), derived with care.
- ``pixel_bounds``: one pixel's Gaussian density (unbounded), discretized probability (<= 0), and a floor's
  ceiling (Mattei & Frellsen 2018).

Plain numpy / torch, no UI: the Streamlit page ``app_pages/lab.py`` shows what these compute, one view module
per tab in ``explorer/lab/``.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_depth = 0  # how many single_thread() blocks are open, across threads (Streamlit runs sessions in threads)
_saved = 1


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block; the last block to close restores the setting.

    The tensors here are small: threads only add synchronisation, and on a shared 2-core machine that made the
    linear VAE's L-BFGS loop and the eigen-decomposition up to ten times slower. The setting is process-wide,
    so nested or concurrent blocks are counted and the original value is restored only when all have closed.
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                torch.set_num_threads(_saved)
