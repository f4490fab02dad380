// The latent plane of the 2-D models: the posterior means of the embedded test sample as points coloured by class;
// moving the pointer over the plane decodes that z at once (decoder mean, one full sample, sigma); clicking a test
// image's point (or typing its number) shows its posterior p(z|x). For the first test images the app's Latent page
// computed it at export (explorer/compute/posterior_view.py via explorer/static_latent.py: its exact log p(x) and the
// sentence on log p(x) = ELBO + KL); for every other image of the sample this page computes it: log p(x|z) + log p(z)
// on a grid around where the posterior lies (decoder.js posteriorBox, posteriorOnGrid), in a worker
// (js/posterior_worker.js) so the plane stays responsive meanwhile.
// Address: ?model=mnist-gaussian-pixel-2d&image=0.
import * as runtime from "../decoder.js";
import {
  colorbar, colormap, drawColored, drawGrey, el, fail, formatNumber, frame, intParam, linkNote, logScale, loadJSON,
  nearest, readState, ready, writeState,
} from "./ui.js";

const SIZE = 520;          // px of the plane's canvas
const EXTENT = 4.5;        // the plane shows z in [-EXTENT, EXTENT]^2 (the prior's 3 sd circle and some)
const FLOOR = 20;          // nats below the peak the heat map colours (explorer/charts.posterior)
const POINTS = 41;         // grid points per axis of a posterior computed here (the time per image: docs/static_site.md)
const CLASS_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                       "#9c755f", "#bab0ac"];  // tableau10, as the app's plane

frame("latent.html");
const view = document.getElementById("view");

const toPlane = (v) => ((v + EXTENT) / (2 * EXTENT)) * SIZE;
const fromPlane = (p) => (p / SIZE) * 2 * EXTENT - EXTENT;

