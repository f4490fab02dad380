"""Time the Latent page's true-posterior view per image: the numbers cold (explorer.compute.posterior_view, IWAE at k),
and the whole page cold and warm (AppTest: a new image, then back to a cached one).

    OMP_NUM_THREADS=1 python -m scripts.bench_posterior_view --images 10
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from streamlit.testing.v1 import AppTest

from explorer import pages
from explorer.compute.posterior_view import iwae_for_image, posterior_view
from vae_core.base.data import load_sample
from vae_core.zoo.checkpoints import load_model

ROOT = pages.ROOT
MODELS = ["mnist-bernoulli-2d", "mnist-gaussian-fixed-2d", "mnist-gaussian-pixel-2d"]


def _time(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _show(at: AppTest, index: int) -> None:
    at.number_input(key="post_idx").set_value(index).run()


def numbers(num_images: int) -> None:
    images = load_sample("mnist")[0]
    print(f"torch threads: {torch.get_num_threads()}; cold seconds per image, mean (max) over {num_images} images")
    for name in MODELS:
        model = load_model(ROOT / "checkpoints" / name)
        view = [_time(posterior_view, model, images[i]) for i in range(num_images)]
        iwae = {k: [_time(iwae_for_image, model, images[i], k) for i in range(min(num_images, 3))]
                for k in (1000, 10000)}
        print(f"{name:26s} posterior view {statistics.mean(view):.2f} ({max(view):.2f}) | IWAE k=1,000 "
              f"{statistics.mean(iwae[1000]):.2f} | k=10,000 {statistics.mean(iwae[10000]):.2f}")


def page(num_images: int) -> None:
    os.environ.setdefault("VAE_ZOO_SOURCE", str(ROOT / "checkpoints"))
    for name in MODELS:
        at = AppTest.from_file(str(pages.APP), default_timeout=300)
        at.query_params.update({"dataset": "mnist", "models": name})
        at.run()
        at.switch_page(pages.page("latent").script).run()
        cold, warm = [], []
        for i in range(1, num_images + 1):
            cold.append(_time(_show, at, i))
            warm.append(_time(_show, at, i - 1))
        assert not at.exception, at.exception
        print(f"{name:26s} page rerun, new image {statistics.mean(cold):.2f} s (max {max(cold):.2f}); "
              f"cached image {statistics.mean(warm):.3f} s (max {max(warm):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    args = parser.parse_args()
    numbers(args.images)
    page(args.images)


if __name__ == "__main__":
    main()
