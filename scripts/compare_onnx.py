"""The measurement behind the static site's decoding runtime (issue 21, item 2; results in docs/static_site.md): the
default board's decoders run in headless Chromium two ways, site/decoder.js (a forward pass over typed arrays) and
ONNX models on onnxruntime-web (WebAssembly), from a loopback server. For each: bytes and requests of a first
visit, time from navigation to the first board's pictures decoded (3 reconstructions and 3 prior samples per model;
decoding only, no drawing), decode time per image (median of 100 single-image decodes), and the largest difference
of the raw decoder outputs from torch's on fixed codes.

ONNX export and onnxruntime-web are not dependencies of the project (plain JS was chosen); this script needs them in
a separate environment, exactly:

    python3 -m venv /work/venv-onnx
    echo /work/venv/lib/python3.11/site-packages > /work/venv-onnx/lib/python3.11/site-packages/main.pth
    /work/venv-onnx/bin/pip install onnx==1.23.2 onnxscript==0.7.2       # (onnx-ir 1.1.0, ml_dtypes 0.7.0)
    mkdir -p /work/onnx-bench && (cd /work/onnx-bench && npm install --save-exact onnxruntime-web@1.31.1)
    python -m scripts.export_site /tmp/site
    /work/venv-onnx/bin/python -m scripts.compare_onnx /tmp/site \\
        --ort /work/onnx-bench/node_modules/onnxruntime-web/dist --runs 3
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from explorer.browser import chromium
from explorer.static_site import DATA_DIR, ZOO_JSON, serve_folder
from vae_core.files.names import DEFAULT_ZOO, WEIGHTS_NAME
from vae_core.zoo.checkpoints import load_model

ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
REPEATS = 100  # single-image decodes per model for the per-image time

COMMON_JS = """
const params = new URLSearchParams(location.search);
const names = params.get("models").split(",");
const zoo = await (await fetch("data/zoo.json")).json();
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
async function bench(load, decode) {
  const models = {};
  for (const name of names) models[name] = await load(name);
  for (const name of names) {  // the first board: 3 reconstructions (sample codes) and 3 prior samples per model
    const L = zoo.models[name].latent_dim;
    const codes = new Float32Array(await (await fetch("data/" + zoo.models[name].codes.file)).arrayBuffer());
    const z = new Float32Array(6 * L);
    z.set(codes.subarray(0, 3 * L));
    for (let i = 3 * L; i < 6 * L; i++) z[i] = Math.sin(i);  // any codes: the time does not depend on them
    await decode(models[name], z, 6);
  }
  const first = performance.now();
  const perImage = {}, outputs = {};
  for (const name of names) {
    const L = zoo.models[name].latent_dim, z = new Float32Array(L).fill(0.5), times = [];
    for (let r = 0; r < %(repeats)d; r++) { const t = performance.now(); await decode(models[name], z, 1);
                                            times.push(performance.now() - t); }
    perImage[name] = median(times);
    const fixed = Float32Array.from(window.FIXED[name].flat());
    outputs[name] = Array.from(await decode(models[name], fixed, window.FIXED[name].length));
  }
  window.RESULT = {first, perImage, outputs};
}
window.addEventListener("error", () => { document.title = "failed"; });
window.addEventListener("unhandledrejection", (e) => { console.error(String(e.reason)); document.title = "failed"; });
"""

JS_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>decoder.js</title>
<script type="module">
import {loadZoo, loadModel, forward} from "./decoder.js";
%(common)s
const site = await loadZoo("data/");
await bench((name) => loadModel(site, name), async (m, z, n) => forward(m.network, m.weights, z, n));
</script>"""

ONNX_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>onnxruntime-web</title>
<script type="module">
import * as ort from "./ort/ort.wasm.min.mjs";
ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
ort.env.wasm.numThreads = 1;  // threads need a cross-origin-isolated page, which a static host does not give
%(common)s
await bench((name) => ort.InferenceSession.create("onnx/" + name + ".onnx", {executionProviders: ["wasm"]}),
            async (s, z, n) => (await s.run({z: new ort.Tensor("float32", z, [n, z.length / n])})).out.data);
