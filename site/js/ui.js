// What every view of the static site shares: the state in the address bar, plain notes, keys that work after any
// click, the number format of the Streamlit board (explorer/board.py _number), and 28x28 tiles drawn on canvases
// (grey values, or a colour map built from the same control points as explorer/compute/images.py).

export const PIXELS = 28 * 28;

// ------------------------------------------------------------------------------------------------ the address
/** The view's state from the query string: {name: value}; a name given more than once gets a note and its last
 * value. */
export function readState() {
  const query = new URLSearchParams(location.search);
  for (const name of new Set(query.keys())) {
    const values = query.getAll(name);
    if (values.length > 1) {
      linkNote(name, values.join(`&${name}=`), `names ${name} ${values.length} times`,
        `the last, ${name}=${shown(values[values.length - 1])}`);
    }
  }
  return Object.fromEntries(query);
}

/** Write ``state`` to the query string without a new history entry (a link copied now reopens this view).
 * Entries that are null or undefined are left out. */
export function writeState(state) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== null && v !== undefined) query.set(k, String(v));
  const text = query.toString();
  history.replaceState(null, "", text ? `${location.pathname}?${text}` : location.pathname);
}

/** A whole number from the address, or ``fallback`` with a note when it is not one in [lo, hi]. */
export function intParam(state, name, lo, hi, fallback) {
  if (!(name in state)) return fallback;
  const text = state[name];
  const value = /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (Number.isInteger(value) && value >= lo && value <= hi) return value;
  linkNote(name, text, `is not a whole number from ${lo} to ${hi}`, `${name}=${fallback}`);
  return fallback;
}

/** A value of the address as a note quotes it: at most ``limit`` characters, control characters as "?" (the rule
 * of the app's explorer/links.py shown). */
export function shown(value, limit = 40) {
  const text = String(value).replace(/[\x00-\x1f\x7f]/g, "?");
  return text.length <= limit ? text : `${text.slice(0, limit)}… (${text.length} characters)`;
}

/** The note on a parameter of the link the view cannot use: one sentence naming it, what is wrong with it and
 * what the view shows instead (the nearest valid choice). */
export function linkNote(name, value, wrong, showing) {
  note(`${name}=${shown(value)} in the link ${wrong}: showing ${showing}.`);
}

// ------------------------------------------------------------------------------------------------ notes
/** A plain sentence above the view (a bad link, a missing model): never a blank page. */
export function note(text) {
  const box = document.getElementById("notes");
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = text;
  box.append(p);
  box.hidden = false;
}

export function clearNotes() {
  const box = document.getElementById("notes");
  box.replaceChildren();
  box.hidden = true;
}

/** A view that cannot be drawn at all says why in one sentence, where its content would be. */
export function fail(error) {
  console.error(error);
  note(`This view could not be drawn: ${error && error.message ? error.message : error}`);
}

// ------------------------------------------------------------------------------------------------ keys
/** ``bindings``: {key: handler}, e.g. {n: next, ArrowRight: forward}. The listener sits on the document, so a
 * key works whatever was clicked last (a button keeps the focus, and its key events still bubble up here);
 * only a field the visitor types into keeps its keys. */
export function onKeys(bindings) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target instanceof HTMLElement &&
      (target.isContentEditable || target.tagName === "TEXTAREA" ||
       (target.tagName === "INPUT" && !["range", "button", "checkbox", "radio"].includes(target.type)));
    if (typing) return;
    const handler = bindings[event.key] || bindings[event.key.toLowerCase()];
    if (!handler) return;
    event.preventDefault();
    handler(event);
  });
}

// ------------------------------------------------------------------------------------------------ numbers
const MINUS = "\u2212";

/** As the Streamlit board writes a log-likelihood: no decimals from 100 up, one below, thousands separated. */
export function formatNumber(value, digits = Math.abs(value) >= 100 ? 0 : 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits})
    .replace("-", MINUS);
}

export function formatTick(v) {  // explorer/compute/images.py format_tick
  if (v === 0) return "0";
  if (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2) {
    return v.toExponential(0).replace("e-0", "e-").replace("e+0", "e").replace("e+", "e");
  }
  return String(Number(v.toPrecision(3)));
}

