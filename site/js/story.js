// The Story: explorer/story.py's steps as the app draws them for this zoo, recorded at export time
// (explorer/static_story.py): captions and numbers are the app's own sentences, pictures its own PNGs, charts its
// own Vega-Lite specs (drawn here with vega and vega-lite, set in room-sized type). Left / right arrows move
// between steps; the step and the dataset live in the address: ?dataset=mnist&step=sigma.
import {loadZoo} from "../decoder.js";
import {clearNotes, el, fail, frame, linkNote, loadJSON, nearest, onKeys, readState, ready, writeState} from "./ui.js";

const ROOM_FONT = 18;     // px: no chart text smaller than the page's own
const MIN_CHART = 120;    // px: the lowest a chart is drawn to fit the screen
const VENDOR = ["vendor/vega.min.js", "vendor/vega-lite.min.js"];

frame("story.html");
const view = document.getElementById("view");

// Streamlit's markdown turns these into symbols in text (not in code), so the app reads "sigma → 0": the same here.
const SYMBOLS = [[/(^|\s)<->(\s|$)/g, "$1\u2194$2"], [/(^|\s)->(\s|$)/g, "$1\u2192$2"], [/(^|\s)<-(\s|$)/g, "$1\u2190$2"],
                 [/(^|\s)--(\s|$)/g, "$1\u2014$2"], [/(^|\s)>=(\s|$)/g, "$1\u2265$2"], [/(^|\s)<=(\s|$)/g, "$1\u2264$2"],
                 [/(^|\s)~=(\s|$)/g, "$1\u2248$2"]];

function symbols(text) {
  return SYMBOLS.reduce((out, [pattern, symbol]) => out.replace(pattern, symbol), text);
}

/** A caption's markdown, as much as the story uses: **bold**, `code` and the symbols above; the rest as text. */
export function inlineMarkdown(text) {
  const node = el("span");
  const parts = String(text).split(/(\*\*[^*]+\*\*|`[^`]+`)/);
  for (const part of parts) {
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) node.append(el("b", {textContent: symbols(part.slice(2, -2))}));
    else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) node.append(el("code", {textContent: part.slice(1, -1)}));
    else if (part) node.append(symbols(part));
  }
  return node;
}

let vendor = null;
function loadVega() {  // the chart libraries, only when a step has a chart
  vendor = vendor || VENDOR.reduce((chain, src) => chain.then(() => new Promise((resolve, reject) => {
    const script = el("script", {src});
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} could not be loaded`));
    document.head.append(script);
  })), Promise.resolve());
  return vendor;
}

/** The spec with every explicit font size raised to the room's minimum (the app sets some at 13 px for a desk). */
function roomSized(value) {
  if (Array.isArray(value)) return value.map(roomSized);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = /fontsize$/i.test(k) && typeof v === "number" ? Math.max(v, ROOM_FONT) : roomSized(v);
    }
    return out;
  }
  return value;
}

const ROOM_CONFIG = {
  axis: {labelFontSize: ROOM_FONT, titleFontSize: ROOM_FONT},
  // the y title across the top of its axis, not up its side: a long title at room size would set the chart's height
  axisY: {titleAngle: 0, titleAnchor: "end", titleAlign: "left", titleBaseline: "bottom", titleY: -10, titleX: 0},
  legend: {labelFontSize: ROOM_FONT, titleFontSize: ROOM_FONT, labelLimit: 600},
  header: {labelFontSize: ROOM_FONT, titleFontSize: ROOM_FONT},
  title: {fontSize: ROOM_FONT + 2},
  text: {fontSize: ROOM_FONT},
  font: "DejaVu Sans, Helvetica Neue, Arial, sans-serif",
};

/** The plotting height of a spec: its own, or its facet's panels'. */
function heightOf(spec) {
  return "facet" in spec ? spec.spec.height : spec.height;
}

async function drawChart(box, block, shrink = 0) {
  await loadVega();
  const spec = roomSized(block.spec);
  spec.config = {...(spec.config || {}), ...ROOM_CONFIG};
  if (block.height) spec.height = block.height;
  if (!("facet" in spec) && !("hconcat" in spec) && !("vconcat" in spec) && !spec.width) {
    spec.width = "container";   // the app's width="stretch"
    spec.autosize = {type: "fit", contains: "padding"};
  }
  const height = heightOf(spec);
  if (shrink && typeof height === "number") {
    const lower = Math.max(height - shrink, MIN_CHART);
    if ("facet" in spec) spec.spec.height = lower; else spec.height = lower;
  }
  const compiled = window.vegaLite.compile(spec).spec;
  box.replaceChildren();
  const chart = new window.vega.View(window.vega.parse(compiled), {renderer: "svg", container: box, hover: true});
  await chart.runAsync();
  return {box, block, height};
}