</script>"""


class RawDecoder(torch.nn.Module):
    """The decoder network alone: z (n, L) -> its output (n, P, 28, 28), what both runtimes compute."""

    def __init__(self, model):
        super().__init__()
        self.net = model.decoder

    def forward(self, z):
        return self.net(z)


def export_onnx(model, path: Path) -> None:
    z = torch.zeros(2, model.config.latent_dim)
    torch.onnx.export(RawDecoder(model).eval(), (z,), str(path), input_names=["z"], output_names=["out"],
                      dynamic_shapes={"z": {0: torch.export.Dim("n", min=1, max=4096)}}, dynamo=True,
                      external_data=False)


def fixed_codes(latent_dim: int) -> np.ndarray:
    rng = np.random.default_rng(latent_dim)
    return np.concatenate([np.zeros((1, latent_dim)), 3 * rng.standard_normal((3, latent_dim))]).astype(np.float32)


def visit(page_url: str, browser_page) -> dict:
    """One first visit in a fresh context: bytes and requests over the wire, and the page's RESULT."""
    context = browser_page.context.browser.new_context()
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.insert(0, f"HTTP {r.status}: {r.url}"))
    sizes = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]))
    start = time.perf_counter()
    page.goto(page_url)
    page.wait_for_function("window.RESULT !== undefined || document.title === 'failed'", timeout=300_000,
                           polling=250)
    if errors:
        raise RuntimeError(f"{page_url}: {errors[0]}")
    result = page.evaluate("window.RESULT")
    result["wall_s"] = time.perf_counter() - start
    result["bytes"], result["requests"] = sum(sizes), len(sizes)
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="an export from `python -m scripts.export_site`")
    parser.add_argument("--ort", type=Path, required=True, help="onnxruntime-web's dist/ folder")
    parser.add_argument("--models", default=None, help="comma-separated (default: the default board's)")
    parser.add_argument("--runs", type=int, default=3, help="first visits per runtime (median reported)")
    args = parser.parse_args()
    zoo = json.loads((args.site / DATA_DIR / ZOO_JSON).read_text())
    names = args.models.split(",") if args.models else zoo["default"]["models"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(args.site / "decoder.js", root)
        (root / DATA_DIR).mkdir()
        shutil.copy(args.site / DATA_DIR / ZOO_JSON, root / DATA_DIR)
        for kind in ("models", "codes"):
            (root / DATA_DIR / kind).mkdir()
            for name in names:
                shutil.copy(args.site / DATA_DIR / kind / f"{name}.bin", root / DATA_DIR / kind)
        (root / "ort").mkdir()
        for f in ORT_FILES:
            shutil.copy(args.ort / f, root / "ort")
        (root / "onnx").mkdir()
        models = {n: load_model(DEFAULT_ZOO / n, weights=DEFAULT_ZOO / n / WEIGHTS_NAME) for n in names}
        for name, model in models.items():
            export_onnx(model, root / "onnx" / f"{name}.onnx")
        fixed = {n: fixed_codes(m.config.latent_dim) for n, m in models.items()}
        script = f"<script>window.FIXED = {json.dumps({n: c.tolist() for n, c in fixed.items()})};</script>"
        common = COMMON_JS % {"repeats": REPEATS}
        (root / "js.html").write_text(script + JS_PAGE % {"common": common})
        (root / "onnx.html").write_text(script + ONNX_PAGE % {"common": common})
        with torch.no_grad():
            want = {n: m.decoder(torch.as_tensor(fixed[n])).double().numpy().ravel() for n, m in models.items()}
        query = "?models=" + ",".join(names)
        rows = {}
        with serve_folder(root) as url, chromium() as page:
            for runtime in ("js", "onnx"):
                runs = [visit(f"{url}/{runtime}.html{query}", page) for _ in range(args.runs)]
                last = runs[-1]
                rows[runtime] = {
                    "bytes": last["bytes"], "requests": last["requests"],
                    "first_ms": statistics.median(r["first"] for r in runs),
                    "per_image_ms": {n: statistics.median(r["perImage"][n] for r in runs) for n in names},
                    "max_abs_diff": max(float(np.max(np.abs(np.array(last["outputs"][n]) - want[n])))
                                        for n in names),
                }
        onnx_bytes = sum((root / "onnx" / f"{n}.onnx").stat().st_size for n in names)
        weight_bytes = sum((root / DATA_DIR / "models" / f"{n}.bin").stat().st_size for n in names)
    print(f"models: {', '.join(names)}; weights {weight_bytes:,} B as .bin, {onnx_bytes:,} B as .onnx; "
          f"{args.runs} first visits each, medians")
    print("| runtime | first visit bytes | requests | first board decoded (ms from navigation) | "
          + " | ".join(f"decode 1 image, {n} (ms)" for n in names) + " | max abs diff vs torch |")
    print("|---" * (5 + len(names)) + "|")
    for runtime, r in rows.items():
        print(f"| {runtime} | {r['bytes']:,} | {r['requests']} | {r['first_ms']:.0f} | "
              + " | ".join(f"{r['per_image_ms'][n]:.3f}" for n in names) + f" | {r['max_abs_diff']:.2e} |")


if __name__ == "__main__":
    main()