// ------------------------------------------------------------------------------------------------ pictures
/** Values in [0, 1] (clipped) to 0..255 as explorer.compute.images.to_uint8 does. */
export function toByte(v) {
  return Number.isFinite(v) ? Math.round(Math.min(Math.max(v, 0), 1) * 255) : 0;
}

const CONTROL_POINTS = {  // explorer/compute/images.py _CONTROL_POINTS
  viridis: [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
            [92, 200, 99], [170, 220, 50], [253, 231, 37]],
};

const COLORMAPS = new Map();  // name -> its table, built once
/** (256 * 3) lookup table of a colour map, linearly interpolated between its control points. */
export function colormap(name = "viridis") {
  if (!COLORMAPS.has(name)) COLORMAPS.set(name, buildColormap(name));
  return COLORMAPS.get(name);
}

function buildColormap(name) {
  const pts = CONTROL_POINTS[name];
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const at = (i / 255) * (pts.length - 1);
    const k = Math.min(Math.floor(at), pts.length - 2);
    const f = at - k;
    for (let c = 0; c < 3; c++) table[3 * i + c] = Math.round(pts[k][c] * (1 - f) + pts[k + 1][c] * f);
  }
  return table;
}

/** A log10 colour scale over the positive values of all arrays (explorer.compute.images.log_scale). */
export function logScale(arrays) {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrays) for (const v of a) if (Number.isFinite(v) && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return {vmin: 1e-3, vmax: 1};
  if (hi / lo < 1.5) { lo /= 1.5; hi *= 1.5; }
  return {vmin: lo, vmax: hi};
}

export function normalizeLog(scale, v) {
  const lo = Math.log10(scale.vmin), hi = Math.log10(scale.vmax);
  const t = (Math.log10(Math.max(v, 1e-30)) - lo) / Math.max(hi - lo, 1e-12);
  return Number.isFinite(t) ? Math.min(Math.max(t, 0), 1) : 0;
}

/** Decades inside the scale, at most ``count`` of them (the outermost first), else its two ends: labels that
 * never overlap at the size a room reads, even on a narrow bar. */
export function logTicks(scale, count = 2) {
  const lo = Math.floor(Math.log10(scale.vmin)), hi = Math.ceil(Math.log10(scale.vmax));
  let decades = [];
  for (let e = lo; e <= hi; e++) {
    const v = 10 ** e;
    if (v >= scale.vmin * 0.999 && v <= scale.vmax * 1.001) decades.push(v);
  }
  if (decades.length < 2) return [scale.vmin, scale.vmax];
  if (decades.length > count) {
    const step = (decades.length - 1) / (count - 1);
    decades = Array.from({length: count}, (_, i) => decades[Math.round(i * step)]);
  }
  return decades;
}

/** ``count`` 28x28 tiles in rows of ``columns`` with a white pixel between them (explorer/board.py strip) on
 * ``canvas``: its ImageData, white, to be filled by ``paint(data, at)`` per tile pixel and put back by the caller.
 * The canvas is resized only when its size changes (a resize clears it and may lay the page out again) and its
 * ImageData is kept for the next drawing of the same size: new samples redraw a board without allocating. */
function tiles(canvas, count, columns) {
  const rows = Math.ceil(count / columns), width = columns * 29 + 1, height = rows * 29 + 1;
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext("2d");
  let img = canvas.stripImage;
  if (!img || img.width !== width || img.height !== height) img = canvas.stripImage = ctx.createImageData(width, height);
  img.data.fill(255);
  return {ctx, img, width};
}

/** Where pixel p of tile i lies in the strip's ImageData (byte offset of its red). */
function offset(i, p, columns, width) {
  const ox = 1 + (i % columns) * 29, oy = 1 + Math.floor(i / columns) * 29;
  return 4 * ((oy + Math.floor(p / 28)) * width + ox + (p % 28));
}