async function main() {
  const zoo = await runtime.loadZoo("data/");
  window.__site = {zoo, ...runtime};
  const state = readState();
  const flat = Object.keys(zoo.models).filter((n) => zoo.models[n].latent_dim === 2);
  if (!flat.length) throw new Error("this zoo has no model with a 2-D latent space (train one with --latent-dim 2)");
  let name = flat[0];
  if (state.model !== undefined) {
    if (flat.includes(state.model)) name = state.model;
    else {
      name = nearest(state.model, flat);
      linkNote("model", state.model, "is not a model with a 2-D latent space in this zoo", name);
    }
  }
  const info = zoo.models[name];
  const file = info.posteriors ? info.posteriors.file : null;
  const [model, codes, sample, posteriors, planeInputs] = await Promise.all([
    runtime.loadModel(zoo, name), runtime.loadCodes(zoo, name), runtime.loadSample(zoo, info.dataset),
    file ? loadJSON(`data/${file}`) : Promise.resolve({views: []}), runtime.loadPlaneInputs(zoo, name)]);
  const indices = posteriors.views.map((v) => v.index);
  const computable = planeInputs !== null && planeInputs.q.length >= 4 * sample.count;
  let image = intParam(state, "image", 0, sample.count - 1, indices.length || computable ? (indices[0] ?? 0) : null);
  if (image !== null && !computable && !indices.includes(image)) {
    linkNote("image", image, `has no posterior in this export (test images ${indices.join(", ")} have one)`, `#${indices[0]}`);
    image = indices[0];
  }
  const classes = (zoo.datasets[info.dataset] || {}).classes || Array.from({length: 10}, (_, i) => String(i));

  // ---------------------------------------------------------------- the layout
  const chooser = el("select", {id: "model"});
  for (const n of flat) chooser.append(el("option", {value: n, textContent: n, selected: n === name}));
  chooser.addEventListener("change", () => { location.search = `?model=${encodeURIComponent(chooser.value)}`; });
  const imageChooser = el("input", {id: "image", type: "number", min: 0, max: sample.count - 1, step: 1,
                                     value: image ?? 0, title: `a test image of the sample, 0 to ${sample.count - 1}`});
  imageChooser.addEventListener("change", () => {
    const i = Number(imageChooser.value);
    if (Number.isInteger(i) && i >= 0 && i < sample.count) showPosterior(i);
    else imageChooser.value = String(image ?? 0);
  });
  const controls = el("div", {className: "controls"}, [
    el("b", {textContent: "Model"}), chooser, el("b", {textContent: "Posterior of test image #"}), imageChooser,
    el("span", {className: "what", textContent: `${info.decoder}, ${info.data_kind} pixels, 2-D latent`}),
  ]);
  const plane = el("canvas", {className: "plane", width: SIZE, height: SIZE});
  const decodedMean = el("canvas", {className: "tiles"});
  const decodedSample = el("canvas", {className: "tiles"});
  const decodedSigma = el("canvas", {className: "tiles"});
  const sigmaBar = el("div");
  const where = el("p", {className: "where"});
  const decoded = el("div", {className: "decoded"}, [
    el("b", {textContent: "decoded z"}), where,
    el("div", {className: "decoded-row"}, [
      el("figure", {}, [decodedMean, el("figcaption", {textContent: "decoder mean"})]),
      el("figure", {}, [decodedSample, el("figcaption", {textContent: "one full sample"})]),
      el("figure", {}, [decodedSigma, el("figcaption", {textContent: "sigma"}), sigmaBar]),
    ]),
  ]);
  const heat = el("canvas", {className: "heat", width: 260, height: 260});
  const sentence = el("p", {className: "sentence"});
  const posteriorBox = el("div", {className: "posterior"}, [
    el("b", {textContent: "posterior p(z|x)"}), heat, sentence,
  ]);
  const legend = el("div", {className: "legend"});
  classes.forEach((c, k) => legend.append(el("span", {}, [
    el("i", {style: `background:${CLASS_COLOURS[k % 10]}`}), ` ${c}`])));
  view.replaceChildren(controls, el("div", {className: "plane-row"}, [
    el("div", {}, [plane, legend]), el("div", {className: "side"}, [decoded, posteriorBox]),
  ]));

  // ---------------------------------------------------------------- the plane: points, prior circles, the picked image
  const background = document.createElement("canvas");
  background.width = background.height = SIZE;
  {
    const ctx = background.getContext("2d");
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, SIZE, SIZE);
    ctx.strokeStyle = "#888";
    ctx.setLineDash([6, 5]);
    for (const r of [1, 2, 3]) {
      ctx.beginPath();
      ctx.arc(toPlane(0), toPlane(0), (r / (2 * EXTENT)) * SIZE, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (let i = 0; i < sample.count; i++) {
      ctx.fillStyle = CLASS_COLOURS[sample.labels[i] % 10];
      ctx.globalAlpha = 0.75;
      ctx.beginPath();
      ctx.arc(toPlane(codes[2 * i]), SIZE - toPlane(codes[2 * i + 1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }
  let cross = null;
  function drawPlane() {
    const ctx = plane.getContext("2d");
    ctx.drawImage(background, 0, 0);
    if (image !== null) {  // the test image whose posterior is shown: a ring around its mean
      ctx.strokeStyle = "black";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(toPlane(codes[2 * image]), SIZE - toPlane(codes[2 * image + 1]), 9, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (cross) {
      ctx.strokeStyle = "#e4572e";
      ctx.lineWidth = 3;
      const [x, y] = [toPlane(cross[0]), SIZE - toPlane(cross[1])];
      ctx.beginPath();
      ctx.moveTo(x - 9, y); ctx.lineTo(x + 9, y); ctx.moveTo(x, y - 9); ctx.lineTo(x, y + 9);
      ctx.stroke();
    }
  }

  // ---------------------------------------------------------------- decode a point
  const r = runtime.rng(0);
  function decodeAt(z1, z2, origin) {
    cross = [z1, z2];
    const p = model.decode(new Float32Array([z1, z2]), 1);
    drawGrey(decodedMean, p.mean, 1);
    drawGrey(decodedSample, runtime.drawSample(p, model.likelihood.key, r), 1);
    if (p.sigma) {
      const scale = logScale([p.sigma]);
      drawColored(decodedSigma, p.sigma, 1, scale);
      sigmaBar.replaceChildren(colorbar(scale));
    } else {
      decodedSigma.width = decodedSigma.height = 0;
      sigmaBar.replaceChildren(el("span", {className: "none", textContent: `no sigma: ${model.likelihood.key}`}));
    }
    where.textContent = `z = (${z1.toFixed(2)}, ${z2.toFixed(2)}) ${origin}`;
    drawPlane();
    performance.mark("hover-drawn");
  }
  let pending = null, frameId = 0;  // one decode per animation frame, at the latest pointer position
  plane.addEventListener("pointermove", (event) => {
    const box = plane.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * SIZE, y = ((event.clientY - box.top) / box.height) * SIZE;
    if (pending === null) {
      frameId = requestAnimationFrame(() => { const [a, b] = pending; pending = null; decodeAt(a, b, "under the pointer"); });
    }
    pending = [fromPlane(x), fromPlane(SIZE - y)];
  });
  plane.addEventListener("click", (event) => {
    cancelAnimationFrame(frameId);  // the move that brought the pointer here must not redraw over the picked image
    pending = null;
    const box = plane.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * SIZE, y = ((event.clientY - box.top) / box.height) * SIZE;
    let best = null, distance = Infinity;
    for (let i = 0; i < sample.count; i++) {
      const d = Math.hypot(toPlane(codes[2 * i]) - x, SIZE - toPlane(codes[2 * i + 1]) - y);
      if (d < distance) { best = i; distance = d; }
    }
    if (best !== null && distance < 8) showPosterior(best);
  });

  // ---------------------------------------------------------------- the posterior of one test image
  const table = colormap();
  /** Paint ``below[i * n + j]`` (nats under the peak, at (z1[i], z2[j])) on the heat canvas with q's 1 and 2 sd. */
  function paintHeat(below, n, extent, qMean, qStd) {
    const ctx = heat.getContext("2d");
    const img = ctx.createImageData(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const b = below[i * n + j], at = 4 * ((n - 1 - j) * n + i);  // z2 up
        img.data[at + 3] = 255;
        if (!(b <= FLOOR)) { img.data[at] = img.data[at + 1] = img.data[at + 2] = 255; continue; }
        const k = Math.round((1 - b / FLOOR) * 255);
        img.data[at] = table[3 * k]; img.data[at + 1] = table[3 * k + 1]; img.data[at + 2] = table[3 * k + 2];
      }
    }
    const tmp = el("canvas", {width: n, height: n});
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.clearRect(0, 0, heat.width, heat.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, heat.width, heat.height);
    const [lo1, hi1, lo2, hi2] = extent;
    const px = (z) => ((z - lo1) / (hi1 - lo1)) * heat.width, py = (z) => heat.height - ((z - lo2) / (hi2 - lo2)) * heat.height;
    ctx.strokeStyle = "#e4572e";
    ctx.lineWidth = 2;
    for (const radius of [1, 2]) {  // q(z|x) at 1 and 2 sd
      ctx.beginPath();
      ctx.ellipse(px(qMean[0]), py(qMean[1]), Math.abs(px(qMean[0] + radius * qStd[0]) - px(qMean[0])),
                  Math.abs(py(qMean[1] + radius * qStd[1]) - py(qMean[1])), 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }
  const boxWords = ([lo1, hi1, lo2, hi2]) => `the box spans z1 ${formatNumber(lo1, 2)} to ${formatNumber(hi1, 2)}, `
    + `z2 ${formatNumber(lo2, 2)} to ${formatNumber(hi2, 2)}`;

  /** The exported posterior (the app's own computation) of one of the first test images. */
  function showExported(v) {
    const bytes = Uint8Array.from(atob(v.relative), (c) => c.charCodeAt(0));
    paintHeat(Float64Array.from(bytes, (b) => b * posteriors.step), v.points, v.extent, v.q_mean, v.q_std);
    sentence.textContent = `${v.sentence} Colour: the true posterior p(z|x) within ${FLOOR} nats of its peak; red: the `
      + `encoder's q(z|x) at 1 and 2 sd (${boxWords(v.extent)}).`;
  }

  /** Any test image: p(z|x) computed from the decoder (decoder.js) in a worker (js/posterior_worker.js), so the
   * plane keeps decoding under the pointer meanwhile. One request at a time: a newer one terminates the worker. */
  let worker = null, busy = false, pendingPosterior = 0;
  function stopWorker() {
    if (worker && busy) { worker.terminate(); worker = null; }
    busy = false;
  }
  function computePosterior(index, v) {
    const token = ++pendingPosterior, start = performance.now();
    const x = runtime.modelInput(sample.images.subarray(index * runtime.PIXELS, (index + 1) * runtime.PIXELS),
      info.data_kind, planeInputs.noise);
    const qMean = planeInputs.q.slice(4 * index, 4 * index + 2), qStd = planeInputs.q.slice(4 * index + 2, 4 * index + 4);
    const computing = `Computing p(z|x) of test image #${index} on ${POINTS} x ${POINTS} points`;
    sentence.textContent = `${computing} ...`;
    heat.getContext("2d").clearRect(0, 0, heat.width, heat.height);
    document.body.dataset.posterior = "computing";
    document.body.dataset.posteriorDecoded = "0";
    const finish = (text) => {
      busy = false;
      sentence.textContent = text;
      document.body.dataset.posterior = String(index);
      performance.mark("posterior-drawn");
    };
    if (!worker) {
      worker = new Worker(new URL("./posterior_worker.js", import.meta.url), {type: "module"});
      worker.postMessage({model: {network: model.network, weights: model.weights, likelihood: model.likelihood,
                                  latentDim: model.latentDim}});
    }
    busy = true;
    worker.onmessage = ({data}) => {
      if (data.token !== token) return;  // an answer to a request since replaced
      if (data.error !== undefined) {
        finish(`No posterior for test image #${index} of ${name}: ${data.error}.`);
        return;
      }
      if (data.result === undefined) {  // progress: codes decoded so far
        document.body.dataset.posteriorDecoded = String(data.decoded);
        sentence.textContent = `${computing}: ${data.decoded.toLocaleString("en-US")} codes decoded so far ...`;
        return;
      }
      const post = data.result, ms = performance.now() - start;
      window.__posterior = {model: name, index, ...post};
      let peak = -Infinity;
      for (const value of post.logDensity) peak = Math.max(peak, value);
      paintHeat(Float64Array.from(post.logDensity, (value) => peak - value), POINTS, post.box, qMean, qStd);
      heat.dataset.computedMs = ms.toFixed(0);
      finish(`Test image #${index} (${classes[sample.labels[index]]}): p(z|x) computed in this browser `
        + `from ${name}'s decoder, log p(x|z) + log p(z) on ${POINTS} x ${POINTS} points normalised on the grid `
        + `(${Math.round(ms)} ms). log p(x) ≈ ${formatNumber(post.logPx, 1)} nats by the midpoint rule on this grid (an `
        + `estimate; it moves by ${formatNumber(post.logPxChange, 2)} nats on the grid of every other point; the app's `
        + `adaptive quadrature gives the exact value). Colour: p(z|x) within ${FLOOR} nats of its peak; red: the `
        + `encoder's q(z|x) at 1 and 2 sd (${boxWords(post.box)}).`
        + (post.reachesEdge ? " The posterior reaches beyond the box searched: part of it is not shown." : "")
        + (v && v.problem ? ` (The app's quadrature flagged this image: ${v.problem}.)` : ""));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker = null;
      finish(`No posterior for test image #${index} of ${name}: the worker that computes it failed`
        + `${event.message ? ` (${event.message})` : ""}.`);
    };
    worker.postMessage({token, x, qMean, qStd, points: POINTS});
  }

  function showPosterior(index) {
    image = index;
    imageChooser.value = String(index);
    writeState({model: name, image: index});
    stopWorker();  // a computation under way is for an earlier choice
    const origin = `the posterior mean of test image #${index} (${classes[sample.labels[index]]})`;
    const v = posteriors.views.find((w) => w.index === index);
    if (v && !v.problem) {
      showExported(v);
    } else if (computable) {
      computePosterior(index, v);
    } else {
      heat.getContext("2d").clearRect(0, 0, heat.width, heat.height);
      sentence.textContent = v ? `No exact posterior for test image #${index} of ${name}: ${v.problem}.`
        : `The exact posterior was computed at export for test images ${indices.join(", ")} only; #${index} is `
          + "decoded at its posterior mean above.";
    }
    if (v && !v.problem || !computable) {
      document.body.dataset.posterior = String(index);
      performance.mark("posterior-drawn");
    }
    decodeAt(codes[2 * index], codes[2 * index + 1], origin);
  }

  if (image !== null) showPosterior(image);
  else {
    sentence.textContent = `This export holds no posterior for ${name}.`;
    decodeAt(0, 0, "the prior's mean");
  }
  ready();
}

main().catch(fail);
