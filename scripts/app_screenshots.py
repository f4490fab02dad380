"""Screenshots of the explorer for the README: each page in Chromium, as small palette PNGs (1100 px, 256 colours).

    python -m scripts.app_screenshots                                # ./checkpoints -> docs/screenshots/
    python -m scripts.app_screenshots --zoo runs/zoo --out /tmp/shots
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image

from explorer.browser import chromium, counts, screenshot, streamlit_server, wait_idle
from explorer.pages import PAGES, ROOT

STORY = "models=mnist-gaussian-pixel&models=mnist-gaussian-fixed&models=mnist-bernoulli"
SHOWN = {  # url path -> the query that makes its picture tell the story (a page not named here: its defaults)
    "reconstruct": f"{STORY}&idx=3",
    "latent": "models=mnist-bernoulli-2d&models=mnist-gaussian-pixel",
    "sigma": "models=mnist-gaussian-pixel&models=mnist-gaussian-pixel-floor&models=mnist-gaussian-shared"
             "&models=mnist-gaussian-fixed",
    "lab": "lab_tab=One+pixel",
}
# file name -> URL path and query: every page of the registry, and two more views of two of them
VIEWS = {p.url_path: ("" if i == 0 else p.url_path) + (f"?{SHOWN[p.url_path]}" if p.url_path in SHOWN else "")
         for i, p in enumerate(PAGES)}
VIEWS["gap"] = f"sample?{STORY}&view=Gap+view"
VIEWS["raw"] = "sigma?models=mnist-gaussian-pixel-raw&models=mnist-gaussian-pixel&models=mnist-gaussian-fixed-raw"


def shrink(path: Path, width: int = 1100) -> None:
    """Scale to ``width`` and store with a 256-colour palette: a fraction of the bytes, still readable."""
    img = Image.open(path).convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default=os.environ.get("VAE_ZOO_SOURCE") or str(ROOT / "checkpoints"))
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--only", nargs="*", default=list(VIEWS), choices=list(VIEWS))
    args = p.parse_args(argv)
    zoo = str(Path(args.zoo).resolve()) if Path(args.zoo).exists() else args.zoo
    out = Path(args.out)
    with streamlit_server(zoo) as (url, _), chromium(viewport=(1500, 950)) as page:
        for name in args.only:
            page.goto(f"{url}/{VIEWS[name]}")
            wait_idle(page, 300, settle_ms=800)
            found = counts(page)
            if found["exceptions"]:
                print(f"{name}: the page shows an exception", file=sys.stderr)
                return 1
            path = screenshot(page, out / f"{name}.png")
            shrink(path)
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
