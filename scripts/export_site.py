"""Export the zoo as a static site (issue 21): a folder any static host serves, decoding in the browser.

    python -m scripts.export_site site-out                  # the shipped zoo in checkpoints/
    python -m scripts.export_site site-out --zoo other/     # another zoo folder (or a Hub repo id)
    python -m http.server -d site-out 8000                  # then open http://127.0.0.1:8000/

The folder's layout, the decoding runtime and what a visitor downloads: docs/static_site.md; hosting it on a free
Static Space: docs/deploy.md. A damaged or missing checkpoint stops the export with one sentence naming it, and
nothing is written (the export is built beside OUT and renamed into place at the end).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import streamlit.logger

# The app's cached functions are imported here without a Streamlit server, and each would warn so on import.
streamlit.logger.set_log_level("error")

from explorer.static_site import SITE_SOURCE, ExportError, export_site  # noqa: E402 (after the logger level)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (absent, or an earlier export: replaced)")
    parser.add_argument("--zoo", default=None, help="zoo folder or Hub repo id (default: $VAE_ZOO_SOURCE, else "
                                                    "checkpoints/)")
    parser.add_argument("--site", type=Path, default=SITE_SOURCE, help="the page's source folder (default: site/)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        manifest = export_site(args.out, args.zoo, args.site, progress=lambda line: print(line, flush=True))
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out}: {len(manifest['models'])} models, {total / 1e6:.1f} MB in "
          f"{time.monotonic() - start:.0f} s; serve it with: python -m http.server -d {args.out} 8000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