/** Tiles of grey values: ``values`` holds count * 784 numbers in [0, 1] (floats) or 0..255 (a Uint8Array). */
export function drawGrey(canvas, values, count, columns = count) {
  const {ctx, img, width} = tiles(canvas, count, columns), d = img.data, bytes = values instanceof Uint8Array;
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < PIXELS; p++) {
      const v = values[i * PIXELS + p], g = bytes ? v : toByte(v), at = offset(i, p, columns, width);
      d[at] = g; d[at + 1] = g; d[at + 2] = g;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Tiles of sigma values on a log colour scale. */
export function drawColored(canvas, values, count, scale, columns = count) {
  const table = colormap(), {ctx, img, width} = tiles(canvas, count, columns), d = img.data;
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < PIXELS; p++) {
      const k = Math.round(normalizeLog(scale, values[i * PIXELS + p]) * 255), at = offset(i, p, columns, width);
      d[at] = table[3 * k]; d[at + 1] = table[3 * k + 1]; d[at + 2] = table[3 * k + 2];
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** A horizontal colour bar with at most three tick labels under it, as HTML (labels in the page's own type). */
export function colorbar(scale, label = "") {
  const table = colormap();
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const k = Math.round(t * 255);
    return `rgb(${table[3 * k]},${table[3 * k + 1]},${table[3 * k + 2]}) ${t * 100}%`;
  });
  const bar = el("div", {className: "colorbar"});
  if (label) bar.append(el("div", {className: "colorbar-label", textContent: label}));
  bar.append(el("div", {className: "colorbar-strip", style: `background: linear-gradient(to right, ${stops})`}));
  const ticks = el("div", {className: "colorbar-ticks"});
  for (const t of logTicks(scale)) {
    const at = normalizeLog(scale, t);
    const tick = el("span", {textContent: formatTick(t)});
    tick.style.left = `${at * 100}%`;
    tick.style.transform = at < 0.15 ? "none" : at > 0.85 ? "translateX(-100%)" : "translateX(-50%)";
    ticks.append(tick);
  }
  bar.append(ticks);
  return bar;
}

// ------------------------------------------------------------------------------------------------ elements
export function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

/** Fetch one JSON file of the export; a missing or damaged file is an Error naming it. */
export async function loadJSON(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url} could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  try {
    return await response.json();
  } catch (e) {
    throw new Error(`${url} is not valid JSON (${e.message})`);
  }
}

/** Which of ``options`` is closest to ``wanted`` (case and spacing aside, then the longest shared beginning of at
 * least MIN_SHARED characters), for a link that names something the export lacks; ``fallback`` (the view's
 * default) when nothing resembles it. */
const MIN_SHARED = 2;  // one shared letter is chance ("zzz" is not "zoo")
export function nearest(wanted, options, fallback = options[0]) {
  const squash = (s) => String(s).toLowerCase().replace(/[^a-z0-9]/g, "");
  const w = squash(wanted);
  let best = fallback, score = 0;
  for (const option of options) {
    const o = squash(option);
    if (o === w) return option;
    let k = 0;
    while (k < o.length && k < w.length && o[k] === w[k]) k++;
    const s = k + (o.includes(w) || w.includes(o) ? 0.5 : 0);
    if (s > score && k >= MIN_SHARED) { best = option; score = s; }
  }
  return best;
}

// ------------------------------------------------------------------------------------------------ the frame
/** The site's pages, once: the navigation bar of every view and the landing page's links are built from it. */
export const PAGES = [
  {file: "board.html", title: "Board", what: "three or four models side by side: keys N, P, S, M"},
  {file: "story.html", title: "Story", what: "the argument step by step: arrow keys"},
  {file: "sample.html", title: "Sample", what: "temperature, seed, decoder means against full samples"},
  {file: "latent.html", title: "Latent plane", what: "hover to decode; the exact posterior of a test image"},
];

/** The bar at the top of a view: the zoo's name (to the landing page) and a link to each view. */
export function frame(current) {
  const bar = document.getElementById("bar");
  const nav = el("nav", {}, [el("a", {href: "index.html", className: "home", textContent: "VAE Decoder Zoo"})]);
  for (const page of PAGES) {
    const a = el("a", {href: page.file, textContent: page.title, title: page.what});
    if (page.file === current) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  bar.replaceChildren(nav);
}

/** Mark the view as drawn for tests and benchmarks (SITE_API.md section 4). */
export function ready() {
  window.__siteReady = true;
  document.body.dataset.ready = "true";
}
