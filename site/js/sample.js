// Sample (the app's Sample page): for each chosen model of a dataset, n draws z ~ N(0, T^2 I) decoded two ways,
// the decoder mean E[x|z] beside one full sample x ~ p(x|z). Temperature, seed (S: new samples), images per model,
// which pictures, and the models live in the address: ?dataset=mnist&models=a,b&temperature=1&seed=0&n=16&show=both
import * as runtime from "../decoder.js";
import {
  drawGrey, el, fail, formatNumber, frame, intParam, linkNote, nearest, onKeys, readState, ready, writeState,
} from "./ui.js";

const SIZES = [8, 16, 32, 64];            // images per model (explorer/views/sample.py SIZES)
const SHOW = {both: "decoder means and full samples", means: "decoder means only", samples: "full samples only"};
const MAX_SEED = 2 ** 31 - 1;

frame("sample.html");
const view = document.getElementById("view");

async function main() {
  const zoo = await runtime.loadZoo("data/");
  window.__site = {zoo, ...runtime};
  const state = readState();
  const datasets = Object.keys(zoo.datasets);
  let dataset = zoo.default.dataset;
  if (state.dataset !== undefined) {
    dataset = datasets.includes(state.dataset) ? state.dataset : nearest(state.dataset, datasets, dataset);
    if (dataset !== state.dataset) linkNote("dataset", state.dataset, "is not a dataset of this zoo", dataset);
  }
  const names = Object.keys(zoo.models).filter((n) => zoo.models[n].dataset === dataset).sort();
  const firstSet = (zoo.sets[dataset] || [])[0];
  let chosen = dataset === zoo.default.dataset && zoo.default.models.length ? zoo.default.models.slice()
    : firstSet ? firstSet.models.slice() : names.slice(0, 3);
  if (state.models !== undefined) {
    const asked = state.models.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = asked.filter((n) => !names.includes(n));
    if (asked.length > unknown.length) chosen = asked.filter((n) => names.includes(n));
    if (!asked.length) linkNote("models", state.models, "names no model", chosen.join(", "));
    if (unknown.length) linkNote("models", unknown.join(","), `names no model of ${dataset} in this zoo`, chosen.join(", "));
  }
  let temperature = 1;
  if (state.temperature !== undefined) {
    const t = Number(state.temperature);
    if (state.temperature.trim() !== "" && Number.isFinite(t) && t >= 0 && t <= 2) temperature = t;
    else linkNote("temperature", state.temperature, "is not a number from 0 to 2", "temperature=1");
  }
  let seed = intParam(state, "seed", 0, MAX_SEED, 0);
  let n = 16;
  if (state.n !== undefined) {
    if (SIZES.map(String).includes(state.n)) n = Number(state.n);
    else linkNote("n", state.n, `is not one of ${SIZES.join(", ")}`, "16 images per model");
  }
  let show = "both";
  if (state.show !== undefined) {
    if (state.show in SHOW) show = state.show;
    else linkNote("show", state.show, `is not one of ${Object.keys(SHOW).join(", ")}`, "both");
  }

  // ---------------------------------------------------------------- controls
  const datasetChooser = el("select", {id: "dataset"});
  for (const d of datasets) datasetChooser.append(el("option", {value: d, textContent: d, selected: d === dataset}));
  datasetChooser.addEventListener("change", () => { location.search = `?dataset=${encodeURIComponent(datasetChooser.value)}`; });
  const slider = el("input", {type: "range", id: "temperature", min: 0, max: 2, step: 0.05, value: temperature});
  const tempText = el("span", {className: "what"});
  slider.addEventListener("input", () => { temperature = Number(slider.value); draw(); });
  const seedText = el("span", {className: "what"});
  const newButton = el("button", {type: "button", id: "new-samples"}, [el("kbd", {textContent: "S"}), " new samples"]);
  newButton.addEventListener("click", newSamples);
  const sizeChooser = el("select", {id: "n"});
  for (const s of SIZES) sizeChooser.append(el("option", {value: s, textContent: `${s} per model`, selected: s === n}));
  sizeChooser.addEventListener("change", () => { n = Number(sizeChooser.value); draw(); });
  const showChooser = el("select", {id: "show"});
  for (const [k, text] of Object.entries(SHOW)) showChooser.append(el("option", {value: k, textContent: text, selected: k === show}));
  showChooser.addEventListener("change", () => { show = showChooser.value; draw(); });
  const modelBoxes = el("div", {className: "controls models"});
  for (const name of names) {
    const box = el("input", {type: "checkbox", value: name, checked: chosen.includes(name)});
    box.addEventListener("change", () => {
      chosen = names.filter((m) => modelBoxes.querySelector(`input[value="${m}"]`).checked);
      draw();
    });
    modelBoxes.append(el("label", {}, [box, ` ${name.slice(dataset.length + 1)}`]));
  }
  const grids = el("div", {className: "grids"});
  view.replaceChildren(
    el("div", {className: "controls"}, [datasetChooser, el("b", {textContent: "T"}), slider, tempText, seedText, newButton,
                                        sizeChooser, showChooser]),
    el("details", {}, [el("summary", {textContent: "models"}), modelBoxes]), grids);

  // ---------------------------------------------------------------- drawing
  const models = new Map();
  async function draw() {
    tempText.textContent = `temperature ${temperature.toFixed(2)}: z ~ N(0, T² I)`;
    seedText.textContent = `seed ${seed}`;
    writeState({dataset, models: chosen.join(","), temperature, seed, n, show});
    const shown = [];
    for (const name of chosen) {
      if (!models.has(name)) models.set(name, await runtime.loadModel(zoo, name));
      const model = models.get(name);
      const r = runtime.rng(seed);
      const z = runtime.priorCodes(r, n, model.latentDim, temperature);
      const p = model.decode(z, n);
      const x = runtime.drawSample(p, model.likelihood.key, r);
      const h = zoo.models[name].headline;
      const row = zoo.models[name].leaderboard || {};
      const title = el("div", {className: "model-title"}, [
        `${name} · log p(x) ${formatNumber(h.loglik)} (${h.method})`]);
      const pair = el("div", {className: show === "both" ? "grid-pair" : "grid-one"});
      const columns = Math.min(n, show === "both" ? 8 : 16);
      if (show !== "samples") {
        const c = el("canvas", {className: "tiles means"});
        drawGrey(c, p.mean, n, columns);
        pair.append(el("figure", {}, [c, el("figcaption", {textContent:
          `decoder mean E[x|z]; FD of decoder means ${formatNumber(row["FD sample means"], 0)}`})]));
      }
      if (show !== "means") {
        const c = el("canvas", {className: "tiles samples"});
        drawGrey(c, x, n, columns);
        let outside = 0;
        for (const v of x) if (v < 0 || v > 1) outside++;
        const clipped = outside ? `; ${Math.round((100 * outside) / x.length)}% of the pixels fell outside [0, 1], clipped for display` : "";
        pair.append(el("figure", {}, [c, el("figcaption", {textContent:
          `full sample x ~ p(x|z); FD of full samples ${formatNumber(h.fd, 0)}${clipped}`})]));
      }
      shown.push(title, pair);
    }
    if (!chosen.length) shown.push(el("p", {className: "note", textContent: "No model chosen: tick one under \"models\"."}));
    grids.replaceChildren(...shown);
  }
  async function newSamples() {
    seed = (seed + 1) % (MAX_SEED + 1);
    await draw();
    performance.mark("samples-drawn");
  }
  onKeys({s: newSamples});
  await draw();
  ready();
}

main().catch(fail);
