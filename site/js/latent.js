// The latent plane of the 2-D models: the posterior means of the embedded test sample as points coloured by class;
// moving the pointer over the plane decodes that z at once (decoder mean, one full sample, sigma); clicking a test
// image's point (or choosing its number) shows its exact posterior p(z|x) as the app's Latent page computes it
// (explorer/compute/posterior_view.py, recorded at export by explorer/static_latent.py) with the app's sentence on
// log p(x) = ELBO + KL. Address: ?model=mnist-gaussian-pixel-2d&image=0.
import * as runtime from "../decoder.js";
import {
  colorbar, colormap, drawColored, drawGrey, el, fail, formatNumber, frame, intParam, logScale, loadJSON, nearest,
  note, readState, ready, writeState,
} from "./ui.js";

const SIZE = 520;          // px of the plane's canvas
const EXTENT = 4.5;        // the plane shows z in [-EXTENT, EXTENT]^2 (the prior's 3 sd circle and some)
const FLOOR = 20;          // nats below the peak the heat map colours (explorer/charts.posterior)
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
      note(`"${state.model}" is not a model with a 2-D latent space in this zoo: showing ${name}.`);
    }
  }
  const info = zoo.models[name];
  const file = info.posteriors ? info.posteriors.file : null;
  const [model, codes, sample, posteriors] = await Promise.all([
    runtime.loadModel(zoo, name), runtime.loadCodes(zoo, name), runtime.loadSample(zoo, info.dataset),
    file ? loadJSON(`data/${file}`) : Promise.resolve({views: []})]);
  const indices = posteriors.views.map((v) => v.index);
  let image = indices.length ? intParam(state, "image", 0, sample.count - 1, indices[0]) : null;
  if (image !== null && !indices.includes(image)) {
    note(`The exact posterior was computed at export for test images ${indices.join(", ")} only: showing #${indices[0]}.`);
    image = indices[0];
  }
  const classes = (zoo.datasets[info.dataset] || {}).classes || Array.from({length: 10}, (_, i) => String(i));

  // ---------------------------------------------------------------- the layout
  const chooser = el("select", {id: "model"});
  for (const n of flat) chooser.append(el("option", {value: n, textContent: n, selected: n === name}));
  chooser.addEventListener("change", () => { location.search = `?model=${encodeURIComponent(chooser.value)}`; });
  const imageChooser = el("select", {id: "image"});
  for (const i of indices) imageChooser.append(el("option", {value: i, textContent: `test image #${i}`, selected: i === image}));
  imageChooser.addEventListener("change", () => showPosterior(Number(imageChooser.value)));
  const controls = el("div", {className: "controls"}, [
    el("b", {textContent: "Model"}), chooser, el("b", {textContent: "Exact posterior of"}), imageChooser,
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
    el("b", {textContent: "exact posterior p(z|x)"}), heat, sentence,
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

  // ---------------------------------------------------------------- the exact posterior of one test image
  function showPosterior(index) {
    image = index;
    if (indices.includes(index)) imageChooser.value = String(index);
    const v = posteriors.views.find((w) => w.index === index);
    writeState({model: name, image: index});
    const ctx = heat.getContext("2d");
    ctx.clearRect(0, 0, heat.width, heat.height);
    if (!v || v.problem) {
      sentence.textContent = v ? `No exact posterior for test image #${index} of ${name}: ${v.problem}.`
        : `The exact posterior was computed at export for test images ${indices.join(", ")} only; #${index} is `
          + "decoded at its posterior mean above.";
      decodeAt(codes[2 * index], codes[2 * index + 1], `the posterior mean of test image #${index} (${classes[sample.labels[index]]})`);
      return;
    }
    const n = v.points, bytes = Uint8Array.from(atob(v.relative), (c) => c.charCodeAt(0));
    const [lo1, hi1, lo2, hi2] = v.extent;
    const img = ctx.createImageData(n, n), table = colormap();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const below = bytes[i * n + j] * posteriors.step, at = 4 * ((n - 1 - j) * n + i);  // z2 up
        if (below > FLOOR) { img.data[at] = img.data[at + 1] = img.data[at + 2] = 255; img.data[at + 3] = 255; continue; }
        const k = Math.round((1 - below / FLOOR) * 255);
        img.data[at] = table[3 * k]; img.data[at + 1] = table[3 * k + 1]; img.data[at + 2] = table[3 * k + 2];
        img.data[at + 3] = 255;
      }
    }
    const tmp = el("canvas", {width: n, height: n});
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, heat.width, heat.height);
    const px = (z) => ((z - lo1) / (hi1 - lo1)) * heat.width, py = (z) => heat.height - ((z - lo2) / (hi2 - lo2)) * heat.height;
    ctx.strokeStyle = "#e4572e";
    ctx.lineWidth = 2;
    for (const radius of [1, 2]) {  // q(z|x) at 1 and 2 sd
      ctx.beginPath();
      ctx.ellipse(px(v.q_mean[0]), py(v.q_mean[1]), Math.abs(px(v.q_mean[0] + radius * v.q_std[0]) - px(v.q_mean[0])),
                  Math.abs(py(v.q_mean[1] + radius * v.q_std[1]) - py(v.q_mean[1])), 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
    sentence.textContent = `${v.sentence} Colour: the true posterior p(z|x) within ${FLOOR} nats of its peak; red: the `
      + `encoder's q(z|x) at 1 and 2 sd (the box spans z1 ${formatNumber(lo1, 2)} to ${formatNumber(hi1, 2)}, `
      + `z2 ${formatNumber(lo2, 2)} to ${formatNumber(hi2, 2)}).`;
    decodeAt(codes[2 * index], codes[2 * index + 1], `the posterior mean of test image #${index} (${classes[sample.labels[index]]})`);
  }

  if (image !== null) showPosterior(image);
  else {
    sentence.textContent = `This export holds no exact posterior for ${name}.`;
    decodeAt(0, 0, "the prior's mean");
  }
  ready();
}

main().catch(fail);
