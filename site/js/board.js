// The Board (explorer/board.py in the Streamlit app): three or four models of one named set side by side, each
// column headed by its best log p(x) (named as what it is) and the Frechet distances of its decoder means and of
// its full samples; rows: reconstructions of test images, decoder means of prior samples, full samples, sigma.
// Keys: N / P next / previous test images, S new samples, M next model set. The view lives in the address:
// ?dataset=mnist&set=<slug>&image=<first test image>&seed=<seed> (or &models=a,b,c for a selection of one's own);
// a set's slug is the app's (explorer.board.set_slug, exported with each set), so /board?set=raw-pixels names the
// same set in the app and here.
import * as runtime from "../decoder.js";
import {
  clearNotes, colorbar, drawColored, drawGrey, el, fail, formatNumber, frame, intParam, linkNote, logScale, nearest, note,
  onKeys, readState, ready, writeState,
} from "./ui.js";

const MAX_SEED = 2 ** 31 - 1;
const CUSTOM = "your selection";
// What a column says beside a log p(x) that cannot be ranked with the 8-bit ones: the app's words
// (explorer.board.NOT_COMPARABLE, exported as board.not_comparable) when the export has them.
const NOT_COMPARABLE = {binary: "binarized pixels: not comparable with 8-bit", raw: "raw pixels: unbounded, not comparable"};

/** A set's name in the address: the export's slug, else the app's rule (lower case, words joined by "-"). */
export function slugOf(set) {
  return set.slug || set.title.toLowerCase().split(/\s+/).join("-");
}

frame("board.html");
const view = document.getElementById("view");

/** Which models to show, from the address: a named set of the dataset, or one's own list; anything unknown is
 * replaced by the nearest valid choice with a note. */
export function choose(zoo, state) {
  const datasets = Object.keys(zoo.datasets);
  let dataset = zoo.default.dataset;
  if (state.dataset !== undefined && !datasets.includes(state.dataset)) {
    dataset = nearest(state.dataset, datasets, zoo.default.dataset);
    linkNote("dataset", state.dataset, "is not a dataset of this zoo", dataset);
  } else if (state.dataset !== undefined) {
    dataset = state.dataset;
  }
  const sets = zoo.sets[dataset] || [];
  const fallback = sets.find((s) => s.title === zoo.default.set) || sets[0] ||
    {title: CUSTOM, models: Object.keys(zoo.models).filter((n) => zoo.models[n].dataset === dataset)};
  if (state.models !== undefined) {
    const asked = state.models.split(",").map((s) => s.trim()).filter(Boolean);
    const known = asked.filter((n) => zoo.models[n] && zoo.models[n].dataset === dataset);
    const unknown = asked.filter((n) => !known.includes(n));
    const instead = state.set !== undefined ? "the set of the link" : `the set "${fallback.title}"`;
    if (!asked.length) linkNote("models", state.models, "names no model", instead);
    if (unknown.length) {
      linkNote("models", unknown.join(","), `names no model of ${dataset} in this zoo`,
        known.length ? known.join(", ") : instead);
    }
    if (known.length) {
      if (state.set !== undefined) linkNote("set", state.set, "is not used beside models", "the link's models");
      const named = sets.find((s) => s.models.join(",") === known.join(","));
      return {dataset, sets, current: named || {title: CUSTOM, models: known}};
    }
  }
  if (state.set !== undefined) {
    const exact = sets.find((s) => slugOf(s) === state.set || s.title === state.set);
    if (exact) return {dataset, sets, current: exact};
    const near = sets.length ? nearestSet(state.set, sets, fallback) : fallback;
    linkNote("set", state.set, `is not a model set of ${dataset}`, `"${near.title}"`);
    return {dataset, sets, current: near};
  }
  return {dataset, sets, current: fallback};
}

/** The named set whose slug or title is nearest to ``wanted`` (ui.js nearest), ``fallback`` when none resembles it. */
function nearestSet(wanted, sets, fallback) {
  const names = sets.flatMap((s) => [slugOf(s), s.title]);
  const found = nearest(wanted, names, null);
  return sets.find((s) => slugOf(s) === found || s.title === found) || fallback;
}