/** Charts drawn at the app's heights can push a step past the screen once their text is room-sized: lower them
 * by what overflows (never under MIN_CHART px), so a step fits 1280x720 as the app's step does. */
async function fitCharts(drawn) {
  const overflow = document.documentElement.scrollHeight - window.innerHeight;
  if (overflow <= 0 || !drawn.length) return;
  const shrink = Math.ceil(overflow / drawn.length) + 4;
  await Promise.all(drawn.map(({box, block}) => drawChart(box, block, shrink)));
}

function blocks(list, into, charts) {
  for (const block of list) {
    if (block.kind === "caption" || block.kind === "markdown") {
      into.append(el("p", {className: block.kind}, [inlineMarkdown(block.text)]));
    } else if (block.kind === "subheader") {
      into.append(el("h2", {textContent: block.text}));
    } else if (block.kind === "note") {
      into.append(el("p", {className: `missing ${block.level}`}, [inlineMarkdown(block.text)]));
    } else if (block.kind === "image") {
      const figure = el("figure", {}, [el("img", {src: `data/${block.src}`, alt: block.caption || ""})]);
      if (block.caption) figure.append(el("figcaption", {textContent: block.caption}));
      into.append(figure);
    } else if (block.kind === "row") {
      const row = el("div", {className: "figure-row"});
      for (const column of block.columns) {
        const cell = el("div", {className: "figure-cell"});
        blocks(column, cell, charts);
        row.append(cell);
      }
      into.append(row);
    } else if (block.kind === "chart") {
      const box = el("div", {className: "chart"});
      into.append(box);
      charts.push(drawChart(box, block));
    } else {
      into.append(el("p", {className: "missing", textContent: `(a ${block.kind} of the app that this site does not show)`}));
    }
  }
}

async function main() {
  const zoo = await loadZoo("data/");
  const state = readState();
  const files = zoo.story_files || {};
  const datasets = Object.keys(files);
  if (!datasets.length) throw new Error("this export has no story (zoo.json names no story_files)");
  let dataset = datasets.includes(zoo.default.dataset) ? zoo.default.dataset : datasets[0];
  if (state.dataset !== undefined) {
    if (datasets.includes(state.dataset)) dataset = state.dataset;
    else {
      dataset = nearest(state.dataset, datasets, dataset);
      linkNote("dataset", state.dataset, "is not a dataset of this story", dataset);
    }
  }
  const story = await loadJSON(`data/${files[dataset]}`);
  const slugs = story.steps.map((s) => s.slug);
  let at = 0;
  if (state.step !== undefined) {
    at = slugs.indexOf(state.step);
    if (at < 0) {  // the nearest step by slug or title (a link to "sigmas" or "4" opens "sigma" or the 4th step)
      const titles = story.steps.map((s) => s.title);
      const number = /^\s*\d+\s*$/.test(state.step) ? Number(state.step) - 1 : -1;
      const found = nearest(state.step, [...slugs, ...titles], null);
      at = number >= 0 && number < slugs.length ? number
        : found === null ? 0 : Math.max(slugs.indexOf(found), titles.indexOf(found));
      linkNote("step", state.step, "is not a step of the story", `step ${at + 1} (${slugs[at]})`);
    }
  }
  let keepNotes = true;

  async function show(index) {
    if (!keepNotes) clearNotes();
    keepNotes = false;
    at = index;
    const step = story.steps[at];
    document.body.dataset.ready = "false";
    window.__siteReady = false;
    const bar = el("nav", {className: "story-steps", ariaLabel: "steps"});
    story.steps.forEach((s, i) => {
      const a = el("a", {href: `?dataset=${encodeURIComponent(dataset)}&step=${s.slug}`, textContent: `${i + 1}`,
                         title: s.title});
      if (i === at) a.setAttribute("aria-current", "step");
      a.addEventListener("click", (event) => { event.preventDefault(); show(i); });
      bar.append(a);
    });
    bar.append(el("span", {className: "what", textContent: `${dataset} · keys ← →`}));
    const body = el("article", {className: "step"});
    body.dataset.step = step.slug;
    const charts = [];
    blocks(step.blocks, body, charts);
    view.replaceChildren(bar, el("h1", {textContent: step.title}), body);
    writeState({dataset, step: step.slug});
    await fitCharts(await Promise.all(charts));
    if (at === index) ready();
  }

  onKeys({
    ArrowRight: () => show(Math.min(at + 1, story.steps.length - 1)),
    ArrowLeft: () => show(Math.max(at - 1, 0)),
  });
  await show(at);
}

main().catch(fail);
