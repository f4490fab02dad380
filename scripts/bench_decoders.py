"""The static site's decoders, one at a time: milliseconds per image that site/decoder.js takes to decode a batch
of codes in headless Debian Chromium (model.decode, the forward pass and the likelihood's parameters), per model of
an export, so the cost of a network (MLP, conv, residual conv) can be compared in one run on the same load.

Each model decodes ``--batch`` prior codes ``--runs`` times after one warm-up decode; the median run is printed
divided by the batch, with the machine's load average (the numbers are taken on shared cores: compare models of
one run, not runs).

    python -m scripts.bench_decoders                              # the shipped zoo, every model
    python -m scripts.bench_decoders --zoo /tmp/zoo --batch 16 --runs 9
    python -m scripts.bench_decoders --only mnist-gaussian-pixel-conv,mnist-gaussian-pixel-resconv
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from explorer.browser import chromium
from explorer.static_site import export_site, serve_folder
from vae_core.files.names import DEFAULT_ZOO

# In the page: ms per image of each model's decode, the median of ``runs`` after a warm-up.
TIME_JS = """async ({names, batch, runs}) => {
  const rt = await import("/decoder.js");
  const zoo = await rt.loadZoo("data/");
  const out = {};
  for (const name of names) {
    const m = await rt.loadModel(zoo, name);
    const z = rt.priorCodes(rt.rng(1), batch, m.latentDim);
    m.decode(z, batch);
    const times = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      m.decode(z, batch);
      times.push((performance.now() - t) / batch);
    }
    times.sort((a, b) => a - b);
    out[name] = times[Math.floor(runs / 2)];
  }
  return out;
}"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default=str(DEFAULT_ZOO), help="the checkpoints to export and time")
    p.add_argument("--only", default="", help="comma-separated model names (default: every model)")
    p.add_argument("--batch", type=int, default=8, help="codes per decode")
    p.add_argument("--runs", type=int, default=5, help="timed decodes per model (the median is printed)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        zoo_json = export_site(Path(tmp) / "site", args.zoo, figures=False)
        names = [n for n in args.only.split(",") if n] or sorted(zoo_json["models"])
        before = os.getloadavg()[0]
        with serve_folder(Path(tmp) / "site") as url, chromium() as page:
            page.goto(f"{url}/index.html")
            ms = page.evaluate(TIME_JS, {"names": names, "batch": args.batch, "runs": args.runs})
    print(f"load average {before:.1f} before / {os.getloadavg()[0]:.1f} after (1 min); batch {args.batch}, "
          f"median of {args.runs}")
    for name in names:
        layers = zoo_json["models"][name]["network"]["layers"]
        print(f"{name:45s} {ms[name]:8.2f} ms/image  ({', '.join(sorted({op['op'] for op in layers}))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