/** The column head: name, log p(x) with its error and what it is, and the two Frechet distances, each named. */
function head(info, words) {
  const h = info.headline;
  const row = info.leaderboard || {};
  const box = el("div", {className: "head"});
  box.dataset.model = info.name;
  box.append(el("div", {className: "name", textContent: info.name, title: info.name}));
  const loglik = el("div", {className: "big loglik"});
  if (Number.isFinite(h.loglik)) {
    loglik.append(formatNumber(h.loglik));
    if (Number.isFinite(h.stderr)) {
      loglik.append(el("span", {className: "stderr", textContent: ` ± ${formatNumber(h.stderr, Math.abs(h.loglik) >= 100 ? 0 : 1)}`}));
    }
    box.append(loglik);
    const images = Number.isFinite(h.images) ? `, ${h.images} images` : "";
    box.append(el("div", {className: "method", textContent: `${h.method}${images}`}));
  } else {
    loglik.textContent = "n/a";
    box.append(loglik, el("div", {className: "method", textContent: "not evaluated yet"}));
  }
  const binary = h.binary ?? info.data_kind === "binary";
  for (const [kind, applies] of [["raw", h.raw], ["binary", binary]]) {
    if (applies) box.append(el("div", {className: "warn", textContent: words[kind]}));
  }
  for (const [what, value, cls] of [["FD samples", h.fd, "fd-samples"], ["FD means", row["FD sample means"], "fd-means"]]) {
    const line = el("div", {className: `fd ${cls}`});
    line.append(el("span", {className: "what", textContent: `${what} `}),
                el("span", {className: "big", textContent: Number.isFinite(value) ? formatNumber(value, 0) : "n/a"}));
    box.append(line);
  }
  return box;
}

function rowLabel(title, what) {
  return el("div", {className: "label"}, [el("b", {textContent: title}), el("span", {className: "what", textContent: what})]);
}

async function main() {
  const zoo = await runtime.loadZoo("data/");
  window.__site = {zoo, ...runtime};
  const state = readState();
  let {dataset, sets, current} = choose(zoo, state);
  // the shown models' files start now, beside the sample (decoder.js keeps one promise per file, so build() below
  // waits on these same downloads; a failure is reported there, per column)
  for (const name of current.models.slice(0, zoo.board.max_columns)) {
    runtime.loadModel(zoo, name).catch(() => {});
    runtime.loadCodes(zoo, name).catch(() => {});
  }
  const sample = await runtime.loadSample(zoo, dataset);
  let first = intParam(state, "image", 0, sample.count - 1, 0);
  let seed = intParam(state, "seed", 0, MAX_SEED, 0);
  const tiles = zoo.board.tiles;
  let columns = [];   // per shown model: {info, model, codes, cells: {recon, mean, sample, sigma}}
  let labels = {};

  const save = () => writeState({
    dataset, ...(current.title === CUSTOM ? {models: current.models.join(",")} : {set: slugOf(current)}),
    image: first, seed,
  });

  function indices() {
    return Array.from({length: Math.min(tiles, sample.count)}, (_, i) => (first + i) % sample.count);
  }

  function drawReconstructions() {
    const at = indices();
    const pictures = new Uint8Array(at.length * runtime.PIXELS);
    at.forEach((i, k) => pictures.set(sample.images.subarray(i * runtime.PIXELS, (i + 1) * runtime.PIXELS), k * runtime.PIXELS));
    drawGrey(labels.inputs, pictures, at.length);
    labels.range.textContent = `${zoo.board.rows[0][1]} #${at[0]}-${at[at.length - 1]}`;
    for (const c of columns) {
      const z = new Float32Array(at.length * c.model.latentDim);
      at.forEach((i, k) => z.set(c.codes.subarray(i * c.model.latentDim, (i + 1) * c.model.latentDim), k * c.model.latentDim));
      drawGrey(c.cells.recon, c.model.decode(z, at.length).mean, at.length);
    }
  }

  function drawSamples() {
    const drawn = columns.map((c) => {
      const r = runtime.rng(seed);  // the same seed gives every column the same z (as the app's board does)
      const z = runtime.priorCodes(r, tiles, c.model.latentDim, 1.0);
      const p = c.model.decode(z, tiles);
      return {p, x: runtime.drawSample(p, c.model.likelihood.key, r)};
    });
    const sigmas = drawn.filter((d) => d.p.sigma).map((d) => d.p.sigma);
    const scale = sigmas.length ? logScale(sigmas) : null;
    drawn.forEach(({p, x}, k) => {
      const cells = columns[k].cells;
      drawGrey(cells.mean, p.mean, tiles);
      drawGrey(cells.sample, x, tiles);
      if (p.sigma) drawColored(cells.sigma, p.sigma, tiles, scale);
    });
    labels.colorbar.replaceChildren(...(scale ? [colorbar(scale)] : []));
    labels.seed.textContent = `seed ${seed}`;
  }

  async function build() {
    clearNotesOnce();
    const shown = current.models.slice(0, zoo.board.max_columns);
    if (current.models.length > shown.length) {
      note(`This board shows the first ${shown.length} of the ${current.models.length} models asked for.`);
    }
    const loaded = await Promise.all(shown.map(async (name) => {
      try {
        const [model, codes] = await Promise.all([runtime.loadModel(zoo, name), runtime.loadCodes(zoo, name)]);
        return {info: zoo.models[name], model, codes};
      } catch (error) {
        note(`${name} could not be loaded (${error.message}): its column is left out.`);
        return null;
      }
    }));
    columns = loaded.filter(Boolean);
    const bar = el("div", {className: "controls"});
    const button = (text, key, action, what) => {
      const b = el("button", {type: "button", title: what});
      b.append(el("kbd", {textContent: key}), ` ${text}`);
      b.addEventListener("click", action);
      return b;
    };
    labels.seed = el("span", {className: "what"});
    bar.append(el("b", {className: "set-title", textContent: current.title}),
               el("span", {className: "what", textContent: dataset}), labels.seed,
               button("back", "P", previousImages, "the previous test images"),
               button("next", "N", nextImages, "the next test images"),
               button("new samples", "S", newSamples, "the next seed"),
               button("next set", "M", nextSet, sets.length ? "the next named set of models" : "no named set"));
    const board = el("div", {className: "board"});
    board.style.gridTemplateColumns = `190px repeat(${Math.max(columns.length, 1)}, minmax(0, 1fr))`;
    board.append(el("div", {className: "label"}, [
      el("b", {textContent: "log p(x)"}), el("span", {className: "what", textContent: "nats per image, higher is better"}),
      el("b", {textContent: "FD", className: "fd-label"}),
      el("span", {className: "what", textContent: "to the test set, lower is better; samples: x ~ p(x|z), "
        + "means: E[x|z]"}),
    ]));
    const words = {...NOT_COMPARABLE, ...(zoo.board.not_comparable || {})};
    for (const c of columns) board.append(head(c.info, words));
    const [recon, meanRow, sampleRow, sigmaRow] = zoo.board.rows;
    labels.inputs = el("canvas", {className: "tiles inputs"});
    labels.range = el("span", {className: "what"});
    labels.colorbar = el("div");
    const rowCells = [
      [el("div", {className: "label pictured"}, [el("b", {textContent: recon[0]}), labels.inputs, labels.range]), "recon"],
      [rowLabel(...meanRow), "mean"],
      [rowLabel(...sampleRow), "sample"],
      [el("div", {className: "label"}, [el("b", {textContent: sigmaRow[0]}), labels.colorbar]), "sigma"],
    ];
    for (const [label, key] of rowCells) {
      board.append(label);
      for (const c of columns) {
        c.cells = c.cells || {};
        if (key === "sigma" && !hasSigma(c.info)) {
          c.cells.sigma = null;
          board.append(el("div", {className: "none", textContent: `no sigma: ${c.info.decoder} has no scale parameter`}));
          continue;
        }
        c.cells[key] = el("canvas", {className: `tiles ${key}`});
        c.cells[key].dataset.model = c.info.name;
        board.append(c.cells[key]);
      }
    }
    view.replaceChildren(bar, board);
    drawReconstructions();
    drawSamples();
    save();
  }

  let keepNotes = true;  // the notes of the link stay until the visitor changes the view
  function clearNotesOnce() {
    if (!keepNotes) clearNotes();
    keepNotes = false;
  }
  const hasSigma = (info) => info.likelihood ? !["bernoulli", "continuous-bernoulli"].includes(info.likelihood.key)
    : !["bernoulli", "continuous-bernoulli"].includes(info.decoder);

  function move(step) {
    first = (first + step + sample.count) % sample.count;
    drawReconstructions();
    save();
  }
  function previousImages() { move(-tiles); }
  function nextImages() { move(tiles); }
  function newSamples() {
    seed = (seed + 1) % (MAX_SEED + 1);
    drawSamples();
    save();
    performance.mark("samples-drawn");
  }
  async function nextSet() {
    if (!sets.length) {
      note(`No named set of ${dataset} models is in this zoo.`);
      return;
    }
    const at = sets.findIndex((s) => s.title === current.title);
    current = sets[(at + 1) % sets.length];
    await build();
    window.__boardSet = current.title;
  }


  onKeys({n: nextImages, p: previousImages, s: newSamples, m: nextSet});
  await build();
  window.__boardSet = current.title;
  performance.mark("first-board");
  ready();
}

main().catch(fail);
